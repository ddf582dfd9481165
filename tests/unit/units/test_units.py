"""Units against closed-form references computed independently (numpy / plain Python)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nalu_cli.units.base import UnitOptions
from nalu_cli.units.madsen import NAU, NMU
from nalu_cli.units.mlp import MLPLayer
from nalu_cli.units.nac import INALU, NALU, NACAdd, NACMul
from nalu_cli.units.npu import NPU, RealNPU
from nalu_cli.units.registry import UNITS

SEEDS = torch.tensor([0, 1, 2])


def make(cls: type, i: int = 2, o: int = 1, **opts: object) -> torch.nn.Module:
    return cls(SEEDS, 0, i, o, UnitOptions(**opts))  # type: ignore[arg-type]


def pin_nac(unit: torch.nn.Module, w: list[list[float]]) -> None:
    """Set Ŵ, M̂ so that tanh(Ŵ)σ(M̂) is exactly ±1/0 in float32."""
    target = torch.tensor(w)
    with torch.no_grad():
        unit.W_hat.copy_((target * 20).expand_as(unit.W_hat))
        unit.M_hat.copy_(torch.where(target == 0, -40.0, 40.0).expand_as(unit.M_hat))


def inputs(b: int = 16, lo: float = -5, hi: float = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return lo + (hi - lo) * torch.rand(len(SEEDS), b, 2, generator=g)


def test_nac_add_pinned_adds_and_subtracts_exactly() -> None:
    unit = make(NACAdd, o=2)
    pin_nac(unit, [[1, 1], [1, -1]])
    x = inputs()
    y = unit(x)
    assert torch.equal(y[..., 0], x[..., 0] + x[..., 1])
    assert torch.equal(y[..., 1], x[..., 0] - x[..., 1])


def test_nac_mul_with_unit_weights_multiplies() -> None:
    unit = make(NACMul, eps=1e-7)
    pin_nac(unit, [[1, 1]])
    x = inputs(lo=0.5, hi=20)
    expected = np.exp(np.log(np.abs(x.numpy()[..., 0]) + 1e-7) + np.log(np.abs(x.numpy()[..., 1]) + 1e-7))
    np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), (x[..., 0] * x[..., 1]).numpy(), rtol=1e-4)


def test_nac_mul_divides_with_weights_one_minus_one() -> None:
    unit = make(NACMul)
    pin_nac(unit, [[1, -1]])
    x = inputs(lo=1, hi=10)
    np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), (x[..., 0] / x[..., 1]).numpy(), rtol=1e-4)


@pytest.mark.parametrize("name", sorted(UNITS))
def test_gradients_finite_near_zero(name: str) -> None:
    unit = make(UNITS[name], o=2)
    x = torch.tensor([[[0.0, 1e-8], [-1e-8, 0.0], [1e-30, -2.0], [3.0, 0.0]]]).expand(3, 4, 2).clone()
    y = unit(x)
    assert torch.isfinite(y).all(), name
    grads = torch.autograd.grad(y.sum(), list(unit.parameters()))
    assert all(torch.isfinite(g).all() for g in grads), name


def test_nalu_gate_selects_path() -> None:
    for shared in (True, False):
        unit = make(NALU, shared_weights=shared)
        pin_nac(unit, [[1, 1]])
        if not shared:
            with torch.no_grad():
                unit.W_hat_m.copy_(unit.W_hat)
                unit.M_hat_m.copy_(unit.M_hat)
        x = inputs(lo=1, hi=4)
        with torch.no_grad():
            unit.G.fill_(50.0)  # g = σ(G x) ≈ 1 for positive x -> addition
        np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), (x[..., 0] + x[..., 1]).numpy(), rtol=1e-6)
        with torch.no_grad():
            unit.G.fill_(-50.0)  # g ≈ 0 -> multiplication
        np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), (x[..., 0] * x[..., 1]).numpy(), rtol=1e-4)


def test_nalu_shared_and_separate_weights_have_different_parameters() -> None:
    shared = {n for n, _ in make(NALU, shared_weights=True).named_parameters()}
    separate = {n for n, _ in make(NALU, shared_weights=False).named_parameters()}
    assert separate - shared == {"W_hat_m", "M_hat_m"}


def test_nau_matches_reference_and_clamps() -> None:
    unit = make(NAU, o=2)
    x = inputs()
    w = unit.W.detach().numpy()
    ref = np.einsum("sbi,soi->sbo", x.numpy(), w)
    np.testing.assert_allclose(unit(x).detach().numpy(), ref, rtol=1e-6)
    with torch.no_grad():
        unit.W.fill_(3.0)
    unit.post_step()
    assert float(unit.W.detach().max()) == 1.0
    # regulariser mean(min(|W|, 1 - |W|)) is 0 at W = ±1 and 0.5 at |W| = 0.5
    assert torch.equal(unit.regularizer(), torch.zeros(3))
    with torch.no_grad():
        unit.W.fill_(-0.5)
    assert torch.allclose(unit.regularizer(), torch.full((3,), 0.5))


def test_nmu_matches_reference_product_and_init_range() -> None:
    unit = make(NMU, o=2)
    w = unit.W.detach().numpy()
    assert w.min() >= 0.25 and w.max() <= 0.75
    x = inputs()
    xn = x.numpy()
    ref = np.ones((3, xn.shape[1], 2))
    for s in range(3):
        for b in range(xn.shape[1]):
            for j in range(2):
                for i in range(2):
                    ref[s, b, j] *= w[s, j, i] * xn[s, b, i] + 1 - w[s, j, i]
    np.testing.assert_allclose(unit(x).detach().numpy(), ref, rtol=1e-5)
    with torch.no_grad():
        unit.W.fill_(1.0)
    np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), (x[..., 0] * x[..., 1]).numpy(), rtol=1e-6)


def test_inalu_sign_correction_handles_negative_products() -> None:
    unit = make(INALU)
    with torch.no_grad():
        unit.W_hat_m.fill_(20.0)
        unit.M_hat_m.fill_(40.0)
        unit.G.fill_(-50.0)  # multiplicative path
    x = inputs(lo=-4, hi=4)
    x = torch.where(x.abs() < 0.5, torch.full_like(x, 1.5), x)
    np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), (x[..., 0] * x[..., 1]).numpy(), rtol=1e-4)


def test_npu_and_realnpu_compute_signed_powers() -> None:
    for cls in (NPU, RealNPU):
        unit = make(cls)
        with torch.no_grad():
            unit.W_re.copy_(torch.tensor([[1.0, -1.0]]).expand_as(unit.W_re))
            unit.g.fill_(1.0)
            if cls is NPU:
                unit.W_im.zero_()
        x = inputs(lo=-4, hi=4)
        x = torch.where(x.abs() < 0.5, torch.full_like(x, -1.5), x)
        np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), (x[..., 0] / x[..., 1]).numpy(), rtol=1e-4)


def test_mlp_layer_is_affine() -> None:
    unit = make(MLPLayer, o=3)
    x = inputs()
    ref = np.einsum("sbi,soi->sbo", x.numpy(), unit.W.detach().numpy()) + unit.b.detach().numpy()[:, None, :]
    np.testing.assert_allclose(unit(x).detach().numpy(), ref, rtol=1e-5, atol=1e-6)


def test_initialisation_depends_only_on_the_seed() -> None:
    """Seed 1's initial weights are the same whether it is trained alone or beside other seeds."""
    for cls in UNITS.values():
        together = cls(torch.tensor([5, 1, 9]), 0, 3, 2, UnitOptions())
        alone = cls(torch.tensor([1]), 0, 3, 2, UnitOptions())
        for (name, p_all), (_, p_one) in zip(together.named_parameters(), alone.named_parameters(), strict=True):
            assert torch.equal(p_all[1], p_one[0]), (cls.__name__, name)


def test_seed_article_initialisation_range() -> None:
    unit = make(NACAdd, i=50, o=50)
    assert float(unit.W_hat.detach().min()) >= -2 and float(unit.W_hat.detach().max()) < 2
    assert float(unit.W_hat.detach().std()) == pytest.approx(4 / math.sqrt(12), rel=0.05)
    g = make(NALU, i=50, o=50).G.detach()
    assert float(g.mean()) == pytest.approx(0.0, abs=0.05)
    assert float(g.std()) == pytest.approx(1.0, rel=0.05)


def test_npu_is_the_real_part_of_a_complex_power() -> None:
    """NPU: Re(Π_i r_i^(W_re + i W_im)) with r = ĝ|x| + 1 - ĝ and log of a negative x taking +iπ (Heim et al.),
    computed here with numpy's complex numbers; odd powers keep the sign of a negative input."""
    unit = make(NPU).to(torch.float64)
    w_re, w_im, gate = np.array([1.0, 0.0]), np.array([0.3, -0.2]), np.array([1.0, 0.6])
    with torch.no_grad():
        unit.W_re.copy_(torch.from_numpy(w_re).expand_as(unit.W_re))
        unit.W_im.copy_(torch.from_numpy(w_im).expand_as(unit.W_im))
        unit.g.copy_(torch.from_numpy(gate).expand_as(unit.g))
    x = inputs(lo=-4, hi=4).to(torch.float64)
    x = torch.where(x.abs() < 0.5, torch.full_like(x, -1.5), x)
    xn = x.numpy()
    r = gate * np.abs(xn) + 1 - gate  # [S, B, 2]
    log_z = np.log(r) + 1j * np.pi * (xn < 0)  # [S, B, 2]
    ref = np.real(np.exp(((w_re + 1j * w_im) * log_z).sum(axis=-1)))  # [S, B]
    np.testing.assert_allclose(unit(x)[..., 0].detach().numpy(), ref, rtol=1e-9, atol=1e-12)
    real = make(RealNPU).to(torch.float64)  # W = [1, 0], gates open: y = x0, sign included
    with torch.no_grad():
        real.W_re.copy_(torch.tensor([[[1.0, 0.0]]], dtype=torch.float64).expand_as(real.W_re))
        real.g.fill_(1.0)
    np.testing.assert_allclose(real(x)[..., 0].detach().numpy(), xn[..., 0], rtol=1e-9)


# -- hand-written backward passes: the floats autograd gives, per seed --------------------------------------------
def _nmu_autograd(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The NMU as plain autograd operations (the reference for units._NMUProduct)."""
    w4 = w[:, None, :, :]
    return (w4 * x[:, :, None, :] + 1.0 - w4).prod(dim=-1)


@pytest.mark.parametrize(("s", "b", "i", "o"), [(3, 64, 2, 1), (5, 128, 2, 2), (4, 128, 100, 2), (2, 16, 7, 3)])
def test_nmu_backward_equals_autograd_for_each_seed_alone(s: int, b: int, i: int, o: int) -> None:
    from nalu_cli.units.madsen import _NMUProduct

    g = torch.Generator().manual_seed(s * 100 + i)
    x = (torch.rand(s, b, i, generator=g) * 3 - 0.5).requires_grad_()
    w = torch.rand(s, o, i, generator=g).requires_grad_()
    grad_out = torch.randn(s, b, o, generator=g)
    with torch.no_grad():  # seed 0 gets a zero term (W = 1, x = 0): autograd takes its zero-safe formula there
        w[0, 0, 0] = 1.0
        x[0, 3, 0] = 0.0
    z = _NMUProduct.apply(x, w)
    got = torch.autograd.grad(z, (x, w), grad_out)
    for k in range(s):
        xs, ws = x[k : k + 1].detach().requires_grad_(), w[k : k + 1].detach().requires_grad_()
        z_ref = _nmu_autograd(xs, ws)
        want = torch.autograd.grad(z_ref, (xs, ws), grad_out[k : k + 1])
        assert torch.equal(z[k], z_ref[0])
        assert torch.equal(got[0][k], want[0][0]) and torch.equal(got[1][k], want[1][0]), k
    assert not bool((got[1][1:] == 0).all())  # the check can fail: real gradients


@pytest.mark.parametrize(("s", "b", "i", "o"), [(3, 128, 100, 2), (2, 128, 100, 1), (5, 64, 8, 3), (4, 128, 20, 2)])
def test_linear_backward_equals_autograd(s: int, b: int, i: int, o: int) -> None:
    from nalu_cli.units.base import _Linear

    g = torch.Generator().manual_seed(s * 100 + i)
    x = (torch.rand(s, b, i, generator=g) + 0.5).requires_grad_()
    w = (torch.rand(s, o, i, generator=g) - 0.5).requires_grad_()
    grad_out = torch.randn(s, b, o, generator=g)
    got = torch.autograd.grad(_Linear.apply(x, w), (x, w), grad_out)
    want = torch.autograd.grad(torch.bmm(x, w.transpose(1, 2)), (x, w), grad_out)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@pytest.mark.parametrize("o", [1, 2])
def test_linear_gives_a_seed_the_same_floats_in_any_batch(o: int) -> None:
    from nalu_cli.units.base import _linear

    g = torch.Generator().manual_seed(o)
    x = torch.rand(9, 128, 100, generator=g) + 1.0
    w = torch.rand(9, o, 100, generator=g) - 0.5
    full = _linear(x, w)
    for start, count in [(0, 1), (4, 1), (8, 1), (2, 2), (1, 7)]:
        part = _linear(x[start : start + count].clone(), w[start : start + count].clone())
        assert torch.equal(part, full[start : start + count]), (start, count)


@pytest.mark.parametrize(("o", "r"), [(1, 2), (2, 2), (3, 1)])
def test_linear_with_riders_is_both_products_from_one(o: int, r: int) -> None:
    """``linear_with_riders``: x w^T and x riders^T (to rounding: another product shape), the weight gradient
    of x w^T alone (autograd's floats for the same z), none for the riders; a seed's floats in any batch."""
    from nalu_cli.units.base import linear_with_riders

    g = torch.Generator().manual_seed(o * 10 + r)
    x = torch.rand(9, 128, 100, generator=g) + 1.0
    w = (torch.rand(9, o, 100, generator=g) - 0.5).requires_grad_()
    riders = (torch.rand(9, r, 100, generator=g) < 0.25).float()
    z, ab = linear_with_riders(x, w, riders)
    assert z.shape == (9, 128, o) and ab.shape == (9, 128, r) and not ab.requires_grad
    torch.testing.assert_close(z, torch.bmm(x, w.transpose(1, 2)), rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(ab, torch.bmm(riders, x.transpose(1, 2)).transpose(1, 2), rtol=1e-6, atol=1e-5)
    grad_out = torch.randn(9, 128, o, generator=g)
    (got,) = torch.autograd.grad(z, w, grad_out)
    assert torch.equal(got, torch.bmm(grad_out.transpose(1, 2), x))
    for start, count in [(0, 1), (4, 1), (8, 1), (1, 7)]:
        sl = slice(start, start + count)
        z_part, ab_part = linear_with_riders(x[sl].clone(), w[sl].detach().clone(), riders[sl].clone())
        assert torch.equal(z_part, z[sl].detach()) and torch.equal(ab_part, ab[sl]), (start, count)


def test_forward_with_riders_uses_a_linear_first_layer_and_otherwise_the_plain_forward() -> None:
    """``ArithmeticModel.forward_with_riders``: NAU and NAC+ first layers read the batch once and give the plain
    forward's output (to rounding); a NALU first layer (not linear) gives the plain forward exactly."""
    from nalu_cli.models.arithmetic import ArithmeticModel
    from nalu_cli.units.base import _LinearWithRiders

    seeds = torch.arange(3)
    x = torch.rand(3, 64, 20, generator=torch.Generator().manual_seed(1)) + 1.0
    riders = torch.zeros(3, 2, 20)
    riders[:, 0, :5], riders[:, 1, 5:10] = 1.0, 1.0
    for units, linear in [(["nau", "nmu"], True), (["nac_add", "nac_add"], True), (["nalu", "nalu"], False)]:
        model = ArithmeticModel(seeds, 20, units, [2], UnitOptions())
        out, ab = model.forward_with_riders(x, riders)
        torch.testing.assert_close(ab, torch.bmm(x, riders.transpose(1, 2)), rtol=1e-6, atol=1e-5)
        if linear:
            assert out.grad_fn is not None and _LinearWithRiders.__name__ in repr(_graph_nodes(out))
            torch.testing.assert_close(out, model(x), rtol=1e-5, atol=1e-5)
        else:
            assert torch.equal(out, model(x))


def _graph_nodes(t: torch.Tensor) -> list[str]:
    seen, stack, names = set(), [t.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(type(node).__name__)
        stack.extend(n for n, _ in node.next_functions)
    return names
