"""Success of the derived stacks: `nalu train --op EXPR` with its defaults, on N seeds batched.

Prints, per expression, the derived stack, solved and recovered counts over the seeds and the wall time.
Usage: python benchmarks/expressions.py [--seeds 10] [EXPR ...]
"""

from __future__ import annotations

import argparse
import time

import torch

from nalu_cli.config.resolve import resolve
from nalu_cli.training.loop import train

DEFAULT = ["(x0 + x1) * x2", "x0 * x1 - x2", "x0 / x1 + x2", "x0 * x1 * x2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("expressions", nargs="*", default=DEFAULT)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{'expression':<22} {'stack':<18} {'solved':>7} {'recovered':>9} {'time':>7}")
    for text in args.expressions:
        config = resolve(None, {"task.op": text, "train.seeds": list(range(args.seeds))})
        started = time.perf_counter()
        result = train(config, stop_on_divergence=False)
        elapsed = time.perf_counter() - started
        solved = sum(1 for s in result.seeds if s["solved"])
        recovered = sum(1 for s in result.seeds if s["recovered"])
        stack = "→".join(config.model.units()) + (f" {config.model.hidden}" if config.model.hidden else "")
        n = len(result.seeds)
        print(f"{text:<22} {stack:<18} {solved:>4}/{n} {recovered:>6}/{n} {elapsed:>6.1f}s", flush=True)


if __name__ == "__main__":
    main()
