"""``train.compile``: the compiled data generator keeps every guarantee (a seed batched equals the seed alone,
resume is bit-identical, runs are deterministic) and gives the eager values bit for bit; without a working
compiler training falls back to eager with one warning; ``auto`` stays off for short runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nalu_cli import rng
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as config
from nalu_cli.errors import ConfigError
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, load_checkpoint
from nalu_cli.training.build import COMPILE_AUTO_NUMBERS, compile_wanted
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer
from tests.conftest import run_nalu, tiny_config

STATIC = {"model.unit": ["nau", "nmu"], "model.hidden": [2], "task.mode": "static", "task.input_size": 20}


def _steps(cfg: config.Config, n: int, trainer: Trainer | None = None) -> Trainer:
    trainer = trainer or Trainer(cfg, torch.device("cpu"))
    for _ in range(n):
        trainer.train_step()
    return trainer


def _same_weights(a: Trainer, b: Trainer, i: int = 0, j: int = 0) -> None:
    for (name, p), q in zip(a.model.named_parameters(), b.params, strict=True):
        assert torch.equal(p[i], q[j]), name
    for m_a, m_b in zip(a.optimizer.m + a.optimizer.v, b.optimizer.m + b.optimizer.v, strict=True):
        assert torch.equal(m_a[i], m_b[j])


def _compiled_or_skip(trainer: Trainer) -> None:
    if not trainer.compiled:
        pytest.skip(f"torch.compile does not work here: {trainer.warnings}")


def test_compile_key_accepts_words_and_yaml_booleans() -> None:
    assert tiny_config("mul").train.compile == "auto"
    for value, want in [("on", "on"), ("off", "off"), (True, "on"), (False, "off"), ("auto", "auto")]:
        assert tiny_config("mul", **{"train.compile": value}).train.compile == want
    with pytest.raises(ConfigError, match="compile"):
        tiny_config("mul", **{"train.compile": "fast"})


def test_auto_compiles_only_runs_that_draw_enough_numbers() -> None:
    default = config_resolve.resolve(overrides={"task.op": "mul"})  # what `nalu train --op mul` runs
    assert not compile_wanted(default, 1)
    assert Trainer(default, torch.device("cpu")).compile_wanted is False
    big = config_resolve.resolve(overrides={"task.op": "mul", "train.steps": 100_000}, preset="madsen2020")
    numbers = 100_000 * 128 * 100
    assert compile_wanted(big, -(-COMPILE_AUTO_NUMBERS // numbers))  # enough seeds: on
    assert not compile_wanted(big, COMPILE_AUTO_NUMBERS // numbers - 1)
    assert not compile_wanted(config_resolve.resolve(overrides={"task.op": "mul", "train.compile": "off"}), 10**9)


def test_compile_failure_falls_back_to_eager_with_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("no C++ compiler found\nsecond line")

    monkeypatch.setattr(rng, "_KERNELS", {})
    monkeypatch.setattr(torch, "compile", broken)
    cfg = tiny_config("mul", **{"train.seeds": [0, 1], "train.compile": "on", "train.steps": 30})
    result = train(cfg)
    assert result.compiled is False
    assert (
        len(result.warnings) == 1
        and "torch.compile failed (RuntimeError: no C++ compiler found)" in (result.warnings[0])
    ), result.warnings
    eager = train(tiny_config("mul", **{"train.seeds": [0, 1], "train.compile": "off", "train.steps": 30}))
    assert result.seeds == eager.seeds and eager.warnings == []


def test_compiled_batched_equals_alone_equals_eager() -> None:
    """Compiles the generator for two shapes (a few seconds each with inductor's cache warm)."""
    together = _steps(tiny_config("mul", **STATIC, **{"train.seeds": [4, 0, 9], "train.compile": "on"}), 25)
    _compiled_or_skip(together)
    alone = _steps(tiny_config("mul", **STATIC, **{"train.seeds": [0], "train.compile": "on"}), 25)
    eager = _steps(tiny_config("mul", **STATIC, **{"train.seeds": [0], "train.compile": "off"}), 25)
    assert alone.compiled and not eager.compiled
    _same_weights(together, alone, 1, 0)
    _same_weights(alone, eager)
    assert torch.equal(together.last_loss[1], eager.last_loss[0])


@pytest.mark.slow
def test_compiled_resume_is_bit_identical(tmp_path: Path) -> None:
    cfg = tiny_config("mul", **STATIC, **{"train.seeds": [0, 1], "train.compile": "on", "train.steps": 40})
    whole = train(cfg, tmp_path / "whole")
    if not whole.compiled:
        pytest.skip(f"torch.compile does not work here: {whole.warnings}")
    half = Trainer(cfg, torch.device("cpu"))
    _steps(cfg, 20, half)
    half.save(tmp_path / "half.pt", finished=False)
    resumed = Trainer(cfg, torch.device("cpu"))
    resumed.restore(load_checkpoint(tmp_path / "half.pt"))
    _steps(cfg, 20, resumed)
    want = load_checkpoint(tmp_path / "whole" / CHECKPOINT_NAME)
    assert want["compiled"] is True
    for name, tensor in want["model"].items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name


@pytest.mark.slow
def test_compiled_runs_are_deterministic_across_processes(tmp_path: Path) -> None:
    args = ["train", "--op", "mul", "--seeds", "0-1", "--steps", "60", "--json", "--set", "train.compile=on"]
    a = run_nalu(*args, "--out", str(tmp_path / "a"))
    b = run_nalu(*args, "--out", str(tmp_path / "b"))
    assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    if not ja["compiled"]:
        pytest.skip(f"torch.compile does not work here: {ja['warnings']}")
    assert jb["compiled"] and ja["seeds"] == jb["seeds"]
    ca, cb = (load_checkpoint(tmp_path / r / CHECKPOINT_NAME) for r in ("a", "b"))
    for key, tensor in ca["model"].items():
        assert torch.equal(tensor, cb["model"][key]), key
