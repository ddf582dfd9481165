"""The NMRU (Mistry et al. 2022) against an independent reference: a plain Python loop over inputs and weights."""

from __future__ import annotations

import math

import pytest
import torch

from nalu_cli.config import resolve as config_resolve
from nalu_cli.training.evaluate import sparsity_error
from nalu_cli.training.loop import train
from nalu_cli.units.base import UnitOptions
from nalu_cli.units.nmru import NMRU
from tests.conftest import tiny_config

SEEDS = torch.tensor([0, 1, 2])


def reference(x: list[float], w: list[float]) -> float:
    """z = cos(π Σ w_i [x̃_i < 0]) · Π (w_i |x̃_i| + 1 - w_i) over x̃ = [x, 1/x], one output, plain floats."""
    xt = list(x) + [1.0 / v for v in x]
    magnitude = 1.0
    phase = 0.0
    for wi, vi in zip(w, xt, strict=True):
        magnitude *= wi * abs(vi) + 1.0 - wi
        phase += wi * (vi < 0)
    return math.cos(math.pi * phase) * magnitude


def test_forward_matches_the_reference_for_signed_inputs_and_soft_weights() -> None:
    unit = NMRU(SEEDS, 0, 2, 1, UnitOptions()).double()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(3, 8, 2, generator=g, dtype=torch.float64) * 8 - 4).clamp_(min=-4)  # signs mixed
    x[x.abs() < 0.1] = 0.5
    z = unit(x).detach()
    w = unit.W.detach()
    for s in range(3):
        for b in range(8):
            assert float(z[s, b, 0]) == pytest.approx(reference(x[s, b].tolist(), w[s, 0].tolist()), rel=1e-12)


def test_gradients_match_finite_differences() -> None:
    unit = NMRU(torch.tensor([0]), 0, 2, 1, UnitOptions()).double()
    x = torch.tensor([[[1.5, -2.5], [3.0, 0.75]]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda w: _with_weights(unit, w, x), (unit.W.detach().clone().requires_grad_(),))


def _with_weights(unit: NMRU, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    out: torch.Tensor = torch.func.functional_call(unit, {"W": w}, (x,))
    return out


@pytest.mark.parametrize(
    ("weights", "fn"),
    [
        ([1, 0, 0, 1], lambda a, b: a * (1 / b)),  # one rounding more than a / b: the reciprocal
        ([1, 1, 0, 0], lambda a, b: a * b),
        ([0, 0, 1, 1], lambda a, b: (1 / a) * (1 / b)),
        ([1, 0, 0, 0], lambda a, b: a),
    ],
)
def test_binary_weights_compute_products_and_ratios_exactly(weights: list[int], fn: object) -> None:
    unit = NMRU(SEEDS, 0, 2, 1, UnitOptions()).double()
    with torch.no_grad():
        unit.W.copy_(torch.tensor(weights, dtype=torch.float64).expand_as(unit.W))
    x = torch.tensor([[[3.0, 4.0], [-3.0, 4.0], [3.0, -4.0], [-2.0, -8.0], [1e-3, 7.0]]], dtype=torch.float64)
    x = x.expand(3, -1, -1)
    got = unit(x).detach()[..., 0]
    want = fn(x[..., 0], x[..., 1])  # type: ignore[operator]
    torch.testing.assert_close(got, want, rtol=0, atol=0)  # w x + (1 - w) is x itself, or 1, for w in {0, 1}


def test_weights_are_clamped_and_the_readout_sees_powers() -> None:
    unit = NMRU(SEEDS, 0, 2, 1, UnitOptions())
    assert float(unit.W.detach().min()) >= 0.25 and float(unit.W.detach().max()) <= 0.75  # the NMU's initialisation
    with torch.no_grad():
        unit.W.copy_(torch.tensor([1.4, -0.2, 0.0, 1.0]).expand_as(unit.W))
    unit.post_step()
    assert unit.W[0, 0].tolist() == [1.0, 0.0, 0.0, 1.0]
    eff = unit.effective_weights()
    assert eff["W"][0, 0].tolist() == [1.0, -1.0]  # x0^1 · x1^-1
    assert float(unit.regularizer().detach()[0]) == 0.0


def test_a_pair_division_run_reads_back_the_ratio() -> None:
    """Real training (the recipe book's NMRU recipe, 2 seeds): solved, and the formula is x0 / x1."""
    cfg = tiny_config("div", **{"model.unit": "nmru", "train.steps": 2000, "train.seeds": [0, 1]})
    assert cfg.train.clip_grad == 1.0  # Mistry et al.'s gradient-norm clipping, from the recipe
    result = train(cfg)
    assert [s["solved"] for s in result.seeds] == [True, True]
    assert all(s["formula"] == "y = x0 / x1" for s in result.seeds), [s["formula"] for s in result.seeds]


def test_sparsity_error_counts_the_trained_halves() -> None:
    """W_x = W_1/x = 0.5 has a power of 0 (a clean-looking difference) but is far from discrete."""
    cfg = config_resolve.resolve(overrides={"task.op": "div", "model.unit": "nmru", "train.seeds": [0]})
    from nalu_cli.training.trainer import Trainer

    trainer = Trainer(cfg, torch.device("cpu"))
    (unit,) = trainer.model.units
    with torch.no_grad():
        unit.W.fill_(0.5)
    assert float(sparsity_error(trainer.model)[0]) == 0.5
