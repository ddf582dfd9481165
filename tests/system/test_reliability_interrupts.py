"""Interrupts and determinism: SIGINT/SIGTERM save a resumable checkpoint and exit 130/143; resuming ends
with weights identical to an uninterrupted run; the same config and seed give bit-identical results in two
separate processes."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint, read_metrics
from nalu_cli.training.loop import train
from tests.conftest import nalu_command, run_nalu, subprocess_env, tiny_config

STEPS = 3000
SETTINGS = ["--set", "train.log_every=20", "--set", "eval.samples=512", "--set", "train.valid_samples=256"]
OVERRIDES = {"train.steps": STEPS, "train.log_every": 20}


def _metrics_without_time(run: Path) -> list[dict[str, object]]:
    return [{k: v for k, v in m.items() if k != "time"} for m in read_metrics(run)]


@pytest.mark.parametrize(("sig", "code", "name"), [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_signal_saves_checkpoint_and_resume_matches_uninterrupted(
    tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    run = tmp_path / "run"
    cmd = [*nalu_command(), "train", "--op", "mul", "--steps", str(STEPS), "--out", str(run), *SETTINGS]
    # --checkpoint-every larger than the run: the only checkpoint before the end is the one the signal makes
    proc = subprocess.Popen(
        [*cmd, "--checkpoint-every", str(10 * STEPS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(),
    )  # fmt: skip
    metrics = run / "metrics.jsonl"
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 3:  # past step 40: the loop is running
            break
        time.sleep(0.005)
    assert proc.poll() is None, "training ended before the signal could be sent"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (proc.returncode, err)
    assert f"Interrupted by {name}" in err and f"--resume {run}" in err and "Traceback" not in err
    data = load_checkpoint(run / CHECKPOINT_NAME)
    assert data["finished"] is False and 40 <= data["step"] < STEPS
    interrupted_at = data["step"]

    resumed = run_nalu("train", "--resume", str(run), "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["steps"] == STEPS and report["interrupted"] is False

    reference = tmp_path / "reference"
    train(tiny_config("mul", **OVERRIDES), reference)
    got = load_checkpoint(run / CHECKPOINT_NAME)
    want = load_checkpoint(reference / CHECKPOINT_NAME)
    for key, tensor in want["model"].items():
        assert torch.equal(got["model"][key], tensor), key
    for key, tensor in want["train_state"]["optimizer"].items():
        if isinstance(tensor, torch.Tensor):
            assert torch.equal(got["train_state"]["optimizer"][key], tensor), key
    assert got["results"] == want["results"]
    # the metrics log reads as one run: no step twice, none missing
    assert _metrics_without_time(run) == _metrics_without_time(reference), f"interrupted at {interrupted_at}"


def test_same_config_and_seed_are_bit_identical_across_processes(tmp_path: Path) -> None:
    args = ["train", "--op", "mul", "--seeds", "0-2", "--steps", "300", "--json", *SETTINGS]
    a = run_nalu(*args, "--out", str(tmp_path / "a"))
    b = run_nalu(*args, "--out", str(tmp_path / "b"))
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    ca, cb = load_checkpoint(tmp_path / "a" / CHECKPOINT_NAME), load_checkpoint(tmp_path / "b" / CHECKPOINT_NAME)
    for key, tensor in ca["model"].items():
        assert torch.equal(tensor, cb["model"][key]), key
    assert ca["results"] == cb["results"]
    assert _metrics_without_time(tmp_path / "a") == _metrics_without_time(tmp_path / "b")
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    for report in (ja, jb):
        report.pop("elapsed", None)
        report.pop("seed_steps_per_second", None)  # a timing, like elapsed
        report.pop("run", None)
        report.pop("run_dir", None)
    assert ja == jb
