"""CUDA paths (skipped without a GPU; ``benchmarks/gpu_check.sh`` runs them): the device flows through task,
model and optimiser; a seed batched equals the seed alone on the GPU too; a checkpoint trained on the GPU is
evaluated on the CPU. The generator's CUDA-equals-CPU check is in tests/unit/tasks/test_rng.py."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from nalu_cli.runs.run import Run
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer
from tests.conftest import tiny_config

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

STATIC = {"model.unit": ["nau", "nmu"], "model.hidden": [2], "task.mode": "static", "train.device": "cuda"}


def test_everything_lives_on_the_gpu() -> None:
    trainer = Trainer(tiny_config("mul", **STATIC, **{"train.seeds": [0, 1]}))
    assert trainer.device.type == "cuda"
    assert all(p.is_cuda for p in trainer.params) and trainer.optimizer.flat.is_cuda
    assert trainer.member_seeds.is_cuda and trainer.masks[0].is_cuda
    trainer.train_step()
    assert trainer.alive.is_cuda and bool(trainer.alive.all())


@pytest.mark.parametrize("overrides", [STATIC, {"model.unit": "nalu", "train.device": "cuda"}])
def test_batched_equals_alone_on_the_gpu(overrides: dict[str, object]) -> None:
    def run(seeds: list[int]) -> Trainer:
        t = Trainer(tiny_config("mul", **overrides, **{"train.seeds": seeds}))
        for _ in range(40):
            t.train_step()
        return t

    together, alone = run([4, 0, 9]), run([0])
    for p_all, p_one in zip(together.params, alone.params, strict=True):
        assert torch.equal(p_all[1], p_one[0])


def test_checkpoint_trained_on_gpu_evaluates_on_cpu(tmp_path: Path) -> None:
    result = train(tiny_config("mul", **{"train.device": "cuda", "train.steps": 600}), tmp_path / "r")
    assert result.device.startswith("cuda") and result.seeds[0]["solved"], result.seeds
    trainer, _ = Trainer.from_run(Run.open(tmp_path / "r"), torch.device("cpu"))
    assert all(not p.is_cuda for p in trainer.params)
    on_cpu = trainer.results(trainer.config.eval.samples)[0]
    assert on_cpu["solved"] and math.isclose(
        on_cpu["extrapolation"]["mse"], result.seeds[0]["extrapolation"]["mse"], rel_tol=1e-3, abs_tol=1e-9
    )
