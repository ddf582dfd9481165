"""Checkpoints: round trip, atomic write, refusal of corrupt and foreign files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nalu_cli.errors import CheckpointError
from nalu_cli.runs.checkpoint import (
    CHECKPOINT_NAME,
    atomic_write_bytes,
    load_checkpoint,
    read_metrics,
    remove_stale_temps,
)
from nalu_cli.runs.run import Run
from nalu_cli.training.trainer import Trainer


def test_round_trip_rebuilds_identical_model(mul_run: Path) -> None:
    assert {p.name for p in mul_run.iterdir()} >= {"config.yaml", "checkpoint.pt", "metrics.jsonl"}
    trainer, data = Trainer.from_run(Run.open(mul_run))
    state = data["model"]
    for name, tensor in trainer.model.state_dict().items():
        assert torch.equal(tensor, state[name])
    assert data["step"] == 600 and data["finished"] is True
    assert data["results"][0]["seed"] == 0
    # the resumable state is there too
    assert data["train_state"]["optimizer"]["t"] == 600
    metrics = read_metrics(mul_run)
    assert [m["step"] for m in metrics] == list(range(0, 601, 100))


def test_corrupt_and_foreign_files_are_refused(tmp_path: Path, mul_run: Path) -> None:
    good = (mul_run / CHECKPOINT_NAME).read_bytes()
    cases = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "garbage": b"\x00\x01not a checkpoint" * 10,
    }
    for name, payload in cases.items():
        p = tmp_path / f"{name}.pt"
        p.write_bytes(payload)
        with pytest.raises(CheckpointError):
            load_checkpoint(p)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a nalu checkpoint"):
        load_checkpoint(foreign)
    data = torch.load(mul_run / CHECKPOINT_NAME, weights_only=True)
    data["version"] = 999
    future = tmp_path / "future.pt"
    torch.save(data, future)
    with pytest.raises(CheckpointError, match="newer"):
        load_checkpoint(future)


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp files left behind


def test_stale_temp_files_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    atomic_write_bytes(tmp_path / CHECKPOINT_NAME, b"good")
    left = [tmp_path / f".{CHECKPOINT_NAME}.abc123.tmp", tmp_path / ".metrics.jsonl.x.tmp"]
    for p in left:
        p.write_bytes(b"half")
    keep = tmp_path / ".notes.x.tmp"  # not ours: left alone
    keep.write_bytes(b"")
    remove_stale_temps(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CHECKPOINT_NAME, keep.name])
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == b"good"
