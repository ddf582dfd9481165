"""The first layer's gradient preconditioner (``train.precondition``), in closed form.

The static task's inputs share a large common mean (U[1, 2]: E[x x^T] has one eigenvalue ~2700x the
others), so Adam spends its steps on the row-sum direction of the first NAU layer while the directions that
tell a's inputs from b's barely move. The preconditioner multiplies that layer's gradient by

    P = (Σ / s + δ I)^-1, scaled to a unit diagonal,   Σ = E[x x^T],  s = E[x_i^2],  δ = train.precondition_damping.

Every task that trains a feed-forward model draws its I inputs independently from one distribution (uniform
on the union of the training ranges), so Σ = v I + m² 1 1^T with m = E[x_i], v = Var[x_i], and P has the same
form, P = α I + β 1 1^T (Sherman-Morrison). Multiplying by it costs O(I) per row instead of O(I²), needs no
[S, I, I] matrices (40 MB at S = 1000, 4 GB at S = 10^5), and is exact: until 2026-12-01 each seed estimated Σ
from 4,096 of its own inputs and inverted a 100 x 100 matrix (README, "Reproducibility and speed").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nalu_cli.tasks.ops import Ranges


def input_moments(ranges: Ranges) -> tuple[float, float]:
    """(E[x], E[x²]) of one input drawn uniformly from the union of ``ranges`` (as ``Task.sample_inputs``)."""
    total = sum(hi - lo for lo, hi in ranges)
    mean = sum((hi - lo) * (hi + lo) / 2 for lo, hi in ranges) / total
    second = sum((hi**3 - lo**3) / 3 for lo, hi in ranges) / total
    return mean, second


@dataclass(frozen=True)
class Preconditioner:
    """P = alpha I + beta 1 1^T for the parameter at ``index`` of a trainer's parameters."""

    index: int
    alpha: float
    beta: float

    @classmethod
    def for_inputs(cls, index: int, ranges: Ranges, inputs: int, damping: float) -> Preconditioner:
        mean, second = input_moments(ranges)
        var = max(second - mean * mean, 0.0)
        a = var / second + damping  # Σ / s + δ I  =  a I + c 1 1^T
        c = mean * mean / second
        beta = -c / (a + c * (inputs - 1))  # (a I + c 1 1^T)^-1, divided by its diagonal
        return cls(index, 1.0 - beta, beta)

    def apply(self, grad: torch.Tensor) -> torch.Tensor:
        """grad @ P per seed: [M, O, I] -> [M, O, I]. Each row's sum is the same float whatever the batch of
        seeds (a row-wise reduction; tests/unit/training/test_train.py)."""
        grad = grad.contiguous()  # the layout differs between one seed and several (units._linear)
        return grad * self.alpha + grad.sum(dim=-1, keepdim=True) * self.beta  # [M, O, I]

    def matrix(self, inputs: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
        """P itself: [I, I] (for tests and inspection; training never builds it)."""
        return torch.eye(inputs, dtype=dtype) * self.alpha + self.beta
