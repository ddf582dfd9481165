"""`--mode words` end to end: train, eval, extrapolate, inspect-weights, resume, benchmark and sweep through the
CLI (tiny real training), JSON against the schema, batched seeds equal to seeds alone, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.output.schema import SCHEMAS, check
from tests.conftest import assert_error_line

# Small and fast: a state of 8, 16 samples a batch, few evaluation samples (a few seconds a run).
TINY = ["--set=model.hidden=[8]", "--set=train.batch_size=16", "--set=train.valid_samples=32",
        "--set=eval.samples=64", "--set=train.log_every=10"]  # fmt: skip


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def as_json(*args: str, schema: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(invoke(*args, "--json").stdout)
    assert check(data, SCHEMAS[schema]) == [], check(data, SCHEMAS[schema])
    return data


def commands_end_to_end(mode: str, tmp_path: Path, extrapolation: str, wide_range: str) -> None:
    """train → eval (own ranges and --range) → extrapolate → inspect-weights → resume, for a text kind."""
    run = tmp_path / mode
    report = as_json("train", "--mode", mode, "--seeds", "2", "--steps", "20", "--out", str(run), *TINY, schema="train")
    assert report["extrapolation"] == extrapolation
    for seed in report["seeds"]:
        assert 0.0 <= seed["interpolation"]["accuracy"] <= 1.0 and seed["extrapolation"]["mae"] > 0
    evaluated = as_json("eval", str(run), schema="eval")
    assert [r["name"] for r in evaluated["seeds"][0]["ranges"]] == ["interpolation", "extrapolation"]
    assert all("accuracy" in r for s in evaluated["seeds"] for r in s["ranges"])
    custom = as_json("eval", str(run), "--range", wide_range, "--samples", "40", schema="eval")
    assert custom["seeds"][0]["ranges"][0]["range"] == f"U[{wide_range}]"
    ladder = as_json("extrapolate", str(run), "--factors", "1,10,100", schema="extrapolate")
    assert [r["factor"] for r in ladder["seeds"][0]["ranges"]] == [1.0, 10.0, 100.0]
    inspected = as_json("inspect-weights", str(run), schema="inspect-weights")
    layers = inspected["seeds"][0]["layers"]
    assert [layer["unit"] for layer in layers] == ["NALU"] and layers[0]["in"] == 8 and layers[0]["out"] == 1
    assert "token embeddings" in inspected["seeds"][0]["reason"]
    tokens, places = inspected["seeds"][0]["tokens"], inspected["seeds"][0]["places"]
    assert [t["id"] for t in tokens] == list(range(1, len(tokens) + 1)) and len(tokens) > 30
    assert all(t["last"] is None for t in tokens)  # an LSTM cell: no exact linear path
    assert places and all(p["ratio"] == pytest.approx(p["value"] / p["value_of"]) for p in places)
    shown = invoke("inspect-weights", str(run)).stdout
    assert "tokens: the output on the token alone" in shown and "place values" in shown
    resumed = as_json("train", "--resume", str(run), "--steps", "30", schema="train")
    assert resumed["steps"] == 30
    text = invoke("eval", str(run)).stdout
    assert "accuracy" in text and f"{extrapolation}: solved" in text


def test_words_every_command_end_to_end(tmp_path: Path) -> None:
    commands_end_to_end("words", tmp_path, "U[1000,999999]", "1000,9999")


def test_words_batched_seeds_report_what_each_seed_reports_alone(tmp_path: Path) -> None:
    together = as_json("train", "--mode", "words", "--seeds", "0,1", "--steps", "12", "--out", str(tmp_path / "a"),
                       *TINY, schema="train")  # fmt: skip
    alone = as_json("train", "--mode", "words", "--seeds", "1", "--seed", "1", "--steps", "12",
                    "--out", str(tmp_path / "b"), *TINY, schema="train")  # fmt: skip
    assert alone["seeds"][0]["seed"] == 1
    for key in ("interpolation", "extrapolation"):
        assert together["seeds"][1][key] == alone["seeds"][0][key]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--op", "add"], "its op is identity"),
        (["--set", "task.extrapolation=[1000,5000000]"], "writes integers 0 to 999,999"),
        (["--unit", "lstm,lstm"], "is a cell, not an output unit"),
        (["--set", "task.program=plain"], "use it with task.mode program"),
        (["--set", "train.memory_budget_mb=0.01"], "above train.memory_budget_mb"),
        (["--set", "train.max_memory_gb=0.000001"], "over the"),
    ],
)
def test_bad_words_settings_are_one_error_line(tmp_path: Path, args: list[str], needle: str) -> None:
    result = CliRunner().invoke(app, ["train", "--mode", "words", "--steps", "5", "--out", str(tmp_path / "r"), *args])
    assert needle in assert_error_line(result, (2,))
    assert not (tmp_path / "r" / "checkpoint.pt").exists()  # refused before anything was allocated or written


def test_eval_range_without_test_numbers_is_one_error_line(tmp_path: Path) -> None:
    run = tmp_path / "w"
    invoke("train", "--mode", "words", "--steps", "3", "--out", str(run), *TINY)
    result = CliRunner().invoke(app, ["eval", str(run), "--range", "0,3"])  # 0–19 are training numbers only
    assert "holds no number" in assert_error_line(result, (2,))


BENCH = ["--set", "task.mode=words", "--set", "train.batch_size=16",
         "--set", "eval.samples=64", "--set", "train.valid_samples=32"]  # fmt: skip


def test_benchmark_and_sweep_run_the_words_grid_alike(tmp_path: Path) -> None:
    data = as_json("benchmark", "--seeds", "2", "--steps", "10", *BENCH, schema="benchmark")
    cells = data["cells"]
    assert [(c["op"], c["unit"], c["layers"]) for c in cells] == [
        ("identity", "lstm_nalu", ["lstm", "nalu"]),
        ("identity", "lstm_linear", ["lstm", "mlp"]),
        ("identity", "nau_accumulator", ["nau", "nau"]),
    ]
    assert all(c["accuracy_median"] is not None and c["extrapolation"] == "U[1000,999999]" for c in cells)
    sets = {"task.mode": "words", "train.batch_size": 16, "eval.samples": 64, "train.valid_samples": 32}
    grid = {"ops": ["identity"], "units": ["lstm_linear"], "seeds": 2, "seed_block": 1, "steps": 10, "set": sets}
    path = tmp_path / "words.yaml"
    path.write_text(yaml.safe_dump(grid))
    report = json.loads(invoke("sweep", str(path), "--out", str(tmp_path / "sw"), "--workers", "1", "--json").stdout)
    (cell,) = report["cells"]
    for key in ("solved", "failed_seeds", "accuracy_median"):  # seeds alone (sweep) = seeds batched (benchmark)
        assert cell[key] == cells[1][key], key
    bad = CliRunner().invoke(app, ["benchmark", "--seeds", "1", "--steps", "1", *BENCH, "--units", "nau"])
    assert "lstm_nalu, lstm_linear, nau_accumulator" in assert_error_line(bad, (2,))
