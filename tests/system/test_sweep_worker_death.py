"""The local sweep executor survives a worker killed by SIGKILL (what the OOM killer does): the tasks that were
running are retried in a fresh pool (``--retries``), the rest carry on, and the sweep completes."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.sweeps import executors
from tests.unit.sweeps.test_sweep import REAL_RUN_TASK, copy_sweep, task_results, write_grid

runner = CliRunner()
MARKERS = "NALU_TEST_KILL_MARKERS"


def killing_task(payload: dict[str, Any], should_stop: Any = None) -> dict[str, Any]:
    """Stands in for ``sweep.run_task`` in workers: the add · nau block of seeds 0-1 SIGKILLs its own worker
    the first time it runs (a marker file remembers), then trains; mul · nau seeds 2-3 kills it every time."""
    cell, seeds = payload["cell"], payload["seeds"]
    marker = Path(os.environ[MARKERS]) / f"{cell['op']}-{cell['unit']}-{seeds[0]}"
    if (cell["op"], cell["unit"], seeds) == ("mul", "nau", [2, 3]):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if (cell["op"], cell["unit"], seeds) == ("add", "nau", [0, 1]) and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return REAL_RUN_TASK(payload, should_stop)


def test_a_killed_worker_is_retried_and_the_sweep_completes(
    tmp_path: Path, sweep_reference: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref_dir, _ = sweep_reference
    out = copy_sweep(ref_dir, tmp_path / "sweep")
    for pattern in ("add-nau-s0-*.json", "mul-nau-s2-*.json"):
        for p in (out / "tasks").glob(pattern):
            p.unlink()  # two tasks to train again, side by side: the one killed once, the one killed always
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(MARKERS, str(markers))
    monkeypatch.setattr(executors, "run_task", killing_task)
    grid = str(write_grid(tmp_path / "g.yaml"))
    result = runner.invoke(cli.app, ["sweep", grid, "--out", str(out), "--workers", "2", "--retries", "1"])
    assert (markers / "add-nau-0").exists(), "the worker was never killed: the test tests nothing"
    # the once-killed task was retried and finished; the always-killed one failed after its retry, by name
    assert result.exit_code == 1, result.output
    assert "failed: mul · nau · U[1,2] → U[2,6] · seeds 2–3: its worker process died 2 times" in result.stderr
    assert "BrokenProcessPool" not in result.output
    assert "Error: 1 of 8 tasks failed" in result.stderr

    # what was trained, the retried task included, equals the reference sweep, number for number
    assert {k: v for k, v in task_results(out).items() if not k.startswith("mul-nau-s2")} == {
        k: v for k, v in task_results(ref_dir).items() if not k.startswith("mul-nau-s2")
    }
    assert len(task_results(out)) == 7
