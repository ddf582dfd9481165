"""Signals outside the training loop: a signal during the final evaluation, and a second signal.

A real ``nalu train`` whose final evaluation is long (300,000 samples per range) is signalled once its last
training step is logged: one signal says at once that the evaluation is abandoned, acts within seconds, saves
the trained state (unfinished) and exits with the signal's code; ``--resume`` evaluates and finishes it. A
second signal leaves at once with its own code (130 SIGINT, 143 SIGTERM) and the ``--resume`` command, keeping
the last periodic checkpoint.
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
def test_signal_during_final_evaluation_abandons_it_at_once_and_the_run_resumes(
    tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    """One signal during a long final evaluation says so at once, abandons it within seconds and saves the
    trained state unfinished; ``--resume`` then evaluates and finishes the run."""
    run = tmp_path / "run"
    proc = start_in_final_evaluation(run, 300_000)
    time.sleep(0.5)  # inside the evaluation (300,000 samples per range take far longer)
    proc.send_signal(sig)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=120)
    took = time.monotonic() - sent
    assert proc.returncode == code, (proc.returncode, err)
    assert took < 10, f"the signal took {took:.1f} s to act"
    assert f"Stopping ({name}): abandoning the evaluation under way" in err, err
    assert f"Interrupted by {name} during an evaluation at step {STEPS}, abandoned; checkpoint saved." in err, err
    assert f"nalu train --resume {run}" in err and "Traceback" not in err, err
    data = load_checkpoint(run / CHECKPOINT_NAME)
    assert data["step"] == STEPS and data["finished"] is False and not list(run.glob(".*.tmp"))
    resumed = subprocess.run(
        [*nalu_command(), "train", "--resume", str(run), "--json", "--set", "eval.samples=512"],
        capture_output=True, text=True, env=subprocess_env(), timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 2, resumed.stderr  # only --steps and --device may change on --resume
    resumed = subprocess.run(
        [*nalu_command(), "train", "--resume", str(run), "--json"],
        capture_output=True, text=True, env=subprocess_env(), timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(run / CHECKPOINT_NAME)["finished"] is True
    assert json.loads(resumed.stdout)["steps"] == STEPS


def test_signal_during_a_long_sequence_evaluation_acts_within_seconds(tmp_path: Path) -> None:
    """The issue's case: a recurrent run with a million-step test sequence evaluates for minutes at step 0;
    SIGINT says what happens at once, acts within seconds (exit 130) and leaves a run that resumes."""
    run = tmp_path / "rec"
    cmd = [
        *nalu_command(), "train", "--mode", "recurrent", "--steps", "1", "--out", str(run),
        "--set", "task.extrapolation_length=1000000",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    end = time.monotonic() + 120
    while time.monotonic() < end and not (run / "metrics.jsonl").exists():
        time.sleep(0.01)
    time.sleep(1.0)  # the step-0 evaluation is under way (no step has been logged)
    assert proc.poll() is None and not read_metrics(run), "the evaluation ended before the signal"
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=120)
    took = time.monotonic() - sent
    assert proc.returncode == 130 and took < 10, (proc.returncode, f"{took:.1f} s", err)
    assert "Stopping (SIGINT): abandoning the evaluation under way after its current chunk" in err, err
    assert "Interrupted by SIGINT during an evaluation at step 0, abandoned; checkpoint saved." in err, err
    assert "Traceback" not in err
    data = load_checkpoint(run / CHECKPOINT_NAME)  # whole and resumable: the state before any step
    assert data["step"] == 0 and data["finished"] is False


@pytest.mark.parametrize(("sig", "code", "name"), SIGNALS)
def test_second_signal_exits_at_once_with_its_own_code(
    tmp_path: Path, sig: signal.Signals, code: int, name: str
) -> None:
    """Two signals in a row: the second leaves at once (the periodic checkpoint kept) unless the first has
    already saved and left; either way the exit code is the signal's and the run is whole."""
    run = tmp_path / "run"
    proc = start_in_final_evaluation(run, 300_000)
    proc.send_signal(sig)
    time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (proc.returncode, err)
    assert f"nalu train --resume {run}" in err and "Traceback" not in err and "Error: interrupted" not in err, err
    data = load_checkpoint(run / CHECKPOINT_NAME)
    assert not list(run.glob(".*.tmp"))
    if f"Interrupted by a second {name}" in err:
        assert data["step"] in (100, STEPS) and data["finished"] is False  # the first's save may have finished
    else:  # both signals were taken as one (they arrived within one evaluation chunk)
        assert f"Interrupted by {name} during an evaluation at step {STEPS}" in err, err
        assert data["step"] == STEPS and data["finished"] is False
