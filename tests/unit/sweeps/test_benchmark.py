"""Benchmark grid: Wilson intervals, cell configs, summaries, CSV and the CLI end to end (tiny, real)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.errors import ConfigError
from nalu_cli.sweeps import benchmark
from nalu_cli.training.evaluate import wilson_interval


def test_wilson_interval_reference_values() -> None:
    # Independent formula: centre (p + z²/2n)/(1 + z²/n), half-width z√(p(1-p)/n + z²/4n²)/(1 + z²/n)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(98, 100) == pytest.approx((0.9300, 0.9945), abs=1e-4)
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)


def test_cell_config_uses_preset_stack_and_recipe() -> None:
    cell = benchmark.Cell("mul", "nmu", "", "")
    cfg = benchmark.cell_config(cell, "madsen2020", 3, None, 1, True, {})
    r = benchmark.recipe("mul", "nmu")
    assert cfg.task.mode == "static" and cfg.task.input_size == 100
    assert cfg.model.units() == ["nau", "nmu"] and cfg.model.hidden == [2]
    assert cfg.train.steps == r.steps and cfg.train.lr == r.lr and cfg.train.precondition == r.precondition
    assert cfg.train.seed_list() == [0, 1, 2]
    published = benchmark.cell_config(cell, "madsen2020", 3, 100, 1, False, {})
    assert published.train.lr == 1e-3 and published.train.schedule == "constant" and published.train.steps == 100
    with pytest.raises(ConfigError, match="did you mean 'nmu'"):
        benchmark.grid(["mul"], ["nmuu"], None)


def test_range_sets_and_pairs() -> None:
    assert len(benchmark.parse_range_sets(["mistry2021"]) or []) == 9
    assert benchmark.parse_range_sets(["1,2:2,6"]) == [("1,2", "2,6")]
    with pytest.raises(ConfigError):
        benchmark.parse_range_sets(["1,2"])


def test_benchmark_cli_json_and_csv(tmp_path: Path) -> None:
    out_csv = tmp_path / "b.csv"
    result = CliRunner().invoke(
        cli.app,
        [
            "benchmark",
            "--ops",
            "add",
            "--units",
            "nau,mlp",
            "--seeds",
            "3",
            "--steps",
            "150",
            "--preset",
            "madsen2020",
            "--set",
            "eval.samples=256",
            "--set",
            "train.valid_samples=128",
            "--json",
            "--csv",
            str(out_csv),
        ],
    )
    assert result.exit_code == 0, result.stderr
    cells = json.loads(result.stdout)["cells"]
    assert [(c["op"], c["unit"]) for c in cells] == [("add", "nau"), ("add", "mlp")]
    # Exact outcomes (deterministic): 150 steps are 1% of the NAU's static-addition recipe (16,000 steps), too few
    # for any seed (300 pair-mode steps solve 2 of 3, measured 2026-11-30); an MLP never extrapolates.
    assert [(c["seeds"], c["solved"], c["failed_seeds"]) for c in cells] == [(3, 0, [0, 1, 2]), (3, 0, [0, 1, 2])]
    for c in cells:
        assert (c["ci_low"], c["ci_high"]) == pytest.approx((0.0, 0.5615), abs=1e-4)  # Wilson 95% for 0 of 3
    assert cells[0]["published"] == 1.0
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert len(rows) == 2 and rows[0]["unit"] == "nau" and math.isclose(float(rows[0]["published"]), 1.0)


def test_percent_of_random_is_trasks_scale() -> None:
    """0 = perfect, 100 = as bad as the untrained model; a diverged seed counts as infinitely bad."""
    assert benchmark.percent_of_random([0.0, 0.0, 0.0], [4.0, 5.0, 6.0]) == 0.0
    assert benchmark.percent_of_random([2.0, 2.5, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(50.0)
    assert benchmark.percent_of_random([math.nan, math.inf, 1.0], [2.0, 2.0, 2.0]) == math.inf
    assert math.isnan(benchmark.percent_of_random([1.0], [0.0]))


def test_trask2018_benchmark_reports_error_relative_to_random_init() -> None:
    result = CliRunner().invoke(
        cli.app,
        ["benchmark", "--preset", "trask2018", "--ops", "add", "--units", "nau,mlp_relu6", "--seeds", "2"]
        + ["--steps", "60", "--set", "eval.samples=256", "--set", "train.valid_samples=128", "--json"],
    )
    assert result.exit_code == 0, result.output
    cells = json.loads(result.stdout)["cells"]
    assert [c["unit"] for c in cells] == ["nau", "mlp_relu6"] and cells[1]["layers"] == ["mlp", "mlp"]
    for c in cells:
        assert c["interp_percent_of_random"] >= 0 and c["extrap_percent_of_random"] >= 0
    # the random-init baseline is the same model at step 0: training 60 steps moves the NAU well below it
    assert cells[0]["interp_percent_of_random"] < 100
    madsen = CliRunner().invoke(
        cli.app, ["benchmark", "--ops", "add", "--units", "nau", "--seeds", "1", "--steps", "5", "--json"]
    )
    assert madsen.exit_code == 0 and "interp_percent_of_random" not in json.loads(madsen.stdout)["cells"][0]


def test_mlp_columns_match_train_with_that_activation() -> None:
    cfg = benchmark.cell_config(benchmark.Cell("mul", "mlp_relu6", "", ""), "trask2018", [0], 10, None, True, {})
    from nalu_cli.config import resolve as config_resolve

    trained = config_resolve.resolve(
        overrides={"task.op": "mul", "model.unit": "mlp", "model.activation": "relu6", "train.steps": 10}
        | {"train.seeds": [0]},
        preset="trask2018",
    )
    assert cfg.to_dict() == trained.to_dict() and cfg.model.activation == "relu6"
