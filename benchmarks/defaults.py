"""How often `nalu train --op OP` with its defaults extrapolates, over seeds 0-9 (the README's table).

    python benchmarks/defaults.py             # every op
    python benchmarks/defaults.py mul div     # some ops

Seeds are trained as one batched model; each seed's result is bit-identical to training it alone
(tests/test_train.py checks this), so this is the same as ten separate `nalu train --op OP --seed S` runs.
Also times one single-seed run per op, as a user would see it.
"""

from __future__ import annotations

import sys
import time

import torch

from nalu_cli import config
from nalu_cli.tasks import format_ranges
from nalu_cli.train import train


def main() -> None:
    torch.set_num_threads(1)
    ops = sys.argv[1:] or ["add", "sub", "mul", "div", "square", "sqrt", "identity"]
    print(f"{'op':<9} {'model':<14} {'steps':>6} {'solved (seeds 0-9)':>19} {'one run':>9}  train -> test")
    for op in ops:
        cfg = config.resolve(overrides={"task.op": op, "train.seeds": list(range(10))})
        result = train(cfg)
        start = time.perf_counter()
        train(config.resolve(overrides={"task.op": op}))
        single = time.perf_counter() - start
        model = "+".join(dict.fromkeys(cfg.model.units()))
        t = cfg.task
        ranges = f"{format_ranges(t.interpolation)} -> {format_ranges(t.extrapolation)}"
        print(
            f"{op:<9} {model:<14} {cfg.train.steps:>6} {result.solved_count:>16}/10 {single:>8.1f}s  {ranges}",
            flush=True,
        )


if __name__ == "__main__":
    main()
