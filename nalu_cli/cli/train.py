"""nalu train."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from nalu_cli.cli import core
from nalu_cli.cli.core import (
    CHECK_HELP,
    DEVICE_HELP,
    OPS_HELP,
    PRESETS_HELP,
    UNITS_HELP,
    SecondSignal,
    TrainingSession,
    _completer,
    detail,
    emit_json,
    exit_with,
    guarded,
    show_text_plots,
)
from nalu_cli.tasks.registry import kinds_help

if TYPE_CHECKING:
    from nalu_cli.config.recipes import Advice

app = typer.Typer()  # joined to the root app (cli/__init__.py)


@app.command()
def train(
    op: Annotated[
        str | None,
        typer.Option(
            "--op",
            help=f"Operation to learn: {OPS_HELP}, or an expression over x0, x1, … such as '(x0 + x1) * x2'.",
            autocompletion=_completer(OPS_HELP),
        ),
    ] = None,
    unit: Annotated[
        str | None,
        typer.Option(
            "--unit",
            "--model",
            help=f"Unit for every layer, or per layer joined by commas ({UNITS_HELP}).",
            autocompletion=_completer(UNITS_HELP),
        ),
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option(
            help=f"Input mode: {escape(kinds_help())}.",
        ),
    ] = None,
    hidden: Annotated[
        str | None, typer.Option(help="Hidden layer sizes, e.g. 2 or 2,2 (empty string: one layer).")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Training steps.")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (data, initialisation).")] = None,
    seeds: Annotated[
        str | None,
        typer.Option(
            help="Train several seeds at once, batched: N (seeds 0..N-1), A-B, a,b,c, or ranges and seeds mixed (0-9,20)."
        ),
    ] = None,
    restarts: Annotated[
        int | None, typer.Option(help="Train K restarts per seed and keep the best by interpolation validation error.")
    ] = None,
    interpolation: Annotated[
        str | None,
        typer.Option("--interpolation", help="Training range LO,HI (union: 'A,B;C,D'); also --train-range."),
    ] = None,
    extrapolation: Annotated[
        str | None, typer.Option("--extrapolation", help="Extrapolation (test) range LO,HI; also --test-range.")
    ] = None,
    train_range: Annotated[str | None, typer.Option("--train-range", hidden=True)] = None,
    test_range: Annotated[str | None, typer.Option("--test-range", hidden=True)] = None,
    device: Annotated[str | None, typer.Option(help=DEVICE_HELP + " (default auto: cuda when available).")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file; flags override it.")] = None,
    preset: Annotated[str | None, typer.Option(help=f"Published setup (task and model stack): {PRESETS_HELP}.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any config key, e.g. --set train.regularizer.scale=1.")
    ] = None,
    out: Annotated[str | None, typer.Option("--out", "-o", help="Run directory (default runs/OP-UNIT-sSEED).")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue an interrupted run: its directory (or the checkpoint.pt in it).")
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace the run in --out (swapped in whole at the new run's first checkpoint).")
    ] = False,
    checkpoint_every: Annotated[int, typer.Option(help="Save a resumable checkpoint every N steps.", min=1)] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
    check: Annotated[bool, typer.Option("--check", help=CHECK_HELP.format(""))] = False,
) -> None:
    """Train a model on an arithmetic task and report whether it extrapolates.

    Exit code 1 when every seed diverged; with --check, 3 when not every seed is solved.

    Examples:

      nalu train --op mul

      nalu train --op mul --out runs/mul --check && echo solved

      nalu train --op div --seeds 10 --json

      nalu train --config sample_configs/static_add.yaml --steps 5000

      nalu train --resume runs/mul-nmu-s0
    """

    def body() -> None:
        from nalu_cli.output.render import train_summary, train_text_plot
        from nalu_cli.training.job import TrainJob

        interpolation_ = _one_of("--interpolation", interpolation, "--train-range", train_range)
        extrapolation_ = _one_of("--extrapolation", extrapolation, "--test-range", test_range)

        job = TrainJob(
            op=op, unit=unit, mode=mode, hidden=hidden, steps=steps, lr=lr, batch_size=batch_size, seed=seed,
            seeds=seeds, restarts=restarts, interpolation=interpolation_, extrapolation=extrapolation_,
            device=device, config=config, preset=preset, overrides=set_ or [], out=out, resume=resume,
            force=force, checkpoint_every=checkpoint_every, check=check,
        )  # fmt: skip
        session = TrainingSession(resumed=resume is not None)
        try:
            done = job.run(
                progress=session.progress,
                should_stop=session.should_stop,
                on_note=_print_advice,
                around_training=session.around,
            )
        except SecondSignal as second:
            session.second_signal(second)
        for warning in done.result.warnings:
            core.warn(warning)
        if done.interrupted:
            code = session.interrupted(done.stopped)
            if as_json:
                emit_json(done.report)
            raise typer.Exit(code)
        if as_json:
            emit_json(done.report)
        else:
            core.stdout.print(train_summary(done.report))
            curve = train_text_plot(done.run.metrics()) if show_text_plots() else None
            if curve is not None:
                core.stdout.print(curve)
        for path in done.files():
            detail(f"wrote {path}")
        exit_with(done.exit_code, done.message, done.result.config.train.device, done.result.device)

    guarded(body)


def _one_of(name: str, value: str | None, alias: str, alias_value: str | None) -> str | None:
    """An option given under its name or its (hidden) alias; both at once is a usage error."""
    from nalu_cli.errors import ConfigError

    if value is not None and alias_value is not None:
        raise ConfigError(f"{name} and {alias} are one option; give it once")
    return value if value is not None else alias_value


def _print_advice(advised: Advice) -> None:
    """A warning or note about the stack, before training."""
    core.warn(advised.text, "[yellow]Warning:[/]" if advised.kind == "warning" else "Note:")
