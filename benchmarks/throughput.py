"""Throughput of batched seeds against a seed-by-seed loop, measured side by side in one run.

    python benchmarks/throughput.py            # S = 1, 100, 1000; prints a table and ratios
    python benchmarks/throughput.py --quick    # S = 1, 100 (about a minute)

For each task (the 2-input NALU on pair-mode multiplication, and the madsen2020 static task with a
NAU -> NMU model) and each S, it trains S seeds batched as one model, then the same S seeds one after
another, each in a fresh child process so peak memory (max RSS) is measured per configuration.
It reports seed-steps per second and the ratio batched / loop. Only training steps are timed (no model
construction, no monitoring); peak memory is the child process's max RSS.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from typing import Any


def _config(task: str, seeds: list[int], steps: int) -> Any:
    from nalu_cli import config

    if task == "nalu-pair":
        return config.resolve(
            overrides={"task.op": "mul", "model.unit": "nalu", "train.seeds": seeds, "train.steps": steps}
        )
    return config.resolve(
        overrides={"task.op": "mul", "model.unit": ["nau", "nmu"], "train.seeds": seeds, "train.steps": steps},
        preset="madsen2020",
    )


def _measure(task: str, s: int, steps: int, batched: bool, threads: int, queue: Any) -> None:
    import torch

    from nalu_cli.train import Trainer

    torch.set_num_threads(threads)
    # warm-up outside the timed region (first-call allocations and kernel selection)
    warm = Trainer(_config(task, [0], 5), torch.device("cpu"))
    for _ in range(3):
        warm.train_step()
    # Only the training steps are timed (model construction is excluded on both sides, so the loop's
    # shorter run per seed does not count against it).
    elapsed = 0.0
    if batched:
        trainer = Trainer(_config(task, list(range(s)), steps), torch.device("cpu"))
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        elapsed = time.perf_counter() - start
    else:
        for seed in range(s):
            trainer = Trainer(_config(task, [seed], steps), torch.device("cpu"))
            start = time.perf_counter()
            for _ in range(steps):
                trainer.train_step()
            elapsed += time.perf_counter() - start
    queue.put((elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(task: str, s: int, steps: int, batched: bool, threads: int) -> tuple[float, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(task, s, steps, batched, threads, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,100,1000", help="seed counts S (comma-separated)")
    parser.add_argument("--quick", action="store_true", help="S = 1, 100 only")
    parser.add_argument("--steps", type=int, default=100, help="steps per seed in the batched run")
    parser.add_argument("--loop-steps", type=int, default=20, help="steps per seed in the loop (time is per seed-step)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (2 are no faster than 1 here)")
    parser.add_argument("--tasks", default="nalu-pair,madsen2020")
    args = parser.parse_args()
    sizes = [1, 100] if args.quick else [int(x) for x in args.sizes.split(",")]
    print(
        f"{'task':<12} {'S':>6} {'batched seed-steps/s':>21} {'loop seed-steps/s':>18} {'ratio':>8} {'peak MB batched':>16} {'peak MB loop':>13}"
    )
    for task in args.tasks.split(","):
        for s in sizes:
            t_batch, mem_batch = measure(task, s, args.steps, True, args.threads)
            t_loop, mem_loop = measure(task, s, args.loop_steps, False, args.threads)
            rate_batch = s * args.steps / t_batch
            rate_loop = s * args.loop_steps / t_loop
            print(
                f"{task:<12} {s:>6} {rate_batch:>21,.0f} {rate_loop:>18,.0f} {rate_batch / rate_loop:>7.1f}× {mem_batch:>16.0f} {mem_loop:>13.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
