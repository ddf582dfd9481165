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


# From this many inputs on, ``_linear`` computes its weight gradient as g^T x
# (``_Linear``) rather than autograd's (x^T g)^T: the same floats (MKL sums each entry over the batch in the same
# order; tests/unit/units/test_units.py checks them against autograd's), 2-5x faster for few outputs (the madsen2020 NAU:
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
    # Every number of seeds, one included, takes the same path: a lone seed through autograd's product differed
    # from the same seed in a batch in the last bits of the weight gradient (a NAU cell, 16 inputs, 8 outputs).
    many = x.shape[2] >= LINEAR_FN_MIN_INPUTS
    if many and torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
        out: torch.Tensor = _Linear.apply(x, w)
        return out
    return _matmul_wt(x, w)


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
