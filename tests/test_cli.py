"""The CLI end to end: CliRunner for every command, and the installed `nalu` as a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.tasks import OPS
from nalu_cli.units import UNITS
from tests.conftest import run_nalu

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_train_eval_extrapolate_inspect_json(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, out, err = invoke("train", "--op", "mul", "--steps", "300", "--out", str(run), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["op"] == "mul" and report["steps"] == 300
    assert report["seeds"][0]["solved"] is True
    assert report["seeds"][0]["formula"] == "y = x0 * x1"

    code, out, err = invoke("eval", str(run), "--range", "10,100", "--range", "100,1000", "--samples", "500", "--json")
    assert code == 0, err
    ranges = json.loads(out)["seeds"][0]["ranges"]
    assert [r["range"] for r in ranges] == ["U[10,100]", "U[100,1000]"]
    assert all(r["solved"] for r in ranges)

    code, out, err = invoke("extrapolate", str(run), "--samples", "500", "--json")
    assert code == 0, err
    ladder = json.loads(out)["seeds"][0]["ranges"]
    assert [r["factor"] for r in ladder] == [1, 10, 100, 1000]

    code, out, err = invoke("inspect-weights", str(run / "checkpoint.pt"), "--raw", "--json")
    assert code == 0, err
    seed0 = json.loads(out)["seeds"][0]
    assert seed0["formula"] == "y = x0 * x1"
    assert seed0["layers"][0]["weights"]["W"] == [[1.0, 1.0]]


def test_tables_for_humans(mul_run: Path) -> None:
    code, out, _ = invoke("eval", str(mul_run), "--samples", "300")
    assert code == 0 and "U[10,100]" in out and "solved" in out
    code, out, _ = invoke("extrapolate", str(mul_run), "--samples", "300")
    assert code == 0 and "×" in out and "extrapolat" in out
    code, out, _ = invoke("inspect-weights", str(mul_run))
    assert code == 0 and "formula (exact): y = x0 * x1" in out and "+1.000" in out


def test_train_summary_table_and_seeds(tmp_path: Path) -> None:
    code, out, err = invoke("train", "--op", "add", "--steps", "200", "--seeds", "3", "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert "Extrapolates:" in out and "y = x0 + x1" in out
    for seed in ("0", "1", "2"):
        assert f"│    {seed} │" in out


def test_config_file_with_flag_override(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task:\n  op: sub\ntrain:\n  steps: 5000\n  lr: 0.05\n")
    code, out, err = invoke("train", "--config", str(cfg), "--steps", "150", "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    assert json.loads(out)["steps"] == 150
    saved = (tmp_path / "r" / "config.yaml").read_text()
    assert "op: sub" in saved and "steps: 150" in saved


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["train", "--op", "mull"], 2, "did you mean 'mul'"),
        (["train", "--op", "sqrt", "--train-range", "-1,1"], 2, "sqrt needs non-negative"),
        (["train", "--op", "div", "--test-range", "-5,5", "--lr", "-1"], 2, "train.lr"),
        (["train", "--unit", "nope"], 2, "unknown unit"),
        (["train", "--config", "/no/such.yaml"], 2, "not found"),
        (["eval", "/no/such/run"], 1, "no run directory"),
        (["eval", "."], 1, "not a run directory"),
        (["extrapolate", "/no/such/run"], 1, "no run directory"),
        (["inspect-weights", "/no/such/run"], 1, "no run directory"),
    ],
)
def test_bad_input_gives_one_line_error(args: list[str], code: int, needle: str) -> None:
    exit_code, out, err = invoke(*args)
    assert exit_code == code, (out, err)
    assert err.startswith("Error:") and needle in err
    assert "Traceback" not in err + out


def test_invalid_range_on_a_run_is_a_usage_error(mul_run: Path) -> None:
    code, _, err = invoke("eval", str(mul_run), "--range", "5,1")
    assert code == 2 and "lo must be below hi" in err


def test_existing_run_dir_is_not_overwritten(tmp_path: Path, mul_run: Path) -> None:
    target = tmp_path / "keep"
    shutil.copytree(mul_run, target)
    before = (target / "checkpoint.pt").read_bytes()
    code, _, err = invoke("train", "--op", "mul", "--steps", "10", "--out", str(target))
    assert code == 2 and "--resume" in err
    assert (target / "checkpoint.pt").read_bytes() == before


def test_every_command_has_help_with_an_example() -> None:
    group = typer.main.get_command(cli.app)
    assert set(group.commands) >= {"train", "eval", "extrapolate", "inspect-weights"}  # type: ignore[attr-defined]
    for name in group.commands:  # type: ignore[attr-defined]
        code, out, _ = invoke(name, "--help")
        assert code == 0 and "Example" in out and f"nalu {name}" in out, name
    code, out, _ = invoke("--help")
    assert code == 0 and "nalu train --op mul" in out


def test_help_lists_match_registries() -> None:
    assert ", ".join(OPS) == cli.OPS_HELP
    assert ", ".join(UNITS) == cli.UNITS_HELP


def test_installed_console_script_end_to_end(tmp_path: Path) -> None:
    start = time.perf_counter()
    helped = run_nalu("--help", timeout=60)
    help_seconds = time.perf_counter() - start
    assert helped.returncode == 0 and "train" in helped.stdout
    assert "torch" not in sys.modules or help_seconds < 30  # sanity; speed is measured in benchmarks/
    done = run_nalu("train", "--op", "mul", "--steps", "200", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Extrapolates: yes" in done.stdout
    assert "\x1b[" not in done.stdout  # no ANSI codes when piped
    bad = run_nalu("eval", str(tmp_path / "nope"), timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith("Error:") and "Traceback" not in bad.stderr


def test_help_does_not_import_torch() -> None:
    code = "import sys; from nalu_cli import cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
