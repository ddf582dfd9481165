"""Madsen & Johansen 2020: the NAU (a clamped linear layer) and the NMU (a product of selected inputs)."""

from __future__ import annotations

import math
from typing import Any

import torch

from nalu_cli.units.base import Unit, UnitOptions, _linear


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
    bit-identical to autograd's (tests/unit/units/test_units.py checks). Where a seed's product is zero (a zero term, or
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
