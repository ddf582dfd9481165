"""Which data each purpose sees: validation, test and training inputs come from distinct streams, and every
member of a run (seed × restart) starts from its own weights."""

from __future__ import annotations

import itertools

import torch

from nalu_cli import rng
from nalu_cli.training.evaluate import evaluate_range
from nalu_cli.training.trainer import Trainer
from tests.conftest import tiny_config


def test_streams_are_distinct_and_give_different_data() -> None:
    streams = [
        rng.STREAM_TRAIN,
        rng.STREAM_VALID,
        rng.STREAM_TEST,
        rng.STREAM_INIT,
        rng.STREAM_SUBSET,
        rng.STREAM_PROBE,
    ]
    assert len(set(streams)) == len(streams)
    seeds = rng.seed_tensor([0, 1])
    draws = [rng.uniform(seeds, s, 0, (64,), torch.float32) for s in streams]
    for a, b in itertools.combinations(draws, 2):
        assert not torch.equal(a, b)


def test_validation_and_extrapolation_use_their_own_streams() -> None:
    """Model selection reads validation data (its own stream), never training batches or test data."""
    trainer = Trainer(tiny_config("mul", **{"train.seeds": [0, 1]}), torch.device("cpu"))
    task, model, seeds, eps = trainer.task, trainer.model, trainer.task_seeds, trainer.config.eval.solved_eps

    def on(stream: int, ranges: object) -> torch.Tensor:
        return evaluate_range(model, task, seeds, ranges, 300, eps, stream, trainer.dtype).mse  # type: ignore[arg-type]

    valid = trainer.evaluate("interpolation", 300).mse
    assert torch.equal(valid, on(rng.STREAM_VALID, task.interpolation))
    assert not torch.equal(valid, on(rng.STREAM_TRAIN, task.interpolation))
    assert not torch.equal(valid, on(rng.STREAM_TEST, task.interpolation))
    extrap = trainer.evaluate("extrapolation", 300).mse
    assert torch.equal(extrap, on(rng.STREAM_TEST, task.extrapolation))


def test_every_member_starts_from_its_own_weights() -> None:
    """Seeds 0 and 1 with 3 restarts each: six different starting points (restart k of seed s must not
    coincide with another seed's restart), and restart 0 of each seed is that seed trained alone."""
    cfg = tiny_config("mul", **{"model.unit": "nau", "train.seeds": [0, 1], "train.restarts": 3})
    w = Trainer(cfg, torch.device("cpu")).model.units[0].W.detach()  # [6, 1, 2]
    for i, j in itertools.combinations(range(6), 2):
        assert not torch.equal(w[i], w[j]), (i, j)
    for index, seed in ((0, 0), (3, 1)):
        alone = Trainer(tiny_config("mul", **{"model.unit": "nau", "train.seeds": [seed]}), torch.device("cpu"))
        assert torch.equal(alone.model.units[0].W.detach()[0], w[index])
