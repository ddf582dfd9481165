"""nalu fit: table checks (one error line, nothing written), the held-out split, a real fit end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from nalu_cli import rng
from nalu_cli.cli.core import app
from nalu_cli.errors import ConfigError
from nalu_cli.fit import table as table_mod
from nalu_cli.fit.candidates import ladder, rename, warm_start
from nalu_cli.fit.driver import fit
from nalu_cli.fit.noise import explained, explains_nothing
from nalu_cli.fit.table import holdout_split, load_table
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.units.base import UnitOptions
from tests.conftest import assert_error_line, run_nalu

runner = CliRunner()


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    path.write_text(",".join(header) + "\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path


def force_table(path: Path, n: int = 200, noise: float = 0.0, seed: int = 0) -> Path:
    """F = m * a, with an irrelevant column c; ``noise`` is relative (0.01 = 1%)."""
    rs = np.random.default_rng(seed)
    m, a, c = rs.uniform(1, 10, n), rs.uniform(1, 10, n), rs.uniform(1, 10, n)
    f = m * a * (1 + noise * rs.standard_normal(n))
    return write_csv(path, ["m", "a", "c", "F"], [[f"{v:.10g}" for v in row] for row in zip(m, a, c, f, strict=True)])


@pytest.mark.parametrize(
    ("header", "rows", "target", "message"),
    [
        (["m", "a", "F"], [[1, 2, 2]] * 30, "f", "no column 'f'"),
        (["m", "a", "Force"], [[1, 2, 2]] * 30, "Forse", "did you mean 'Force'?"),
        (["m", "a", "F"], [[1, 2, 2]] * 5, "F", "5 data rows; a fit needs at least 20"),
        (["m", "a", "F"], [[1, 2, 2]] * 25 + [[1, "abc", 2]], "F", "line 27, column 'a': 'abc' is not a number"),
        (["m", "a", "F"], [[1, 2, 2]] * 25 + [[1, "", 2]], "F", "line 27, column 'a': the value is missing"),
        (["m", "a", "F"], [[1, 2, 2]] * 25 + [[1, "inf", 2]], "F", "'inf' is not a finite number"),
        (["m", "a", "F"], [[1, 2, 2]] * 25 + [[1, 2]], "F", "line 27: 2 fields, but the header has 3"),
        (["m", "m", "F"], [[1, 2, 2]] * 25, "F", "names column 'm' twice"),
        (["m", "a b", "F"], [[1, 2, 2]] * 25, "F", "cannot appear in a formula"),
    ],
)
def test_bad_tables_are_refused_with_row_and_column(
    tmp_path: Path, header: list[str], rows: list[list[object]], target: str, message: str
) -> None:
    path = write_csv(tmp_path / "t.csv", header, rows)
    with pytest.raises(ConfigError) as err:
        load_table(path, target)
    assert message in str(err.value)
    result = runner.invoke(app, ["fit", str(path), "--target", target, "--out", str(tmp_path / "run")])
    assert message in assert_error_line(result, codes=(2,))
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_size_limit_encoding_and_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = force_table(tmp_path / "t.csv")
    monkeypatch.setattr(table_mod, "MAX_BYTES", 100)
    with pytest.raises(ConfigError, match="larger than 100 bytes, the most nalu reads"):
        load_table(path, "F")
    monkeypatch.undo()
    (tmp_path / "latin.csv").write_bytes(b"m,\xe9,F\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_table(tmp_path / "latin.csv", "F")
    with pytest.raises(ConfigError, match="no file"):
        load_table(tmp_path / "nope.csv", "F")


def test_constant_and_duplicate_columns_warn_and_drop_out(tmp_path: Path) -> None:
    rows = [[i + 1, 5, i + 1, 2 * (i + 1)] for i in range(30)]
    t = load_table(write_csv(tmp_path / "t.csv", ["a", "k", "b", "y"], rows), "y")
    assert t.inputs == ["a"]
    assert any("'k' is constant" in w for w in t.warnings) and any("'b' repeats column 'a'" in w for w in t.warnings)


def test_non_positive_inputs_refused_for_a_log_unit(tmp_path: Path) -> None:
    rows = [[i - 5, i + 1, (i - 5) * (i + 1)] for i in range(30)]
    path = write_csv(tmp_path / "t.csv", ["a", "b", "y"], rows)
    result = runner.invoke(app, ["fit", str(path), "--target", "y", "--unit", "nac_mul", "--out", str(tmp_path / "r")])
    assert "needs positive inputs, but column 'a'" in assert_error_line(result, codes=(2,))
    assert not (tmp_path / "r").exists()


def test_holdout_takes_the_largest_rows_and_ladder_is_simplest_first(tmp_path: Path) -> None:
    t = load_table(force_table(tmp_path / "t.csv"), "F")
    kept, held = holdout_split(t, 0.2)
    assert len(held) == 40 and len(set(kept) & set(held)) == 0
    scale = np.median(np.abs(t.x), axis=0)
    magnitude = np.max(np.abs(t.x) / scale, axis=1)
    assert magnitude[held].min() >= magnitude[kept].max()
    labels = [c.label for c in ladder(3, positive=True)]
    assert labels[:3] == ["nau", "nmu", "nac_mul"] and "nac_mul" not in " ".join(c.label for c in ladder(3, False))
    assert rename("y = x1 * x10 - x0", ["a"] + [f"c{i}" for i in range(1, 11)]) == "y = c1 * c10 - a"


def test_noisy_product_with_a_distractor_recovers_the_formula(tmp_path: Path) -> None:
    """1% noise, an irrelevant column: the NMU reads F = m * a, the distractor at zero weight."""
    path = force_table(tmp_path / "t.csv", noise=0.01)
    report = fit(path, "F", units=["nmu"], hidden=[], members=4, steps=800, out=tmp_path / "run")
    chosen = report["candidates"][report["chosen"]]
    assert report["formula"] == "F = m * a"
    assert chosen["deviation"] < 0.05
    # The exact formula fits to the noise level (~1%) on held-out larger inputs; least squares does not.
    assert chosen["formula_errors"]["heldout"]["rel_err"] < 0.02
    assert report["baselines"]["linear"]["heldout"]["rel_err"] > 0.05
    evaluated = runner.invoke(app, ["eval", str(tmp_path / "run"), "--data", str(path), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["formula"] == "F = m * a"


def test_fit_end_to_end_ladder_cli_and_subprocess(tmp_path: Path) -> None:
    path = force_table(tmp_path / "t.csv", n=120)
    result = runner.invoke(
        app, ["fit", str(path), "--target", "F", "--members", "4", "--steps", "600", "--out", str(tmp_path / "a")]
    )
    assert result.exit_code == 0, result.output
    assert "formula: F = m * a" in result.stdout and "least squares" in result.stdout
    assert (tmp_path / "a" / "fit.json").exists() and (tmp_path / "a" / "fit.pt").exists()
    again = runner.invoke(app, ["fit", str(path), "--target", "F", "--out", str(tmp_path / "a")])
    assert "already holds a fit" in assert_error_line(again, codes=(2,))
    proc = run_nalu("fit", str(path), "--target", "nope", "--out", str(tmp_path / "b"))
    assert proc.returncode == 2 and proc.stderr.startswith("Error: no column 'nope'")
    assert not (tmp_path / "b").exists()


def test_bad_unit_and_options_are_one_error_line(tmp_path: Path) -> None:
    path = force_table(tmp_path / "t.csv", n=30)
    for args, message in [
        (["--unit", "nmuu"], "did you mean 'nmu'"),
        (["--unit", "nmu,nau"], "unit lists 2 units"),
        (["--hidden", "2"], "--hidden needs --unit"),
        (["--holdout", "0.95"], "--holdout 0.95"),
    ]:
        result = runner.invoke(app, ["fit", str(path), "--target", "F", *args, "--out", str(tmp_path / "r")])
        assert message in assert_error_line(result, codes=(2,)), args
        assert not (tmp_path / "r").exists()
    result = runner.invoke(app, ["eval", str(tmp_path), "--data", str(path)])
    assert "not a fit run" in assert_error_line(result, codes=(2,))


def test_inputs_naming_a_column_twice_is_a_usage_error(tmp_path: Path) -> None:
    path = force_table(tmp_path / "t.csv", n=30)
    result = runner.invoke(app, ["fit", str(path), "--target", "F", "--inputs", "m,m", "--out", str(tmp_path / "r")])
    assert "--inputs names column 'm' twice" in assert_error_line(result, codes=(2,))
    assert not (tmp_path / "r").exists()


def test_residual_test_tells_noise_from_a_missing_term() -> None:
    """The early exit's test: 1% noise explains nothing; a missing `- discount` (2-3% of the target) does."""
    rs = np.random.default_rng(1)
    x = rs.uniform(1, 10, (160, 5))
    truth = x[:, 0] * x[:, 1] - x[:, 2]
    y = truth * (1 + 0.01 * rs.standard_normal(160))
    assert explains_nothing(y - truth, x)
    assert not explains_nothing(y - x[:, 0] * x[:, 1], x)
    assert not explains_nothing(y - (x[:, 0] + x[:, 1]), x)
    assert not explains_nothing(rs.standard_normal(10), x[:10])  # too few rows to tell: never noise
    r2, threshold = explained(rs.standard_normal(160), x)
    assert 0.0 < r2 < threshold < 1.0


def test_warm_start_is_the_least_squares_solution_of_one_layer(tmp_path: Path) -> None:
    """Member 0 of a one-layer candidate starts at the closed-form fit; members 1.. keep their random start."""
    rs = np.random.default_rng(0)
    x = rs.uniform(1, 10, (50, 3))
    y = x[:, 0] * x[:, 1] / x[:, 2]
    model = ArithmeticModel(rng.seed_tensor([0, 1]), 3, ["nac_mul"], [], UnitOptions()).to(torch.float64)
    before = model.layers[0].weight()[1].clone()
    assert warm_start(model, "nac_mul", x, y)
    assert torch.allclose(
        model.layers[0].weight()[0, 0], torch.tensor([1.0, 1.0, -1.0], dtype=torch.float64), atol=0.01
    )
    assert torch.equal(model.layers[0].weight()[1], before)
    nau = ArithmeticModel(rng.seed_tensor([0]), 3, ["nau"], [], UnitOptions()).to(torch.float64)
    assert warm_start(nau, "nau", x, x[:, 0] - x[:, 2])
    assert torch.allclose(nau.layers[0].W[0, 0], torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64), atol=1e-9)
    nmu = ArithmeticModel(rng.seed_tensor([0]), 3, ["nmu"], [], UnitOptions()).to(torch.float64)
    assert not warm_start(nmu, "nmu", x - 5, y)  # log-space least squares needs positive inputs


def test_noisy_ladder_stops_at_the_noise_level_and_runs_lists_the_fit(tmp_path: Path) -> None:
    """The ladder stops at the first formula whose residuals are noise; `nalu runs` lists the fit run."""
    path = force_table(tmp_path / "t.csv", noise=0.01)
    report = fit(path, "F", members=4, out=tmp_path / "runs" / "fit-F")
    assert report["formula"] == "F = m * a"
    assert [c["stop"] for c in report["candidates"]][-1] == "noise"
    assert any("residuals are only noise" in w for w in report["warnings"])
    assert all(c["steps"] < 2000 for c in report["candidates"])
    listed = runner.invoke(app, ["runs", str(tmp_path / "runs"), "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)["runs"]
    assert row["mode"] == "fit" and row["op"] == "fit F" and row["formula"] == "F = m * a"
    assert row["status"] == "finished" and 0 < row["extrap_mse"] < 1.0
    table = runner.invoke(app, ["runs", str(tmp_path / "runs")], env={"COLUMNS": "200"})
    assert "fit F" in table.stdout and "fit-F" in table.stdout


def test_no_formula_on_the_quick_pass_trains_every_candidate_again(tmp_path: Path) -> None:
    """A target outside the units' class: the quick pass finds nothing, so a second pass retries each stack."""
    rs = np.random.default_rng(0)
    a, b = rs.uniform(1, 3, 60), rs.uniform(1, 3, 60)
    path = write_csv(tmp_path / "t.csv", ["a", "b", "y"], [[x, z, np.exp(x) + z] for x, z in zip(a, b, strict=True)])
    report = fit(path, "y", members=2)
    stacks = [c["stack"] for c in report["candidates"]]
    assert stacks[:2] == ["nau", "nau (retry)"] and len(stacks) == 2 * len(ladder(2, positive=True))
    assert any("trained again with new members" in w for w in report["warnings"])
    assert all(c["stop"] not in ("exact", "noise") for c in report["candidates"])
