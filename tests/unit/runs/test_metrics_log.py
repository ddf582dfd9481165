"""The per-run metrics log: JSON lines that json/jq/pandas read, one per logging step, flushed as written."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from nalu_cli.config import resolve as config_resolve
from nalu_cli.runs.checkpoint import METRICS_NAME, read_metrics
from nalu_cli.training.loop import train

torch.set_num_threads(1)
FIELDS = ("step", "lr", "loss_median", "valid_mse_median", "extrap_mse_median", "alive", "solved", "members", "time")


def test_metrics_log_is_json_lines_with_increasing_steps(mul_run: Path) -> None:
    lines = (mul_run / METRICS_NAME).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # plain json, one object per line (NaN as JSON's NaN token)
    assert all(isinstance(r, dict) for r in records)
    steps = [r["step"] for r in records]
    assert steps == list(range(0, 601, 100))  # log_every 100 over 600 steps, the start included
    assert all(a < b for a, b in zip(steps, steps[1:], strict=False))
    for r in records:
        missing = [f for f in FIELDS if f not in r]
        assert not missing, f"step {r['step']} lacks {missing}"
        assert r["members"] == 1 and len(r["loss"]) == len(r["valid_mse"]) == len(r["extrap_mse"]) == 1
    times = [r["time"] for r in records]
    assert times == sorted(times)
    assert math.isnan(records[0]["loss_median"])  # no training step yet at step 0
    assert all(math.isfinite(r["loss_median"]) for r in records[1:])
    assert read_metrics(mul_run) == records


def test_metrics_lines_are_flushed_while_training(tmp_path: Path) -> None:
    seen: dict[int, int] = {}
    path = tmp_path / "run" / METRICS_NAME

    def progress(step: int, total: int, loss: float) -> None:
        if step % 50 == 0:
            seen[step] = len(path.read_text(encoding="utf-8").splitlines())

    cfg = config_resolve.resolve(
        overrides={
            "task.op": "add",
            "train.steps": 150,
            "train.log_every": 50,
            "eval.samples": 64,
            "train.valid_samples": 64,
        }
    )
    train(cfg, tmp_path / "run", progress=progress)
    assert seen == {50: 2, 100: 3, 150: 4}  # every logged line is on disk before training goes on


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_jq_reads_the_metrics_log(mul_run: Path) -> None:
    result = subprocess.run(
        ["jq", "-c", ".step"], input=(mul_run / METRICS_NAME).read_text(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert [int(s) for s in result.stdout.split()] == list(range(0, 601, 100))
