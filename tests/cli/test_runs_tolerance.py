"""Commands over many runs (runs, compare, plot, export-tb) skip what they cannot read with a one-line warning
naming it and carry on, fail only when nothing could be done, and never follow symbolic links."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.output.reports import runs_report
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, METRICS_NAME
from tests.conftest import assert_error_line

runner = CliRunner()


@pytest.fixture()
def tree(tmp_path: Path, mul_run: Path) -> Path:
    """good-a, good-b (copies of one run), malformed (a string where an error belongs), empty (broken)."""
    root = tmp_path / "runs"
    for name in ("good-a", "good-b", "malformed", "empty"):
        shutil.copytree(mul_run, root / name)
    data = torch.load(mul_run / CHECKPOINT_NAME, weights_only=True)
    data["results"][0]["extrapolation"]["mse"] = "not a number"
    torch.save(data, root / "malformed" / CHECKPOINT_NAME)
    (root / "empty" / CHECKPOINT_NAME).write_bytes(b"")
    return root


def test_runs_lists_malformed_results_as_broken_and_carries_on(tree: Path) -> None:
    rows = {r["name"]: r for r in runs_report(tree)["runs"]}
    assert rows["good-a"]["status"] == rows["good-b"]["status"] == "finished"
    assert rows["malformed"]["status"] == "broken"
    assert "stored extrapolation error is str, not a number" in rows["malformed"]["error"]
    result = runner.invoke(cli.app, ["runs", str(tree)])
    assert result.exit_code == 0 and "broken: malformed:" in result.stdout


def test_symlinks_are_not_followed(tree: Path, tmp_path: Path, mul_run: Path) -> None:
    for i in range(30):
        os.symlink(".", tree / f"loop{i}")  # a loop back into the tree, 30 times
    outside = tmp_path / "elsewhere"
    shutil.copytree(mul_run, outside / "foreign-run")
    os.symlink(outside, tree / "out")  # a way out of the tree
    started = time.monotonic()
    names = sorted(r["name"] for r in runs_report(tree)["runs"])
    assert time.monotonic() - started < 5
    assert names == ["empty", "good-a", "good-b", "malformed"]


def test_compare_skips_unreadable_runs_with_a_warning(tree: Path) -> None:
    args = ["compare", str(tree / "good-a"), str(tree / "malformed"), str(tree / "good-b"), str(tree / "empty")]
    result = runner.invoke(cli.app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("Warning: skipped ") for w in warnings), warnings
    assert "malformed" in warnings[0] and "empty" in warnings[1]
    assert [r["name"] for r in json.loads(result.stdout)["runs"]] == ["good-a", "good-b"]
    nothing = runner.invoke(cli.app, ["compare", str(tree / "good-a"), str(tree / "empty")])
    assert "empty" in assert_error_line(nothing, (1,))  # one readable run: nothing to compare


def test_export_tb_and_plot_skip_broken_runs(tree: Path, tmp_path: Path) -> None:
    (tree / "good-b" / METRICS_NAME).unlink()  # nothing to export there
    result = runner.invoke(
        cli.app,
        ["export-tb", str(tree / "good-a"), str(tree / "good-b"), str(tree / "empty"), "--out", str(tmp_path / "tb")],
    )
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("Warning: skipped ") for line in result.stderr.splitlines()) == 2
    assert (tmp_path / "tb" / "good-a" / "median").is_dir()
    failed = runner.invoke(cli.app, ["export-tb", str(tree / "empty"), "--out", str(tmp_path / "tb2")])
    assert "empty" in assert_error_line(failed, (1,))
    pytest.importorskip("matplotlib")
    plotted = runner.invoke(
        cli.app,
        ["plot", str(tree / "good-a"), str(tree / "empty"), "--out", str(tmp_path / "p.png"), "--samples", "64"],
    )
    assert plotted.exit_code == 0, plotted.output
    assert "Warning: skipped" in plotted.stderr and (tmp_path / "p.png").exists()
