"""The solved criterion and the error metrics, value by value, against closed forms computed here.

For pair ``add`` the nearly perfect model predicts (1 - ε)(a_ε + b_ε) = (1 - ε)(a + b), so its MSE is
ε² · mean((a + b)²), and a one-layer model with both weights 1 - δ has MSE δ² · mean((a + b)²): δ = ε/2 is a
quarter of the threshold (solved), δ = 2ε four times it (not solved). A threshold loosened or tightened by
any factor above 4 fails these tests.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nalu_cli import rng
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as config
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.tasks.ops import parse_ranges
from nalu_cli.tasks.registry import make_task
from nalu_cli.training.evaluate import evaluate_range, sparsity_error
from nalu_cli.units.base import UnitOptions

EPS = 1e-5


def pair_task(op: str = "add", interp: str = "1,10", extrap: str = "10,100"):
    return make_task(op, "pair", 2, 0.25, 0.5, parse_ranges(interp), parse_ranges(extrap))


def one_layer(unit: str, weights: list[list[float]], dtype: torch.dtype = torch.float64) -> ArithmeticModel:
    """A one-layer pair model, one seed per row of ``weights`` ([w0, w1] each), weights set exactly."""
    seeds = rng.seed_tensor(list(range(len(weights))))
    model = ArithmeticModel(seeds, 2, [unit], [], UnitOptions()).to(dtype)
    with torch.no_grad():
        model.units[0].W.copy_(torch.tensor(weights, dtype=dtype)[:, None, :])  # [S, 1, 2]
    return model


# A fixed batch: x [S=1, B=4, I=2], written out so the closed forms below are plain arithmetic.
FIXED = [[1.5, 2.0], [3.0, -4.0], [10.0, 0.25], [-7.0, 6.5]]


def test_near_perfect_mse_equals_its_closed_form_on_a_fixed_batch() -> None:
    x = torch.tensor([FIXED], dtype=torch.float64)  # [1, 4, 2]
    masks = (torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]))
    e = EPS

    def reference(op: str, a: float, b: float) -> float:
        a_e, b_e = (1 - e) * a + e * b, (1 - e) * b + e * a
        fn = {"add": lambda p, q: p + q, "sub": lambda p, q: p - q, "mul": lambda p, q: p * q}[op]
        return (fn(a, b) - fn((1 - e) * a_e, (1 - e) * b_e)) ** 2

    for op in ("add", "sub", "mul"):
        want = sum(reference(op, a, b) for a, b in FIXED) / len(FIXED)
        got = float(pair_task(op).near_perfect_mse(x, masks, e)[0])
        assert got == pytest.approx(want, rel=1e-9), op
    # add in closed form: ε² mean((a + b)²); sub: ((1 - ε)(1 - 2ε))... i.e. (3ε - 2ε²)² mean((a - b)²)
    add = float(pair_task("add").near_perfect_mse(x, masks, e)[0])
    assert add == pytest.approx(e * e * np.mean([(a + b) ** 2 for a, b in FIXED]), rel=1e-9)
    sub = float(pair_task("sub").near_perfect_mse(x, masks, e)[0])
    assert sub == pytest.approx((3 * e - 2 * e * e) ** 2 * np.mean([(a - b) ** 2 for a, b in FIXED]), rel=1e-9)


def test_solved_eps_defaults_to_1e_5() -> None:
    assert config.EvalConfig().solved_eps == 1e-5
    for op in ("add", "mul", "div"):
        assert config_resolve.resolve(overrides={"task.op": op}).eval.solved_eps == 1e-5, op


@pytest.mark.parametrize("samples", [256, 700])  # one evaluation chunk, and several with a partial last one
def test_threshold_and_solved_flags_at_half_and_twice_epsilon(samples: int) -> None:
    task = pair_task("add")
    ranges = task.extrapolation
    model = one_layer("nau", [[1 - EPS / 2, 1 - EPS / 2], [1 - 2 * EPS, 1 - 2 * EPS], [1.0, 1.0]])
    seeds = rng.seed_tensor([0, 1, 2])
    got = evaluate_range(model, task, seeds, ranges, samples, EPS, rng.STREAM_TEST, torch.float64)
    # the same inputs, drawn here chunk by chunk, and the closed forms in numpy
    chunks, n, c = [], 0, 0
    while n < samples:
        x = task.sample_inputs(seeds, rng.STREAM_TEST, c, 256, ranges, torch.float64)[:, : samples - n]
        chunks.append(x.numpy())
        n, c = n + x.shape[1], c + 1
    x = np.concatenate(chunks, axis=1)  # [S, samples, 2]
    assert x.shape == (3, samples, 2)
    s2 = ((x[..., 0] + x[..., 1]) ** 2).mean(axis=1)  # [S]
    np.testing.assert_allclose(got.threshold.numpy(), EPS**2 * s2, rtol=1e-9)
    want_mse = np.array([(EPS / 2) ** 2, (2 * EPS) ** 2, 0.0]) * s2
    np.testing.assert_allclose(got.mse.numpy(), want_mse, rtol=1e-6, atol=1e-30)
    assert got.solved.tolist() == [True, False, True]


def test_half_epsilon_is_solved_in_float32_too() -> None:
    """The default training dtype: float32 rounding must not decide the verdict at these margins."""
    task = pair_task("add")
    model = one_layer("nau", [[1 - EPS / 2, 1 - EPS / 2], [1 - 2 * EPS, 1 - 2 * EPS]], torch.float32)
    seeds = rng.seed_tensor([0, 1])
    got = evaluate_range(model, task, seeds, task.extrapolation, 1000, EPS, rng.STREAM_TEST, torch.float32)
    assert got.solved.tolist() == [True, False]
    ratio = (got.mse / got.threshold).tolist()
    assert ratio[0] == pytest.approx(0.25, rel=0.1) and ratio[1] == pytest.approx(4.0, rel=0.1)


def test_mae_and_rel_err_on_fixed_weights() -> None:
    task = pair_task("add", "1,10", "10,100")
    delta = [0.01, -0.2]  # W = 1 - δ: prediction (1 - δ)(a + b), error -δ(a + b)
    model = one_layer("nau", [[1 - d, 1 - d] for d in delta])
    seeds = rng.seed_tensor([0, 1])
    got = evaluate_range(model, task, seeds, task.interpolation, 300, EPS, rng.STREAM_VALID, torch.float64)
    x = torch.cat(
        [
            task.sample_inputs(seeds, rng.STREAM_VALID, 0, 256, task.interpolation, torch.float64),
            task.sample_inputs(seeds, rng.STREAM_VALID, 1, 256, task.interpolation, torch.float64)[:, :44],
        ],
        dim=1,
    ).numpy()
    y = x[..., 0] + x[..., 1]
    for s, d in enumerate(delta):
        assert float(got.mae[s]) == pytest.approx(abs(d) * np.abs(y[s]).mean(), rel=1e-9)
        assert float(got.rel_err[s]) == pytest.approx(abs(d), rel=1e-9)  # |δ y| / |y|
        assert float(got.mse[s]) == pytest.approx(d * d * (y[s] ** 2).mean(), rel=1e-9)
    row = got.row(1)
    assert row["mae"] == float(got.mae[1]) and row["rel_err"] == float(got.rel_err[1])
    assert row["solved"] is False and row["range"] == "U[1,10]"


def test_sparsity_error_on_fixed_weights() -> None:
    """max over layers and entries of min(|W|, |1 - |W||), per seed."""
    seeds = rng.seed_tensor([0, 1])
    model = ArithmeticModel(seeds, 2, ["nau", "nmu"], [2], UnitOptions()).to(torch.float64)
    nau = [[[0.9, -0.05], [1.0, 0.0]], [[-1.0, 0.0], [0.0, 1.0]]]  # seed 0: 0.1 at W[0,0]; seed 1: 0
    nmu = [[[0.02, 1.0]], [[0.3, 0.999]]]  # seed 0: 0.02; seed 1: 0.3
    with torch.no_grad():
        model.units[0].W.copy_(torch.tensor(nau, dtype=torch.float64))
        model.units[1].W.copy_(torch.tensor(nmu, dtype=torch.float64))
    got = sparsity_error(model).tolist()
    assert got == pytest.approx([0.1, 0.3], abs=1e-12)
    # NAC+: the effective weight tanh(Ŵ)σ(M̂) is what counts, not Ŵ or M̂
    nac = ArithmeticModel(seeds, 2, ["nac_add"], [], UnitOptions()).to(torch.float64)
    with torch.no_grad():
        nac.units[0].W_hat.copy_(torch.tensor([[[0.5, 20.0]], [[-20.0, 0.0]]], dtype=torch.float64))
        nac.units[0].M_hat.copy_(torch.tensor([[[40.0, 40.0]], [[40.0, 1.0]]], dtype=torch.float64))
    w0 = math.tanh(0.5)  # seed 0: |W| = tanh(0.5) ≈ 0.462, the other weight is 1
    assert sparsity_error(nac).tolist() == pytest.approx([min(w0, 1 - w0), 0.0], abs=1e-9)
