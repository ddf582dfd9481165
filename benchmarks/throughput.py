"""Throughput of batched seeds against a seed-by-seed loop, measured side by side in one run.

    python benchmarks/throughput.py            # S = 1, 100, 1000; prints a table, ratios and the cost split
    python benchmarks/throughput.py --quick    # S = 1, 100 (about a minute)
    python benchmarks/throughput.py --compile off   # the batched side with the eager data generator

For each task (the 2-input NALU on pair-mode multiplication, and the madsen2020 static task with a
NAU -> NMU model) and each S, it trains S seeds batched as one model, then the same S seeds one after
another, each in a fresh child process so peak memory (max RSS) is measured per configuration.
It reports seed-steps per second and the ratio batched / loop. Only training steps are timed (no model
construction, no monitoring, and not the batched run's first step, which compiles the data generator when
``--compile on``); peak memory is the child process's max RSS. The seed-by-seed loop runs as ``nalu train``
would run a single seed (``train.compile: auto``, which is off for these short runs); its first step per seed
is not timed either (one-time work: first-call allocations; until 2026-12-01 also the estimated madsen2020
preconditioner, which the closed form replaced), unless
``--time-first-loop-step`` (the method before 2026-11-30, which charged that one-time work to 20 steps).

Then, for the largest S, the cost of one seed-step split into drawing the batch (data and target), the
forward and backward pass, and the optimiser (Adam, NaN/Inf check, clamps), each timed on its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from typing import Any


def _config(task: str, seeds: list[int], steps: int, compile_mode: str = "auto", device: str = "cpu") -> Any:
    from nalu_cli.config import resolve as config_resolve

    common = {"train.seeds": seeds, "train.steps": steps, "train.compile": compile_mode, "train.device": device}
    if task == "nalu-pair":
        return config_resolve.resolve(overrides={"task.op": "mul", "model.unit": "nalu", **common})
    return config_resolve.resolve(
        overrides={"task.op": "mul", "model.unit": ["nau", "nmu"], **common}, preset="madsen2020"
    )


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def cost_split(trainer: Any, steps: int) -> dict[str, float]:
    """Seconds per step of (data, forward + backward, optimiser), each phase timed on its own over ``steps``
    steps of ``trainer`` (the phases of ``Trainer.train_step``, without its bookkeeping). Data is
    ``Trainer.draw_batch`` (the inputs, and the targets unless the first layer's product computes the static
    task's subset sums); forward + backward includes the regulariser and the first layer's preconditioner
    where the recipe uses them, and those subset sums where they are computed there."""
    import torch

    t = trainer.config.train
    data = fwd_bwd = opt = 0.0
    for _ in range(steps):
        _sync(trainer.device)
        start = time.perf_counter()
        batch = trainer.draw_batch()
        _sync(trainer.device)
        mid = time.perf_counter()
        pred, y = trainer.predict(*batch)
        loss = ((pred - y) ** 2).mean(dim=(1, 2))
        lam = t.regularizer.weight(trainer.step)
        total = (loss + trainer.model.regularizer() * lam if lam > 0 else loss).sum()
        grads = list(torch.autograd.grad(total, trainer.params))
        if trainer.precond is not None:
            grads[trainer.precond.index] = trainer.precond.apply(grads[trainer.precond.index])
        _sync(trainer.device)
        end = time.perf_counter()
        p_next, mv_next = trainer.optimizer.propose(grads, trainer.lr_at(trainer.step))
        ok = torch.isfinite(p_next.sum() + total.detach())  # the per-step check (a sync on a GPU)
        trainer.optimizer.commit(p_next, mv_next, None if bool(ok) else trainer.alive)
        trainer.model.post_step()
        trainer.step += 1
        _sync(trainer.device)
        done = time.perf_counter()
        data, fwd_bwd, opt = data + mid - start, fwd_bwd + end - mid, opt + done - end
    return {"data": data / steps, "forward+backward": fwd_bwd / steps, "optimiser": opt / steps}


def _measure(
    task: str,
    s: int,
    steps: int,
    batched: bool,
    threads: int,
    compile_mode: str,
    split: bool,
    device: str,
    time_first: bool,
    queue: Any,
) -> None:
    import torch

    from nalu_cli.training.trainer import Trainer

    torch.set_num_threads(threads)
    dev = torch.device(device)
    # warm-up outside the timed region (first-call allocations and kernel selection)
    warm = Trainer(_config(task, [0], 5, "off", device), dev)
    for _ in range(3):
        warm.train_step()
    # Only the training steps are timed (model construction is excluded on both sides, so the loop's
    # shorter run per seed does not count against it).
    elapsed = 0.0
    info: dict[str, Any] = {}
    if batched:
        trainer = Trainer(_config(task, list(range(s)), steps + 1, compile_mode, device), dev)
        trainer.train_step()  # compiles the generator when asked to (timed separately)
        info["compiled"] = trainer.compiled
        info["compile_s"] = trainer.compile_seconds
        info["warnings"] = trainer.warnings
        _sync(dev)
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        _sync(dev)
        elapsed = time.perf_counter() - start
        if split:
            info["split"] = cost_split(trainer, max(3, steps // 5))
    else:
        for seed in range(s):
            trainer = Trainer(_config(task, [seed], steps + 1, "auto", device), dev)
            if not time_first:  # like the batched side: the first step's one-time work untimed
                trainer.train_step()
            start = time.perf_counter()
            for _ in range(steps):
                trainer.train_step()
            _sync(dev)
            elapsed += time.perf_counter() - start
    queue.put((elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, info))


def measure(
    task: str,
    s: int,
    steps: int,
    batched: bool,
    threads: int,
    compile_mode: str = "on",
    split: bool = False,
    device: str = "cpu",
    time_first: bool = False,
) -> tuple[float, float, dict[str, Any]]:
    """(seconds for s × steps seed-steps, peak RSS in MB, details) from a fresh child process."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    args = (task, s, steps, batched, threads, compile_mode, split, device, time_first, queue)
    proc = ctx.Process(target=_measure, args=args)
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
    parser.add_argument("--compile", default="on", choices=["on", "off", "auto"], help="train.compile, batched side")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    parser.add_argument("--no-loop", action="store_true", help="batched side only (GPU runs: the loop is slow)")
    parser.add_argument(
        "--time-first-loop-step",
        action="store_true",
        help="time each looped seed's first step too (the method before 2026-11-30: it charges the loop with "
        "first-call costs over only --loop-steps steps)",
    )
    args = parser.parse_args()
    sizes = [1, 100] if args.quick else [int(x) for x in args.sizes.split(",")]
    print(
        f"{'task':<12} {'S':>6} {'batched seed-steps/s':>21} {'loop seed-steps/s':>18} {'ratio':>8} "
        f"{'peak MB batched':>16} {'peak MB loop':>13} {'compiled':>9}"
    )
    splits = []
    for task in args.tasks.split(","):
        for s in sizes:
            split = s == max(sizes)
            t_batch, mem_batch, info = measure(
                task, s, args.steps, True, args.threads, args.compile, split, args.device
            )
            rate_batch = s * args.steps / t_batch
            compiled = "yes" if info.get("compiled") else "no"
            if info.get("compile_s") is not None:
                compiled += f" ({info['compile_s']:.0f} s)"
            if args.no_loop:
                loop, ratio, mem_loop = "-", "-", "-"
            else:
                t_loop, mem, _ = measure(
                    task, s, args.loop_steps, False, args.threads, "auto", False, args.device,
                    args.time_first_loop_step,
                )  # fmt: skip
                rate_loop = s * args.loop_steps / t_loop
                loop, ratio, mem_loop = f"{rate_loop:,.0f}", f"{rate_batch / rate_loop:.1f}×", f"{mem:.0f}"
            print(
                f"{task:<12} {s:>6} {rate_batch:>21,.0f} {loop:>18} {ratio:>8} {mem_batch:>16.0f} {mem_loop:>13} {compiled:>9}",
                flush=True,
            )
            for warning in info.get("warnings", []):
                print(f"  note: {warning}", flush=True)
            if "split" in info:
                splits.append((task, s, info["split"]))
    for task, s, parts in splits:
        total = sum(parts.values())
        shares = ", ".join(f"{k} {v / s * 1e6:.2f} µs ({v / total:.0%})" for k, v in parts.items())
        print(f"cost per seed-step, {task}, S = {s}: {shares}; total {total / s * 1e6:.2f} µs", flush=True)


if __name__ == "__main__":
    main()
