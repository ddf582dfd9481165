"""The command line's shared parts: the root typer app, consoles, error mapping (guarded), interrupts, option parsing."""

from __future__ import annotations

import difflib
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from nalu_cli import names

# Help texts list the names from the one torch-free place that defines them.
OPS_HELP = names.listing(names.OPS)
UNITS_HELP = names.listing(names.UNITS)
PRESETS_HELP = names.listing(names.PRESETS)
SORT_KEYS_HELP = names.listing(names.SORT_KEYS)


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
        if getattr(param, "param_type_name", "") == "argument" and param.name:
            _plain_usage_name(param)
    return params


def _plain_usage_name(param: Any) -> None:
    """An argument as usage lines conventionally show it (``nalu fit [OPTIONS] DATA``, ``RUNS...``, ``[DIR]``):
    typer 0.29 writes ``{data}`` for a required one."""
    if param.metavar is None:
        param.metavar = param.name.upper()
    if hasattr(param, "_usage_display_name"):
        name = param.metavar if param.required else f"[{param.metavar}]"
        param._usage_display_name = lambda: name + ("..." if param.nargs != 1 else "")


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


def _print_version(value: bool) -> None:
    if value:
        from nalu_cli import __version__

        typer.echo(f"nalu {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print nalu's version and exit.", callback=_print_version, is_eager=True),
    ] = False,
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
        from nalu_cli.config.budget import allocation_failure

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


def warn(message: str, label: str = "[yellow]Warning:[/]") -> None:
    """A warning (or with ``label`` 'Note:', a note) on stderr; --quiet silences it. Wrapped at the terminal's
    width (or ``COLUMNS`` when set); piped to a file or a script, one line per warning, so ``grep Warning:``
    finds each whole."""
    wrap = stderr.is_terminal or "COLUMNS" in os.environ
    stderr.print(f"{label} {escape(message)}", highlight=False, soft_wrap=not wrap, overflow="fold")


def warn_skipped(skipped: list[dict[str, str]]) -> None:
    """One warning per run a multi-run command could not read and left out."""
    for item in skipped:
        warn(f"skipped {item['run']}: {item['error']}")


DEVICE_HELP = "Device: auto, cpu, cuda or cuda:N (one that is not there is an error, exit 2)"
CHECK_HELP = "Exit 3 unless every seed is solved{} (for scripts: nalu ... --check && deploy)."


def exit_with_outcome(report: dict[str, Any], check: bool, requested: str, chosen: str) -> None:
    """After the output: say which device was used (-v), then exit 1 / 3 when the run failed / --check failed."""
    from nalu_cli.training.report import outcome

    exit_with(*outcome(report, check), requested, chosen)


def exit_with(code: int, message: str | None, requested: str, chosen: str) -> None:
    """Say which device was used (-v), then exit with ``code`` and its ``Error:`` line unless it is 0."""
    from nalu_cli.training.build import device_note

    detail(device_note(requested, chosen))
    if code:
        fail(message or "failed", code)


def emit_json(report: dict[str, Any]) -> None:
    from nalu_cli.files import json_safe

    typer.echo(json.dumps(json_safe(report), indent=2, allow_nan=False))


def _parse_ranges_option(values: list[str] | None) -> list[Any] | None:
    from nalu_cli.errors import ConfigError
    from nalu_cli.tasks.ops import parse_ranges

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


STOP_NOTES = {
    True: "Stopping ({name}): abandoning the evaluation under way after its current chunk; the run is saved at a"
    " checkpoint it can resume from. {name} again leaves at once.",
    False: "Stopping ({name}) after this training step; a checkpoint is saved. {name} again leaves at once.",
}


@contextmanager
def interrupt_flag(on_first: Callable[[int], None] | None = None) -> Iterator[dict[str, int]]:
    """SIGINT/SIGTERM set a flag (the trainer saves and stops) instead of killing the process, after
    ``on_first(signum)`` (which may raise: ``training.stopping.request_stop`` does inside an evaluation);
    a second one raises ``SecondSignal`` at once."""
    state = {"signal": 0}

    def handler(signum: int, frame: FrameType | None) -> None:
        if state["signal"]:
            # A second signal means "now": leave without waiting (the last checkpoint stays).
            raise SecondSignal(signum)
        state["signal"] = signum
        if on_first is not None:
            on_first(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for s, h in previous.items():
            # After a signal the command is on its way out with that signal's code: one more (an impatient
            # second Ctrl-C) must not raise in the middle of saying so, or during the interpreter's exit.
            signal.signal(s, signal.SIG_IGN if state["signal"] else h)


class TrainingSession:
    """The terminal's side of a training job (``training.job.TrainJob``): around the training loop it shows the
    resolved config (-v) and a progress bar, and turns SIGINT/SIGTERM into stop requests (``interrupt_flag``)."""

    def __init__(self, resumed: bool) -> None:
        self.resumed = resumed
        self.state = {"signal": 0}
        self.run: Any = None  # the run being trained (runs.run.Run), once training starts
        self._update: Callable[[int, int, float], None] | None = None

    @contextmanager
    def around(self, config: Any, run: Any) -> Iterator[None]:
        from nalu_cli.config.resolve import dump_yaml

        self.run = run
        detail(f"resolved config ({'resumed' if self.resumed else 'new run'} in {run.path}):")
        detail(dump_yaml(config).rstrip())
        from nalu_cli.training import stopping

        progress, self._update = _training_progress(config.train.steps)

        def on_first(signum: int) -> None:
            """Say at once what the signal does; inside an evaluation, abandon it (this raises there)."""
            name = "SIGINT" if signum == signal.SIGINT else "SIGTERM"
            stderr.print(STOP_NOTES[stopping.in_evaluation()].format(name=name), highlight=False, soft_wrap=True)
            stopping.request_stop()

        stopping.reset()
        try:
            with progress, interrupt_flag(on_first) as self.state:
                yield
        finally:
            stopping.reset()

    def progress(self, step: int, total: int, loss: float) -> None:
        if self._update is not None:
            self._update(step, total, loss)

    def should_stop(self) -> bool:
        return bool(self.state["signal"])

    def second_signal(self, second: SecondSignal) -> NoReturn:
        """A second signal left training at once: say what was kept and exit with that signal's code."""
        kept = (
            f"the last checkpoint saved is kept. Resume with: nalu train --resume {self.run.path}"
            if self.run is not None and self.run.checkpoint_path.exists()
            else "no checkpoint had been saved yet"
        )
        stderr.print(
            f"Interrupted by a second {second.name}; {kept}",
            highlight=False,
            soft_wrap=True,  # a wrapped path could not be copied and pasted
        )
        raise typer.Exit(second.code) from None

    def interrupted(self, where: str | None) -> int:
        """Say which signal stopped the run and ``where``; the exit code for it (130 SIGINT, 143 SIGTERM)."""
        code = 130 if self.state["signal"] == signal.SIGINT else 143
        name = "SIGINT" if code == 130 else "SIGTERM"
        stderr.print(
            f"Interrupted by {name} {where}",
            highlight=False,
            soft_wrap=True,  # a wrapped path could not be copied and pasted
        )
        return code


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
