"""FitJob: ``nalu fit`` from Python, without the CLI: a real fit of a tiny table, its outcome and run directory,
the same report as the command, the default run directory, and option errors before anything is written."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.errors import ConfigError
from nalu_cli.files import json_safe
from nalu_cli.fit.job import FitJob, default_fit_dir
from tests.unit.fit.test_fit import force_table

runner = CliRunner()


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report as ``--json`` prints it, without its timings and directory (which differ between two fits)."""
    data = json.loads(json.dumps(json_safe(report)))
    data.pop("elapsed")
    data.pop("run_dir")
    for candidate in data["candidates"]:
        candidate.pop("seconds", None)
    return dict(data)


def test_a_fit_job_finds_the_formula_and_reports_like_the_command(tmp_path: Path) -> None:
    path = force_table(tmp_path / "t.csv", n=120)
    done = FitJob(path, "F", inputs="m,a", unit="nmu", hidden="", members=4, steps=600, out=tmp_path / "job").run()
    assert done.exit_code == 0 and done.message is None and done.run_dir == tmp_path / "job"
    assert done.report["formula"] == "F = m * a" and done.warnings == done.report["warnings"]
    assert (done.run_dir / "fit.json").exists() and (done.run_dir / "fit.pt").exists()
    cli = runner.invoke(
        app,
        ["fit", str(path), "--target", "F", "--inputs", "m,a", "--unit", "nmu", "--hidden", "",
         "--members", "4", "--steps", "600", "--out", str(tmp_path / "cli"), "--json"],
    )  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert stable(json.loads(cli.stdout)) == stable(done.report)
    with pytest.raises(ConfigError, match="already holds a fit; overwrite it with --force"):
        FitJob(path, "F", out=tmp_path / "job").run()
    again = FitJob(path, "F", inputs=["m", "a"], unit=["nmu"], hidden=[], members=4, steps=600, out=tmp_path / "job")
    assert stable(replace(again, force=True).run().report) == stable(done.report)  # lists work as the strings do


def test_the_default_run_directory_is_runs_fit_target_then_numbered(tmp_path: Path) -> None:
    assert default_fit_dir("F", tmp_path) == tmp_path / "fit-F"
    (tmp_path / "fit-F").mkdir()
    (tmp_path / "fit-F-1").mkdir()
    assert default_fit_dir("F", tmp_path) == tmp_path / "fit-F-2"
    assert default_fit_dir("total cost (€)", tmp_path) == tmp_path / "fit-total_cost"
    assert default_fit_dir("€", tmp_path) == tmp_path / "fit-target"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hidden": "2"}, "--hidden needs --unit"),
        ({"unit": "nmu", "hidden": "two"}, "--hidden 'two' must be integers"),
        ({"unit": "nmuu"}, "did you mean 'nmu'"),
        ({"members": 0}, "--members 0: must be between 1 and 256"),
        ({"steps": 0}, "--steps 0: must be between 1 and 1000000"),
        ({"seed": -1}, "--seed -1: must be at least 0"),
        ({"target": "nope"}, "no column 'nope'"),
    ],
)
def test_bad_options_raise_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], message: str
) -> None:
    path = force_table(tmp_path / "t.csv", n=30)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        FitJob(path, **({"target": "F"} | options)).run()
    assert message in str(raised.value)
    assert not (tmp_path / "runs").exists()
