"""Seeds in run directories: new runs store the compact spec, old runs (the full list) still load, evaluate,
resume and compare as before, and a config.yaml that could not be read back is refused before training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config.schema import MAX_SEED
from nalu_cli.errors import ConfigError
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, CONFIG_NAME, load_checkpoint
from nalu_cli.runs.run import Run
from nalu_cli.training.loop import train
from tests.conftest import assert_error_line, run_nalu, tiny_config

torch.set_num_threads(1)
runner = CliRunner()
SEEDS = list(range(MAX_SEED - 19, MAX_SEED + 1))  # 20 seeds at the top of the range: a spec, not a short list
SPEC = f"{SEEDS[0]}-{SEEDS[-1]}"
FAST = {"train.steps": 40, "train.log_every": 20, "eval.samples": 128, "train.valid_samples": 64}


def invoke(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, (args, result.output)
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def write_old_format(run_dir: Path) -> None:
    """Rewrite a run as the previous nalu wrote it: config.yaml and the checkpoint's config with the full list."""
    old = Run.open(run_dir).config().to_dict()  # to_dict keeps the list: what the previous version stored
    (run_dir / CONFIG_NAME).write_text(yaml.safe_dump(old, sort_keys=False))
    data = load_checkpoint(run_dir / CHECKPOINT_NAME)
    data["config"] = old
    torch.save(data, run_dir / CHECKPOINT_NAME)


def without_paths(report: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in report.items()
        if k not in ("run", "run_dir", "path", "name", "elapsed", "seed_steps_per_second")
    }


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a run as this nalu writes it, the same run rewritten in the previous version's spelling)."""
    base = tmp_path_factory.mktemp("seed-spec")
    new, old = base / "new", base / "old"
    train(tiny_config("add", **{"model.unit": "nau", "train.seeds": SEEDS, **FAST}), new)
    shutil.copytree(new, old)
    write_old_format(old)
    return new, old


def test_new_runs_store_the_spec_and_old_runs_the_list(pair: tuple[Path, Path]) -> None:
    new, old = pair
    assert yaml.safe_load((new / CONFIG_NAME).read_text())["train"]["seeds"] == SPEC
    assert load_checkpoint(new / CHECKPOINT_NAME)["config"]["train"]["seeds"] == SPEC
    assert load_checkpoint(new / CHECKPOINT_NAME)["seeds"]["seeds"] == SEEDS  # the expanded list, as always
    assert yaml.safe_load((old / CONFIG_NAME).read_text())["train"]["seeds"] == SEEDS
    assert load_checkpoint(old / CHECKPOINT_NAME)["config"]["train"]["seeds"] == SEEDS
    assert Run.open(old).config() == Run.open(new).config()
    assert Run.open(new).config().train.seed_list() == SEEDS


@pytest.mark.parametrize("command", [("eval",), ("extrapolate", "--factors", "1,10"), ("inspect-weights",)])
def test_an_old_format_run_reads_as_before(pair: tuple[Path, Path], command: tuple[str, ...]) -> None:
    new, old = pair
    name, *options = command
    from_old, from_new = invoke(name, str(old), *options), invoke(name, str(new), *options)
    assert [s["seed"] for s in from_old["seeds"]] == SEEDS
    assert without_paths(from_old) == without_paths(from_new)


def test_runs_and_compare_see_one_spelling(pair: tuple[Path, Path]) -> None:
    new, old = pair
    rows = invoke("runs", str(new.parent))["runs"]
    assert [(r["name"], r["status"], r["error"], r["seeds"]) for r in rows] == [
        ("new", "finished", None, SEEDS),
        ("old", "finished", None, SEEDS),
    ]
    report = invoke("compare", str(old), str(new))
    assert report["differences"] == {}  # the spelling of the seeds is not a config difference
    assert [r["seeds"] for r in report["runs"]] == [SEEDS, SEEDS]


def test_an_old_format_run_resumes_like_a_new_one(pair: tuple[Path, Path], tmp_path: Path) -> None:
    new, old = tmp_path / "new", tmp_path / "old"
    shutil.copytree(pair[0], new)
    shutil.copytree(pair[1], old)
    resumed = [invoke("train", "--resume", str(run), "--steps", "60") for run in (old, new)]
    assert without_paths(resumed[0]) == without_paths(resumed[1])
    assert (old / CONFIG_NAME).read_text() == (new / CONFIG_NAME).read_text()  # rewritten in the new spelling
    assert f"seeds: {SPEC}\n" in (old / CONFIG_NAME).read_text()
    assert without_paths(invoke("eval", str(old))) == without_paths(invoke("eval", str(new)))


def test_top_of_range_seeds_train_eval_list_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "top"
    args = ["--op", "add", "--unit", "nau", "--seeds", SPEC, "--steps", "2", "--batch-size", "4"]
    sets = ["--set", "eval.samples=8", "--set", "train.valid_samples=8", "--set", "train.log_every=1"]
    invoke("train", *args, *sets, "--out", str(out))
    assert f"seeds: {SPEC}\n" in (out / CONFIG_NAME).read_text()
    assert [s["seed"] for s in invoke("eval", str(out))["seeds"]] == SEEDS
    assert invoke("runs", str(tmp_path))["runs"][0]["seeds"] == SEEDS
    assert invoke("train", "--resume", str(out), "--steps", "3")["steps"] == 3


def test_a_config_yaml_that_could_not_be_read_back_is_refused_before_training(tmp_path: Path) -> None:
    """A config file just under 1 MB (scattered ten-digit seeds): the run's config.yaml would be over it."""
    seeds = ",".join(str(MAX_SEED - 2 * i) for i in range(90_850))  # 999,349 characters: no range to join
    config_file = tmp_path / "near-limit.yaml"
    config_file.write_text(f"task: {{op: add}}\nmodel: {{unit: nau}}\ntrain: {{seeds: '{seeds}'}}\n")
    assert 999_349 < config_file.stat().st_size < 1_000_000  # readable; the resolved config adds ~1 kB
    fast = ["--steps", "1", "--set", "eval.samples=1", "--set", "train.valid_samples=1"]  # should it train
    result = runner.invoke(app, ["train", "--config", str(config_file), *fast, "--out", str(tmp_path / "r")])
    line = assert_error_line(result, codes=(2,))
    assert "over the 1,000,000-byte limit" in line
    assert not (tmp_path / "r").exists()  # refused before the run directory was made
    config = config_resolve.resolve(overrides={"task.op": "add", "train.seeds": seeds})
    with pytest.raises(ConfigError, match="over the 1,000,000-byte limit"):
        train(config, tmp_path / "library")
    assert not (tmp_path / "library").exists()


@pytest.mark.slow
def test_100000_seeds_at_the_top_of_the_range(tmp_path: Path) -> None:
    """The issue's own case: a 1.5 MB config.yaml before, a few hundred bytes now, read back by every reader.
    (Slow: 100,000 result records make each command load a large checkpoint.)"""
    out = tmp_path / "top"
    spec = f"{MAX_SEED - 99_999}-{MAX_SEED}"
    common = ["--set", "eval.samples=2", "--set", "train.valid_samples=2", "--json"]
    done = run_nalu("train", "--op", "add", "--unit", "nau", "--seeds", spec, "--steps", "1", "--batch-size", "2",
                    *common, "--out", str(out), timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (out / CONFIG_NAME).stat().st_size < 2_000
    assert f"seeds: {spec}\n" in (out / CONFIG_NAME).read_text()
    evaluated = run_nalu("eval", str(out), "--json", timeout=900)
    assert evaluated.returncode == 0, evaluated.stderr
    assert len(json.loads(evaluated.stdout)["seeds"]) == 100_000
    listed = run_nalu("runs", str(tmp_path), "--json", timeout=900)
    assert listed.returncode == 0 and json.loads(listed.stdout)["runs"][0]["error"] is None, listed.stderr
    resumed = run_nalu("train", "--resume", str(out), "--steps", "2", "--json", timeout=900)
    assert resumed.returncode == 0, resumed.stderr
    assert (out / CONFIG_NAME).stat().st_size < 2_000
