"""nalu benchmark and nalu sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from nalu_cli import names
from nalu_cli.cli import core
from nalu_cli.cli.core import PRESETS_HELP, _completer, detail, emit_json, fail, guarded, note, options

app = typer.Typer()  # joined to the root app (cli/__init__.py)


@app.command()
def benchmark(
    preset: Annotated[
        str | None,
        typer.Option(help=f"Task setup: {PRESETS_HELP} (default madsen2020; none in digits mode)."),
    ] = None,
    ops: Annotated[
        str | None, typer.Option(help="Operations, comma-separated (default: the preset's, e.g. add,sub,mul,div).")
    ] = None,
    units: Annotated[
        str | None,
        typer.Option(
            help="Unit columns, comma-separated (nmu means NAU -> NMU, mlp_relu6 an MLP with ReLU6, ...;"
            " default: the preset's; digits mode: accumulator, lstm)."
        ),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per cell, trained as one batched model.", min=1, max=100_000)] = 10,
    steps: Annotated[
        int | None,
        typer.Option(help="Training steps per cell (trade time for fidelity; default: each cell's recipe).", min=1),
    ] = None,
    restarts: Annotated[
        int | None,
        typer.Option(help="Restarts per seed; the best by interpolation error is kept (default: the recipe's).", min=1),
    ] = None,
    ranges: Annotated[
        list[str] | None, typer.Option(help="Range pairs: mistry2021 (the nine pairs) or INTERP:EXTRAP like 1,2:2,6.")
    ] = None,
    published_settings: Annotated[
        bool,
        typer.Option(
            "--published-settings", help="Train with the preset's own optimiser settings, not our tuned ones."
        ),
    ] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a config key in every cell.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV to this file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
) -> None:
    """Success rates over many seeds for a grid of ops × units (× range pairs), as in the papers.

    Per cell: success rate with its 95% Wilson interval, median solved-at step and sparsity error.

    Examples:

      nalu benchmark --seeds 100 --steps 20000

      nalu benchmark --ops mul --units nmu,nalu --ranges mistry2021 --csv mul.csv

      nalu benchmark --set task.mode=digits --ops add --seeds 3 --steps 2000
    """

    def body() -> None:
        from nalu_cli.config import loading
        from nalu_cli.files import atomic_write_bytes
        from nalu_cli.output.tables import benchmark_table
        from nalu_cli.sweeps.benchmark import default_grid, parse_range_sets, preset_for, run_benchmark, to_csv

        extra: dict[str, Any] = {}
        for item in set_ or []:
            key, value = loading.parse_assignment(item)
            extra[key] = value
        progress_line = core.stderr.is_terminal

        def on_cell(i: int, total: int, cell: Any) -> None:
            if progress_line:
                core.stderr.print(f"[dim]cell {i + 1}/{total}: {cell.op} · {cell.unit} {cell.interpolation}[/]")

        chosen = preset_for(preset, extra)
        grid_ops, grid_units = default_grid(chosen, extra)
        rows = run_benchmark(
            [o.strip() for o in ops.split(",") if o.strip()] if ops is not None else grid_ops,
            [u.strip() for u in units.split(",") if u.strip()] if units is not None else grid_units,
            seeds,
            steps,
            preset=chosen,
            restarts=restarts,
            ranges=parse_range_sets(ranges),
            tuned=not published_settings,
            extra=extra,
            on_cell=on_cell,
        )
        if csv_out is not None:
            atomic_write_bytes(csv_out, to_csv(rows).encode("utf-8"))
        if as_json:
            emit_json({"command": "benchmark", "preset": chosen, "cells": rows})
        else:
            mode = extra.get("task.mode")
            core.stdout.print(benchmark_table(rows, chosen, mode=mode if isinstance(mode, str) else None))

    guarded(body)


EXECUTORS_HELP = names.listing(names.EXECUTORS)


@app.command()
def sweep(
    grid: Annotated[
        Path, typer.Argument(help="Grid YAML: ops, units, ranges, seeds, seed_block, steps, restarts, set.")
    ],
    executor: Annotated[
        str,
        typer.Option(
            help="Where tasks run: local (this machine's cores) or ray (a Ray cluster; pip install 'nalu\\[ray]').",
            autocompletion=_completer(EXECUTORS_HELP),
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to join, e.g. 10.0.0.5:6379 or auto (default: $RAY_ADDRESS, else a Ray started here)."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Tasks at once on this machine (default: its CPU count).", min=1, max=4096)
    ] = None,
    retries: Annotated[
        int,
        typer.Option(
            help="Re-run a task whose worker process (or Ray node) died, killed or out of memory, up to N times.",
            min=0,
            max=100,
        ),
    ] = 3,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Sweep directory (default sweeps/GRID-NAME).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
) -> None:
    """Run a benchmark grid as independent tasks (one cell × one block of seeds), here or on a Ray cluster.

    Each finished task is saved in OUT/tasks at once; the same command again skips those, so an interrupted sweep resumes and only failed tasks are retried.

    Per cell, from all its seed blocks: success rate with its 95% Wilson interval, median solved-at step and sparsity error; also written to OUT/results.csv and OUT/results.json.

    Examples:

      nalu sweep sample_configs/sweeps/madsen2020.yaml

      nalu sweep grid.yaml --workers 8 --out sweeps/mul --json

      nalu sweep grid.yaml --executor ray --address 10.0.0.5:6379
    """

    def body() -> None:
        from nalu_cli.errors import ConfigError

        if executor not in ("local", "ray"):
            raise ConfigError(f"--executor {executor!r} must be one of: {EXECUTORS_HELP}")
        if executor == "local" and address is not None:
            raise ConfigError("--address names a Ray cluster; add --executor ray")
        if executor == "ray" and address is not None and workers is not None:
            raise ConfigError(
                "--workers sets the CPUs of a Ray started here; a cluster given with --address brings its own"
            )

        from nalu_cli.sweeps import driver as sweepmod
        from nalu_cli.sweeps import executors
        from nalu_cli.sweeps import grid as sweeps_grid

        spec = sweeps_grid.load_grid(grid)
        sweep_dir = out if out is not None else Path("sweeps") / grid.stem
        runner: executors.Executor
        if executor == "ray":
            from nalu_cli.sweeps.ray_executor import RayExecutor, import_ray

            import_ray()  # fail before anything else when Ray is missing
            runner = RayExecutor(address, retries=retries, workers=workers)
        else:
            runner = executors.LocalExecutor(workers, retries=retries)
        detail(
            f"{len(spec.ops)} ops × {len(spec.units)} units × {len(spec.ranges or [None])} range pairs,"
            f" {spec.seeds} seeds in blocks of {spec.seed_block}, {spec.steps} steps → {sweep_dir}"
        )

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        progress = Progress(
            TextColumn("[bold]sweep[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("tasks · {task.fields[running]} running · {task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=core.stderr,
            disable=not core.stderr.is_terminal or options["quiet"],
            transient=True,
        )
        bar = progress.add_task("sweep", total=None, running=0, failed=0)

        def on_progress(state: Any, failure: dict[str, Any] | None) -> None:
            progress.update(
                bar, total=state.total, completed=state.completed, running=state.running, failed=state.failed
            )
            if failure is not None and progress.live.is_started:
                progress.console.print(
                    f"[red]failed:[/] {escape(failure['task'])}: {escape(failure['error'])}", highlight=False
                )

        try:
            with progress:
                report = sweepmod.run_sweep(spec, sweep_dir, runner, on_progress=on_progress)
        except KeyboardInterrupt:
            fail(f"interrupted; finished tasks are kept in {sweep_dir}: run the same command again to continue", 130)
        if as_json:
            emit_json(report)
        else:
            from nalu_cli.output.tables import benchmark_table

            if report["cells"]:
                core.stdout.print(benchmark_table(report["cells"], spec.preset, command="sweep"))
        t = report["tasks"]
        note(
            f"{t['total']} tasks: {t['cached']} done earlier, {t['trained']} trained now, {t['failed']} failed"
            f" · results in {sweep_dir / sweepmod.RESULTS_CSV}"
        )
        for cell in report["incomplete"]:
            note(f"incomplete: {cell}")
        if report["failures"]:
            for f in report["failures"]:
                core.errors.print(
                    f"[red]failed:[/] {escape(f['task'])}: {escape(f['error'])}", highlight=False, soft_wrap=True
                )
            n = len(report["failures"])
            fail(f"{n} of {t['total']} tasks failed (listed above); run the same command again to retry only those", 1)

    guarded(body)
