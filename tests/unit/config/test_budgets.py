"""Budgets before allocation: sizes from the command line, a config, a checkpoint or a grid are checked
(seeds, restarts, hidden sizes, batch, memory estimate, grid size; YAML size, depth and aliases) before
anything big is built, and each refusal is one ``Error:`` line."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.config import budget
from nalu_cli.config.loading import YamlBoundsError, load_yaml, parse_assignment, safe_load_bounded
from nalu_cli.config.resolve import resolve
from nalu_cli.errors import ConfigError
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, CONFIG_NAME
from nalu_cli.sweeps import driver as sweep
from nalu_cli.sweeps import grid as sweeps_grid
from tests.conftest import assert_error_line, nalu_command, subprocess_env, tiny_config

runner = CliRunner()


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """A few hundred bytes of YAML whose aliases expand to width**levels values (9**9: 387 million)."""
    lines = ["l0: &l0 [" + ",".join(["x"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seeds", "1000000000"], "at most 100000 seeds"),
        (["--seeds", "99999999999999999999"], "at most 100000 seeds"),
        (["--seeds", "0-99999999999999999999"], "at most 100000 seeds"),
        (["--seeds", "100000", "--restarts", "100000"], "members (seeds × restarts)"),
        (["--hidden", "50000,50000"], "GB budget"),
        (["--batch-size", "1000000", "--seeds", "1000"], "GB budget"),
        (["--set", "train.max_memory_gb=0.000001"], "GB budget"),
    ],
)
def test_sizes_are_refused_before_allocation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    def never(*a: object, **k: object) -> None:
        raise AssertionError("a model was built for a config over the budget")

    monkeypatch.setattr("nalu_cli.training.trainer.Trainer.__init__", never)
    result = runner.invoke(cli.app, ["train", "--op", "mul", *args, "--out", str(tmp_path / "run")])
    assert needle in assert_error_line(result, (2,), args)
    assert not (tmp_path / "run").exists()


def test_the_budget_can_be_raised() -> None:
    config = tiny_config("mul", **{"model.hidden": [30000, 30000], "model.unit": ["nau", "nau", "nmu"]})
    with pytest.raises(budget.BudgetError):
        budget.check_memory(config, "x")
    raised = tiny_config("mul", **{"model.hidden": [30000, 30000], "model.unit": ["nau", "nau", "nmu"],
                                   "train.max_memory_gb": 100})  # fmt: skip
    assert budget.check_memory(raised, "x").gb > 16
    assert "max_memory_gb" not in tiny_config("mul").to_dict()["train"]  # unset: config text as before


def test_the_estimate_counts_parameters() -> None:
    config = tiny_config("add", **{"model.unit": "nau", "train.seeds": [0, 1, 2], "train.restarts": 2})
    est = budget.estimate(config)
    assert est.members == 6 and est.params == 6 * (2 + 1) * 1  # one NAU, 2 inputs (+1 bias bound) -> 1 output
    from nalu_cli.training.trainer import Trainer

    real = sum(p.numel() for p in Trainer(config).model.parameters())
    assert real <= est.params


def test_a_crafted_checkpoint_is_refused_before_its_model_is_built(
    tmp_path: Path, mul_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = torch.load(mul_run / CHECKPOINT_NAME, weights_only=True)
    data["config"]["model"] = {**data["config"]["model"], "unit": ["nau", "nau", "nmu"], "hidden": [50000, 50000]}
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    torch.save(data, crafted / CHECKPOINT_NAME)  # a few kB declaring a 2.5-billion-parameter model
    assert (crafted / CHECKPOINT_NAME).stat().st_size < 20_000

    def never(*a: object, **k: object) -> None:
        raise AssertionError("the model was built before the declared config was checked")

    monkeypatch.setattr("nalu_cli.training.trainer.Trainer.__init__", never)
    for args in (["eval"], ["extrapolate"], ["inspect-weights"], ["train", "--resume"]):
        result = runner.invoke(cli.app, [*args, str(crafted)])
        assert "GB budget" in assert_error_line(result, (1, 2), args)


def test_restarts_minus_five_in_a_checkpoint(tmp_path: Path, mul_run: Path) -> None:
    data = torch.load(mul_run / CHECKPOINT_NAME, weights_only=True)
    data["seeds"]["restarts"] = -5
    bad = tmp_path / "bad"
    bad.mkdir()
    torch.save(data, bad / CHECKPOINT_NAME)
    for args in (["eval", str(bad)], ["train", "--resume", str(bad)], ["compare", str(mul_run), str(bad)]):
        assert "restarts" in assert_error_line(runner.invoke(cli.app, args), (1, 2), args)


# -- YAML ---------------------------------------------------------------------------------------------------


def test_yaml_bounds() -> None:
    with pytest.raises(YamlBoundsError, match="aliases are expanded"):
        safe_load_bounded(alias_bomb())
    with pytest.raises(YamlBoundsError, match="more than 100 aliases"):
        safe_load_bounded("a: &a 1\nb: [" + ",".join(["*a"] * 101) + "]\n")
    with pytest.raises(YamlBoundsError, match="nested more than"):
        safe_load_bounded("[" * 500 + "]" * 500)
    with pytest.raises(YamlBoundsError, match="recursive"):
        safe_load_bounded("a: &a [*a]\n")
    assert safe_load_bounded("a: &a [1, 2]\nb: *a\n") == {"a": [1, 2], "b": [1, 2]}  # a few aliases are fine


def test_yaml_inputs_through_the_cli(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())
    deep = tmp_path / "deep.yaml"
    deep.write_text("task: " + "[" * 600 + "]" * 600 + "\n")
    grid_bomb = tmp_path / "grid.yaml"
    grid_bomb.write_text("ops: [add]\nunits: [nau]\nset:\n  " + alias_bomb().replace("\n", "\n  "))
    cases = [
        (["train", "--config", "/dev/zero"], "larger than"),
        (["train", "--config", str(bomb)], "aliases are expanded"),
        (["train", "--config", str(deep)], "nested more than"),
        (["train", "--set", "train.lr={" + alias_bomb().replace("\n", ", ") + "}"], "aliases are expanded"),
        (["train", "--set", "train.lr=" + "[" * 400 + "]" * 400], "nested more than"),
        (["sweep", str(grid_bomb)], "aliases are expanded"),
        (["sweep", "/dev/zero"], "larger than"),
    ]
    for args, needle in cases:
        result = runner.invoke(cli.app, [*args, "--out", str(tmp_path / "out")])
        assert needle in assert_error_line(result, (2,), args[:2])


def test_an_alias_bomb_under_a_memory_limit(tmp_path: Path) -> None:
    """The real command, its address space capped at 2.5 GB: refused at once, never killed or out of memory."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb())

    def cap() -> None:
        limit = 2500 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    for args in (["train", "--config", str(bomb)], ["sweep", str(bomb)]):
        done = subprocess.run(
            [*nalu_command(), *args, "--out", str(tmp_path / "out")],
            capture_output=True, text=True, env=subprocess_env(), timeout=120, preexec_fn=cap,
        )  # fmt: skip
        assert done.returncode == 2, (args, done.returncode, done.stderr)
        assert done.stderr.startswith("Error:") and "aliases are expanded" in done.stderr


def test_grid_size_is_capped_before_planning(monkeypatch: pytest.MonkeyPatch) -> None:
    real_plan = sweep.plan

    def small_only(grid: sweeps_grid.Grid) -> list[sweep.TaskSpec]:
        assert len(grid.blocks()) == 1, "planned every task of a grid over the task cap"
        return real_plan(grid)  # (the one-block check of each cell's config is fine)

    monkeypatch.setattr(sweep, "plan", small_only)
    grid = {"ops": ["add", "sub", "mul", "div"], "units": ["nau", "nmu"], "ranges": "mistry2021", "seeds": 100000,
            "seed_block": 1}  # fmt: skip
    with pytest.raises(ConfigError, match="more than max_tasks"):
        sweeps_grid.validate_grid(grid)


def test_grid_memory_is_checked_when_planning() -> None:
    with pytest.raises(ConfigError, match="GB budget"):
        sweeps_grid.validate_grid({"ops": ["add"], "units": ["nau"], "seeds": 1000, "seed_block": 1000,
                             "set": {"train.batch_size": 1_000_000}})  # fmt: skip


def test_grid_problems_all_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        sweeps_grid.validate_grid({"ops": ["add"], "units": ["nau"], "colour": 1, "set": {"train": {"lrr": 0.1}}})
    assert any("colour" in p for p in info.value.problems)
    assert any("train.lrr" in p for p in info.value.problems)


def test_load_yaml_and_set_still_read_normal_input(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("defaults: &d {lr: 0.01}\ntrain: {<<: *d, steps: 10}\n")
    data = load_yaml(f)
    assert data["train"] == {"lr": 0.01, "steps": 10}
    assert parse_assignment("model.hidden=[2, 2]") == ("model.hidden", [2, 2])
    assert resolve(overrides={"train.seeds": [0, 1]}).train.seeds == [0, 1]
    shutil.rmtree(tmp_path)
    assert sys.getrecursionlimit() >= 1000
    assert CONFIG_NAME
