"""Exploration behind the madsen2020 division attempt (issue 23): NAU -> NMRU, 10 seeds, three starts.

    python benchmarks/madsen2020_div_explore.py ratio float64 10000 0.03 10      # NMRU starts at h0 / h1
    python benchmarks/madsen2020_div_explore.py exclusive float64 10000 0.03 10  # W_x + W_1/x <= 1 after each step
    python benchmarks/madsen2020_div_explore.py plain float32 10000 0.03 10      # the unit as shipped

Arguments: variant, train.dtype, steps, lr, seeds (0..N-1). Every variant trains the madsen2020 task's
division (100 inputs, U[1,2] -> U[2,6]) with NAU -> NMRU, hidden 2, the first-layer preconditioner,
gradient-norm clipping 1 and the NMU's regulariser (scale 10 over 60-80% of the steps), and prints the
seeds solved by nalu's criterion and by Madsen & Johansen's (tasks/published.py), the sorted extrapolation
MSEs and the first formulas read back. ``ratio`` and ``exclusive`` change the NMRU here only (they are not
units of the package): what they measured is in docs/measurements/benchmarks.md.
"""

from __future__ import annotations

import sys
import time

import torch

from nalu_cli.config import resolve
from nalu_cli.tasks import published
from nalu_cli.training.trainer import Trainer
from nalu_cli.units import nmru as nmru_module


def exclusive_post_step(self: nmru_module.NMRU) -> None:
    """Clamp to [0, 1], then move W_x and W_1/x down equally until W_x + W_1/x <= 1 (no h_j / h_j)."""
    w = self.W.detach()
    w.clamp_(0.0, 1.0)
    n = self.in_features
    excess = (w[..., :n] + w[..., n:] - 1.0).clamp(min=0.0) / 2
    w[..., :n] -= excess
    w[..., n:] -= excess


def main(variant: str, dtype: str, steps: int, lr: float, seeds: int) -> None:
    if variant == "exclusive":
        nmru_module.NMRU.post_step = exclusive_post_step  # type: ignore[method-assign]
    overrides = {
        "task.op": "div",
        "model.unit": ["nau", "nmru"],
        "train.seeds": list(range(seeds)),
        "train.steps": steps,
        "train.lr": lr,
        "train.precondition": True,
        "train.clip_grad": 1.0,
        "train.dtype": dtype,
        "train.regularizer.scale": 10.0,
        "train.regularizer.start": int(0.6 * steps),
        "train.regularizer.end": int(0.8 * steps),
    }
    cfg = resolve.resolve({}, overrides, "madsen2020")
    trainer = Trainer(cfg, torch.device("cpu"))
    unit = trainer.model.units[1]
    if variant == "ratio":
        with torch.no_grad():
            unit.W.zero_()
            unit.W[:, 0, 0] = 1.0  # h0
            unit.W[:, 0, 3] = 1.0  # 1 / h1
    elif variant == "exclusive":
        unit.post_step()
    start = time.time()
    while trainer.step < steps:
        trainer.train_step()
    results = trainer.results(cfg.eval.samples)
    limit = published.threshold_for(cfg.task)
    assert limit is not None
    nalu = sum(s["solved"] for s in results)
    theirs = sum(s["extrapolation"]["mse"] < limit for s in results)
    print(variant, dtype, steps, lr, "nalu", nalu, "pub", theirs, f"{time.time() - start:.0f}s")
    print(sorted(f"{s['extrapolation']['mse']:.2e}" for s in results))
    print([s["formula"] for s in results[:4]])


if __name__ == "__main__":
    v, d, n, rate, count = sys.argv[1:6]
    main(v, d, int(n), float(rate), int(count))
