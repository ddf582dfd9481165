"""The jobs behind `nalu sweep` and `nalu benchmark`: what each command does, from its options to an outcome.

A job owns the sequence: the grid (read from a file, or built from the benchmark's options with the recipe
book's grid defaults), the executor, the run through the one grid driver (``driver.run_sweep``), and the
outcome: the report, an exit code and the message that goes with it. Progress is reported through
callbacks; a job never prints. The command line only parses options, renders the outcome and exits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nalu_cli import names
from nalu_cli.errors import ConfigError
from nalu_cli.sweeps import driver
from nalu_cli.sweeps.benchmark import Cell, mode_of
from nalu_cli.sweeps.executors import Executor, InProcessExecutor, LocalExecutor
from nalu_cli.sweeps.grid import Grid, benchmark_grid, load_grid

EXECUTORS_HELP = names.listing(names.EXECUTORS)


@dataclass
class JobOutcome:
    """How a job ended: the report (what ``--json`` prints), the exit code, and the one-line message of a
    code other than 0 (None when it succeeded)."""

    report: dict[str, Any]
    code: int = 0
    message: str | None = None
    notes: list[str] = field(default_factory=list)  # lines for the person at the terminal, in order


# -- nalu sweep ----------------------------------------------------------------------------------------


@dataclass
class SweepJob:
    """`nalu sweep GRID`: the grid file's tasks on an executor, saved under ``out`` as they finish."""

    grid_path: Path
    executor: str = "local"
    address: str | None = None
    workers: int | None = None
    retries: int = 3
    out: Path | None = None

    def __post_init__(self) -> None:
        if self.executor not in ("local", "ray"):
            raise ConfigError(f"--executor {self.executor!r} must be one of: {EXECUTORS_HELP}")
        if self.executor == "local" and self.address is not None:
            raise ConfigError("--address names a Ray cluster; add --executor ray")
        if self.executor == "ray" and self.address is not None and self.workers is not None:
            raise ConfigError(
                "--workers sets the CPUs of a Ray started here; a cluster given with --address brings its own"
            )

    @property
    def directory(self) -> Path:
        """Where the tasks and results go: ``out``, else ``sweeps/GRID-NAME``."""
        return self.out if self.out is not None else Path("sweeps") / self.grid_path.stem

    def load(self) -> Grid:
        """The validated grid (``ConfigError`` listing every problem)."""
        return load_grid(self.grid_path)

    def make_executor(self) -> Executor:
        if self.executor == "ray":
            from nalu_cli.sweeps.ray_executor import RayExecutor, import_ray

            import_ray()  # fail before anything else when Ray is missing
            return RayExecutor(self.address, retries=self.retries, workers=self.workers)
        return LocalExecutor(self.workers, retries=self.retries)

    def run(self, grid: Grid, executor: Executor, on_progress: driver.ProgressFn | None = None) -> JobOutcome:
        """Run the grid's unfinished tasks; exit code 1 when a task failed, 130 when interrupted."""
        directory = self.directory
        try:
            report = driver.run_sweep(grid, directory, executor, on_progress=on_progress)
        except KeyboardInterrupt:
            return JobOutcome(
                {}, 130, f"interrupted; finished tasks are kept in {directory}: run the same command again to continue"
            )
        t = report["tasks"]
        notes = [
            f"{t['total']} tasks: {t['cached']} done earlier, {t['trained']} trained now, {t['failed']} failed"
            f" · results in {directory / driver.RESULTS_CSV}"
        ] + [f"incomplete: {cell}" for cell in report["incomplete"]]
        if report["failures"]:
            n = len(report["failures"])
            message = f"{n} of {t['total']} tasks failed (listed above); run the same command again to retry only those"
            return JobOutcome(report, 1, message, notes)
        return JobOutcome(report, 0, None, notes)


# -- nalu benchmark ------------------------------------------------------------------------------------

CellFn = Callable[[int, int, Cell], None]  # (index, number of cells, the cell) before it trains


@dataclass
class BenchmarkJob:
    """`nalu benchmark`: a grid built from the options (None: the recipe book's grid defaults), run through
    the sweep driver in this process, one block per cell; the report is ``{command, preset, cells}``."""

    ops: list[str] | None = None
    units: list[str] | None = None
    preset: str | None = None
    seeds: int | None = None
    steps: int | None = None
    restarts: int | None = None
    ranges: list[str] | None = None
    tuned: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    csv: Path | None = None

    def grid(self) -> Grid:
        return benchmark_grid(
            self.ops,
            self.units,
            self.preset,
            seeds=self.seeds,
            steps=self.steps,
            restarts=self.restarts,
            ranges=self.ranges,
            tuned=self.tuned,
            overrides=self.overrides,
        )

    @property
    def mode(self) -> str | None:
        return mode_of(self.overrides)

    def run(self, on_cell: CellFn | None = None) -> JobOutcome:
        """Train every cell (its seeds batched) and summarise it; configs are all checked first. Errors
        (``ConfigError``, a failed training) propagate, as `nalu train`'s do."""
        grid = self.grid()

        def started(index: int, total: int, payload: dict[str, Any]) -> None:
            if on_cell is not None:
                on_cell(index, total, Cell(**payload["cell"]))

        report = driver.run_sweep(grid, None, InProcessExecutor(started))
        rows = [{k: v for k, v in row.items() if k != "blocks"} for row in report["cells"]]
        if self.csv is not None:
            from nalu_cli.files import atomic_write_bytes
            from nalu_cli.sweeps.benchmark import to_csv

            atomic_write_bytes(self.csv, to_csv(rows).encode("utf-8"))
        return JobOutcome({"command": "benchmark", "preset": grid.preset, "cells": rows})
