"""Recurrent mode: success per op × cell/output units over seeds (solved at the extrapolation length), and the
peak memory of evaluating length-1000 sequences at batch 1000.

Run: ``OMP_NUM_THREADS=1 python -m benchmarks.recurrent_table [--seeds 10] [--first-seed 0] [--ops add,sub,mul]
[--set train.loss_scale=none] [--units nac_add,nac_add --units lstm,nau]``.
``--units CELL,OUTPUT`` (repeatable) replaces each op's default stack: the op × unit table is the defaults plus
one run of this script per alternative stack.
Prints a Markdown table (the README's recurrent table comes from it) and the memory line.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from nalu_cli.config.loading import parse_assignment
from nalu_cli.config.resolve import resolve
from nalu_cli.training.evaluate import wilson_interval
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer

CELLS = {"add": [["nau", "nau"]], "sub": [["nau", "nau"]], "mul": [["nau", "nmu"]]}


def peak_eval_memory_mb(length: int, samples: int) -> tuple[float, float]:
    """(max RSS in MB before, after) evaluating one seed on ``samples`` sequences of ``length``."""
    cfg = resolve({}, {"task.op": "mul", "task.mode": "recurrent", "task.extrapolation_length": length})
    trainer = Trainer(cfg, torch.device("cpu"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainer.evaluate("extrapolation", samples)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return before, after


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds FIRST..FIRST+SEEDS-1 (held-out: 10)")
    parser.add_argument("--ops", default="add,sub,mul")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--units", action="append", default=[], metavar="CELL,OUTPUT", help="stacks to run instead of the defaults"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (ablations)")
    args = parser.parse_args()
    extra = dict(parse_assignment(item) for item in args.set)
    stacks = [u.split(",") for u in args.units]
    if any(len(s) != 2 for s in stacks):
        parser.error("--units takes CELL,OUTPUT, e.g. --units lstm,nau")
    before, after = peak_eval_memory_mb(1000, 1000)
    print(
        f"peak RSS evaluating 1000 sequences of length 1000 (1 seed, no_grad, streamed): {before:.0f} MB before, {after:.0f} MB after"
    )
    print("| op | cell → output | solved at T=1000 (of seeds) | 95% CI | median extrap. MSE | time |")
    print("|---|---|---|---|---|---|")
    for op in args.ops.split(","):
        for units in stacks or CELLS[op]:
            cfg = resolve(
                {},
                {
                    "task.op": op,
                    "task.mode": "recurrent",
                    "model.unit": units,
                    "train.seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
                    "eval.samples": args.samples,
                    "train.log_every": 500,
                    "train.valid_samples": 300,
                    **extra,
                },
            )
            started = time.perf_counter()
            result = train(cfg, stop_on_divergence=False)
            elapsed = time.perf_counter() - started
            n = len(result.seeds)
            k = result.solved_count
            lo, hi = wilson_interval(k, n)
            mses = sorted(s["extrapolation"]["mse"] for s in result.seeds)
            print(
                f"| {op} | {units[0]} → {units[1]} | {k}/{n} | [{lo:.2f}, {hi:.2f}] | {mses[n // 2]:.3g} | {elapsed:.0f} s |",
                flush=True,
            )


if __name__ == "__main__":
    main()
