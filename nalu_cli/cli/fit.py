"""nalu fit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from nalu_cli.cli import core
from nalu_cli.cli.core import UNITS_HELP, emit_json, guarded

app = typer.Typer()  # joined to the root app (cli/__init__.py)


@app.command()
def fit(
    data: Annotated[Path, typer.Argument(help="CSV table with a header row.")],
    target: Annotated[str, typer.Option("--target", "-t", help="Column to predict.")],
    inputs: Annotated[
        str | None, typer.Option(help="Input columns, joined by commas (default: every other column).")
    ] = None,
    test: Annotated[
        Path | None, typer.Option(help="A second table to measure extrapolation on (default: --holdout).")
    ] = None,
    holdout: Annotated[
        float, typer.Option(help="Fraction of rows with the largest inputs held out to measure extrapolation.")
    ] = 0.2,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit", help=f"Fit this unit (per layer: joined by commas) instead of the ladder ({UNITS_HELP})."
        ),
    ] = None,
    hidden: Annotated[str | None, typer.Option(help="Hidden sizes with --unit, e.g. 2.")] = None,
    members: Annotated[
        int, typer.Option("--members", help="Seeds × restarts trained per candidate, batched.", min=1, max=256)
    ] = 8,
    steps: Annotated[
        int | None, typer.Option(help="Training steps per candidate (default: its recipe).", min=1, max=10**6)
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (split, initialisation, batches).", min=0)] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (default runs/fit-TARGET).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing run directory given with --out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    """Learn a formula for one column of a CSV table from the others, and check that it extrapolates.

    Tries a ladder of unit stacks (simplest first), picks one by validation error, reads its formula in
    the table's column names and compares it with least squares and an MLP on held-out rows.

    Examples:

      nalu fit sample_configs/orders.csv --target total

      nalu fit data.csv --target F --inputs m,a --test bigger.csv --json
    """

    def body() -> None:
        from nalu_cli.fit.job import FitJob
        from nalu_cli.output.render import fit_view

        job = FitJob(
            data, target, inputs=inputs, test=test, holdout=holdout, unit=unit, hidden=hidden, members=members,
            steps=steps, seed=seed, out=out, force=force,
        )  # fmt: skip
        progress, on_progress = _fit_progress()
        with progress:
            done = job.run(on_progress)
        for warning in done.warnings:
            core.stderr.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)
        if as_json:
            emit_json(done.report)
        else:
            core.stdout.print(fit_view(done.report))
            core.stdout.print(
                f"run saved to {done.run_dir}; evaluate on another table with: nalu eval {done.run_dir} --data FILE.csv"
            )

    guarded(body)


def _fit_progress() -> tuple[Any, Callable[[str, int, int], None]]:
    """A progress line on stderr while fitting (a terminal only, not with --quiet): the stage and its count."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]fit[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=core.stderr,
        disable=not core.stderr.is_terminal or core.options["quiet"],
        transient=True,
    )
    task_id = progress.add_task("reading the table", total=1)

    def on_progress(stage: str, done: int, total: int) -> None:
        progress.update(task_id, description=escape(stage), completed=done, total=total)

    return progress, on_progress
