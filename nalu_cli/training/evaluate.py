"""Metrics, the solved criterion and the extrapolation ladder.

A model is *solved* on a range when its MSE there is below the MSE of a nearly perfect model (the exact
solution with each weight moved by ``eps`` toward the wrong value), both measured on the same data
(Madsen & Johansen 2020; SPEC section 4). Evaluation data is drawn in fixed chunks from the counter-based
generator keyed by each run's seed, so a seed's numbers do not depend on which seeds share the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from nalu_cli import rng
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.models.recurrent import RecurrentModel
from nalu_cli.tasks.arithmetic import Task
from nalu_cli.tasks.ops import Ranges, format_ranges, scale_ranges

EVAL_CHUNK = 256  # samples per seed drawn at once; part of the data definition, never change lightly


@dataclass
class RangeMetrics:
    """Per-seed metrics on one range; each tensor is [S] float64 (bools for ``solved``)."""

    ranges: Ranges
    mse: torch.Tensor
    mae: torch.Tensor
    rel_err: torch.Tensor
    threshold: torch.Tensor
    solved: torch.Tensor
    accuracy: torch.Tensor | None = None  # digits mode: the share of outputs that round to the exact target

    def row(self, i: int) -> dict[str, object]:
        """Plain-data metrics of seed ``i`` (NaN/Inf kept as floats; the JSON layer spells them)."""
        row: dict[str, object] = {
            "range": format_ranges(self.ranges),
            "mse": float(self.mse[i]),
            "mae": float(self.mae[i]),
            "rel_err": float(self.rel_err[i]),
            "threshold": float(self.threshold[i]),
            "solved": bool(self.solved[i]),
        }
        if self.accuracy is not None:
            row["accuracy"] = float(self.accuracy[i])
        return row


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
    Sequence tasks stream their sequences through ``recurrent.evaluate_sequences``.
    """
    if task.mode == "digits":
        from nalu_cli.tasks.digits import SOLVED_ACCURACY, evaluate_digits

        m = evaluate_digits(model, task, seeds, samples, stream, dtype)  # type: ignore[arg-type]
        mse, mae, rel_err, accuracy = (v / samples for v in (m.sq, m.abs, m.rel, m.correct))
        threshold = torch.full_like(mse, math.nan)  # no MSE yardstick: solved is by accuracy (digits.py)
        return RangeMetrics(ranges, mse, mae, rel_err, threshold, accuracy >= SOLVED_ACCURACY, accuracy)
    if getattr(task, "sequential", False):
        from nalu_cli.tasks.recurrent import evaluate_sequences

        sums = evaluate_sequences(model, task, seeds, ranges, samples, solved_eps, stream, dtype)  # type: ignore[arg-type]
        mse, mae, rel_err, threshold = (v / samples for v in sums)
        return RangeMetrics(ranges, mse, mae, rel_err, threshold, torch.isfinite(mse) & (mse < threshold))
    masks = task.masks(seeds, dtype)
    s = seeds.shape[0]
    sq = torch.zeros(s, dtype=torch.float64, device=seeds.device)
    ab = torch.zeros_like(sq)
    rel = torch.zeros_like(sq)
    thr = torch.zeros_like(sq)
    done = 0
    chunk_index = 0
    while done < samples:
        n = min(EVAL_CHUNK, samples - done)
        x = task.sample_inputs(seeds, stream, chunk_index, EVAL_CHUNK, ranges, dtype)[:, :n]  # [S, n, I]
        y = task.target(x, masks).to(torch.float64)  # [S, n, 1]
        pred = model(x).to(torch.float64)  # [S, n, 1]
        err = pred - y
        sq += (err * err).sum(dim=(1, 2))
        ab += err.abs().sum(dim=(1, 2))
        rel += (err.abs() / y.abs().clamp(min=1e-12)).sum(dim=(1, 2))
        if threshold is None:
            thr += task.near_perfect_mse(x, masks, solved_eps) * n
        done += n
        chunk_index += 1
    mse, mae, rel_err = sq / samples, ab / samples, rel / samples
    if threshold is None:
        threshold = thr / samples
    solved = torch.isfinite(mse) & (mse < threshold)
    return RangeMetrics(ranges, mse, mae, rel_err, threshold, solved)


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
