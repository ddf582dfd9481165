"""Divergence: NaN/Inf is caught at the step it happens, named in the message, never saved over a good
checkpoint; in batched runs only the seed that diverged is marked failed; evaluating on ranges that overflow
reports inf/NaN instead of crashing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.errors import DivergenceError
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint, read_metrics
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer
from tests.conftest import run_nalu, tiny_config

runner = CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["--op", "mul", "--unit", "mlp", "--hidden", "8", "--lr", "100", "--interpolation", "1e10,1e11"],
        ["--op", "mul", "--interpolation", "1e29,1e30"],  # products overflow float32
        ["--op", "add", "--unit", "nac_add", "--interpolation", "1e25,1e30", "--lr", "100"],
    ],
)
def test_huge_lr_or_range_stops_with_the_step(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(cli.app, ["train", *args, "--steps", "200", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1, result.output
    err = result.stderr.strip()
    assert err.startswith("Error: training diverged at step ") and "\n" not in err, err
    assert "Traceback" not in result.output
    # nothing non-finite was saved; the metrics log records where it happened
    assert not (tmp_path / "r" / CHECKPOINT_NAME).exists()
    assert any("diverged_at" in m for m in read_metrics(tmp_path / "r"))


def _poison_at(monkeypatch: pytest.MonkeyPatch, step: int, member: int) -> None:
    """Feed member ``member`` a NaN training batch at ``step`` (an overflow on cue): the loss and gradient go
    non-finite and the trainer's own checks must catch it."""
    original = Trainer.draw_batch

    def draw_batch(self: Trainer) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = original(self)
        if self.step == step:
            x = x.clone()  # the drawn batch may be a view of batches drawn ahead
            x[member] = math.nan
        return x, y

    monkeypatch.setattr(Trainer, "draw_batch", draw_batch)


def test_nan_mid_run_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "r"
    _poison_at(monkeypatch, step=137, member=0)
    with pytest.raises(DivergenceError, match="diverged at step 137"):
        train(tiny_config("mul", **{"train.steps": 400}), run, checkpoint_every=50)
    data = load_checkpoint(run / CHECKPOINT_NAME)
    assert data["step"] == 100 and data["finished"] is False
    assert all(bool(torch.isfinite(t).all()) for t in data["model"].values())
    # the good checkpoint is usable: resume from it (without the poison) and finish
    monkeypatch.undo()
    done = train(tiny_config("mul", **{"train.steps": 400}), run, resume=True)
    assert done.step == 400 and all(math.isfinite(s["interpolation"]["mse"]) for s in done.seeds)


def test_batched_run_marks_only_the_diverged_seed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = train(tiny_config("mul", **{"train.seeds": [0, 1, 2]}))
    _poison_at(monkeypatch, step=50, member=1)
    result = train(tiny_config("mul", **{"train.seeds": [0, 1, 2]}), tmp_path / "r", checkpoint_every=25)
    by_seed = {s["seed"]: s for s in result.seeds}
    assert by_seed[1]["diverged_at"] == 50 and by_seed[1]["solved"] is False
    for seed in (0, 2):  # untouched: exactly what they get without the poisoned neighbour
        want = next(s for s in clean.seeds if s["seed"] == seed)
        assert by_seed[seed]["diverged_at"] is None
        assert by_seed[seed]["interpolation"] == want["interpolation"]
        assert by_seed[seed]["extrapolation"] == want["extrapolation"]
    data = load_checkpoint(
        tmp_path / "r" / CHECKPOINT_NAME
    )  # saved, finite (the dead seed keeps its last good weights)
    assert all(bool(torch.isfinite(t).all()) for t in data["model"].values())


def test_eval_on_overflowing_ranges_reports_inf_or_nan(mul_run: Path) -> None:
    ranges = ["--range", "1e30,1e31", "--range", "1e200,1e300", "--range", "1,10"]
    result = runner.invoke(cli.app, ["eval", str(mul_run), *ranges, "--samples", "256", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["seeds"][0]["ranges"]
    for row in rows[:2]:
        assert row["mse"] in ("inf", "nan") and row["solved"] is False, row
    assert isinstance(rows[2]["mse"], float) and rows[2]["solved"] is True
    for row in rows:  # the other metrics follow the MSE: all non-finite, or all finite
        finite = [isinstance(row[k], float) for k in ("mse", "mae", "rel_err")]
        assert all(finite) or not any(finite), row
    table = runner.invoke(cli.app, ["eval", str(mul_run), *ranges, "--samples", "256"])
    assert table.exit_code == 0, table.output
    lines = {label: next(line for line in table.stdout.splitlines() if label in line) for label in
             ("U[1e+30,1e+31]", "U[1e+200,1e+300]", "U[1,10]")}  # fmt: skip
    for label in ("U[1e+30,1e+31]", "U[1e+200,1e+300]"):
        cells = [c.strip() for c in lines[label].split("│")[1:-1]]  # range, MSE, MAE, rel. error, threshold, solved
        assert cells[1] in ("inf", "nan") and cells[-1] == "no", cells
    assert "nan" not in lines["U[1,10]"] and "inf" not in lines["U[1,10]"]
    # the ladder may run into overflow too: extrapolate far out, as a real process
    done = run_nalu("extrapolate", str(mul_run), "--factors", "1,1e20,1e40", "--json", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    ladder = json.loads(done.stdout)["seeds"][0]["ranges"]
    assert [r["factor"] for r in ladder] == [1, 1e20, 1e40]
    assert isinstance(ladder[0]["mse"], float) and ladder[0]["solved"] is True
    for r in ladder[1:]:  # products near 1e41 and beyond overflow float32
        assert r["mse"] in ("inf", "nan") and r["solved"] is False, r
