"""One grid driver, one defaults table: `nalu benchmark` is an in-process sweep built through the same grid model.

A benchmark cell and the same cell of a sweep grid file resolve to the same config and train to the same numbers,
seed by seed (tiny real training, both commands end to end); both commands take their defaults from the recipe
book's grid section; the jobs behind the commands own the sequence and never print.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.cli import sweep as sweep_cli
from nalu_cli.config import recipes
from nalu_cli.errors import ConfigError
from nalu_cli.sweeps import benchmark, executors, job
from nalu_cli.sweeps import grid as sweeps_grid

runner = CliRunner()
SMALL = {"eval.samples": 128, "train.valid_samples": 64, "train.log_every": 20}


def _sets(overrides: dict[str, Any]) -> list[str]:
    return [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]


def _without(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in keys} for row in rows]


def _per_seed(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-seed results ordered by seed, without the seed's index inside its own batch."""
    return sorted(_without(results, "member"), key=lambda s: s["seed"])


@pytest.mark.parametrize(
    ("preset", "op", "unit"),
    [("madsen2020", "mul", "nmu"), ("trask2018", "add", "nau")],  # trask2018: also Trask's "% of random"
)
def test_a_benchmark_cell_equals_the_same_sweep_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, preset: str, op: str, unit: str
) -> None:
    seeds, steps = 3, 60
    # the benchmark, through the command line; every task it trains is recorded on its way out
    trained: list[dict[str, Any]] = []
    real = executors.run_task

    def recording(payload: dict[str, Any], should_stop: Any = None) -> dict[str, Any]:
        result = real(payload, should_stop)
        trained.append({"config": payload["config"], "results": result["results"]})
        return result

    monkeypatch.setattr(executors, "run_task", recording)
    args = ["benchmark", "--preset", preset, "--ops", op, "--units", unit, "--seeds", str(seeds)]
    result = runner.invoke(cli.app, [*args, "--steps", str(steps), *_sets(SMALL), "--json"])
    assert result.exit_code == 0, result.output
    bench = json.loads(result.stdout)
    monkeypatch.setattr(executors, "run_task", real)
    [bench_task] = trained  # one cell, one block: all its seeds trained as one model, as before

    # the same cell as a sweep grid file, in blocks of 2 seeds, on worker processes
    grid_file = tmp_path / "g.yaml"
    grid_file.write_text(
        yaml.safe_dump(
            {"preset": preset, "ops": [op], "units": [unit], "seeds": seeds, "seed_block": 2, "steps": steps}
            | {"set": SMALL}
        )
    )
    out = tmp_path / "sweep"
    result = runner.invoke(cli.app, ["sweep", str(grid_file), "--out", str(out), "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    swept = json.loads(result.stdout)
    tasks = [json.loads(p.read_text()) for p in sorted((out / "tasks").glob("*.json"))]
    assert len(tasks) == 2

    # the same resolved config (the sweep's blocks differ from the benchmark's one block in their seeds only)
    for task in tasks:
        assert task["config"] == bench_task["config"] | {
            "train": bench_task["config"]["train"] | {"seeds": task["seeds"]}
        }
    assert bench_task["config"]["train"]["steps"] == steps and bench_task["config"]["train"]["seeds"] == [0, 1, 2]
    # the same numbers, seed by seed, and so the same summary row (the time aside)
    assert _per_seed([s for t in tasks for s in t["results"]]) == _per_seed(bench_task["results"])
    assert _without(bench["cells"], "seconds") == _without(swept["cells"], "seconds", "blocks")
    assert bench["preset"] == swept["preset"] == preset
    relative = "interp_percent_of_random" in bench["cells"][0]
    assert relative == (preset in benchmark.RELATIVE_TO_RANDOM)


def test_both_commands_read_the_one_defaults_table(monkeypatch: pytest.MonkeyPatch) -> None:
    # Today's table: a grid without steps or restarts trains each cell's recipe, in both commands ...
    bench = sweeps_grid.benchmark_grid(["mul"], ["nmu"])
    swept = sweeps_grid.validate_grid({"ops": ["mul"], "units": ["nmu"]})
    assert (bench.preset, bench.seeds, bench.steps, bench.restarts, bench.tuned) == (
        swept.preset, swept.seeds, swept.steps, swept.restarts, swept.tuned
    ) == tuple(recipes.GRID_DEFAULTS[k] for k in ("preset", "seeds", "steps", "restarts", "tuned"))  # fmt: skip
    assert bench.seed_block == bench.seeds  # a benchmark cell is one block
    assert swept.seed_block == min(recipes.GRID_DEFAULTS["seed_block"], swept.seeds)
    [bench_spec] = sweeps_grid.plan(bench)
    [swept_spec] = sweeps_grid.plan(swept)
    assert bench_spec.config == swept_spec.config and bench_spec.key == swept_spec.key
    recipe = benchmark.recipe("mul", "nmu")
    assert (
        bench_spec.config["train"]["steps"] == recipe.steps
        and bench_spec.config["train"]["restarts"] == recipe.restarts
    )
    # ... and `nalu benchmark --seeds` shows the table's default
    assert inspect.signature(sweep_cli.benchmark).parameters["seeds"].default == recipes.GRID_DEFAULTS["seeds"]
    assert sweeps_grid.GRID_DEFAULTS is recipes.GRID_DEFAULTS and sweeps_grid.RANGE_SETS is recipes.RANGE_SETS
    for name in ("DEFAULT_GRID", "KIND_GRIDS", "RANGE_SETS", "DEFAULT_PRESET", "run_benchmark"):
        assert not hasattr(benchmark, name), f"a second {name} in sweeps.benchmark"

    # Change the table: both commands follow.
    for key, value in {"preset": "trask2018", "seeds": 3, "steps": 77, "restarts": 2, "seed_block": 2}.items():
        monkeypatch.setitem(recipes.GRID_DEFAULTS, key, value)
    monkeypatch.setitem(recipes.DEFAULT_GRID, "trask2018", (["sub"], ["nau"]))
    bench = sweeps_grid.benchmark_grid()
    swept = sweeps_grid.validate_grid({"ops": ["sub"], "units": ["nau"]})
    assert (bench.ops, bench.units) == (["sub"], ["nau"])
    for grid in (bench, swept):
        assert (grid.preset, grid.seeds, grid.steps, grid.restarts) == ("trask2018", 3, 77, 2)
    assert (bench.seed_block, swept.seed_block) == (3, 2)
    assert sweeps_grid.plan(bench)[0].config["train"]["steps"] == 77
    assert [s.config["train"]["seeds"] for s in sweeps_grid.plan(swept)] == [[0, 1], [2]]


def test_a_preset_left_out_follows_the_mode_in_both_commands() -> None:
    for overrides, preset in (({}, "madsen2020"), ({"task.mode": "recurrent"}, None), ({"task.mode": "digits"}, None)):
        units = ["accumulator"] if overrides.get("task.mode") == "digits" else ["nau"]
        assert sweeps_grid.benchmark_grid(["add"], units, overrides=overrides).preset == preset
        assert sweeps_grid.validate_grid({"ops": ["add"], "units": units, "set": overrides}).preset == preset
    # `preset: null` in a file still means each op's own defaults
    assert sweeps_grid.validate_grid({"preset": None, "ops": ["add"], "units": ["nau"]}).preset is None
    # a recurrent sweep takes the benchmark's baseline column
    lstm = sweeps_grid.validate_grid({"ops": ["add"], "units": ["lstm"], "set": {"task.mode": "recurrent"}})
    assert sweeps_grid.plan(lstm)[0].config["model"]["unit"][0] == "lstm"


class _RefusingExecutor:
    """Fails every task without training it."""

    name = "refusing"

    def run(self, payloads: list[dict[str, Any]], on_ready: Any) -> Any:
        on_ready(1)
        for index, _ in enumerate(payloads):
            yield (index, None, "refused on purpose")


def test_jobs_own_the_sequence_and_never_print(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid_file = tmp_path / "g.yaml"
    grid_file.write_text(yaml.safe_dump({"ops": ["add"], "units": ["nau"], "seeds": 4, "seed_block": 2}))
    sweep_job = job.SweepJob(grid_file, out=tmp_path / "s")
    seen: list[int] = []
    outcome = sweep_job.run(sweep_job.load(), _RefusingExecutor(), lambda state, failure: seen.append(state.completed))
    assert outcome.code == 1 and outcome.message is not None and outcome.message.startswith("2 of 2 tasks failed")
    assert outcome.notes[0].startswith("2 tasks: 0 done earlier, 0 trained now, 2 failed")
    assert outcome.notes[1].startswith("incomplete: add · nau") and seen[-1] == 2
    assert [f["error"] for f in outcome.report["failures"]] == ["refused on purpose"] * 2
    with pytest.raises(ConfigError, match="--address names a Ray cluster"):
        job.SweepJob(grid_file, address="10.0.0.1:6379")

    cells: list[tuple[int, int, str]] = []
    bench = job.BenchmarkJob(["add"], ["nau", "nmu"], seeds=2, steps=20, overrides=dict(SMALL), csv=tmp_path / "b.csv")
    done = bench.run(lambda i, total, cell: cells.append((i, total, cell.unit)))
    assert cells == [(0, 2, "nau"), (1, 2, "nmu")]  # each cell announced before it trains, in grid order
    assert done.code == 0 and done.report["command"] == "benchmark" and len(done.report["cells"]) == 2
    assert "blocks" not in done.report["cells"][0] and (tmp_path / "b.csv").read_text().startswith("op,unit,")
    assert capsys.readouterr() == ("", "")


def test_a_cell_listed_twice_is_refused_by_both_commands() -> None:
    """Two copies of a cell would be one cell's seeds reported twice: the benchmark refuses them as a grid file does."""
    for args, needle in (
        (["--units", "nau,nau"], "--units lists nau twice"),
        (["--ops", "add,mul,add"], "--ops lists add twice"),
        (["--ranges", "mistry2021", "--ranges", "1,2:2,6"], "--ranges lists 1,2:2,6 twice"),
    ):
        result = runner.invoke(cli.app, ["benchmark", *args, "--steps", "1"])
        assert result.exit_code == 2 and result.stderr == f"Error: {needle}\n", result.output
    with pytest.raises(ConfigError, match="listed twice"):
        sweeps_grid.validate_grid({"ops": ["add"], "units": ["nau", "nau"]})
