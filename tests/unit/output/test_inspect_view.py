"""`nalu inspect-weights` readable at any width: wide layers grouped, --full in column chunks, gates on both ranges."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.output.reports import inspect_report
from nalu_cli.output.tables import WeightMatrix, compact_row, inspect_view
from tests.conftest import nalu_command, subprocess_env

runner = CliRunner()


def render(renderable: object, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), no_color=True, highlight=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def static_like_matrix() -> list[list[float]]:
    """A 2 × 100 first layer as the static task learns it: a = x3..x27, b = x15..x39, small noise elsewhere."""
    rows = []
    for lo, hi in ((3, 27), (15, 39)):
        row = [0.001 * ((i * 7) % 4 - 1.5) for i in range(100)]  # |w| ≤ 0.0015
        for i in range(lo, hi + 1):
            row[i] = 1.0 - 0.0001 * (i % 3)
        rows.append(row)
    rows[1][60] = 0.42  # one weight that is not discrete
    rows[1][70] = -1.0
    return rows


def test_compact_row_groups_runs_and_sums_up_the_zeros() -> None:
    row = static_like_matrix()[0]
    items = [t.plain for t in compact_row(row)]
    assert items == ["x3..x27: +1.000", "others: 0 (max |w| 0.002)"]
    items = [t.plain for t in compact_row(static_like_matrix()[1], "h")]
    assert items == ["h15..h39: +1.000", "h60: +0.420", "h70: -1.000", "others: 0 (max |w| 0.002)"]
    assert [t.plain for t in compact_row([0.99, 0.97, 0.5, 0.6, -0.3])] == [
        "x0..x1: +0.970…+0.990",  # a run near +1 whose values differ shows its smallest and largest
        "x2..x3: +0.500…+0.600",
        "x4: -0.300",
    ]
    assert [t.plain for t in compact_row([0.0, 0.01])] == ["all: 0 (max |w| 0.010)"]


@pytest.mark.parametrize("width", [100, 80, 60])
def test_a_100_input_layer_fits_the_console(width: int) -> None:
    matrix = static_like_matrix()
    text = render(WeightMatrix("W", matrix), width)
    assert widest(text) <= width, text
    assert "W (2 × 100; grouped, --full for every value)" in text
    assert "x3..x27: +1.000" in text and "x15..x39: +1.000" in text and "x60: +0.420" in text
    full = render(WeightMatrix("W", matrix, full=True), width)
    assert widest(full) <= width, full
    for i in (0, 27, 60, 99):  # every column is somewhere, with its value
        assert f" x{i} " in full
    assert full.count("+0.420") == 1 and full.count("-1.000") == 1
    assert "(columns x0..x" in full


def test_narrow_matrices_stay_one_table() -> None:
    text = render(WeightMatrix("W", [[1.0, 0.999]]), 80)
    assert "grouped" not in text and "x0" in text and "x1" in text and "+0.999" in text


@pytest.fixture(scope="module")
def static_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("static") / "static-mul"
    config = Path(__file__).parents[3] / "sample_configs" / "static_mul.yaml"
    args = ["train", "--config", str(config), "--steps", "100", "--out", str(out)]
    args += ["--set", "eval.samples=256", "--set", "train.valid_samples=128"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("columns", ["100", "80"])
def test_inspect_weights_of_the_static_task_fits_the_terminal(static_run: Path, columns: str) -> None:
    env = subprocess_env() | {"COLUMNS": columns}
    done = subprocess.run(
        [*nalu_command(), "inspect-weights", str(static_run)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert widest(done.stdout) <= int(columns), done.stdout
    assert "layer 1: NAU (100 → 2)" in done.stdout and "grouped, --full for every value" in done.stdout
    assert "out0:" in done.stdout and "out1:" in done.stdout
    full = subprocess.run(
        [*nalu_command(), "inspect-weights", str(static_run), "--full"], capture_output=True, text=True, env=env
    )
    assert widest(full.stdout) <= int(columns) and " x99 " in full.stdout


def test_json_keeps_the_full_matrices(static_run: Path) -> None:
    data = json.loads(runner.invoke(app, ["inspect-weights", str(static_run), "--json"]).stdout)
    w = data["seeds"][0]["layers"][0]["weights"]["W"]
    assert len(w) == 2 and all(len(row) == 100 for row in w)


def test_gates_on_the_training_and_the_extrapolation_range(tmp_path: Path) -> None:
    out = tmp_path / "nalu"
    # one step: the gate weights are still near their N(0, 1) start, so the two ranges open the gate differently
    args = ["train", "--op", "add", "--unit", "nalu", "--steps", "1", "--out", str(out), "-q"]
    assert runner.invoke(app, [*args, "--set", "eval.samples=128", "--set", "train.valid_samples=64"]).exit_code == 0
    report = inspect_report(out)
    layer = report["seeds"][0]["layers"][0]
    assert report["interpolation"] == "U[1,10]" and report["extrapolation"] == "U[10,100]"
    near, far = layer["gate_mean"], layer["gate_mean_extrapolation"]
    assert len(near) == len(far) == 1 and all(0.0 <= g <= 1.0 for g in near + far)
    assert near != far  # two probe batches from two ranges: the gate sees different inputs
    text = render(inspect_view(report), 100)
    assert f"  on the training range U[1,10]: g0 = {near[0]:.3f}" in text
    assert f"  on the extrapolation range U[10,100]: g0 = {far[0]:.3f}" in text


def test_an_approximate_formula_says_so() -> None:
    common = {"layers": [], "formula": "y = x0 * x1", "reason": None}
    report = {
        "describe": "mul",
        "seeds": [
            {"seed": 0, **common, "formula_exact": False, "formula_deviation": 0.003, "formula_deviation_at": "W[0,1]"},
            {"seed": 1, **common, "formula_exact": True, "formula_deviation": 0.0, "formula_deviation_at": None},
        ],
    }
    text = render(inspect_view(report), 100)
    assert "formula (approximate; largest deviation 0.003 at W[0,1]): y = x0 * x1" in text
    assert text.count("formula (exact): y = x0 * x1") == 1
