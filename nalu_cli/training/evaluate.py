"""Metrics, the solved criterion and the extrapolation ladder.

A model is *solved* on a range when its MSE there is below the MSE of a nearly perfect model (the exact
solution with each weight moved by ``eps`` toward the wrong value), both measured on the same data
(Madsen & Johansen 2020; SPEC section 4). Evaluation data is drawn in fixed chunks from the counter-based
generator keyed by each run's seed, so a seed's numbers do not depend on which seeds share the batch.
"""

from __future__ import annotations

import math

import torch

from nalu_cli import rng
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.models.recurrent import RecurrentModel
from nalu_cli.tasks.arithmetic import Task
from nalu_cli.tasks.kind import RangeMetrics
from nalu_cli.tasks.ops import Ranges, scale_ranges


@torch.no_grad()
def evaluate_range(
    model: ArithmeticModel | RecurrentModel,
    task: Task,
    seeds: torch.Tensor,
    ranges: Ranges,
    samples: int,
    solved_eps: float,
    stream: int = rng.STREAM_TEST,
    dtype: torch.dtype = torch.float32,
    threshold: torch.Tensor | None = None,
) -> RangeMetrics:
    """MSE, MAE, relative error and solved flag per seed on ``samples`` inputs from ``ranges``.

    ``seeds`` [S] are the task seeds (they fix the static task's subsets and the evaluation data).
    ``threshold`` [S]: the near-perfect MSE of an earlier call with the same arguments (it depends on the data
    alone, not on the model), so monitoring does not recompute it; None computes it.
    Each kind's task evaluates itself (``Task.evaluate``: sequence tasks stream their sequences).
    """
    return task.evaluate(model, seeds, ranges, samples, solved_eps, stream, dtype, threshold)


def ladder_ranges(task: Task, factors: list[float]) -> list[tuple[float, Ranges]]:
    """The interpolation range scaled by each factor: where does extrapolation break down?"""
    return [(f, scale_ranges(task.interpolation, f)) for f in factors]


def fmt_float(value: float) -> str:
    """A compact number for tables: 3 significant digits, inf and nan spelled out."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.3g}"


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for a success rate (SPEC section 4)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def sparsity_error(model: ArithmeticModel | RecurrentModel) -> torch.Tensor:
    """max_ij min(|W_ij|, |1 - |W_ij||) over all weight matrices named W, per seed: [S]."""
    errors = []
    for unit in model.units:
        for name, w in unit.effective_weights().items():
            if name.startswith("W") and unit.kind != "mlp":
                a = w.abs()
                errors.append(torch.minimum(a, (1 - a).abs()).reshape(w.shape[0], -1).amax(dim=1))
    if not errors:
        p = next(model.parameters())
        return torch.full((p.shape[0],), float("nan"), dtype=torch.float64)
    return torch.stack(errors).amax(dim=0).to(torch.float64)
