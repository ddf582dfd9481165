"""The grid driver: a grid cut into tasks that run anywhere, written as they finish, resumable; `nalu sweep`
and `nalu benchmark` both run through it.

A grid (a YAML file, ``load_grid``) names ops × units × range pairs and a number of seeds (in digits mode,
``set: {task.mode: digits}``, ops × digits columns without ranges or preset, as ``nalu benchmark``). Each
cell's seeds are cut into blocks of ``seed_block``; one (cell, block) is one *task*: one process trains the
block's seeds as one batched model (``train.train``), exactly as ``nalu benchmark`` trains a whole cell.

Tasks are independent and deterministic, so they may run in any order and on any machine:
- ``LocalExecutor`` uses this machine's cores (a process pool, spawn start method);
- ``sweep_ray.RayExecutor`` (optional dependency ``nalu[ray]``) submits them to a Ray cluster with retries.

The driver (``run_sweep``) writes every finished task atomically to ``OUT/tasks/KEY.json``; KEY is derived
from the task's resolved config (sha256 of its canonical JSON). A re-run skips the tasks already written,
so killing the driver loses only the tasks in flight, a failed task is retried by running the same command
again, and raising ``seeds`` reuses the blocks already trained. A cell is summarised
(``benchmark.summarise``) from the union of its blocks' per-seed results once every block is in; the
summary goes to ``OUT/results.json`` and ``OUT/results.csv``. Never prints.

`nalu benchmark` is the same driver without a directory (``out`` None: nothing read or written) and with
``executors.InProcessExecutor``: one block per cell, trained in this process, summarised the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nalu_cli.config import resolve
from nalu_cli.config.limits import MAX_REPORT_BYTES
from nalu_cli.errors import ConfigError, NaluError
from nalu_cli.files import read_bounded
from nalu_cli.runs.checkpoint import atomic_write_bytes
from nalu_cli.sweeps.benchmark import (
    summarise,
    to_csv,
    union_of_blocks,
)
from nalu_cli.sweeps.executors import Executor
from nalu_cli.sweeps.grid import TASK_FORMAT, TASK_VERSION, Grid, TaskSpec, plan

TASKS_DIR = "tasks"
FAILED_DIR = "failed"
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"


# -- the driver ----------------------------------------------------------------------------------------


@dataclass
class SweepProgress:
    """Counts for a progress display; ``completed`` is what a bar over ``total`` shows."""

    total: int
    cached: int = 0  # finished by an earlier run of the same sweep
    done: int = 0  # finished now
    failed: int = 0
    running: int = 0

    @property
    def completed(self) -> int:
        return self.cached + self.done + self.failed


ProgressFn = Callable[[SweepProgress, dict[str, Any] | None], None]  # (counts, the failure just seen or None)


def task_path(out: Path, key: str) -> Path:
    return Path(out) / TASKS_DIR / f"{key}.json"


def read_task(out: Path, spec: TaskSpec) -> dict[str, Any] | None:
    """The stored record of a finished task, or None when it is missing or is not this task's."""
    path = task_path(out, spec.key)
    try:  # within MAX_REPORT_BYTES while reading: a planted FIFO or /dev/zero is a missing record
        record = json.loads(read_bounded(path, "task record", MAX_REPORT_BYTES, ValueError))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(record, dict)
        or record.get("format") != TASK_FORMAT
        or record.get("key") != spec.key
        or record.get("config") != spec.config
        or record.get("seeds") != spec.seeds
        or not isinstance(record.get("results"), list)
        or [s.get("seed") for s in record["results"] if isinstance(s, dict)] != spec.seeds
    ):
        return None
    return record


def _write_json(path: Path, value: Any) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(value, indent=1, allow_nan=False) + "\n").encode("utf-8"))
    except OSError as err:
        raise NaluError(f"cannot write {str(path)!r}: {err.strerror or err}") from None


def run_sweep(
    grid: Grid,
    out: str | Path | None,
    executor: Executor,
    on_progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Run every task of ``grid`` not already finished under ``out``; return the merged report.

    The report (also written to ``out/results.json``, the table to ``out/results.csv``) holds one
    ``benchmark.summarise`` row per cell whose blocks have all finished, the failures of this run
    (``{"task", "key", "error"}``) and the cells still incomplete because of them. With ``out`` None
    nothing is read or written: every task is trained and only the report is returned.
    """
    specs = plan(grid)
    records: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    out = None if out is None else Path(out)
    if out is not None:
        _open_directory(out)
        for spec in specs:
            record = read_task(out, spec)
            if record is not None:
                records[spec.key] = record
            elif task_path(out, spec.key).exists():
                warnings.append(f"{task_path(out, spec.key)} is unreadable or not this task's; training it again")
    todo = [s for s in specs if s.key not in records]
    progress = SweepProgress(total=len(specs), cached=len(records))
    capacity = 0

    def publish(failure: dict[str, Any] | None = None) -> None:
        progress.running = min(capacity, len(todo) - progress.done - progress.failed)
        if on_progress is not None:
            on_progress(progress, failure)

    def ready(n: int) -> None:
        nonlocal capacity
        capacity = n
        publish()

    publish()
    failures: list[dict[str, Any]] = []
    for index, result, error in executor.run([s.payload() for s in todo], ready):
        spec = todo[index]
        if error is None and (result is None or result.get("key") != spec.key or result.get("seeds") != spec.seeds):
            error = "internal error: the worker returned results for another task"
        if error is None and result is not None:
            record = {
                "format": TASK_FORMAT,
                "version": TASK_VERSION,
                "key": spec.key,
                "label": spec.label,
                "cell": asdict(spec.cell),
                "seeds": spec.seeds,
                "config": spec.config,
            } | {k: v for k, v in result.items() if k not in ("key", "seeds")}
            if out is not None:
                _write_json(task_path(out, spec.key), record)
                (out / FAILED_DIR / f"{spec.key}.json").unlink(missing_ok=True)
            records[spec.key] = record
            progress.done += 1
            publish()
        else:
            failure = {"task": spec.label, "key": spec.key, "error": error}
            failures.append(failure)
            if out is not None:
                stamp = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
                _write_json(out / FAILED_DIR / f"{spec.key}.json", failure | stamp)
            progress.failed += 1
            publish(failure)
    rows, incomplete = merge(specs, records)
    summary = {
        "command": "sweep",
        "preset": grid.preset,
        "out": None if out is None else str(out),
        "executor": executor.name,
        "grid": grid.to_dict(),
        "tasks": {"total": len(specs), "cached": progress.cached, "trained": progress.done, "failed": progress.failed},
        "cells": rows,
        "failures": failures,
        "incomplete": incomplete,
        "warnings": warnings,
    }
    if out is not None:
        from nalu_cli.files import json_safe

        _write_json(out / RESULTS_JSON, json_safe(summary))
        write_csv(out / RESULTS_CSV, rows)
    return summary


def _open_directory(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file, not a directory")
    try:
        (out / TASKS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise NaluError(f"cannot create sweep directory {str(out)!r}: {err.strerror or err}") from None


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """The summary rows as CSV (``benchmark.CSV_FIELDS``), written atomically."""
    try:
        atomic_write_bytes(path, to_csv(rows).encode("utf-8"))
    except OSError as err:
        raise NaluError(f"cannot write {str(path)!r}: {err.strerror or err}") from None


def merge(specs: list[TaskSpec], records: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """One summary row per cell whose every block has a record (grid order); the other cells by name."""
    by_cell: dict[tuple[str, str, str, str], list[TaskSpec]] = {}
    for spec in specs:
        c = spec.cell
        by_cell.setdefault((c.op, c.unit, c.interpolation, c.extrapolation), []).append(spec)
    rows: list[dict[str, Any]] = []
    incomplete: list[str] = []
    for cell_specs in by_cell.values():
        cell = cell_specs[0].cell
        blocks = [records.get(s.key) for s in cell_specs]
        if any(b is None for b in blocks):
            missing = sum(1 for b in blocks if b is None)
            incomplete.append(f"{cell_specs[0].cell_label} ({missing} of {len(blocks)} seed blocks missing)")
            continue
        done = [b for b in blocks if b is not None]
        cfg = resolve.validate(done[0]["config"])
        seeds = union_of_blocks([b["results"] for b in done])
        random_mse = None
        if cell_specs[0].random_init and all("random_mse" in b for b in done):
            random_mse = (
                [float(v) for b in done for v in b["random_mse"]["interpolation"]],
                [float(v) for b in done for v in b["random_mse"]["extrapolation"]],
            )
        row = summarise(cell, cfg, seeds, sum(float(b["seconds"]) for b in done), random_mse)
        row["blocks"] = len(done)
        rows.append(row)
    return rows, incomplete
