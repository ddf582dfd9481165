"""Atomic saves: SIGKILL at random moments while checkpoints are written never leaves a half-written file.

Two writers are killed over and over: a tight loop that does nothing but save (so most kills land inside a
save), and the real ``nalu train`` saving every step and resumed after every kill, which must still end with
weights bit-identical to a run that was never killed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint
from nalu_cli.training.loop import train
from tests.conftest import nalu_command, subprocess_env, tiny_config

# Saves generation g (a 4 MB tensor filled with g, so a torn file cannot pass for a whole one) over and over,
# continuing from the generation on disk, and prints each generation once its save has returned.
WRITER = """
import sys, torch
from pathlib import Path
from nalu_cli.runs.checkpoint import load_checkpoint, save_checkpoint
path = Path(sys.argv[1])
g = int(load_checkpoint(path)["step"]) if path.exists() else 0
while True:
    g += 1
    save_checkpoint(path, {"config": {}, "model": {"w": torch.full((1 << 20,), float(g))}, "step": g, "seeds": {}})
    print(g, flush=True)
"""


def _generation_on_disk(path: Path) -> int:
    data = load_checkpoint(path)  # raises if the file is torn
    g = data["step"]
    assert torch.equal(data["model"]["w"], torch.full((1 << 20,), float(g))), "checkpoint mixes two saves"
    return g


def test_sigkill_during_saves_leaves_old_or_new_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / CHECKPOINT_NAME
    rnd = random.Random(0)
    on_disk = 0
    kills = 0
    while kills < 12:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=subprocess_env()
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is up and has finished at least one save
        assert first.strip(), "writer died before its first save"
        time.sleep(rnd.uniform(0.0, 0.15))
        proc.send_signal(signal.SIGKILL)
        printed = [int(first)] + [int(line) for line in proc.stdout.read().split()]
        proc.wait(timeout=30)
        kills += 1
        last_reported = printed[-1]
        g = _generation_on_disk(path)
        # the previous save (last one reported) or the one in flight when the kill came
        assert g in (last_reported, last_reported + 1), (g, last_reported)
        assert g > on_disk
        on_disk = g
    assert on_disk > kills  # the writer made progress between kills


def _wait_for(predicate: object, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.005)
    return False


def test_sigkilled_training_resumes_to_identical_weights(tmp_path: Path) -> None:
    steps = 1500
    overrides = {"train.steps": steps, "train.log_every": 50}
    reference = train(tiny_config("mul", **overrides), tmp_path / "reference")
    assert reference.step == steps

    run = tmp_path / "killed"
    ckpt = run / CHECKPOINT_NAME
    base = [*nalu_command(), "train", "--checkpoint-every", "1", "--json"]
    fresh = [*base, "--op", "mul", "--steps", str(steps), "--out", str(run),
             "--set", "train.log_every=50", "--set", "eval.samples=512", "--set", "train.valid_samples=256"]  # fmt: skip
    rnd = random.Random(1)
    seen = -1
    kills = 0
    finished = False
    for attempt in range(40):
        cmd = fresh if attempt == 0 else [*base, "--resume", str(run)]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=subprocess_env())
        mtime = ckpt.stat().st_mtime_ns if ckpt.exists() else 0
        # wait until this process has saved at least once, then kill it a random moment later
        saved = _wait_for(lambda m=mtime: ckpt.exists() and ckpt.stat().st_mtime_ns != m, 120)  # noqa: B023
        if kills < 6 and saved and proc.poll() is None:
            time.sleep(rnd.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            if proc.returncode == -signal.SIGKILL:
                kills += 1
            data = load_checkpoint(ckpt)  # always loadable
            assert data["step"] >= seen, "the checkpoint went back in time"
            seen = data["step"]
            continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        finished = True
        break
    assert finished and kills == 6, (finished, kills)  # the README promises six kills
    assert not list(run.glob(".*.tmp")), "stale temp files were not cleaned up on resume"
    got = load_checkpoint(ckpt)
    want = load_checkpoint(tmp_path / "reference" / CHECKPOINT_NAME)
    assert got["step"] == want["step"] == steps and got["finished"]
    for name, tensor in want["model"].items():
        assert torch.equal(got["model"][name], tensor), name
    assert got["results"][0]["extrapolation"] == want["results"][0]["extrapolation"]
