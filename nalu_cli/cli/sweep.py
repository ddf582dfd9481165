"""nalu benchmark and nalu sweep."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from nalu_cli import names
from nalu_cli.cli import core
from nalu_cli.cli.core import PRESETS_HELP, _completer, detail, emit_json, fail, guarded, note, options
from nalu_cli.config.recipes import GRID_DEFAULTS  # the grid defaults both commands share

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
    seeds: Annotated[
        int, typer.Option(help="Seeds per cell, trained as one batched model.", min=1, max=100_000)
    ] = GRID_DEFAULTS["seeds"],
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
        from nalu_cli.output.tables import benchmark_table
        from nalu_cli.sweeps.job import BenchmarkJob

        extra: dict[str, Any] = {}
        for item in set_ or []:
            key, value = loading.parse_assignment(item)
            extra[key] = value
        job = BenchmarkJob(
            ops=_names(ops),
            units=_names(units),
            preset=preset,
            seeds=seeds,
            steps=steps,
            restarts=restarts,
            ranges=ranges,
            tuned=not published_settings,
            overrides=extra,
            csv=csv_out,
        )

        def on_cell(i: int, total: int, cell: Any) -> None:
            core.stderr.print(f"[dim]cell {i + 1}/{total}: {cell.op} · {cell.unit} {cell.interpolation}[/]")

        outcome = job.run(on_cell if core.stderr.is_terminal else None)
        if as_json:
            emit_json(outcome.report)
        else:
            core.stdout.print(benchmark_table(outcome.report["cells"], outcome.report["preset"], mode=job.mode))

    guarded(body)


def _names(value: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when the option is not given)."""
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


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
        from nalu_cli.output.tables import benchmark_table
        from nalu_cli.sweeps.job import SweepJob

        job = SweepJob(grid, executor=executor, address=address, workers=workers, retries=retries, out=out)
        spec = job.load()
        runner = job.make_executor()
        detail(f"{spec.describe()} → {job.directory}")
        progress, on_progress = _progress_bar()
        with progress:
            outcome = job.run(spec, runner, on_progress=on_progress)
        report = outcome.report
        if outcome.code == 130:
            fail(outcome.message or "interrupted", 130)
        if as_json:
            emit_json(report)
        elif report["cells"]:
            core.stdout.print(benchmark_table(report["cells"], spec.preset, command="sweep"))
        for line in outcome.notes:
            note(line)
        for f in report["failures"]:
            core.errors.print(
                f"[red]failed:[/] {escape(f['task'])}: {escape(f['error'])}", highlight=False, soft_wrap=True
            )
        if outcome.code:
            fail(outcome.message or "failed", outcome.code)

    guarded(body)


def _progress_bar() -> tuple[Any, Callable[[Any, dict[str, Any] | None], None]]:
    """A sweep's progress bar on stderr (a terminal only, not with --quiet), and the callback that moves it;
    each failure is printed above the bar as it happens."""
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
        progress.update(bar, total=state.total, completed=state.completed, running=state.running, failed=state.failed)
        if failure is not None and progress.live.is_started:
            progress.console.print(
                f"[red]failed:[/] {escape(failure['task'])}: {escape(failure['error'])}", highlight=False
            )

    return progress, on_progress
