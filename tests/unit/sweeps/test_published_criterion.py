"""Benchmark and sweep cells judged by Madsen & Johansen's own criterion beside nalu's (tasks/published.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.output.schema import SCHEMAS, check
from nalu_cli.sweeps import benchmark
from nalu_cli.tasks import published

MUL = published.PUBLISHED_THRESHOLDS["mul"]


def seed(i: int, mse: float, solved: bool, diverged: bool = False) -> dict[str, Any]:
    return {
        "seed": i,
        "solved": solved,
        "solved_at": 10 if solved else None,
        "diverged_at": 5 if diverged else None,
        "sparsity_error": 0.0,
        "interpolation": {"mse": mse},
        "extrapolation": {"mse": mse},
    }


def test_a_madsen2020_cell_counts_both_criteria() -> None:
    """mul: nalu's threshold (~0.040) is 4x below theirs (0.160), so an MSE of 0.1 is solved by theirs only."""
    cell = benchmark.Cell("mul", "nmu", "", "")
    cfg = benchmark.cell_config(cell, "madsen2020", 4, 10, 1, True, {})
    seeds = [seed(0, 0.01, True), seed(1, 0.1, False), seed(2, 0.5, False), seed(3, math.nan, False, diverged=True)]
    row = benchmark.summarise(cell, cfg, seeds, 1.0)
    assert row["solved"] == 1 and row["solved_published"] == 2
    assert row["published_threshold"] == pytest.approx(MUL, rel=0.01)
    assert row["success_rate_published"] == 0.5
    assert (row["ci_low_published"], row["ci_high_published"]) == pytest.approx((0.15, 0.85), abs=0.01)
    assert row["extrapolation_mse"][:3] == [0.01, 0.1, 0.5] and math.isnan(row["extrapolation_mse"][3])


def test_another_task_keeps_only_nalus_criterion() -> None:
    cell = benchmark.Cell("mul", "nmu", "", "")
    cfg = benchmark.cell_config(cell, "madsen2020", 2, 10, 1, True, {"task.input_size": 50})
    row = benchmark.summarise(cell, cfg, [seed(0, 0.1, False), seed(1, 0.2, False)], 1.0)
    assert "solved_published" not in row and "published_threshold" not in row
    assert row["extrapolation_mse"] == [0.1, 0.2] and row["published"] is None


def test_benchmark_cli_shows_both_criteria_in_text_json_and_csv(tmp_path: Path) -> None:
    args = ["benchmark", "--ops", "mul", "--units", "nmu", "--seeds", "2", "--steps", "60"]
    args += ["--set", "eval.samples=256", "--set", "train.valid_samples=128"]
    text = CliRunner().invoke(cli.app, args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert text.exit_code == 0, text.stderr
    assert "M&J" in text.stdout and "published" in text.stdout  # the header may wrap: "success (M&J / criterion)"
    out_csv = tmp_path / "cells.csv"
    result = CliRunner().invoke(cli.app, [*args, "--json", "--csv", str(out_csv)])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert check(report, SCHEMAS["benchmark"]) == []
    (cell,) = report["cells"]
    limit = cell["published_threshold"]
    assert limit == pytest.approx(MUL, rel=0.01)
    assert cell["solved_published"] == sum(m < limit for m in cell["extrapolation_mse"])
    assert "solved_published" in out_csv.read_text().splitlines()[0]


def test_train_json_carries_the_published_count() -> None:
    args = ["train", "--preset", "madsen2020", "--op", "add", "--seeds", "0-1", "--steps", "60", "--json"]
    args += ["--set", "eval.samples=256", "--set", "train.valid_samples=128"]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert check(report, SCHEMAS["train"]) == []
    limit = report["published_threshold"]
    assert limit == pytest.approx(published.PUBLISHED_THRESHOLDS["add"], rel=0.01)
    assert report["solved_published"] == sum(s["extrapolation"]["mse"] < limit for s in report["seeds"])
    pair = CliRunner().invoke(cli.app, ["train", "--op", "add", "--steps", "20", "--json"])
    assert "solved_published" not in json.loads(pair.stdout)


def test_train_text_shows_both_criteria(tmp_path: Path) -> None:
    args = [
        "train",
        "--preset",
        "madsen2020",
        "--op",
        "mul",
        "--seeds",
        "0-1",
        "--steps",
        "60",
        "--out",
        str(tmp_path / "r"),
    ]
    args += ["--set", "eval.samples=256", "--set", "train.valid_samples=128"]
    result = CliRunner().invoke(cli.app, args, env={"NO_COLOR": "1", "COLUMNS": "160"})
    assert result.exit_code in (0, 1), result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("By Madsen & Johansen's criterion"))
    assert "below 0.16" in line and "solved 0/2" in line  # 60 steps solve no mul seed by either criterion
    pair = CliRunner().invoke(cli.app, ["train", "--op", "add", "--steps", "20", "--out", str(tmp_path / "p")])
    assert "Madsen & Johansen" not in pair.stdout


def test_a_sweep_of_madsen2020_cells_is_judged_by_both(sweep_reference: tuple[Path, dict[str, Any]]) -> None:
    """The sweep's cells (tests/conftest.py SWEEP_GRID: add and mul on the madsen2020 task, 4 seeds in blocks
    of 2) carry the second criterion, counted from the blocks' merged per-seed results."""
    _, report = sweep_reference
    cells = report["cells"]
    assert {(c["op"], c["unit"]) for c in cells} == {("add", "nau"), ("add", "nmu"), ("mul", "nau"), ("mul", "nmu")}
    for c in cells:
        limit = published.PUBLISHED_THRESHOLDS[c["op"]]
        assert c["published_threshold"] == pytest.approx(limit, rel=0.01)
        assert len(c["extrapolation_mse"]) == c["seeds"] == 4
        assert c["solved_published"] == sum(m < c["published_threshold"] for m in c["extrapolation_mse"])
