"""The one cosine schedule: its values against the closed form, and every user calling it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nalu_cli.config.schema import Config
from nalu_cli.fit import baselines
from nalu_cli.training.schedule import cosine
from nalu_cli.training.trainer import Trainer


@pytest.mark.parametrize(
    ("step", "fraction"),
    [(0, 1.0), (250, (2 + math.sqrt(2)) / 4), (500, 0.5), (750, (2 - math.sqrt(2)) / 4), (1000, 0.0)],
)
def test_cosine_against_the_closed_form(step: int, fraction: float) -> None:
    """lr/2 · (1 + cos(π · step/steps)): 1, (2+√2)/4, 1/2, (2-√2)/4, 0 of lr at 0, ¼, ½, ¾ and all the steps."""
    assert cosine(0.02, step, 1000) == pytest.approx(0.02 * fraction, rel=1e-12, abs=1e-18)


def test_cosine_is_the_trainers_expression_bit_for_bit_and_decreasing() -> None:
    rates = [cosine(0.01, k, 300) for k in range(301)]
    assert rates == [0.01 * 0.5 * (1.0 + math.cos(math.pi * k / 300)) for k in range(301)]
    assert all(a > b for a, b in zip(rates, rates[1:], strict=False))
    assert rates[0] == 0.01 and rates[-1] == 0.0 and rates[-2] > 0.0


def test_trainer_uses_the_schedule() -> None:
    cfg = Config.model_validate({"train": {"steps": 40, "lr": 0.03, "schedule": "cosine"}})
    trainer = Trainer(cfg)
    assert [trainer.lr_at(k) for k in range(41)] == [cosine(0.03, k, 40) for k in range(41)]


def test_mlp_baseline_uses_the_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    """The MLP baseline's step t (counted from 1) takes the schedule's step t - 1."""
    calls: list[tuple[float, int, int]] = []

    def spy(lr: float, step: int, steps: int) -> float:
        calls.append((lr, step, steps))
        return cosine(lr, step, steps)

    monkeypatch.setattr(baselines, "cosine", spy)
    x = np.random.default_rng(0).uniform(1, 2, (20, 2))
    baselines.mlp_baseline(x, x.sum(1), seed=0, steps=5)
    assert calls == [(baselines.MLP_LR, k, 5) for k in range(5)]
