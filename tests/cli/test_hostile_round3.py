"""Issue 25 ("hostile input, round three"): the rough edges a new user hit, each as it must behave now.

Bounded reads of special files are covered command by command in ``tests/system/test_fuzz_special_files.py``
and signals during evaluation in ``tests/system/test_reliability_signals.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nalu_cli import __version__, cli
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME
from tests.conftest import assert_error_line, nalu_command, subprocess_env

runner = CliRunner()
FAST = ["--steps", "20", "--set", "eval.samples=64", "--set", "train.valid_samples=64", "--set", "train.log_every=10"]


@pytest.fixture(scope="module")
def add_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("r3") / "add"
    done = runner.invoke(cli.app, ["train", "--op", "add", "--unit", "nau", "--out", str(run), "-q", *FAST])
    assert done.exit_code == 0, done.output
    return run


def _copy(run: Path, tmp_path: Path, name: str = "copy") -> Path:
    target = tmp_path / name
    shutil.copytree(run, target)
    return target


def _fit_run(tmp_path: Path) -> Path:
    """A directory as nalu fit leaves it (the commands tell the kinds apart by fit.json and fit.pt)."""
    fit = tmp_path / "fit"
    fit.mkdir()
    (fit / "fit.json").write_text(json.dumps({"command": "fit"}))
    (fit / "fit.pt").write_bytes(b"")
    return fit


# -- 6. messages that mislead -------------------------------------------------------------------------------
def test_a_checkpoint_of_random_bytes_is_corrupt_not_code(add_run: Path, tmp_path: Path) -> None:
    run = _copy(add_run, tmp_path)
    (run / CHECKPOINT_NAME).write_bytes(bytes(range(256)) * 40)
    err = assert_error_line(runner.invoke(cli.app, ["eval", str(run)]), (1,))
    assert "not a readable nalu checkpoint" in err and "could run code" not in err


@pytest.mark.parametrize("kind", ["fifo", "dev_zero"])
def test_a_fifo_or_dev_zero_checkpoint_is_not_called_empty(add_run: Path, tmp_path: Path, kind: str) -> None:
    run = _copy(add_run, tmp_path)
    (run / CHECKPOINT_NAME).unlink()
    if kind == "fifo":
        os.mkfifo(run / CHECKPOINT_NAME)
    else:
        (run / CHECKPOINT_NAME).symlink_to("/dev/zero")
    err = assert_error_line(runner.invoke(cli.app, ["eval", str(run)]), (1,))
    assert "is empty" not in err
    assert ("FIFO" in err) if kind == "fifo" else ("character device" in err and "not a readable" in err)


def test_a_garbage_metrics_log_is_said_to_be_garbage(add_run: Path, tmp_path: Path) -> None:
    run = _copy(add_run, tmp_path)
    (run / METRICS_NAME).write_bytes(b"\x00\x01garbage\n{not json\n" * 10)
    err = assert_error_line(runner.invoke(cli.app, ["export-tb", str(run), "--out", str(tmp_path / "tb")]), (1,))
    assert "is not a metrics log" in err and "no metrics log" not in err


def test_a_yaml_error_in_a_runs_config_is_one_line(add_run: Path, tmp_path: Path) -> None:
    run = _copy(add_run, tmp_path)
    (run / CONFIG_NAME).write_text("task:\n  op: add\n  - broken: [\n")
    err = assert_error_line(runner.invoke(cli.app, ["eval", str(run)]), (1,))
    assert "not valid YAML at line" in err


def test_eval_range_on_a_fit_run_is_a_usage_error(tmp_path: Path) -> None:
    fit = _fit_run(tmp_path)
    err = assert_error_line(runner.invoke(cli.app, ["eval", str(fit), "--range", "1,2"]), (2,))
    assert "is a nalu fit run" in err and "--data" in err


# -- 4. one run per directory -------------------------------------------------------------------------------
def test_train_out_a_fit_run_is_refused_unless_force(tmp_path: Path) -> None:
    fit = _fit_run(tmp_path)
    args = ["train", "--op", "add", "--unit", "nau", "--out", str(fit), "-q", *FAST]
    err = assert_error_line(runner.invoke(cli.app, args), (2,))
    assert err == f"Error: {str(fit)!r} already holds a fit; overwrite it with --force"
    assert not (fit / CHECKPOINT_NAME).exists()
    assert runner.invoke(cli.app, [*args, "--force"]).exit_code == 0
    assert (fit / CHECKPOINT_NAME).exists() and not (fit / "fit.json").exists()  # replaced whole


def test_fit_out_a_training_run_is_refused_with_the_same_line(add_run: Path, tmp_path: Path) -> None:
    run = _copy(add_run, tmp_path)
    table = tmp_path / "t.csv"
    table.write_text("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(1, 41)))
    result = runner.invoke(cli.app, ["fit", str(table), "--target", "y", "--out", str(run), "--steps", "5"])
    err = assert_error_line(result, (2,))
    assert err.startswith(f"Error: {str(run)!r} already holds a run;") and not (run / "fit.json").exists()
    # --force replaces the training run whole: the directory holds the fit alone
    result = runner.invoke(cli.app, ["fit", str(table), "--target", "y", "--out", str(run), "--steps", "5", "--force"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in run.iterdir() if not p.name.startswith(".")) == ["fit.json", "fit.pt"]


# -- 7. YAML accepted that should not be --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("train:\n  steps: 1:40\n", "base-60 number 100"),
        ("task:\n  op: add\ntask:\n  op: mul\n", "the key 'task' is given twice"),
    ],
)
def test_yaml_sexagesimal_and_duplicate_keys_are_refused(tmp_path: Path, text: str, phrase: str) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(text)
    err = assert_error_line(
        runner.invoke(cli.app, ["train", "--config", str(config), "--out", str(tmp_path / "o")]), (2,)
    )
    assert phrase in err and "line " in err
    assert not (tmp_path / "o").exists()


def test_set_with_a_sexagesimal_value_is_refused() -> None:
    err = assert_error_line(runner.invoke(cli.app, ["train", "--op", "add", "--set", "train.steps=1:40"]), (2,))
    assert err.startswith("Error: --set train.steps:") and "base-60" in err


# -- 8. help and output -------------------------------------------------------------------------------------
def test_version() -> None:
    done = runner.invoke(cli.app, ["--version"])
    assert done.exit_code == 0 and done.stdout.strip() == f"nalu {__version__}"


def _nalu(*args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    env = {**subprocess_env(), "COLUMNS": str(columns)}
    return subprocess.run([*nalu_command(), *args], capture_output=True, text=True, env=env, timeout=300)


def test_help_shows_whole_option_names_and_plain_argument_names() -> None:
    train = _nalu("train", "--help").stdout
    assert "nalu[digits]" in train
    assert not re.search(r"^│\s*(\*\s*)?-\S*…", train, re.MULTILINE), train  # an option name cut short
    assert "--interpolation" in train and "--train-range" in train  # the alias, named in the help text
    fit = _nalu("fit", "--help").stdout
    assert "Usage: nalu fit [OPTIONS] DATA" in fit and "{data}" not in fit


def test_warnings_wrap_at_the_terminal_width(tmp_path: Path) -> None:
    done = _nalu("train", "--op", "mul", "--unit", "nac_add", "--out", str(tmp_path / "w"), *FAST, columns=60)
    assert done.returncode == 0, done.stderr
    assert "Warning:" in done.stderr and max(len(line) for line in done.stderr.splitlines()) <= 60, done.stderr


def test_a_resumed_run_counts_the_steps_it_trained(tmp_path: Path) -> None:
    run = tmp_path / "r"
    first = runner.invoke(cli.app, ["train", "--op", "add", "--unit", "nau", "--out", str(run), *FAST])
    assert first.exit_code == 0 and "20 steps in" in first.stdout, first.output
    again = runner.invoke(cli.app, ["train", "--resume", str(run), "--steps", "30"])
    assert again.exit_code == 0, again.output
    assert "10 steps (to step 30) in" in again.stdout and "30 steps in" not in again.stdout, again.stdout


def test_the_hostile_input_page_lists_the_limits_the_code_has() -> None:
    import subprocess as sp
    import sys

    script = Path(__file__).parents[2] / "docs" / "reference" / "hostile_input_table.py"
    assert sp.run([sys.executable, str(script), "--check"], timeout=120).returncode == 0, (
        "run: python docs/reference/hostile_input_table.py"
    )
