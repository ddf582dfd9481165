"""`nalu sweep`: grid validation, tasks and keys, the local executor, resuming, failures, a killed driver."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.config.resolve import validate as config_validate
from nalu_cli.errors import ConfigError, NaluError
from nalu_cli.sweeps import executors
from nalu_cli.sweeps import grid as sweeps_grid
from nalu_cli.sweeps.benchmark import Cell, summarise, union_of_blocks
from tests.conftest import SWEEP_GRID

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()
REAL_RUN_TASK = executors.run_task


def write_grid(path: Path, **changes: Any) -> Path:
    data = copy.deepcopy(SWEEP_GRID) | changes
    path.write_text(yaml.safe_dump(data))
    return path


def task_results(out: Path) -> dict[str, Any]:
    """Every task file's per-seed results, by file name."""
    return {p.name: json.loads(p.read_text())["results"] for p in sorted((out / "tasks").glob("*.json"))}


def cells(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The merged table without wall-clock times (the only thing that differs between identical sweeps)."""
    return [{k: v for k, v in row.items() if k != "seconds"} for row in report["cells"]]


def copy_sweep(reference: Path, target: Path) -> Path:
    shutil.copytree(reference, target)
    return target


# -- the grid ------------------------------------------------------------------------------------------


def test_grid_lists_every_problem_at_once() -> None:
    bad = {
        "preset": "madsen2021",
        "ops": ["mul", "mull"],
        "units": ["nmu", "nmuu"],
        "ranges": ["mistry2020", "1,2"],
        "seeds": 0,
        "seed_block": "many",
        "steps": 1.5,
        "restarts": True,
        "tuned": "yes",
        "set": {"train.steps": 10},
        "colour": "red",
    }
    with pytest.raises(ConfigError) as info:
        sweeps_grid.validate_grid(bad)
    text = str(info.value)
    for needle in (
        "preset",
        "did you mean 'madsen2020'",
        "unknown op 'mull'",
        "did you mean 'mul'",
        "unknown unit 'nmuu'",
        "ranges: 'mistry2020'",
        "seeds: must be between 1",
        "seed_block: must be a whole number",
        "steps: must be a whole number",
        "restarts",
        "tuned: must be true or false",
        "set: train.steps is decided by the grid's 'steps' key",
        "unknown key 'colour'",
    ):
        assert needle in text, needle
    assert len(info.value.problems) >= 12


def test_grid_reports_each_cell_problem_once() -> None:
    # Division by ranges around 0 is undefined: only the cells with such a range pair are named.
    with pytest.raises(ConfigError) as info:
        sweeps_grid.validate_grid({"ops": ["div"], "units": ["nmu", "nau"], "ranges": "mistry2021"})
    assert any(p.startswith("cell div · nmu · -2,2 → -6,-2;2,6") and "0" in p for p in info.value.problems), (
        info.value.problems
    )
    # A problem every cell shares (an unknown key in `set`) is listed once, without a cell name.
    with pytest.raises(ConfigError) as info:
        sweeps_grid.validate_grid({"ops": ["add", "mul"], "units": ["nau"], "set": {"train": {"lrr": 0.1}}})
    assert info.value.problems == ["unknown key 'train.lrr'; did you mean 'lr'?"]


def test_grid_files_and_yaml_pitfalls(tmp_path: Path) -> None:
    f = tmp_path / "g.yaml"
    f.write_text("ops: add, mul\nunits: [nau]\nseeds: '8'\nseed_block: 3\nsteps: 2e3\nset: {train.lr: 1e-3}\n")
    grid = sweeps_grid.load_grid(f)
    assert grid.ops == ["add", "mul"] and grid.steps == 2000 and grid.overrides == {"train.lr": "1e-3"}
    assert grid.blocks() == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert sweeps_grid.plan(grid)[0].config["train"]["lr"] == 1e-3
    for text, needle in (("", "empty"), ("- ops\n", "mapping"), ("ops: [\n", "not valid YAML")):
        f.write_text(text)
        with pytest.raises(ConfigError, match=needle):
            sweeps_grid.load_grid(f)
    with pytest.raises(ConfigError, match="not found"):
        sweeps_grid.load_grid(tmp_path / "missing.yaml")


def test_ranges_accept_sets_strings_and_pairs() -> None:
    grid = sweeps_grid.validate_grid(
        {"ops": ["mul"], "units": ["nmu"], "ranges": ["1,2:2,6", [[1, 2], [[-6, -2], [2, 6]]], ["0.1,0.2", "0.2,2"]]}
    )
    assert grid.ranges == [("1,2", "2,6"), ("1,2", "-6,-2;2,6"), ("0.1,0.2", "0.2,2")]
    assert len(sweeps_grid.validate_grid({"ops": ["mul"], "units": ["nmu"], "ranges": "mistry2021"}).ranges or []) == 9


def test_task_keys_follow_the_config() -> None:
    specs = sweeps_grid.plan(sweeps_grid.validate_grid(SWEEP_GRID))
    assert len(specs) == 8 and len({s.key for s in specs}) == 8
    assert [s.seeds for s in specs[:2]] == [[0, 1], [2, 3]]
    assert specs[0].key.startswith("add-nau-s0-1-") and specs[0].label == "add · nau · U[1,2] → U[2,6] · seeds 0–1"
    # Same config, same key: more seeds reuse the blocks already trained ...
    more = sweeps_grid.plan(sweeps_grid.validate_grid(SWEEP_GRID | {"seeds": 6}))
    assert {s.key for s in specs} < {s.key for s in more}
    # ... while any change to the training config is a new task.
    changed = sweeps_grid.plan(sweeps_grid.validate_grid(SWEEP_GRID | {"set": {"eval.samples": 300}}))
    assert not {s.key for s in specs} & {s.key for s in changed}
    # A worker rebuilds exactly the config the key was made from.
    assert config_validate(specs[0].config).to_dict() == specs[0].config


SHIPPED_GRIDS = sorted((ROOT / "sample_configs" / "sweeps").glob("*.yaml"))


def test_grids_are_shipped() -> None:
    assert len(SHIPPED_GRIDS) >= 2


@pytest.mark.parametrize("path", SHIPPED_GRIDS, ids=lambda p: p.name)
def test_every_shipped_grid_validates_and_names_its_command(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith(f"# nalu sweep sample_configs/sweeps/{path.name}"), first
    assert sweeps_grid.plan(sweeps_grid.load_grid(path))


def test_blocks_merge_into_one_summary() -> None:
    from nalu_cli.config import resolve as config_resolve

    def seed(n: int, solved: bool) -> dict[str, Any]:
        return {
            "seed": n,
            "solved": solved,
            "solved_at": 100 * n if solved else None,
            "sparsity_error": 0.01 * n,
            "diverged_at": None if n != 3 else 7,
        }

    cfg = config_resolve.resolve(overrides={"task.op": "mul", "model.unit": ["nau", "nmu"], "model.hidden": [2]})
    cell = Cell("mul", "nmu", "", "")
    blocks = [[seed(2, True), seed(3, False)], [seed(0, True), seed(1, False)]]  # finished out of order
    merged = union_of_blocks(blocks)
    assert [s["seed"] for s in merged] == [0, 1, 2, 3]
    row = summarise(cell, cfg, merged, 1.0)
    whole = summarise(cell, cfg, [seed(0, True), seed(1, False), seed(2, True), seed(3, False)], 1.0)
    assert row == whole and row["solved"] == 2 and row["seeds"] == 4 and row["diverged"] == 1
    assert row["solved_at_median"] == 100 and 0.15 < row["ci_low"] < 0.16
    assert row["published"] is None  # Madsen & Johansen published rates for their static task only
    madsen = config_resolve.resolve(
        overrides={"task.op": "mul", "model.unit": ["nau", "nmu"], "model.hidden": [2]}, preset="madsen2020"
    )
    assert summarise(cell, madsen, merged, 1.0)["published"] == 0.98
    with pytest.raises(ValueError, match=r"seeds \[1\]"):
        union_of_blocks([[seed(0, True), seed(1, True)], [seed(1, True)]])


# -- running sweeps ------------------------------------------------------------------------------------


def test_a_diverged_single_seed_task_counts_as_a_failure_not_an_error() -> None:
    from nalu_cli.config import resolve as config_resolve
    from nalu_cli.errors import DivergenceError
    from nalu_cli.sweeps import executors
    from nalu_cli.training.loop import train

    cfg = config_resolve.resolve(
        overrides={
            "task.op": "mul",
            "model.unit": "npu",
            "train.lr": 100,
            "train.restarts": 1,  # one member (the NPU's recipe trains three restarts)
            "train.steps": 30,
            "task.interpolation": "1,1000",
            "task.extrapolation": "1000,1e6",
            "eval.samples": 64,
            "train.valid_samples": 64,
        }
    )
    with pytest.raises(DivergenceError):
        train(cfg)  # `nalu train` stops and says so ...
    result = executors.run_task({"key": "k", "config": cfg.to_dict()})  # ... a sweep records the failed seed
    [seed] = result["results"]
    assert seed["diverged_at"] == 1 and seed["solved"] is False and result["seeds"] == [0]


def test_rerun_trains_only_the_missing_task(tmp_path: Path, sweep_reference: tuple[Path, dict[str, Any]]) -> None:
    ref_dir, ref_report = sweep_reference
    assert json.loads((ref_dir / "results.json").read_text())["cells"] == json.loads(json.dumps(ref_report["cells"]))
    assert (ref_dir / "results.csv").read_text().startswith("op,unit,interpolation")
    out = copy_sweep(ref_dir, tmp_path / "sweep")
    files = sorted((out / "tasks").glob("*.json"))
    victim = files[5]
    victim.unlink()
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files if p != victim}

    result = runner.invoke(cli.app, ["sweep", str(write_grid(tmp_path / "g.yaml")), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["tasks"] == {"total": 8, "cached": 7, "trained": 1, "failed": 0}
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files if p != victim} == before  # untouched
    assert cells(report) == cells(ref_report) and len(report["cells"]) == 4
    assert task_results(out) == task_results(ref_dir)  # the retrained block is identical to the digit
    assert "\x1b" not in result.stderr and "running" not in result.stderr  # no progress bar when piped


def test_seed_blocks_give_what_one_batched_cell_gives(sweep_reference: tuple[Path, dict[str, Any]]) -> None:
    """Blocks of 2 seeds, trained apart, equal the cell's 4 seeds trained as one model, seed by seed."""
    from nalu_cli.files import json_safe
    from nalu_cli.sweeps.benchmark import cell_config
    from nalu_cli.training.loop import train

    grid = sweeps_grid.validate_grid(SWEEP_GRID)
    cfg = cell_config(
        Cell("mul", "nmu", "", ""), grid.preset, grid.seeds, grid.steps, grid.restarts, True, grid.overrides
    )
    whole = json_safe(train(cfg, stop_on_divergence=False).seeds)
    blocks = [
        json.loads(p.read_text())["results"] for p in sorted((sweep_reference[0] / "tasks").glob("mul-nmu-*.json"))
    ]

    def without_member(seeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in s.items() if k != "member"} for s in seeds]  # "member": index in its own batch

    assert without_member(union_of_blocks(blocks)) == without_member(whole)


def refusing_task(payload: dict[str, Any], should_stop: Any = None) -> dict[str, Any]:
    """Stands in for ``sweep.run_task`` in worker processes: one block fails, the others train."""
    if payload["cell"]["op"] == "mul" and payload["cell"]["unit"] == "nau" and payload["seeds"] == [2, 3]:
        raise NaluError("refused on purpose for the test")
    return REAL_RUN_TASK(payload, should_stop)


def test_failed_task_is_listed_exits_1_and_is_retried_alone(
    tmp_path: Path, sweep_reference: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref_dir, ref_report = sweep_reference
    out = copy_sweep(ref_dir, tmp_path / "sweep")
    for p in (out / "tasks").glob("mul-nau-*.json"):
        p.unlink()
    grid = str(write_grid(tmp_path / "g.yaml"))

    monkeypatch.setattr(executors, "run_task", refusing_task)
    result = runner.invoke(cli.app, ["sweep", grid, "--out", str(out), "--workers", "2"])
    assert result.exit_code == 1, result.output
    assert "failed: mul · nau · U[1,2] → U[2,6] · seeds 2–3: refused on purpose for the test" in result.stderr
    assert "Error: 1 of 8 tasks failed" in result.stderr and "retry only those" in result.stderr
    assert "incomplete: mul · nau" in result.stderr
    assert "mul" in result.stdout and "nau" in result.stdout  # the finished cells are still shown
    assert len(list((out / "failed").glob("*.json"))) == 1
    partial = json.loads((out / "results.json").read_text())
    assert len(partial["cells"]) == 3 and partial["failures"][0]["error"] == "refused on purpose for the test"

    monkeypatch.setattr(executors, "run_task", REAL_RUN_TASK)
    result = runner.invoke(cli.app, ["sweep", grid, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["tasks"] == {"total": 8, "cached": 7, "trained": 1, "failed": 0}
    assert cells(report) == cells(ref_report) and task_results(out) == task_results(ref_dir)
    assert not list((out / "failed").glob("*.json"))


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find the worker processes")
def test_killed_driver_loses_no_finished_work(tmp_path: Path, sweep_reference: tuple[Path, dict[str, Any]]) -> None:
    ref_dir, ref_report = sweep_reference
    grid = str(write_grid(tmp_path / "g.yaml"))
    out = tmp_path / "sweep"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "nalu_cli", "-q", "sweep", grid, "--out", str(out), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("tasks/*.json")):
            assert driver.poll() is None, "the driver ended before it could be killed"
            assert time.monotonic() < deadline, "no task finished within 120 s"
            time.sleep(0.02)
        workers = _children(driver.pid)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        finished = len(list((out / "tasks").glob("*.json")))
        assert 1 <= finished < 8, finished
        assert workers, "the driver had no worker processes"
        deadline = time.monotonic() + 15
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "worker processes outlived their driver"
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # the driver's own session: whatever it left behind
        except ProcessLookupError:
            pass
        driver.wait(timeout=30)

    result = runner.invoke(cli.app, ["sweep", grid, "--out", str(out), "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["tasks"] == {"total": 8, "cached": finished, "trained": 8 - finished, "failed": 0}
    assert cells(report) == cells(ref_report) and task_results(out) == task_results(ref_dir)
    assert not list((out / "tasks").glob(".*.tmp"))


# -- the command line ----------------------------------------------------------------------------------


def test_progress_bar_only_on_a_terminal(
    tmp_path: Path, sweep_reference: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = copy_sweep(sweep_reference[0], tmp_path / "sweep")  # all finished: nothing to train
    grid = str(write_grid(tmp_path / "g.yaml"))
    terminal = Console(file=StringIO(), force_terminal=True, color_system=None, width=100)
    monkeypatch.setattr(cli.core, "stderr", terminal)
    result = runner.invoke(cli.app, ["sweep", grid, "--out", str(out)])
    assert result.exit_code == 0, result.output
    shown = terminal.file.getvalue()  # type: ignore[attr-defined]
    assert "sweep" in shown and "8/8" in shown and "0 running · 0 failed" in shown
    assert "8 tasks: 8 done earlier, 0 trained now, 0 failed" in shown
    assert "nalu sweep · madsen2020" in result.stdout


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    grid = str(write_grid(tmp_path / "g.yaml"))
    for args, needle in (
        (["--executor", "slurm"], "--executor 'slurm' must be one of: local, ray"),
        (["--address", "10.0.0.1:6379"], "--address names a Ray cluster; add --executor ray"),
    ):
        result = runner.invoke(cli.app, ["sweep", grid, *args])
        assert result.exit_code == 2 and needle in result.stderr, result.output
    result = runner.invoke(cli.app, ["sweep", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "not found" in result.stderr
    write_grid(tmp_path / "bad.yaml", ops=["mull"], seeds=-1)
    result = runner.invoke(cli.app, ["sweep", str(tmp_path / "bad.yaml")])
    assert result.exit_code == 2 and "2 problems" in result.stderr and "did you mean 'mul'" in result.stderr


def test_ray_missing_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = runner.invoke(
        cli.app, ["sweep", str(write_grid(tmp_path / "g.yaml")), "--executor", "ray", "--out", str(tmp_path / "s")]
    )
    assert result.exit_code == 1 and "pip install 'nalu[ray]'" in result.stderr, result.output
    assert not (tmp_path / "s").exists()
