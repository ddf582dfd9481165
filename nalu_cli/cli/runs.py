"""nalu runs, nalu compare, nalu plot, nalu export-tb: what was trained, and how it went."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nalu_cli.cli import core
from nalu_cli.cli.core import SORT_KEYS_HELP, _completer, _parse_floats, detail, emit_json, guarded, note, warn_skipped

app = typer.Typer()  # joined to the root app (cli/__init__.py)


@app.command("runs")
def runs_(
    directory: Annotated[
        Path, typer.Argument(help="Directory of run directories (searched a few levels deep).")
    ] = Path("runs"),
    sort: Annotated[
        str,
        typer.Option(
            "--sort", "-s", help=f"Sort by one of: {SORT_KEYS_HELP}.", autocompletion=_completer(SORT_KEYS_HELP)
        ),
    ] = "name",
    reverse: Annotated[
        bool, typer.Option("--reverse", "-r", help="Reverse the order (broken runs stay last).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
) -> None:
    """List run directories: op, unit, seeds, steps, errors, solved and date, from each checkpoint's stored results.

    Nothing is re-evaluated. Directories that cannot be read are listed as broken, with the reason.

    Examples:

      nalu runs

      nalu runs experiments/ --sort extrap

      nalu runs --sort date --reverse --json
    """

    def body() -> None:
        from nalu_cli.output.reports import runs_report

        report = runs_report(directory, sort, reverse)
        detail(f"found {len(report['runs'])} run directories under {directory}")
        if not report["runs"]:
            note(f"no run directories in {str(directory)!r}")
        if as_json:
            emit_json(report)
        else:
            from nalu_cli.output.tables import runs_table

            core.stdout.print(runs_table(report))

    guarded(body)


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run directories (or checkpoint files).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")] = False,
) -> None:
    """Compare runs side by side: the config keys that differ, then each run's stored results.

    Examples:

      nalu compare runs/mul-nmu-s0 runs/mul-nalu-s0

      nalu compare runs/add-* --json
    """

    def body() -> None:
        from nalu_cli.output.reports import compare_report

        report = compare_report(list(runs))
        warn_skipped(report["skipped"])
        if as_json:
            emit_json(report)
        else:
            from nalu_cli.output.tables import compare_table

            core.stdout.print(compare_table(report))

    guarded(body)


@app.command()
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (or checkpoint files) to draw, overlaid.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Image file to write: .png, .svg or .pdf.")] = Path(
        "nalu-plot.png"
    ),
    factors: Annotated[
        str | None,
        typer.Option(
            help="Scale factors of the training range for the error curve (default: 4 per decade across the run's ladder)."
        ),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option(help="Samples per factor (default: the run's eval samples, at most 2000).", min=1, max=10_000_000),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            help="Error on the extrapolation panel: mse, mae or rel_err.",
            autocompletion=_completer("mse, mae, rel_err"),
        ),
    ] = "mse",
    as_json: Annotated[bool, typer.Option("--json", help="Also print the plotted data as one JSON document.")] = False,
) -> None:
    """Draw training curves and error against input magnitude (log axes) for one or more runs.

    Needs matplotlib: pip install 'nalu\\[plot]' (from a source checkout: pip install -e '.\\[plot]').

    Examples:

      nalu plot runs/mul-nmu-s0 --out mul.png

      nalu plot runs/mul-nmu-s0 runs/mul-nalu-s0 --out compare.svg --factors 1,3,10,30,100
    """

    def body() -> None:
        from nalu_cli.output.plot import check_output, import_pyplot, save_figure
        from nalu_cli.output.reports import plot_report

        check_output(out)
        import_pyplot()  # fail before the evaluation when matplotlib is missing
        report = plot_report(list(runs), _parse_floats(factors, "--factors"), samples, metric)
        warn_skipped(report["skipped"])
        for r in report["runs"]:
            detail(f"{r['run']}: {len(r['history'])} log lines, {len(r['ladder'])} factors × {r['samples']} samples")
        save_figure(report, out)
        report["out"] = str(out)
        if as_json:
            emit_json(report)
        else:
            from nalu_cli.output.render import plot_summary

            core.stdout.print(plot_summary(report, str(out)), soft_wrap=True)

    guarded(body)


@app.command("export-tb")
def export_tb(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (or checkpoint files) to export.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Directory for the logs: one sub-directory per run (default: RUN/tensorboard)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of text.")] = False,
) -> None:
    """Export runs' metrics logs as TensorBoard scalars (median over seeds and each seed's curve).

    Writing needs nothing extra; viewing needs TensorBoard: pip install 'nalu\\[tb]' (from a source checkout: pip install -e '.\\[tb]').

    Exporting again replaces the files.

    Examples:

      nalu export-tb runs/mul-nmu-s0 && tensorboard --logdir runs/mul-nmu-s0/tensorboard

      nalu export-tb runs/* --out tb && tensorboard --logdir tb
    """

    def body() -> None:
        from nalu_cli.output.reports import each_run
        from nalu_cli.runs.run import Run
        from nalu_cli.runs.tbexport import export_run

        def one(run: Path) -> dict[str, Any]:
            run_dir = Run.open(run).path
            return export_run(run, out / run_dir.name if out is not None else run_dir / "tensorboard")

        done, skipped = each_run(list(runs), one)
        exports = [e for _, e in done]
        for e in exports:
            for f in e["files"]:
                detail(f"wrote {f['path']} ({f['points']} points)")
        warn_skipped(skipped)
        report = {"command": "export-tb", "exports": exports, "skipped": skipped}
        if as_json:
            emit_json(report)
        else:
            for e in exports:
                line = f"{e['run']} → {e['out']} ({len(e['files'])} curves, {e['steps']} log lines)"
                core.stdout.print(line, highlight=False, soft_wrap=True)
            logdir = out if out is not None else (exports[0]["out"] if len(exports) == 1 else "<run>/tensorboard")
            note(f"view with: tensorboard --logdir {logdir}")

    guarded(body)
