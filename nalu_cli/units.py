"""Neural arithmetic units as small ``nn.Module`` layers, batched over seeds.

Every parameter carries a leading seed dimension S, so one module trains S independent models at once:
a layer maps x [S, B, I] to y [S, B, O], and no operation mixes seeds. Initialisation is drawn from the
counter-based generator in ``rng`` keyed by (seed, layer, parameter), so seed s starts from the same
weights whatever other seeds share the batch.

Units (SPEC section 2): NAC+ and NAC• (Trask et al. 2018), NALU (Trask 2018; weights shared or separate),
NAU and NMU (Madsen & Johansen 2020), iNALU (Schlör et al. 2020), NPU and RealNPU (Heim et al. 2020), and
an MLP layer (the baseline that fails to extrapolate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nalu_cli import rng

ACTIVATIONS = (
    "relu", "relu6", "tanh", "sigmoid", "elu", "selu", "prelu", "softplus", "leaky_relu", "none",
)  # fmt: skip


@dataclass(frozen=True)
class UnitOptions:
    """Unit hyper-parameters shared by all layers of a model."""

    eps: float = 1e-7
    shared_weights: bool = True  # NALU: one W for the additive and multiplicative paths (as in the paper)
    init_range: float = 2.0  # NAC family: Ŵ, M̂ ~ U(-r, r) (the seed article's U(-2, 2))
    mlp_activation: str = "relu"


class Unit(nn.Module):
    """Base class. ``kind`` tells the formula readout how to read the weights:
    "add" (y = W x), "mul" (y = Π x^W), "nmu" (y = Π (W x + 1 - W)), "gated" (NALU family), "mlp"."""

    kind = "add"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.opts = opts
        self.layer = layer
        self._param_count = 0
        self.seeds: torch.Tensor  # [S] int64, a buffer (moves with .to(device), not saved)
        self.register_buffer("seeds", seeds.clone(), persistent=False)

    @property
    def num_seeds(self) -> int:
        return int(self.seeds.shape[0])

    # -- initialisation from the counter-based generator -------------------------------------------
    def _stream_step(self) -> int:
        self._param_count += 1
        return self.layer * 1000 + self._param_count

    def _uniform(self, shape: tuple[int, ...], lo: float, hi: float) -> nn.Parameter:
        u = rng.uniform(self.seeds, rng.STREAM_INIT, self._stream_step(), shape, torch.float32)
        return nn.Parameter(lo + u * (hi - lo))  # [S, *shape]

    def _normal(self, shape: tuple[int, ...], std: float) -> nn.Parameter:
        # Box-Muller from two uniform draws.
        u1 = rng.uniform(self.seeds, rng.STREAM_INIT, self._stream_step(), shape, torch.float64)
        u2 = rng.uniform(self.seeds, rng.STREAM_INIT, self._stream_step(), shape, torch.float64)
        z = torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2.0 * math.pi * u2)
        return nn.Parameter((z * std).to(torch.float32))

    # -- interface used by models, training and inspection -----------------------------------------
    def regularizer(self) -> torch.Tensor:
        """Sparsity regulariser per seed: [S] (zero for units that have none)."""
        p = next(self.parameters())
        return torch.zeros(self.num_seeds, dtype=p.dtype, device=p.device)

    def post_step(self) -> None:
        """Called after each optimiser step (NAU/NMU clamp their weights here)."""

    def effective_weights(self) -> dict[str, torch.Tensor]:
        """The weights as the unit uses them, by name: each [S, O, I] (or [S, O] / [S, I])."""
        return {name: p.detach() for name, p in self.named_parameters()}

    def gate(self, x: torch.Tensor) -> torch.Tensor | None:
        """Gate values g for inputs x [S, B, I] -> [S, B, O] (None for ungated units)."""
        return None

    def linear_weight(self) -> torch.Tensor | None:
        """W [S, O, I] when the unit is z = x W^T (no bias, nothing after the product), else None: a trainer may
        then compute other linear readouts of x in the same product (``linear_with_riders``)."""
        return None


# For more than one seed and from this many inputs on, ``_linear`` computes its weight gradient as g^T x
# (``_Linear``) rather than autograd's (x^T g)^T: the same floats (MKL sums each entry over the batch in the same
# order; tests/test_units.py checks them against autograd's), 2-5x faster for few outputs (the madsen2020 NAU:
# 100 inputs, 2 outputs).
LINEAR_FN_MIN_INPUTS = 8


def _matmul_wt(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x [S, B, I] @ w^T -> [S, B, O], the same floats for a seed whatever the batch of seeds.

    For one seed and one output MKL takes a matrix-vector path that sums in another order than for a batch of
    seeds (100 inputs: batched and alone differed); a batch of one is computed as a batch of two copies
    (stride 0: no copy made), which takes the batched path."""
    if x.shape[0] == 1 and w.shape[1] == 1 and x.shape[2] > 2:
        return torch.bmm(x.expand(2, -1, -1), w.expand(2, -1, -1).transpose(1, 2))[:1]  # [1, B, 1]
    return torch.bmm(x, w.transpose(1, 2))  # [S, B, O]


class _Linear(torch.autograd.Function):
    """y = x w^T per seed, with the weight gradient computed as g^T x (see ``LINEAR_FN_MIN_INPUTS``)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, w)
        return _matmul_wt(x, w)  # [S, B, O]

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x, w = ctx.saved_tensors
        grad_x = torch.bmm(g, w) if ctx.needs_input_grad[0] else None  # [S, B, O] @ [S, O, I] -> [S, B, I]
        grad_w = torch.bmm(g.transpose(1, 2), x) if ctx.needs_input_grad[1] else None  # [S, O, B] @ [S, B, I]
        return grad_x, grad_w


class _LinearWithRiders(torch.autograd.Function):
    """(x w^T, x r^T) from one product x [w; r]^T, for constant rows r (no gradient)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, riders: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.save_for_backward(x, w)
        out = torch.bmm(x, torch.cat([w, riders], dim=1).transpose(1, 2))  # [S, B, O + R]
        z, r = out[..., : w.shape[1]], out[..., w.shape[1] :]  # [S, B, O], [S, B, R]
        ctx.mark_non_differentiable(r)
        return z, r

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor, _: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        x, w = ctx.saved_tensors
        grad_x = torch.bmm(g, w) if ctx.needs_input_grad[0] else None  # [S, B, O] @ [S, O, I] -> [S, B, I]
        grad_w = torch.bmm(g.transpose(1, 2), x) if ctx.needs_input_grad[1] else None  # [S, O, B] @ [S, B, I]
        return grad_x, grad_w, None


def linear_with_riders(x: torch.Tensor, w: torch.Tensor, riders: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x [S, B, I] @ w^T and @ riders^T from one pass over x: -> z [S, B, O], r [S, B, R].

    The madsen2020 trainer reads its 51 MB batch once for the first NAU layer and the subset sums (riders: the
    task's selection) instead of twice (README, "Throughput"). For every number of seeds, one seed included,
    the same product with the same columns, so a seed's floats do not depend on the batch of seeds."""
    z, r = _LinearWithRiders.apply(x, w, riders)
    return z, r


def _linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x [S, B, I], w [S, O, I] -> [S, B, O]."""
    # One seed: autograd's own nodes cost less per call than a Python Function, and the layout matters little.
    many = x.shape[0] > 1 and x.shape[2] >= LINEAR_FN_MIN_INPUTS
    if many and torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
        out: torch.Tensor = _Linear.apply(x, w)
        return out
    return _matmul_wt(x, w)


class NACAdd(Unit):
    """NAC+: a = W x with W = tanh(Ŵ) ⊙ σ(M̂), pushing W towards {-1, 0, 1}."""

    kind = "add"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        r = opts.init_range
        self.W_hat = self._uniform((out_features, in_features), -r, r)  # [S, O, I]
        self.M_hat = self._uniform((out_features, in_features), -r, r)  # [S, O, I]

    def weight(self) -> torch.Tensor:
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)  # [S, O, I]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, self.weight())  # [S, B, O]

    def linear_weight(self) -> torch.Tensor | None:
        return self.weight()  # [S, O, I]

    def effective_weights(self) -> dict[str, torch.Tensor]:
        return {"W": self.weight().detach()}


class NACMul(NACAdd):
    """NAC•: m = exp(W log(|x| + ε)); multiplies and divides positive magnitudes."""

    kind = "mul"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_x = torch.log(torch.abs(x) + self.opts.eps)  # [S, B, I]
        return torch.exp(_linear(log_x, self.weight()))  # [S, B, O]

    def linear_weight(self) -> torch.Tensor | None:
        return None  # a product in log space


class NALU(Unit):
    """NALU: y = g ⊙ a + (1 - g) ⊙ m with an input-dependent gate g = σ(G x).

    ``shared_weights`` uses one W for a and m (Trask 2018); otherwise m has its own W (the seed article).
    """

    kind = "gated"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        r = opts.init_range
        shape = (out_features, in_features)
        self.W_hat = self._uniform(shape, -r, r)  # [S, O, I]
        self.M_hat = self._uniform(shape, -r, r)  # [S, O, I]
        if not opts.shared_weights:
            self.W_hat_m = self._uniform(shape, -r, r)  # [S, O, I]
            self.M_hat_m = self._uniform(shape, -r, r)  # [S, O, I]
        self.G = self._normal(shape, 1.0)  # [S, O, I]

    def weight_add(self) -> torch.Tensor:
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)  # [S, O, I]

    def weight_mul(self) -> torch.Tensor:
        if self.opts.shared_weights:
            return self.weight_add()
        return torch.tanh(self.W_hat_m) * torch.sigmoid(self.M_hat_m)  # [S, O, I]

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(_linear(x, self.G))  # [S, B, O]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = _linear(x, self.weight_add())  # [S, B, O]
        log_x = torch.log(torch.abs(x) + self.opts.eps)  # [S, B, I]
        m = torch.exp(_linear(log_x, self.weight_mul()))  # [S, B, O]
        g = self.gate(x)  # [S, B, O]
        return g * a + (1.0 - g) * m

    def effective_weights(self) -> dict[str, torch.Tensor]:
        weights = {"W": self.weight_add().detach()}
        if not self.opts.shared_weights:
            weights["W_m"] = self.weight_mul().detach()
        weights["G"] = self.G.detach()
        return weights


class NAU(Unit):
    """NAU: z = W x, W clamped to [-1, 1]; regulariser mean(min(|W|, 1 - |W|)) (Madsen & Johansen 2020)."""

    kind = "add"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        # Madsen & Johansen: E[W] = 0, Var[W] = 2 / (I + O)  ->  U(-r, r) with r = sqrt(6 / (I + O)).
        r = min(math.sqrt(6.0 / (in_features + out_features)), 0.5)
        self.W = self._uniform((out_features, in_features), -r, r)  # [S, O, I]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, self.W)  # [S, B, O]

    def linear_weight(self) -> torch.Tensor | None:
        return self.W  # [S, O, I]

    def regularizer(self) -> torch.Tensor:
        w = self.W.abs()
        return torch.minimum(w, 1.0 - w).mean(dim=(1, 2))  # [S]

    def post_step(self) -> None:
        self.W.detach().clamp_(-1.0, 1.0)  # in place on the weights' memory (cheaper than a no_grad block)


def _nmu_terms(x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """NMU terms W_ij x_i + 1 - W_ij: x [S, B, I], W [S, O, I] -> [S, B, O, I]."""
    w = W.unsqueeze(1)  # [S, 1, O, I]  (unsqueeze: cheaper to call than indexing with None)
    return w * x.unsqueeze(2) + 1.0 - w  # [S, B, O, I]  (float literals: no int-to-float casts)


class _NMUProduct(torch.autograd.Function):
    """z = Π_i (W x + 1 - W) with a hand-written backward: the floats autograd would give, in fewer operations.

    Autograd's chain for the same expression is prod -> sub -> add -> mul -> unsqueeze, whose gradients are
    g z / t (``prod``'s formula when no term t is zero), then (g z / t) x and -(g z / t) summed over the batch
    for W, and (g z / t) W summed over the outputs for x. Written out here with the same operations in the same
    order (one rounding each; negation and the sum of two terms are exact to reorder), so the gradients are
    bit-identical to autograd's (tests/test_units.py checks). Where a seed's product is zero (a zero term, or
    underflow), autograd takes another formula: that seed's gradient is recomputed by autograd itself, for that
    seed only, so a seed's gradient never depends on the other seeds of the batch."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
        terms = _nmu_terms(x, W)  # [S, B, O, I]
        z = terms.prod(dim=-1)  # [S, B, O]
        ctx.save_for_backward(x, W, terms, z)
        return z

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x, W, terms, z = ctx.saved_tensors
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gt = g[..., None] * (z[..., None] / terms)  # [S, B, O, I]: d z / d terms, times g
        grad_w = (gt * x[:, :, None, :]).sum(dim=1) - gt.sum(dim=1) if need_w else None  # [S, O, I]
        grad_x = (gt * W[:, None, :, :]).sum(dim=2) if need_x else None  # [S, B, I]
        if bool((z == 0).any()):
            _nmu_zero_product_grads(x, W, g, z, grad_x, grad_w)
        return grad_x, grad_w


def _nmu_zero_product_grads(
    x: torch.Tensor, W: torch.Tensor, g: torch.Tensor, z: torch.Tensor, grad_x: torch.Tensor | None,
    grad_w: torch.Tensor | None,
) -> None:  # fmt: skip
    """Replace, in place, the gradients of the seeds with a zero product by autograd's, computed for them alone."""
    rows = (z == 0).reshape(z.shape[0], -1).any(dim=1).nonzero().flatten()  # seeds with a zero product
    with torch.enable_grad():
        xs = x[rows].detach().requires_grad_(grad_x is not None)  # [R, B, I]
        ws = W[rows].detach().requires_grad_(grad_w is not None)  # [R, O, I]
        inputs = [t for t in (xs, ws) if t.requires_grad]
        got = list(torch.autograd.grad(_nmu_terms(xs, ws).prod(dim=-1), inputs, g[rows]))
    if grad_x is not None:
        grad_x[rows] = got.pop(0)
    if grad_w is not None:
        grad_w[rows] = got.pop(0)


class NMU(Unit):
    """NMU: z_j = Π_i (W_ij x_i + 1 - W_ij), W clamped to [0, 1], init U[0.25, 0.75]."""

    kind = "nmu"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        self.W = self._uniform((out_features, in_features), 0.25, 0.75)  # [S, O, I]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Several seeds: the hand-written backward keeps a zero product in one seed from changing the others'
        # gradients (autograd switches formula for the whole tensor). One seed: autograd's nodes are the same
        # floats (``_NMUProduct`` reproduces autograd for a seed alone) at less cost per call.
        if x.shape[0] > 1 and torch.is_grad_enabled() and (x.requires_grad or self.W.requires_grad):
            out: torch.Tensor = _NMUProduct.apply(x, self.W)
            return out  # [S, B, O]
        return _nmu_terms(x, self.W).prod(dim=-1)  # [S, B, O]

    def regularizer(self) -> torch.Tensor:
        return torch.minimum(self.W, 1.0 - self.W).mean(dim=(1, 2))  # [S]

    def post_step(self) -> None:
        self.W.detach().clamp_(0.0, 1.0)  # in place on the weights' memory (cheaper than a no_grad block)


class INALU(Unit):
    """iNALU (Schlör et al. 2020): separate weights, an input-independent gate g = σ(G),
    a clipped multiplicative path and an explicit sign correction for negative inputs."""

    kind = "gated"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        r = opts.init_range
        shape = (out_features, in_features)
        self.W_hat = self._uniform(shape, -r, r)  # [S, O, I]
        self.M_hat = self._uniform(shape, -r, r)  # [S, O, I]
        self.W_hat_m = self._uniform(shape, -r, r)  # [S, O, I]
        self.M_hat_m = self._uniform(shape, -r, r)  # [S, O, I]
        self.G = self._normal((out_features,), 1.0)  # [S, O]

    def weight_add(self) -> torch.Tensor:
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)  # [S, O, I]

    def weight_mul(self) -> torch.Tensor:
        return torch.tanh(self.W_hat_m) * torch.sigmoid(self.M_hat_m)  # [S, O, I]

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.G)[:, None, :]  # [S, 1, O]
        return g.expand(x.shape[0], x.shape[1], self.out_features)  # [S, B, O]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = _linear(x, self.weight_add())  # [S, B, O]
        w_m = self.weight_mul()  # [S, O, I]
        log_x = torch.log(torch.clamp(torch.abs(x), min=self.opts.eps))  # [S, B, I]
        m = torch.exp(torch.clamp(_linear(log_x, w_m), max=20.0))  # [S, B, O]
        w_abs = w_m.abs()[:, None, :, :]  # [S, 1, O, I]
        sign = torch.sign(x)[:, :, None, :]  # [S, B, 1, I]
        s = (sign * w_abs + 1.0 - w_abs).prod(dim=-1)  # [S, B, O]
        g = self.gate(x)  # [S, B, O]
        return g * a + (1.0 - g) * m * s

    def effective_weights(self) -> dict[str, torch.Tensor]:
        return {"W": self.weight_add().detach(), "W_m": self.weight_mul().detach(), "G": self.G.detach()}


class NPU(Unit):
    """NPU (Heim et al. 2020): z = exp(W_re log r - π W_im k) ⊙ cos(W_im log r + π W_re k),
    r = ĝ|x| + (1 - ĝ) with a relevance gate ĝ in [0, 1], k = 1 where x < 0."""

    kind = "mul"
    real = False

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        r = math.sqrt(6.0 / (in_features + out_features))
        self.W_re = self._uniform((out_features, in_features), -r, r)  # [S, O, I]
        if not self.real:
            # Zero, as in Heim et al.'s reference implementation (NeuralArithmetic.jl: initIm=zeros): the
            # NPU starts as a RealNPU. A Glorot W_im puts a cos(W_im log r) oscillation into the start
            # that the NPU almost never escapes on positive inputs (0/200 seeds solve div, sqrt or square).
            self.W_im = nn.Parameter(torch.zeros(self.num_seeds, out_features, in_features))  # [S, O, I]
        self.g = nn.Parameter(torch.full((self.num_seeds, in_features), 0.5))  # [S, I]; half relevant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.g[:, None, :]  # [S, 1, I]
        r = g * torch.abs(x) + (1 - g)  # [S, B, I]
        log_r = torch.log(torch.clamp(r, min=self.opts.eps))  # [S, B, I]
        k = (x < 0).to(x.dtype)  # [S, B, I]
        magnitude = _linear(log_r, self.W_re)  # [S, B, O]
        angle = math.pi * _linear(k, self.W_re)  # [S, B, O]
        if not self.real:
            magnitude = magnitude - math.pi * _linear(k, self.W_im)
            angle = angle + _linear(log_r, self.W_im)
        return torch.exp(magnitude) * torch.cos(angle)  # [S, B, O]

    def post_step(self) -> None:
        self.g.detach().clamp_(0.0, 1.0)  # in place on the gate's memory (cheaper than a no_grad block)

    def effective_weights(self) -> dict[str, torch.Tensor]:
        weights = {"W": self.W_re.detach()}
        if not self.real:
            weights["W_im"] = self.W_im.detach()
        weights["g"] = self.g.detach()
        return weights


class RealNPU(NPU):
    """RealNPU: the NPU with W_im = 0."""

    real = True


class MLPLayer(Unit):
    """A linear layer with bias (the activation is applied by the model between layers)."""

    kind = "mlp"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        bound = 1.0 / math.sqrt(in_features)
        self.W = self._uniform((out_features, in_features), -bound, bound)  # [S, O, I]
        self.b = self._uniform((out_features,), -bound, bound)  # [S, O]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, self.W) + self.b[:, None, :]  # [S, B, O]


UNITS: dict[str, type[Unit]] = {
    "nac_add": NACAdd,
    "nac_mul": NACMul,
    "nalu": NALU,
    "nau": NAU,
    "nmu": NMU,
    "inalu": INALU,
    "npu": NPU,
    "realnpu": RealNPU,
    "mlp": MLPLayer,
}

# Names users may type for the same unit.
UNIT_ALIASES = {"nac": "nac_add", "nac+": "nac_add", "nac*": "nac_mul", "nac•": "nac_mul", "linear": "mlp"}


class SeedPReLU(nn.Module):
    """PReLU with one learnable slope per seed (``nn.PReLU`` would share it across seeds)."""

    def __init__(self, num_seeds: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((num_seeds, 1, 1), 0.25))  # [S, 1, 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x >= 0, x, self.weight * x)


def activation(name: str, num_seeds: int) -> nn.Module:
    """The MLP activation by name (``none`` is the identity, i.e. the Linear baseline)."""
    if name == "prelu":
        return SeedPReLU(num_seeds)
    modules: dict[str, nn.Module] = {
        "relu": nn.ReLU(),
        "relu6": nn.ReLU6(),
        "tanh": nn.Tanh(),
        "sigmoid": nn.Sigmoid(),
        "elu": nn.ELU(),
        "selu": nn.SELU(),
        "softplus": nn.Softplus(),
        "leaky_relu": nn.LeakyReLU(),
        "none": nn.Identity(),
    }
    return modules[name]
