"""Signals outside the training loop: a signal during the final evaluation, and a second signal.

A real ``nalu train`` whose final evaluation is long (100,000 or 300,000 samples per range) is signalled once its last
training step is logged: one signal lets the evaluation finish and save, then exits with the signal's code;
a second signal leaves at once with its own code (130 SIGINT, 143 SIGTERM) and the ``--resume`` command,
keeping the last periodic checkpoint.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint, read_metrics
from tests.conftest import nalu_command, subprocess_env

STEPS = 200
SIGNALS = [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")]


def start_in_final_evaluation(run: Path, samples: int, *extra: str) -> subprocess.Popen[str]:
    """A training process that has logged its last step, so it is in (or entering) the final evaluation."""
    cmd = [
        *nalu_command(), "train", "--op", "mul", "--steps", str(STEPS), "--out", str(run), "--checkpoint-every", "100",
        "--set", "train.log_every=100", "--set", "train.valid_samples=256", "--set", f"eval.samples={samples}", *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        if (run / "metrics.jsonl").exists() and any(m.get("step") == STEPS for m in read_metrics(run)):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "training ended before the signal could be sent"
    return proc


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_second_signal_exits_at_once_with_its_own_code(
    tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    run = tmp_path / "run"
    proc = start_in_final_evaluation(run, 300_000)
    proc.send_signal(sig)
    time.sleep(0.3)
    assert proc.poll() is None, "the first signal must not end the final evaluation"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (proc.returncode, err)
    assert f"Interrupted by a second {name}" in err and f"nalu train --resume {run}" in err, err
    assert "Traceback" not in err and "Error: interrupted" not in err
    data = load_checkpoint(run / CHECKPOINT_NAME)  # the periodic checkpoint, whole: the final save never ran
    assert data["step"] == 100 and data["finished"] is False and not list(run.glob(".*.tmp"))


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS[1:])  # SIGINT takes the same path
def test_signal_during_final_evaluation_is_not_swallowed(
    tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    run = tmp_path / "run"
    proc = start_in_final_evaluation(run, 100_000, "--json")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == code, (proc.returncode, err)
    assert f"Interrupted by {name} during the final evaluation" in err and "Traceback" not in err, err
    data = load_checkpoint(run / CHECKPOINT_NAME)  # the evaluation finished and was saved
    assert data["step"] == STEPS and data["finished"] is True and len(data["results"]) == 1
    report = json.loads(out)
    assert report["steps"] == STEPS and report["seeds"][0]["extrapolation"] == data["results"][0]["extrapolation"]
