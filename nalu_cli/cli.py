"""The ``nalu`` command line: a thin Typer layer over the library.

Each command parses its options, calls the library, renders the result (tables to stdout, progress and
messages to stderr, or one JSON document to stdout with ``--json``) and maps failures to exit codes:
0 ok, 1 runtime failure, 2 usage or config error, 3 ``--check`` found an unsolved seed, 130/143 interrupted
by SIGINT/SIGTERM.
torch is imported inside the commands so ``nalu --help`` answers at once.
"""

from __future__ import annotations

import difflib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

OPS_HELP = "add, sub, mul, div, square, sqrt, identity"
UNITS_HELP = "nac_add, nac_mul, nalu, nau, nmu, inalu, npu, realnpu, mlp"
PRESETS_HELP = "madsen2020, trask2018, trask2018_fig1"  # config.PRESETS (no torch import here)
SORT_KEYS_HELP = "name, date, op, unit, steps, interp, extrap, solved"  # runs.SORT_KEYS (no torch import here)


def _completer(names: str) -> Callable[[str], list[str]]:
    """Shell completion for an option whose values are the comma-separated ``names``."""
    choices = [n.strip() for n in names.split(",")]
    return lambda incomplete: [c for c in choices if c.startswith(incomplete)]


GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def _error_types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Click's usage-error and abort classes: from click, and from the copy typer >= 0.29 vendors."""
    usage: list[type[BaseException]] = []
    aborts: list[type[BaseException]] = [typer.Abort]
    with suppress(ImportError):
        import click

        usage.append(click.ClickException)
        aborts.append(click.Abort)
    base = getattr(getattr(typer, "exceptions", None), "TyperException", None)
    if isinstance(base, type):  # typer >= 0.29: ClickException derives from it (Exit and Abort do not)
        usage.append(base)
    return tuple(usage), tuple(aborts)


_USAGE_ERRORS, _ABORTS = _error_types()


def _without_flag_metavars(params: list[Any]) -> list[Any]:
    """Flags (``--json``, ``--force``, ``--help``) take no value: show none in the help, not typer's ``<bool>``."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class SuggestingGroup(TyperGroup):
    """The root command group.

    Unknown commands get one line, ``Error: no command 'trian'; did you mean 'train'?``, and exit 2.
    The global flags (``--quiet``, ``--verbose``) may also follow the command (``nalu train -q``).
    """

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command: Any = super().get_command(ctx, cmd_name)
        if command is not None and not hasattr(command, "_nalu_params"):
            original = command.get_params  # the help option is made per context: wrap the getter
            command._nalu_params = original
            command.get_params = lambda c: _without_flag_metavars(original(c))
        return command

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_flag_metavars(super().get_params(ctx))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in GLOBAL_FLAGS]
        rest = [a for a in args[:end] if a not in GLOBAL_FLAGS] + args[end:]
        return super().parse_args(ctx, flags + rest)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Usage errors as one ``Error:`` line (plus where to find help), not a multi-line panel."""
        if not kwargs.pop("standalone_mode", True):
            return super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[misc]
        except _USAGE_ERRORS as err:
            failure: Any = err
            if type(err).__name__ != "NoArgsIsHelpError":  # that one has already printed the help
                message = " ".join(str(failure.format_message()).split())
                ctx = getattr(err, "ctx", None)
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                errors.print(
                    f"[bold red]Error:[/] {escape(message)}{hint}", markup=True, highlight=False, soft_wrap=True
                )
            sys.exit(failure.exit_code)
        except _ABORTS:
            errors.print("[bold red]Error:[/] aborted", markup=True, highlight=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if (
            args
            and not ctx.resilient_parsing
            and not args[0].startswith("-")
            and self.get_command(ctx, args[0]) is None
        ):
            commands = self.list_commands(ctx)
            match = difflib.get_close_matches(args[0], commands, n=1, cutoff=0.6)
            hint = f"; did you mean {match[0]!r}?" if match else f" (commands: {', '.join(commands)})"
            fail(f"no command {args[0]!r}{hint}", 2)
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="nalu",
    cls=SuggestingGroup,
    help=(
        "Teach neural networks arithmetic that extrapolates (NAC, NALU, NAU, NMU, ...).\n\n"
        "Example:  nalu train --op mul --out runs/mul  then  nalu extrapolate runs/mul\n\n"
        "Exit codes: 0 ok, 1 runtime failure (or every seed diverged), 2 usage or config error,"
        " 3 --check found an unsolved seed, 130/143 interrupted."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _console(err: bool) -> Console:
    console = Console(stderr=err)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 120  # pipes and files get wide tables rather than rich's 80-column default
    return console


stdout = _console(False)
stderr = _console(True)  # progress, notes, warnings: silenced by --quiet
errors = _console(True)  # "Error: ..." lines: never silenced

T = TypeVar("T")

# Global options (set by the app callback on every invocation).
options: dict[str, bool] = {"quiet": False, "verbose": False}


def fail(message: str, code: int) -> NoReturn:
    errors.print(f"[bold red]Error:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def note(message: str) -> None:
    """A message for the person at the terminal (stderr); --quiet silences it."""
    stderr.print(message, highlight=False, soft_wrap=True)


def detail(message: str) -> None:
    """Extra detail (stderr), shown only with --verbose."""
    if options["verbose"]:
        stderr.print(message, style="dim", highlight=False, soft_wrap=True)


def show_text_plots() -> bool:
    """Text plots go to an interactive, unicode-capable stdout only, and not with --quiet."""
    return stdout.is_terminal and not options["quiet"] and stdout.encoding.lower().startswith("utf")


@app.callback()
def global_options(
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only results and errors: no progress, notes or warnings.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="More detail on stderr: the resolved config, files read and written."),
    ] = False,
) -> None:
    """Global options; colours follow the terminal (none when piped or when NO_COLOR is set)."""
    if quiet and verbose:
        fail("--quiet and --verbose contradict each other; give one", 2)
    options["quiet"], options["verbose"] = quiet, verbose
    stderr.quiet = quiet


def guarded(fn: Callable[[], T]) -> T:
    """Run a command body, turning library exceptions into one-line errors and exit codes."""
    from nalu_cli.errors import ConfigError, NaluError

    try:
        return fn()
    except typer.Exit:
        raise
    except ConfigError as err:
        fail(str(err), 2)
    except NaluError as err:
        fail(str(err), 1)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except OSError as err:  # a file the user named or a disk the user filled: say which and why
        if os.environ.get("NALU_DEBUG"):
            raise
        from nalu_cli.files import describe_os_error

        fail(describe_os_error(err, "access"), 1)
    except (MemoryError, RuntimeError) as err:
        from nalu_cli.budget import allocation_failure

        failure = allocation_failure(err, "this command")
        if failure is None:
            _internal(err)
        fail(str(failure), 1)
    except Exception as err:  # never a traceback for the user; NALU_DEBUG=1 shows it
        _internal(err)


def _internal(err: BaseException) -> NoReturn:
    if os.environ.get("NALU_DEBUG"):
        raise err
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    fail(f"internal error: {type(err).__name__}: {first} (set NALU_DEBUG=1 for the traceback)", 1)


def warn_skipped(skipped: list[dict[str, str]]) -> None:
    """One warning line per run a multi-run command could not read and left out."""
    for item in skipped:
        stderr.print(
            f"[yellow]Warning:[/] skipped {escape(item['run'])}: {escape(item['error'])}",
            highlight=False,
            soft_wrap=True,
        )


DEVICE_HELP = "Device: auto, cpu, cuda or cuda:N (one that is not there is an error, exit 2)"
CHECK_HELP = "Exit 3 unless every seed is solved{} (for scripts: nalu ... --check && deploy)."


def exit_with_outcome(report: dict[str, Any], check: bool, requested: str, chosen: str) -> None:
    """After the output: say which device was used (-v), then exit 1 / 3 when the run failed / --check failed."""
    from nalu_cli.reports import outcome
    from nalu_cli.train import device_note

    detail(device_note(requested, chosen))
    code, message = outcome(report, check)
    if code:
        fail(message or "failed", code)


def emit_json(report: dict[str, Any]) -> None:
    from nalu_cli.render import json_safe

    typer.echo(json.dumps(json_safe(report), indent=2, allow_nan=False))


def _parse_ranges_option(values: list[str] | None) -> list[Any] | None:
    from nalu_cli.errors import ConfigError
    from nalu_cli.tasks import parse_ranges

    if not values:
        return None
    out = []
    for v in values:
        try:
            out.append(parse_ranges(v))
        except ValueError as err:
            raise ConfigError(f"--range {v!r}: {err}") from None
    return out


def _parse_floats(text: str | None, option: str) -> list[float] | None:
    from nalu_cli.errors import ConfigError

    if text is None:
        return None
    try:
        values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(f"{option} {text!r} must be numbers separated by commas, such as 1,10,100") from None
    if not values or any(not (v > 0 and v < float("inf")) for v in values):
        raise ConfigError(f"{option} {text!r} must be positive finite numbers")
    return values


class SecondSignal(KeyboardInterrupt):
    """A second SIGINT/SIGTERM while the first is being handled: leave now, with that signal's exit code."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.code = 130 if signum == signal.SIGINT else 143
        self.name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"


@contextmanager
def interrupt_flag() -> Iterator[dict[str, int]]:
    """SIGINT/SIGTERM set a flag (the trainer saves and stops) instead of killing the process;
    a second one raises ``SecondSignal`` at once."""
    state = {"signal": 0}

    def handler(signum: int, frame: FrameType | None) -> None:
        if state["signal"]:
            # A second signal means "now": leave without waiting (the last checkpoint stays).
            raise SecondSignal(signum)
        state["signal"] = signum

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _training_progress(total: int) -> tuple[Any, Callable[[int, int, float], None]]:
    """A progress bar for training on stderr (terminals only, not with --quiet) and its update callback."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(
        TextColumn("[bold]training[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
        console=stderr,
        disable=not stderr.is_terminal or options["quiet"],
        transient=True,
    )
    task_id = progress.add_task("train", total=total, loss="-")

    def on_progress(step: int, total: int, loss: float) -> None:
        progress.update(task_id, completed=step, loss=f"{loss:.3g}")

    return progress, on_progress


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
        from nalu_cli import config as cfgmod
        from nalu_cli.errors import ConfigError
        from nalu_cli.reports import train_report
        from nalu_cli.run import Run
        from nalu_cli.train import resolve_device
        from nalu_cli.train import train as run_training

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
        overrides |= dict(cfgmod.parse_assignment(item) for item in set_ or [])

        advice_texts: list[str] = []  # printed before training, and listed in the JSON's warnings
        if resume is not None:
            if out is not None or force:
                raise ConfigError("--resume continues the run in its own directory; leave out --out and --force")
            if config is not None or preset is not None:
                raise ConfigError("--resume continues a run with its own config; only --steps and --device may change")
            writer = Run.resume(resume, overrides)
        else:
            file_data = cfgmod.load_yaml(config) if config is not None else None
            new_config = cfgmod.resolve(file_data, overrides, preset)
            resolve_device(new_config.train.device)  # an absent GPU is refused before the run directory exists
            from nalu_cli.recipes import advice

            advised_all = advice(new_config.task.op, new_config.model.units(), new_config.task.mode, preset)
            advice_texts = [a.text for a in advised_all]
            for advised in advised_all:
                label = "[yellow]Warning:[/]" if advised.kind == "warning" else "Note:"
                stderr.print(f"{label} {escape(advised.text)}", soft_wrap=True, highlight=False)
            writer = Run.create(new_config, out, force=force)
        with writer:
            assert writer.config is not None
            resolved, run_dir = writer.config, writer.run.path
            detail(f"resolved config ({'resumed' if resume is not None else 'new run'} in {run_dir}):")
            detail(cfgmod.dump_yaml(resolved).rstrip())

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
                stderr.print(
                    f"Interrupted by a second {second.name}; {kept}",
                    highlight=False,
                    soft_wrap=True,  # a wrapped path could not be copied and pasted
                )
                raise typer.Exit(second.code) from None
        report = train_report(result)
        report["warnings"] = advice_texts + report["warnings"]
        for warning in result.warnings:
            stderr.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)
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
            stderr.print(
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
            from nalu_cli.render import train_summary

            stdout.print(train_summary(report))
            if show_text_plots():
                from nalu_cli.render import train_text_plot

                curve = train_text_plot(writer.run.metrics())
                if curve is not None:
                    stdout.print(curve)
        for path in (writer.run.config_path, writer.run.checkpoint_path, writer.run.metrics_path):
            detail(f"wrote {path}")
        exit_with_outcome(report, check, result.config.train.device, result.device)

    guarded(body)


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
        from nalu_cli.render import eval_table
        from nalu_cli.reports import eval_report

        if data is not None:
            from nalu_cli.fit import eval_fit
            from nalu_cli.render import fit_eval_view

            if range_:
                fail("--data and --range cannot be combined: a fit run is evaluated on a table", 2)
            fit_report = eval_fit(run, data)
            if as_json:
                emit_json(fit_report)
            else:
                stdout.print(fit_eval_view(fit_report))
            return
        report = eval_report(run, _parse_ranges_option(range_), samples, device)
        if as_json:
            emit_json(report)
        else:
            stdout.print(eval_table(report, f"nalu eval · {report['describe']} · step {report['step']}"))
        exit_with_outcome(report, check, device, report["device"])

    guarded(body)


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
        from nalu_cli.fit import FIT_JSON
        from nalu_cli.fit import fit as run_fit
        from nalu_cli.render import fit_view

        units = [u.strip() for u in unit.split(",") if u.strip()] if unit is not None else None
        try:
            widths = [int(h) for h in hidden.split(",") if h.strip()] if hidden is not None else None
        except ValueError:
            raise ConfigError(f"--hidden {hidden!r} must be integers separated by commas, such as 2") from None
        if widths is not None and units is None:
            raise ConfigError("--hidden needs --unit (without it the ladder of stacks is tried)")
        if units is not None:
            from nalu_cli.config import validate

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
            stderr.print(f"[yellow]Warning:[/] {escape(warning)}", soft_wrap=True)
        if as_json:
            emit_json(report)
        else:
            stdout.print(fit_view(report))
            stdout.print(f"run saved to {run_dir}; evaluate on another table with: nalu eval {run_dir} --data FILE.csv")

    guarded(body)


def _default_fit_dir(target: str) -> Path:
    import re

    base = Path("runs") / ("fit-" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("_") or "target"))
    candidate, n = base, 1
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return candidate


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
        from nalu_cli.render import extrapolate_view
        from nalu_cli.reports import extrapolate_report

        report = extrapolate_report(run, _parse_floats(factors, "--factors"), samples, device)
        detail(f"evaluated {run} at step {report['step']} on {report['samples']} samples per range")
        if as_json:
            emit_json(report)
        else:
            stdout.print(extrapolate_view(report))
            if show_text_plots():
                from nalu_cli.render import extrapolate_text_plot

                curve = extrapolate_text_plot(report)
                if curve is not None:
                    stdout.print(curve)
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
        from nalu_cli.render import inspect_view
        from nalu_cli.reports import inspect_report

        report = inspect_report(run, raw=raw, seeds=seed)
        if as_json:
            emit_json(report)
        else:
            stdout.print(inspect_view(report, full))

    guarded(body)


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
        from nalu_cli.reports import runs_report

        report = runs_report(directory, sort, reverse)
        detail(f"found {len(report['runs'])} run directories under {directory}")
        if not report["runs"]:
            note(f"no run directories in {str(directory)!r}")
        if as_json:
            emit_json(report)
        else:
            from nalu_cli.render import runs_table

            stdout.print(runs_table(report))

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
        from nalu_cli.reports import compare_report

        report = compare_report(list(runs))
        warn_skipped(report["skipped"])
        if as_json:
            emit_json(report)
        else:
            from nalu_cli.render import compare_table

            stdout.print(compare_table(report))

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
        from nalu_cli.plot import check_output, import_pyplot, save_figure
        from nalu_cli.reports import plot_report

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
            from nalu_cli.render import plot_summary

            stdout.print(plot_summary(report, str(out)), soft_wrap=True)

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
        from nalu_cli.reports import each_run
        from nalu_cli.run import Run
        from nalu_cli.tbexport import export_run

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
                stdout.print(line, highlight=False, soft_wrap=True)
            logdir = out if out is not None else (exports[0]["out"] if len(exports) == 1 else "<run>/tensorboard")
            note(f"view with: tensorboard --logdir {logdir}")

    guarded(body)


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
        from nalu_cli import config as cfgmod
        from nalu_cli.benchmark import default_grid, parse_range_sets, preset_for, run_benchmark, to_csv
        from nalu_cli.files import atomic_write_bytes
        from nalu_cli.render import benchmark_table

        extra: dict[str, Any] = {}
        for item in set_ or []:
            key, value = cfgmod.parse_assignment(item)
            extra[key] = value
        progress_line = stderr.is_terminal

        def on_cell(i: int, total: int, cell: Any) -> None:
            if progress_line:
                stderr.print(f"[dim]cell {i + 1}/{total}: {cell.op} · {cell.unit} {cell.interpolation}[/]")

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
            stdout.print(benchmark_table(rows, chosen, mode=mode if isinstance(mode, str) else None))

    guarded(body)


EXECUTORS_HELP = "local, ray"


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

        from nalu_cli import sweep as sweepmod

        spec = sweepmod.load_grid(grid)
        sweep_dir = out if out is not None else Path("sweeps") / grid.stem
        runner: sweepmod.Executor
        if executor == "ray":
            from nalu_cli.sweep_ray import RayExecutor, import_ray

            import_ray()  # fail before anything else when Ray is missing
            runner = RayExecutor(address, retries=retries, workers=workers)
        else:
            runner = sweepmod.LocalExecutor(workers, retries=retries)
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
            console=stderr,
            disable=not stderr.is_terminal or options["quiet"],
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
            from nalu_cli.render import benchmark_table

            if report["cells"]:
                stdout.print(benchmark_table(report["cells"], spec.preset, command="sweep"))
        t = report["tasks"]
        note(
            f"{t['total']} tasks: {t['cached']} done earlier, {t['trained']} trained now, {t['failed']} failed"
            f" · results in {sweep_dir / sweepmod.RESULTS_CSV}"
        )
        for cell in report["incomplete"]:
            note(f"incomplete: {cell}")
        if report["failures"]:
            for f in report["failures"]:
                errors.print(
                    f"[red]failed:[/] {escape(f['task'])}: {escape(f['error'])}", highlight=False, soft_wrap=True
                )
            n = len(report["failures"])
            fail(f"{n} of {t['total']} tasks failed (listed above); run the same command again to retry only those", 1)

    guarded(body)


def _tolerate_narrow_encodings() -> None:
    """With PYTHONIOENCODING=ascii (or a latin-1 terminal) characters like · and → print as ? instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if not encoding.startswith("utf") and hasattr(stream, "reconfigure"):
            with suppress(Exception):
                stream.reconfigure(errors="replace")


def main() -> None:
    """Console-script entry point."""
    _tolerate_narrow_encodings()
    try:
        app()
    except KeyboardInterrupt:
        stderr.print("[bold red]Error:[/] interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
