"""A friendlier command line: suggestions, --quiet/--verbose, completion, colour rules, text plots on a TTY."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.cli.core import app
from nalu_cli.output.textplot import BRAILLE_BASE

torch.set_num_threads(1)
runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def has_braille(text: str) -> bool:
    return any(BRAILLE_BASE < ord(ch) <= BRAILLE_BASE + 0xFF for ch in text)


def colour_codes(text: str) -> list[str]:
    """SGR parameters that set a colour (30-49, 90-107, 38;…/48;…), ignoring bold, dim and reset."""
    found = []
    for params in SGR.findall(text):
        codes = [int(c) for c in params.split(";") if c]
        if any(30 <= c <= 49 or 90 <= c <= 107 for c in codes):
            found.append(params)
    return found


def run_nalu(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real program in a fresh process, output piped (not a terminal)."""
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    environment.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "nalu_cli", *args], capture_output=True, text=True, env=environment, timeout=120
    )


# -- typos -------------------------------------------------------------------------------------------


def test_command_typo_suggests_the_command() -> None:
    result = runner.invoke(app, ["trian"])
    assert result.exit_code == 2
    assert result.stderr == "Error: no command 'trian'; did you mean 'train'?\n"
    assert result.stdout == ""
    assert (
        runner.invoke(app, ["extrapolat", "x"]).stderr
        == "Error: no command 'extrapolat'; did you mean 'extrapolate'?\n"
    )
    far = runner.invoke(app, ["xyzzy"])
    assert far.exit_code == 2 and far.stderr.startswith("Error: no command 'xyzzy' (commands: train, eval,")


def test_op_typo_suggests_the_op(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--op", "mull", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2
    assert "unknown op 'mull'; did you mean 'mul'?" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


# -- --quiet / --verbose -----------------------------------------------------------------------------


def test_quiet_verbose_and_their_placement(tmp_path: Path) -> None:
    args = ["train", "--op", "add", "--steps", "50", "--set", "eval.samples=64", "--set", "train.valid_samples=64"]
    verbose = runner.invoke(app, ["--verbose", *args, "--out", str(tmp_path / "v")])
    assert verbose.exit_code == 0, verbose.output
    assert "resolved config (new run in" in verbose.stderr and "  op: add" in verbose.stderr
    assert f"wrote {tmp_path / 'v' / 'checkpoint.pt'}" in verbose.stderr
    assert "nalu train · add" in verbose.stdout and "resolved config" not in verbose.stdout

    quiet = runner.invoke(app, [*args, "--out", str(tmp_path / "q"), "-q"])  # global flags may follow the command
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == "" and "nalu train · add" in quiet.stdout

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no run directories" in runner.invoke(app, ["runs", str(empty)]).stderr
    assert runner.invoke(app, ["-q", "runs", str(empty)]).stderr == ""
    error = runner.invoke(app, ["-q", "runs", str(tmp_path / "missing")])  # errors survive --quiet
    assert error.exit_code == 1 and error.stderr.startswith("Error: no directory")

    both = runner.invoke(app, ["-q", "-v", "runs", str(empty)])
    assert both.exit_code == 2 and both.stderr == "Error: --quiet and --verbose contradict each other; give one\n"


# -- shell completion --------------------------------------------------------------------------------


def complete(words: str) -> list[str]:
    env = {"_NALU_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = runner.invoke(app, [], prog_name="nalu", env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.split()


def test_show_completion_prints_a_script(monkeypatch: pytest.MonkeyPatch) -> None:
    # typer finds the shell from the parent process, which a test runner started by cron, nohup or CI may
    # not have: pin it, so the test checks our script and not the environment
    import typer.completion

    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    result = runner.invoke(app, ["--show-completion"], prog_name="nalu")
    assert result.exit_code == 0
    assert (
        "_NALU_COMPLETE=complete_bash" in result.stdout
        and "complete -o default -F _nalu_completion nalu" in result.stdout
    )


def test_completion_of_commands_and_values() -> None:
    assert complete("nalu tr") == ["train"]
    assert complete("nalu ex") == ["extrapolate", "export-tb"]
    assert complete("nalu -q co") == ["compare"]
    assert complete("nalu train --op s") == ["sub", "square", "sqrt"]
    assert complete("nalu train --unit nm") == ["nmu", "nmru"]
    assert complete("nalu runs --sort ex") == ["extrap"]
    assert "--steps" in complete("nalu train --st")


def test_every_command_has_help_with_an_example() -> None:
    import typer.main

    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert command.help and "Example" in command.help, f"{name} lacks help with an example"


# -- colour and terminals ----------------------------------------------------------------------------


def test_no_color_and_forced_colour() -> None:
    coloured = run_nalu("trian", FORCE_COLOR="1")
    assert coloured.returncode == 2 and colour_codes(coloured.stderr)  # the check below can see colour
    plain = run_nalu("trian", FORCE_COLOR="1", NO_COLOR="1")
    assert plain.returncode == 2 and colour_codes(plain.stderr) == []
    assert "no command 'trian'; did you mean 'train'?" in plain.stderr


def test_piped_output_has_no_ansi_codes(mul_run: Path) -> None:
    result = run_nalu("runs", str(mul_run.parent))
    assert result.returncode == 0, result.stderr
    assert "nalu runs" in result.stdout and "mul" in result.stdout
    assert "\x1b" not in result.stdout + result.stderr
    assert not has_braille(result.stdout)


def test_text_plots_only_on_a_terminal(mul_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    piped = runner.invoke(app, ["extrapolate", str(mul_run), "--samples", "64"])
    assert piped.exit_code == 0 and not has_braille(piped.stdout) and "\x1b" not in piped.stdout

    terminal = Console(file=StringIO(), force_terminal=True, color_system=None, width=100)
    monkeypatch.setattr(cli.core, "stdout", terminal)
    result = runner.invoke(app, ["extrapolate", str(mul_run), "--samples", "64"])
    assert result.exit_code == 0, result.output
    shown = terminal.file.getvalue()  # type: ignore[attr-defined]
    assert "nalu extrapolate" in shown and has_braille(shown) and "× training range" in shown

    quiet = Console(file=StringIO(), force_terminal=True, color_system=None, width=100)
    monkeypatch.setattr(cli.core, "stdout", quiet)
    assert runner.invoke(app, ["-q", "extrapolate", str(mul_run), "--samples", "64"]).exit_code == 0
    assert not has_braille(quiet.file.getvalue())  # type: ignore[attr-defined]


def test_train_shows_its_curve_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = Console(file=StringIO(), force_terminal=True, color_system=None, width=100)
    monkeypatch.setattr(cli.core, "stdout", terminal)
    args = ["train", "--op", "add", "--steps", "60", "--set", "train.log_every=20", "--set", "eval.samples=64"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    shown = terminal.file.getvalue()  # type: ignore[attr-defined]
    assert "training curve" in shown and has_braille(shown) and "step" in shown
