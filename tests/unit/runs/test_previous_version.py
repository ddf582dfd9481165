"""Runs written by the previous version (0.1.0 before the package moved into sub-packages) still load.

``tests/fixtures/previous_version/`` holds a training run (``nalu train --op mul --steps 300 --seeds 2``) and
a fit run (``nalu fit t.csv --target y``) written by that version, and what its ``eval``, ``extrapolate`` and
``inspect-weights`` printed for them with ``--json``. This version must print the same documents (timings
aside) and resume the run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import run_nalu

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "previous_version"
VOLATILE = {"seconds", "elapsed", "seed_steps_per_second", "date"}


def _stable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


@pytest.fixture
def old_runs(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "old")
    return tmp_path / "old"


@pytest.mark.parametrize(
    "command",
    [
        ["eval", "mul-nmu"],
        ["extrapolate", "mul-nmu"],
        ["inspect-weights", "mul-nmu"],
        ["eval", "fit-run", "--data", "t.csv"],
    ],
)
def test_previous_version_runs_print_what_they_printed(old_runs: Path, command: list[str]) -> None:
    done = run_nalu(*command, "--json", cwd=old_runs)
    assert done.returncode == 0, done.stderr
    expected = json.loads((FIXTURES / f"expected-{command[0]}-{command[1]}.json").read_text())
    assert _stable(json.loads(done.stdout)) == _stable(expected)


def test_previous_version_run_resumes_and_is_listed(old_runs: Path) -> None:
    done = run_nalu("train", "--resume", "mul-nmu", "--steps", "350", "--json", cwd=old_runs)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["steps"] == 350 and report["solved"] == 2
    listed = run_nalu("runs", ".", "--json", cwd=old_runs)
    assert listed.returncode == 0, listed.stderr
    names = {row["name"] for row in json.loads(listed.stdout)["runs"]}
    assert {"mul-nmu", "fit-run"} <= names
