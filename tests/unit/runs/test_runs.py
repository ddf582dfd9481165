"""`nalu runs` and `nalu compare`: finding run directories, stored results, broken dirs, sorting, tables."""

from __future__ import annotations

import json
import math
from io import StringIO
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as config
from nalu_cli.errors import ConfigError
from nalu_cli.output.reports import compare_report, runs_report
from nalu_cli.output.tables import compare_table, runs_table
from nalu_cli.runs import catalogue as runs
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, CONFIG_NAME, load_checkpoint, write_config
from nalu_cli.training.loop import train
from nalu_cli.training.trainer import Trainer

torch.set_num_threads(1)
runner = CliRunner()


def quick(op: str, **overrides: object) -> config.Config:
    base: dict[str, object] = {
        "task.op": op,
        "train.steps": 200,
        "train.log_every": 50,
        "eval.samples": 256,
        "train.valid_samples": 128,
    }
    base.update(overrides)
    return config_resolve.resolve(overrides=base)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs directory with good, nested, unfinished and broken run directories."""
    base = tmp_path_factory.mktemp("runs")
    train(quick("mul"), base / "mul-nmu")
    train(quick("mul", **{"model.unit": "nac_add"}), base / "mul-nac")  # cannot multiply: unsolved
    train(quick("add", **{"train.seeds": [0, 1, 2]}), base / "sweep" / "add-nau")
    unfinished = quick("add", **{"train.steps": 1000})
    (base / "unfinished").mkdir()
    write_config(base / "unfinished", config_resolve.dump_yaml(unfinished))
    Trainer(unfinished).save(base / "unfinished" / CHECKPOINT_NAME, finished=False)  # a periodic save, no results
    (base / "empty-ckpt").mkdir()
    (base / "empty-ckpt" / CHECKPOINT_NAME).write_bytes(b"")
    (base / "no-ckpt").mkdir()
    (base / "no-ckpt" / CONFIG_NAME).write_text("task: {op: mul}\n")
    (base / "foreign").mkdir()
    torch.save({"weights": torch.zeros(2)}, base / "foreign" / CHECKPOINT_NAME)
    (base / "not-a-run" / "deeper").mkdir(parents=True)  # no run files: ignored, not broken
    return base


def by_name(report: dict) -> dict[str, dict]:
    return {r["name"]: r for r in report["runs"]}


def render(renderable: object, width: int = 120) -> str:
    console = Console(width=width, file=StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_finds_nested_run_dirs_and_ignores_non_runs(root: Path) -> None:
    found = {str(p.relative_to(root)) for p in runs.find_run_dirs(root)}
    assert found == {"mul-nmu", "mul-nac", "sweep/add-nau", "unfinished", "empty-ckpt", "no-ckpt", "foreign"}
    assert runs.find_run_dirs(root / "mul-nmu") == [root / "mul-nmu"]  # a run directory lists itself


def test_rows_come_from_stored_results_without_re_evaluating(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_eval(*args: object, **kwargs: object) -> None:
        raise AssertionError("runs must not rebuild or re-evaluate models")

    monkeypatch.setattr("nalu_cli.training.trainer.Trainer.__init__", no_eval)
    monkeypatch.setattr("nalu_cli.training.evaluate.evaluate_range", no_eval)
    rows = by_name(runs_report(root))
    stored = load_checkpoint(root / "mul-nmu" / CHECKPOINT_NAME)["results"][0]
    mul = rows["mul-nmu"]
    assert mul["status"] == "finished" and mul["op"] == "mul" and mul["units"] == ["nmu"] and mul["seeds"] == [0]
    assert mul["steps"] == mul["total_steps"] == 200
    assert mul["interp_mse"] == stored["interpolation"]["mse"]
    assert mul["extrap_mse"] == stored["extrapolation"]["mse"]
    assert (mul["solved"], mul["total"]) == (int(stored["solved"]), 1)
    assert mul["date"] and mul["date"][:4].isdigit()
    add = rows["sweep/add-nau"]
    assert add["seeds"] == [0, 1, 2] and add["total"] == 3 and add["solved"] == 3
    assert rows["mul-nac"]["solved"] == 0


def test_broken_and_unfinished_dirs_are_flagged_not_fatal(root: Path) -> None:
    report = runs_report(root)
    rows = by_name(report)
    assert report["broken"] == 3
    assert rows["empty-ckpt"]["status"] == "broken" and "empty" in rows["empty-ckpt"]["error"]
    assert rows["no-ckpt"]["status"] == "broken" and "no checkpoint.pt" in rows["no-ckpt"]["error"]
    assert rows["foreign"]["status"] == "broken" and "not a nalu checkpoint" in rows["foreign"]["error"]
    unfinished = rows["unfinished"]
    assert unfinished["status"] == "unfinished" and unfinished["steps"] == 0 and unfinished["total_steps"] == 1000
    assert unfinished["total"] is None and math.isnan(unfinished["extrap_mse"])


def test_sorting(root: Path) -> None:
    names = [r["name"] for r in runs_report(root, sort="extrap")["runs"]]
    good = ["sweep/add-nau", "mul-nmu", "mul-nac", "unfinished"]  # exact add, near-exact mul, failure, no results
    assert names[:4] == good
    assert set(names[4:]) == {"empty-ckpt", "foreign", "no-ckpt"}  # broken runs always last
    reverse = [r["name"] for r in runs_report(root, sort="extrap", reverse=True)["runs"]]
    assert reverse.index("mul-nac") < reverse.index("mul-nmu") < reverse.index("sweep/add-nau")
    assert reverse[-3:] == names[-3:]
    assert reverse[3] == "unfinished"  # no results to sort by: after the others either way
    by_solved = [r["name"] for r in runs_report(root, sort="solved")["runs"]]
    assert by_solved[:4] == ["mul-nmu", "sweep/add-nau", "mul-nac", "unfinished"]  # 100%, 100% (by name), 0%, none
    by_op = [r["op"] for r in runs_report(root, sort="op")["runs"] if r["status"] != "broken"]
    assert by_op == sorted(by_op)
    for key in runs.SORT_KEYS:
        assert len(runs_report(root, sort=key)["runs"]) == 7
    with pytest.raises(ConfigError, match="did you mean 'extrap'"):
        runs_report(root, sort="exrap")


def test_runs_table_renders_every_row(root: Path) -> None:
    text = render(runs_table(runs_report(root)))
    lines = text.splitlines()
    assert lines[0].startswith(f"nalu runs · {root} · 7 runs")
    header = next(line for line in lines if "interp MSE" in line)
    for column in ("run", "op", "unit", "seeds", "steps", "interp MSE", "extrap MSE", "solved", "date"):
        assert column in header
    add_row = next(line for line in lines if "sweep/add-nau" in line)
    assert " add " in add_row and " nau " in add_row and "0–2" in add_row and "3/3" in add_row
    assert "0/1000" in next(line for line in lines if "unfinished" in line)
    assert sum("broken" in line and "│" in line for line in lines) == 3
    assert any(line.startswith("broken: empty-ckpt: ") for line in lines)
    assert "\x1b" not in text and max(len(line) for line in lines) <= 120


def test_runs_cli(root: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["runs", str(root), "--json", "--sort", "date"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["command"] == "runs" and len(data["runs"]) == 7
    assert all(isinstance(r["extrap_mse"], (float, str)) for r in data["runs"])  # NaN spelled "nan" in JSON
    assert runner.invoke(app, ["runs", str(root)]).exit_code == 0
    missing = runner.invoke(app, ["runs", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no directory")
    bad_sort = runner.invoke(app, ["runs", str(root), "--sort", "bogus"])
    assert bad_sort.exit_code == 2 and "unknown sort key 'bogus'" in bad_sort.stderr
    empty = runner.invoke(app, ["runs", str(tmp_path)])
    assert empty.exit_code == 0 and "no run directories" in empty.stderr


def test_config_differences() -> None:
    a = {"task": {"op": "mul"}, "train": {"lr": 0.1, "steps": 10}}
    b = {"task": {"op": "mul"}, "train": {"lr": 0.2, "steps": 10}, "extra": 1}
    assert runs.config_differences([a, b]) == {"train.lr": [0.1, 0.2], "extra": [runs.MISSING, 1]}
    assert runs.config_differences([a, a]) == {}


def test_compare_report_and_table(root: Path) -> None:
    report = compare_report([root / "mul-nmu", root / "mul-nac", root / "sweep" / "add-nau"])
    diffs = report["differences"]
    assert diffs["model.unit"] == [["nmu"], ["nac_add"], ["nau"]]  # always one unit per layer (stable JSON)
    assert diffs["task.op"] == ["mul", "mul", "add"]
    assert diffs["train.seeds"] == [[0], [0], [0, 1, 2]]
    assert "train.steps" not in diffs and "train.seed" not in diffs
    assert [r["name"] for r in report["runs"]] == ["mul-nmu", "mul-nac", "add-nau"]
    text = render(compare_table(report))
    lines = text.splitlines()
    assert lines[0].startswith("nalu compare · 3 runs")
    assert "mul-nmu" in lines[2] and "mul-nac" in lines[2] and "add-nau" in lines[2]
    unit_row = next(line for line in lines if "model.unit" in line)
    assert [cell.strip() for cell in unit_row.split("│")[1:-1]] == ["model.unit", "nmu", "nac_add", "nau"]
    assert "0–2" in next(line for line in lines if "train.seeds" in line)
    assert "3/3" in next(line for line in lines if "solved " in line and "at" not in line)
    assert "interp MSE (median)" in text and "formula" in text and "y = x0 + x1 (3/3)" in text

    same_report = compare_report([root / "mul-nmu", root / "mul-nmu"])
    assert [r["name"] for r in same_report["runs"]] == [str(root / "mul-nmu")] * 2  # clashing names: full paths
    assert "the configs are identical" in render(compare_table(same_report))


def test_compare_cli(root: Path) -> None:
    result = runner.invoke(app, ["compare", str(root / "mul-nmu"), str(root / "mul-nac"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["differences"]["model.unit"] == [["nmu"], ["nac_add"]]
    one = runner.invoke(app, ["compare", str(root / "mul-nmu")])
    assert one.exit_code == 2 and one.stderr == "Error: compare needs at least two runs\n"
    broken = runner.invoke(app, ["compare", str(root / "mul-nmu"), str(root / "empty-ckpt")])
    assert broken.exit_code == 1 and broken.stderr.startswith("Error: ") and "empty" in broken.stderr
    assert "Traceback" not in broken.output


def test_names_are_never_read_as_markup(root: Path, tmp_path: Path) -> None:
    odd = tmp_path / "exp[bold]1"
    odd.mkdir()
    (odd / CHECKPOINT_NAME).write_bytes((root / "mul-nmu" / CHECKPOINT_NAME).read_bytes())
    assert "exp[bold]1" in render(runs_table(runs_report(tmp_path)))
    assert "exp[bold]1" in render(compare_table(compare_report([odd, root / "mul-nac"])))
