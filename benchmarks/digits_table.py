"""Digits mode: peak memory of a streamed evaluation at length 1000, and the accuracy/MSE table per length.

    python -m benchmarks.digits_table --memory                 # peak RSS, 1000 sequences of length 1000
    python -m benchmarks.digits_table runs/add-nau runs/add-lstm   # per-length table of finished runs

The table re-evaluates each run on its test images at every length of its ``eval.lengths`` (what
``nalu extrapolate RUN --json`` reports) and prints, per run and length, the median over seeds and each seed's
accuracy of the rounded output, and the median MSE. Needs scikit-learn (``pip install -e '.[digits]'``).
"""

from __future__ import annotations

import argparse
import resource
import statistics

import torch

from nalu_cli.config.resolve import resolve
from nalu_cli.output.reports import extrapolate_report
from nalu_cli.training.trainer import Trainer


def peak_eval_memory_mb(length: int, samples: int) -> tuple[float, float]:
    """(max RSS in MB before, after) evaluating one seed on ``samples`` test sequences of ``length``."""
    cfg = resolve({}, {"task.op": "add", "task.mode": "digits", "task.extrapolation_length": length})
    trainer = Trainer(cfg, torch.device("cpu"))
    trainer.evaluate("interpolation", 10)  # load the images and warm up before the first reading
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trainer.evaluate("extrapolation", samples)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return before, after


def table(runs: list[str], samples: int | None) -> None:
    print("| run | describe | T | accuracy, median (per seed) | median MSE |")
    print("|---|---|---|---|---|")
    for run in runs:
        report = extrapolate_report(run, None, samples)
        lengths = [r["length"] for r in report["seeds"][0]["ranges"]]
        for i, length in enumerate(lengths):
            acc = [s["ranges"][i]["accuracy"] for s in report["seeds"]]
            mse = [s["ranges"][i]["mse"] for s in report["seeds"]]
            each = ", ".join(f"{100 * a:.1f}" for a in acc)
            print(
                f"| {run} | {report['describe']} | {length} | {100 * statistics.median(acc):.1f}% ({each})"
                f" | {statistics.median(mse):.3g} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", nargs="*", help="finished digits runs to tabulate")
    parser.add_argument("--memory", action="store_true", help="measure the peak RSS of a length-1000 evaluation")
    parser.add_argument("--samples", type=int, default=None, help="sequences per length (default: the run's)")
    args = parser.parse_args()
    if args.memory:
        before, after = peak_eval_memory_mb(1000, 1000)
        print(
            "peak RSS evaluating 1000 test sequences of length 1000 (1 seed, no_grad, streamed):"
            f" {before:.0f} MB before, {after:.0f} MB after"
        )
    if args.runs:
        table(args.runs, args.samples)


if __name__ == "__main__":
    main()
