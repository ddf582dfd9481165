"""Constraints that hold whatever the optimiser does: NAU weights in [-1, 1], NMU weights in [0, 1], the NPU's
relevance gate in [0, 1]. Real training steps with a learning rate large enough that every Adam step jumps
past a bound, so each bound is reached exactly; and the sparsity regularisers and their schedule, value by
value on fixed weights."""

from __future__ import annotations

import pytest
import torch

from nalu_cli import rng
from nalu_cli.config import schema as config
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.training.trainer import Trainer
from nalu_cli.units.base import UnitOptions
from nalu_cli.units.madsen import NAU, NMU
from nalu_cli.units.npu import NPU
from tests.conftest import tiny_config


def steps_with_bounds(cfg: config.Config, param: str, lo: float, hi: float, n: int = 30) -> torch.Tensor:
    """Train ``n`` steps; after every step the unit's ``param`` lies in [lo, hi], and each bound is met exactly
    at some step. Returns its final value."""
    trainer = Trainer(cfg, torch.device("cpu"))
    unit = trainer.model.units[0]
    met_lo = met_hi = False
    for _ in range(n):
        trainer.train_step()
        value = getattr(unit, param).detach()
        assert float(value.min()) >= lo and float(value.max()) <= hi, (trainer.step, value)
        met_lo, met_hi = met_lo or bool((value == lo).any()), met_hi or bool((value == hi).any())
    assert bool(trainer.alive.all())
    assert met_lo and met_hi, (met_lo, met_hi)
    return getattr(unit, param).detach()


def test_nau_weights_reach_both_bounds_and_stay_inside() -> None:
    """sub wants W = [1, -1]: Adam steps of size ~5 jump past both bounds; the clamp puts them exactly there."""
    cfg = tiny_config("sub", **{"model.unit": "nau", "train.lr": 5.0, "train.seeds": [0, 1, 2]})
    w = steps_with_bounds(cfg, "W", -1.0, 1.0)  # [S, 1, 2]
    assert torch.equal(w[:, 0, 0], torch.ones(3)) and torch.equal(w[:, 0, 1], -torch.ones(3))


def test_nmu_weights_reach_both_bounds_and_stay_inside() -> None:
    """identity (y = a) wants W = [1, 0]: the weight on the ignored input is pushed below 0 and clamped to 0."""
    cfg = tiny_config(
        "identity", **{"model.unit": "nmu", "train.lr": 5.0, "train.seeds": [0, 1, 2], "task.interpolation": "1,2"}
    )
    w = steps_with_bounds(cfg, "W", 0.0, 1.0)  # [S, 1, 2]
    assert torch.equal(w[:, 0, 0], torch.ones(3)) and torch.equal(w[:, 0, 1], torch.zeros(3))


def test_npu_relevance_gate_reaches_both_bounds_and_stays_inside() -> None:
    """mul with an NPU at a learning rate of 5: the gates swing from one bound to the other."""
    cfg = tiny_config(
        "mul", **{"model.unit": "npu", "train.lr": 5.0, "train.seeds": [0, 1, 2], "task.interpolation": "2,4"}
    )
    steps_with_bounds(cfg, "g", 0.0, 1.0)  # g: [S, 2]


@pytest.mark.parametrize(("cls", "lo", "hi"), [(NAU, -1.0, 1.0), (NMU, 0.0, 1.0)])
def test_post_step_clamps_to_exactly_the_bounds(cls: type, lo: float, hi: float) -> None:
    unit = cls(rng.seed_tensor([0, 1]), 0, 2, 1, UnitOptions())
    with torch.no_grad():
        unit.W.copy_(torch.tensor([[[hi + 3.0, lo - 3.0]], [[(lo + hi) / 2, hi - 1e-3]]]))
    unit.post_step()
    assert unit.W.detach().tolist() == [[[hi, lo]], [[(lo + hi) / 2, pytest.approx(hi - 1e-3)]]]
    npu = NPU(rng.seed_tensor([0]), 0, 3, 1, UnitOptions())
    with torch.no_grad():
        npu.g.copy_(torch.tensor([[-0.5, 0.25, 7.0]]))
    npu.post_step()
    assert npu.g.detach().tolist() == [[0.0, 0.25, 1.0]]


def test_regularisers_on_fixed_weights() -> None:
    seeds = rng.seed_tensor([0, 1])
    model = ArithmeticModel(seeds, 2, ["nau", "nmu"], [2], UnitOptions()).to(torch.float64)
    nau = [[[0.9, -0.3], [1.0, 0.0]], [[-0.5, 0.5], [0.5, -0.5]]]
    nmu = [[[0.2, 1.0]], [[0.5, 0.75]]]
    with torch.no_grad():
        model.units[0].W.copy_(torch.tensor(nau, dtype=torch.float64))
        model.units[1].W.copy_(torch.tensor(nmu, dtype=torch.float64))
    # NAU: mean(min(|W|, 1 - |W|)); NMU: mean(min(W, 1 - W)), per seed
    nau_want = [(0.1 + 0.3 + 0.0 + 0.0) / 4, 0.5]
    nmu_want = [(0.2 + 0.0) / 2, (0.5 + 0.25) / 2]
    assert model.units[0].regularizer().tolist() == pytest.approx(nau_want, abs=1e-12)
    assert model.units[1].regularizer().tolist() == pytest.approx(nmu_want, abs=1e-12)
    assert model.regularizer().tolist() == pytest.approx(
        [a + b for a, b in zip(nau_want, nmu_want, strict=True)], abs=1e-12
    )
    # units without a regulariser contribute zero
    nac = ArithmeticModel(seeds, 2, ["nac_add"], [], UnitOptions())
    assert nac.regularizer().tolist() == [0.0, 0.0]


def test_regulariser_schedule_values() -> None:
    """λ = scale · clip((t - start) / (end - start), 0, 1) (Madsen & Johansen's warm-up)."""
    r = config.RegularizerConfig(scale=0.1, start=1000, end=3000)
    assert [r.weight(t) for t in (0, 999, 1000, 2000, 2500, 3000, 10_000)] == pytest.approx(
        [0.0, 0.0, 0.0, 0.05, 0.075, 0.1, 0.1]
    )
    step = config.RegularizerConfig(scale=2.0, start=500, end=500)
    assert [step.weight(t) for t in (0, 499, 500, 501)] == [0.0, 0.0, 2.0, 2.0]
    assert config.RegularizerConfig(scale=0.0, start=0, end=10).weight(5) == 0.0


def test_regulariser_enters_the_training_objective() -> None:
    """With λ > 0 the same seed takes different steps than with λ = 0 (the term is not dropped)."""
    common = {"model.unit": "nmu", "train.seeds": [0]}
    off = Trainer(tiny_config("mul", **common), torch.device("cpu"))
    on = Trainer(
        tiny_config("mul", **common, **{"train.regularizer.scale": 1.0, "train.regularizer.start": 0,
                                        "train.regularizer.end": 0}),
        torch.device("cpu"),
    )  # fmt: skip
    for _ in range(5):  # Adam's first step is ±lr whatever the gradient's size; later ones are not
        off.train_step()
        on.train_step()
    assert not torch.equal(off.model.units[0].W, on.model.units[0].W)
