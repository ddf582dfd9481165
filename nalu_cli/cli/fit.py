"""nalu fit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
        from nalu_cli.errors import ConfigError
        from nalu_cli.fit.driver import fit as run_fit
        from nalu_cli.output.render import fit_view
        from nalu_cli.runs.run import FIT_JSON

        units = [u.strip() for u in unit.split(",") if u.strip()] if unit is not None else None
        try:
            widths = [int(h) for h in hidden.split(",") if h.strip()] if hidden is not None else None
        except ValueError:
            raise ConfigError(f"--hidden {hidden!r} must be integers separated by commas, such as 2") from None
        if widths is not None and units is None:
            raise ConfigError("--hidden needs --unit (without it the ladder of stacks is tried)")
        if units is not None:
            from nalu_cli.config.resolve import validate

            model = {"unit": units if len(units) > 1 else units[0], "hidden": widths or []}
            units = validate({"model": model}).model.units()  # ConfigError names a bad unit or layer count
        run_dir = out if out is not None else _default_fit_dir(target)
        if out is not None and (run_dir / FIT_JSON).exists() and not force:
            raise ConfigError(f"{str(run_dir)!r} already holds a fit; overwrite it with --force")
        names = [c.strip() for c in inputs.split(",") if c.strip()] if inputs is not None else None
        report = run_fit(
            data, target, inputs=names, test=test, holdout=holdout, units=units, hidden=widths,
            members=members, steps=steps, seed=seed, out=run_dir,
        )  # fmt: skip
        for warning in report["warnings"]:
            core.stderr.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)
        if as_json:
            emit_json(report)
        else:
            core.stdout.print(fit_view(report))
            core.stdout.print(
                f"run saved to {run_dir}; evaluate on another table with: nalu eval {run_dir} --data FILE.csv"
            )

    guarded(body)


def _default_fit_dir(target: str) -> Path:
    import re

    base = Path("runs") / ("fit-" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("_") or "target"))
    candidate, n = base, 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return candidate
