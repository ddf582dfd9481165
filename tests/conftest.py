"""Shared fixtures: tiny real training runs (a few hundred steps, a second or two on a CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nalu_cli import config
from nalu_cli.train import train

torch.set_num_threads(1)


def tiny_config(op: str = "mul", **overrides: object) -> config.Config:
    """The op's default config with few steps and small evaluation sets (fast, still real training)."""
    base: dict[str, object] = {"task.op": op, "train.steps": 400, "train.log_every": 100, "eval.samples": 512,
                               "train.valid_samples": 256}
    base.update(overrides)
    return config.resolve(overrides=base)


@pytest.fixture(scope="session")
def mul_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run directory of the default multiplication model (read-only for tests)."""
    run_dir = tmp_path_factory.mktemp("runs") / "mul"
    train(tiny_config("mul", **{"train.steps": 600}), run_dir)
    return run_dir
