"""The CLI end to end: CliRunner for every command, and the installed `nalu` as a real subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from nalu_cli import cli
from tests.conftest import nalu_command, run_nalu, subprocess_env

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_train_eval_extrapolate_inspect_json(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, out, err = invoke("train", "--op", "mul", "--steps", "300", "--out", str(run), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["op"] == "mul" and report["steps"] == 300
    assert report["seeds"][0]["solved"] is True
    assert report["seeds"][0]["formula"] == "y = x0 * x1"

    code, out, err = invoke("eval", str(run), "--range", "10,100", "--range", "100,1000", "--samples", "500", "--json")
    assert code == 0, err
    ranges = json.loads(out)["seeds"][0]["ranges"]
    assert [r["range"] for r in ranges] == ["U[10,100]", "U[100,1000]"]
    assert all(r["solved"] for r in ranges)

    code, out, err = invoke("extrapolate", str(run), "--samples", "500", "--json")
    assert code == 0, err
    ladder = json.loads(out)["seeds"][0]["ranges"]
    assert [r["factor"] for r in ladder] == [1, 10, 100, 1000]

    code, out, err = invoke("inspect-weights", str(run / "checkpoint.pt"), "--raw", "--json")
    assert code == 0, err
    seed0 = json.loads(out)["seeds"][0]
    assert seed0["formula"] == "y = x0 * x1"
    assert seed0["layers"][0]["weights"]["W"] == [[1.0, 1.0]]


def test_tables_for_humans(mul_run: Path) -> None:
    code, out, _ = invoke("eval", str(mul_run), "--samples", "300")
    assert code == 0 and "U[10,100]" in out and "solved" in out
    code, out, _ = invoke("extrapolate", str(mul_run), "--samples", "300")
    assert code == 0 and "×" in out and "extrapolat" in out
    code, out, _ = invoke("inspect-weights", str(mul_run))
    assert code == 0 and "formula (exact): y = x0 * x1" in out and "+1.000" in out


def test_train_summary_table_and_seeds(tmp_path: Path) -> None:
    code, out, err = invoke("train", "--op", "add", "--steps", "200", "--seeds", "3", "--out", str(tmp_path / "r"))
    assert code == 0, err
    assert "Extrapolates:" in out and "y = x0 + x1" in out
    for seed in ("0", "1", "2"):
        assert f"│    {seed} │" in out


def test_config_file_with_flag_override(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task:\n  op: sub\ntrain:\n  steps: 5000\n  lr: 0.05\n")
    code, out, err = invoke("train", "--config", str(cfg), "--steps", "150", "--out", str(tmp_path / "r"), "--json")
    assert code == 0, err
    assert json.loads(out)["steps"] == 150
    saved = (tmp_path / "r" / "config.yaml").read_text()
    assert "op: sub" in saved and "steps: 150" in saved


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["train", "--op", "mull"], 2, "did you mean 'mul'"),
        (["train", "--op", "sqrt", "--train-range", "-1,1"], 2, "sqrt needs non-negative"),
        (["train", "--op", "div", "--test-range", "-5,5", "--lr", "-1"], 2, "train.lr"),
        (["train", "--unit", "nope"], 2, "unknown unit"),
        (["train", "--config", "/no/such.yaml"], 2, "not found"),
        (["eval", "/no/such/run"], 1, "no run directory"),
        (["eval", "."], 1, "not a run directory"),
        (["extrapolate", "/no/such/run"], 1, "no run directory"),
        (["inspect-weights", "/no/such/run"], 1, "no run directory"),
    ],
)
def test_bad_input_gives_one_line_error(args: list[str], code: int, needle: str) -> None:
    exit_code, out, err = invoke(*args)
    assert exit_code == code, (out, err)
    assert err.startswith("Error:") and needle in err
    assert "Traceback" not in err + out


def test_invalid_range_on_a_run_is_a_usage_error(mul_run: Path) -> None:
    code, _, err = invoke("eval", str(mul_run), "--range", "5,1")
    assert code == 2 and "lo must be below hi" in err


def test_existing_run_dir_is_not_overwritten(tmp_path: Path, mul_run: Path) -> None:
    target = tmp_path / "keep"
    shutil.copytree(mul_run, target)
    before = (target / "checkpoint.pt").read_bytes()
    code, _, err = invoke("train", "--op", "mul", "--steps", "10", "--out", str(target))
    assert code == 2 and "--resume" in err
    assert (target / "checkpoint.pt").read_bytes() == before


def test_every_command_has_help_with_an_example() -> None:
    group = typer.main.get_command(cli.app)
    assert set(group.commands) >= {"train", "eval", "extrapolate", "inspect-weights"}  # type: ignore[attr-defined]
    for name in group.commands:  # type: ignore[attr-defined]
        code, out, _ = invoke(name, "--help")
        assert code == 0 and "Example" in out and f"nalu {name}" in out, name
    code, out, _ = invoke("--help")
    assert code == 0 and "nalu train --op mul" in out


def test_installed_console_script_end_to_end(tmp_path: Path) -> None:
    # the installed script's --help, with Python listing every module it imports: torch must not be one
    helped = subprocess.run(
        [*nalu_command(), "--help"],
        capture_output=True, text=True, timeout=60, env={**subprocess_env(), "PYTHONPROFILEIMPORTTIME": "1"},
    )  # fmt: skip
    assert helped.returncode == 0 and "train" in helped.stdout
    imported = [
        line.rsplit("|", 1)[-1].strip() for line in helped.stderr.splitlines() if line.startswith("import time:")
    ]
    assert "typer" in imported and "nalu_cli.cli.core" in imported, helped.stderr[-2000:]  # the listing is real
    assert not [m for m in imported if m.split(".")[0] in ("torch", "numpy")], "nalu --help imported torch"
    done = run_nalu("train", "--op", "mul", "--steps", "200", "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Extrapolates: yes" in done.stdout
    assert "\x1b[" not in done.stdout  # no ANSI codes when piped
    bad = run_nalu("eval", str(tmp_path / "nope"), timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith("Error:") and "Traceback" not in bad.stderr


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom nalu_cli import cli\nsys.argv = ['nalu', '--help']\ntry:\n    cli.main()\n"
        "except SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch imported'\nprint('no torch')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip().endswith("no torch"), done.stderr


def test_nalu_debug_shows_the_traceback_of_an_internal_error(tmp_path: Path) -> None:
    """An unexpected exception: one "internal error" line by default, the full traceback with NALU_DEBUG=1."""
    code = (
        "import sys\nimport nalu_cli.output.reports as reports\n"
        "def boom(*args, **kwargs):\n    raise RuntimeError('planted failure')\n"
        "reports.eval_report = boom\nfrom nalu_cli import cli\nsys.argv = ['nalu', 'eval', sys.argv[1]]\ncli.main()"
    )
    env = subprocess_env()
    env.pop("NALU_DEBUG", None)
    plain = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.strip() == (
        "Error: internal error: RuntimeError: planted failure (set NALU_DEBUG=1 for the traceback)"
    )
    debug = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env={**env, "NALU_DEBUG": "1"}
    )
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert "RuntimeError: planted failure" in debug.stderr and "in boom" in debug.stderr
