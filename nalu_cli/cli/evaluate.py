"""nalu eval, nalu extrapolate, nalu inspect-weights: evaluate and read a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nalu_cli.cli import core
from nalu_cli.cli.core import (
    CHECK_HELP,
    DEVICE_HELP,
    _parse_floats,
    _parse_ranges_option,
    detail,
    emit_json,
    exit_with_outcome,
    fail,
    guarded,
    show_text_plots,
)

app = typer.Typer()  # joined to the root app (cli/__init__.py)


@app.command("eval")
def eval_(
    run: Annotated[Path, typer.Argument(help="Run directory or checkpoint file.")],
    range_: Annotated[
        list[str] | None,
        typer.Option("--range", "-r", help="Range LO,HI to evaluate on (repeatable; union: 'A,B;C,D')."),
    ] = None,
    samples: Annotated[
        int | None, typer.Option(help="Samples per range (default from the run's config).", min=1, max=10_000_000)
    ] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP + ".")] = "cpu",
    data: Annotated[
        Path | None, typer.Option(help="A CSV table to evaluate a run made by nalu fit on (same columns).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
    check: Annotated[bool, typer.Option("--check", help=CHECK_HELP.format(" on every range"))] = False,
) -> None:
    """Evaluate a checkpoint: MSE, MAE, relative error and solved flag per range.

    Without --range it evaluates the run's own interpolation and extrapolation ranges.
    With --check the exit code is 3 unless every seed is solved on every range.

    Examples:

      nalu eval runs/mul-nmu-s0

      nalu eval runs/mul-nmu-s0 --range 10,100 --range 100,1000 --json

      nalu eval runs/fit-total --data more_orders.csv
    """

    def body() -> None:
        from nalu_cli.output.render import eval_table
        from nalu_cli.output.reports import eval_report

        if data is not None:
            from nalu_cli.fit.driver import eval_fit
            from nalu_cli.output.render import fit_eval_view

            if range_:
                fail("--data and --range cannot be combined: a fit run is evaluated on a table", 2)
            fit_report = eval_fit(run, data)
            if as_json:
                emit_json(fit_report)
            else:
                core.stdout.print(fit_eval_view(fit_report))
            return
        report = eval_report(run, _parse_ranges_option(range_), samples, device)
        if as_json:
            emit_json(report)
        else:
            core.stdout.print(eval_table(report, f"nalu eval · {report['describe']} · step {report['step']}"))
        exit_with_outcome(report, check, device, report["device"])

    guarded(body)


@app.command()
def extrapolate(
    run: Annotated[Path, typer.Argument(help="Run directory or checkpoint file.")],
    factors: Annotated[
        str | None, typer.Option(help="Scale factors of the training range, e.g. 1,10,100,1000 (default from config).")
    ] = None,
    samples: Annotated[int | None, typer.Option(help="Samples per range.", min=1, max=10_000_000)] = None,
    device: Annotated[str, typer.Option(help=DEVICE_HELP + ".")] = "cpu",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
    check: Annotated[bool, typer.Option("--check", help=CHECK_HELP.format(" at every factor"))] = False,
) -> None:
    """Show how the error grows as inputs move away from the training range (×1, ×10, ×100, ×1000).

    With --check the exit code is 3 unless every seed is solved at every factor.

    Examples:

      nalu extrapolate runs/mul-nmu-s0

      nalu extrapolate runs/mul-nmu-s0 --factors 1,10,1e4 --json
    """

    def body() -> None:
        from nalu_cli.output.render import extrapolate_view
        from nalu_cli.output.reports import extrapolate_report

        report = extrapolate_report(run, _parse_floats(factors, "--factors"), samples, device)
        detail(f"evaluated {run} at step {report['step']} on {report['samples']} samples per range")
        if as_json:
            emit_json(report)
        else:
            core.stdout.print(extrapolate_view(report))
            if show_text_plots():
                from nalu_cli.output.render import extrapolate_text_plot

                curve = extrapolate_text_plot(report)
                if curve is not None:
                    core.stdout.print(curve)
        exit_with_outcome(report, check, device, report["device"])

    guarded(body)


@app.command("inspect-weights")
def inspect_weights(
    run: Annotated[Path, typer.Argument(help="Run directory or checkpoint file.")],
    raw: Annotated[bool, typer.Option(help="Also show the raw parameters (Ŵ, M̂, G, ...).")] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Every value of wide matrices (as tables of the columns that fit).")
    ] = False,
    seed: Annotated[list[int] | None, typer.Option(help="Only these seeds of a multi-seed run (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    """Show the learned weight and gate matrices and the formula they encode.

    Values near +1, -1 and 0 are marked; the formula (e.g. y = x0 * x1) is read when the weights are
    near-discrete, otherwise the readout says which weight is not. A matrix wider than the terminal is
    shown grouped (x3..x27: +1.000, others: 0) unless --full; --json always has every value.

    Examples:

      nalu inspect-weights runs/mul-nmu-s0

      nalu inspect-weights runs/div-realnpu-s0 --raw --json
    """

    def body() -> None:
        from nalu_cli.output.reports import inspect_report
        from nalu_cli.output.tables import inspect_view

        report = inspect_report(run, raw=raw, seeds=seed)
        if as_json:
            emit_json(report)
        else:
            core.stdout.print(inspect_view(report, full))

    guarded(body)
