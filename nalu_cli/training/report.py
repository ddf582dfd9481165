"""The report of a training run, as plain data, and the exit code a run or an evaluation ends with.

``train_report`` is what ``nalu train --json`` prints; ``outcome`` turns a report into an exit code and the
error line to show (1: every seed diverged; ``CHECK_FAILED`` with ``--check``: a seed is not solved).
"""

from __future__ import annotations

from typing import Any

from nalu_cli.tasks import published
from nalu_cli.tasks.ops import format_ranges
from nalu_cli.tasks.registry import kind_of
from nalu_cli.training.trainer import TrainResult


def train_report(result: TrainResult) -> dict[str, Any]:
    """The summary of a training run (what ``nalu train`` prints)."""
    cfg = result.config
    return {
        "command": "train",
        "describe": cfg.describe(),
        "op": cfg.task.op,
        "units": cfg.model.units(),
        "interpolation": _range_text(cfg, "interpolation"),
        "extrapolation": _range_text(cfg, "extrapolation"),
        "steps": result.step,
        "restarts": cfg.train.restarts,
        "interrupted": result.interrupted,
        "device": result.device,
        "elapsed": result.elapsed,
        "seed_steps_per_second": result.seed_steps_per_second,  # members × steps trained / seconds
        "compiled": result.compiled,
        "run_dir": str(result.run_dir) if result.run_dir else None,
        "solved": result.solved_count,
        "total": len(result.seeds),
        **_published_criterion(cfg, result.seeds),
        "seeds": result.seeds,
        "warnings": result.warnings,
    }


def _published_criterion(cfg: Any, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """On the task Madsen & Johansen (2020) published rates for: their threshold and the seeds it counts as
    solved (``tasks/published.py``); nalu's stricter ``solved`` stays the verdict. Elsewhere nothing."""
    limit = published.threshold_for(cfg.task)  # None unless the task is theirs
    if limit is None:
        return {}
    mse = [float(s["extrapolation"]["mse"]) for s in seeds]
    flags = published.judge(limit, mse, [s["diverged_at"] is not None for s in seeds])
    return {"published_threshold": limit, "solved_published": sum(flags)}


def _range_text(cfg: Any, which: str) -> str:
    """The range a train summary names; digits runs name their images and sequence length instead."""
    t = cfg.task
    if not kind_of(t.mode).value_ranges:  # digit images: no value range to name
        if which == "interpolation":
            return f"training images · T={t.length}"
        return f"test images · T={t.extrapolation_length}"
    return format_ranges(getattr(t, which))


CHECK_FAILED = 3  # the exit code of --check when not every seed is solved


def outcome(report: dict[str, Any], check: bool = False) -> tuple[int, str | None]:
    """The exit code of ``train``, ``eval`` or ``extrapolate`` for ``report``, and the error line to print.

    1 when every seed of a training run diverged (however many seeds it had); with ``check``, 3 when not
    every seed is solved: in training, or for ``eval``/``extrapolate`` on every range evaluated. Else 0.
    """
    seeds = report["seeds"]
    if report["command"] == "train":
        if seeds and all(s.get("diverged_at") is not None for s in seeds):
            n = len(seeds)
            who = "the seed" if n == 1 else f"all {n} seeds"
            return 1, f"training diverged: {who} produced NaN/Inf (try a lower --lr or a narrower range)"
        unsolved = [s["seed"] for s in seeds if not s["solved"]]
        where = f"on {report['extrapolation']}"
    else:
        unsolved = [s["seed"] for s in seeds if not all(r["solved"] for r in s["ranges"])]
        where = "on every range evaluated"
    if check and unsolved:
        listed = ", ".join(map(str, unsolved[:10])) + (", ..." if len(unsolved) > 10 else "")
        return CHECK_FAILED, (
            f"--check: {len(unsolved)} of {len(seeds)} seeds not solved {where} (seed{'s' if len(unsolved) > 1 else ''} {listed})"
        )
    return 0, None
