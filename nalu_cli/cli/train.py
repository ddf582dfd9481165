"""nalu train."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

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
    _completer,
    _training_progress,
    detail,
    emit_json,
    exit_with_outcome,
    guarded,
    interrupt_flag,
    show_text_plots,
)

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
            help="Input mode: pair (x0, x1), static (sums of subsets of x), recurrent (sums over a sequence of x_t) or digits (sums/products/counts of digit images; needs nalu[digits]).",
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
        str | None, typer.Option(help="Train several seeds at once, batched: N (seeds 0..N-1), A-B, or a,b,c.")
    ] = None,
    restarts: Annotated[
        int | None, typer.Option(help="Train K restarts per seed and keep the best by interpolation validation error.")
    ] = None,
    interpolation: Annotated[
        str | None, typer.Option("--interpolation", "--train-range", help="Training range LO,HI (union: 'A,B;C,D').")
    ] = None,
    extrapolation: Annotated[
        str | None, typer.Option("--extrapolation", "--test-range", help="Extrapolation (test) range LO,HI.")
    ] = None,
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
        from nalu_cli.config import loading
        from nalu_cli.config import resolve as config_resolve
        from nalu_cli.config import schema as cfgmod
        from nalu_cli.errors import ConfigError
        from nalu_cli.output.reports import train_report
        from nalu_cli.runs.run import Run
        from nalu_cli.training.build import resolve_device
        from nalu_cli.training.loop import train as run_training

        flags: dict[str, Any] = {
            "task.op": op,
            "task.mode": mode,
            "train.steps": steps,
            "train.lr": lr,
            "train.batch_size": batch_size,
            "train.seed": seed,
            "train.restarts": restarts,
            "train.device": device,
            "task.interpolation": interpolation,
            "task.extrapolation": extrapolation,
        }
        overrides = {k: v for k, v in flags.items() if v is not None}
        if unit is not None:
            units = [u.strip() for u in unit.split(",") if u.strip()]
            overrides["model.unit"] = units[0] if len(units) == 1 else units
        if hidden is not None:
            overrides["model.hidden"] = cfgmod.hidden_option(hidden)
        if seeds is not None:
            overrides["train.seeds"] = cfgmod.seeds_option(seeds, seed or 0)
        overrides |= dict(loading.parse_assignment(item) for item in set_ or [])

        advice_texts: list[str] = []  # printed before training, and listed in the JSON's warnings
        if resume is not None:
            if out is not None or force:
                raise ConfigError("--resume continues the run in its own directory; leave out --out and --force")
            if config is not None or preset is not None:
                raise ConfigError("--resume continues a run with its own config; only --steps and --device may change")
            writer = Run.resume(resume, overrides)
        else:
            file_data = loading.load_yaml(config) if config is not None else None
            new_config = config_resolve.resolve(file_data, overrides, preset)
            resolve_device(new_config.train.device)  # an absent GPU is refused before the run directory exists
            from nalu_cli.config.recipes import advice

            advised_all = advice(new_config.task.op, new_config.model.units(), new_config.task.mode, preset)
            advice_texts = [a.text for a in advised_all]
            for advised in advised_all:
                label = "[yellow]Warning:[/]" if advised.kind == "warning" else "Note:"
                core.stderr.print(f"{label} {escape(advised.text)}", soft_wrap=True, highlight=False)
            writer = Run.create(new_config, out, force=force)
        with writer:
            assert writer.config is not None
            resolved, run_dir = writer.config, writer.run.path
            detail(f"resolved config ({'resumed' if resume is not None else 'new run'} in {run_dir}):")
            detail(config_resolve.dump_yaml(resolved).rstrip())

            progress, on_progress = _training_progress(resolved.train.steps)
            try:
                with progress, interrupt_flag() as interrupted:
                    result = run_training(
                        resolved,
                        writer,
                        progress=on_progress,
                        should_stop=lambda: bool(interrupted["signal"]),
                        checkpoint_every=checkpoint_every,
                    )
            except SecondSignal as second:
                kept = (
                    f"the last checkpoint saved is kept. Resume with: nalu train --resume {run_dir}"
                    if writer.run.checkpoint_path.exists()
                    else "no checkpoint had been saved yet"
                )
                core.stderr.print(
                    f"Interrupted by a second {second.name}; {kept}",
                    highlight=False,
                    soft_wrap=True,  # a wrapped path could not be copied and pasted
                )
                raise typer.Exit(second.code) from None
        report = train_report(result)
        report["warnings"] = advice_texts + report["warnings"]
        for warning in result.warnings:
            core.stderr.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)
        if result.interrupted or interrupted["signal"]:
            # interrupted["signal"] without result.interrupted: the signal came after the last step, during the
            # final evaluation, which finished and was saved; the signal still ends the command with its code
            code = 130 if interrupted["signal"] == signal.SIGINT else 143
            name = "SIGINT" if code == 130 else "SIGTERM"
            where = (
                f"at step {result.step}; checkpoint saved. Resume with: nalu train --resume {run_dir}"
                if result.interrupted
                else f"during the final evaluation; the run is complete and saved in {run_dir}"
            )
            core.stderr.print(
                f"Interrupted by {name} {where}",
                highlight=False,
                soft_wrap=True,  # a wrapped path could not be copied and pasted
            )
            if as_json:
                emit_json(report)
            raise typer.Exit(code)
        if as_json:
            emit_json(report)
        else:
            from nalu_cli.output.render import train_summary

            core.stdout.print(train_summary(report))
            if show_text_plots():
                from nalu_cli.output.render import train_text_plot

                curve = train_text_plot(writer.run.metrics())
                if curve is not None:
                    core.stdout.print(curve)
        for path in (writer.run.config_path, writer.run.checkpoint_path, writer.run.metrics_path):
            detail(f"wrote {path}")
        exit_with_outcome(report, check, result.config.train.device, result.device)

    guarded(body)
