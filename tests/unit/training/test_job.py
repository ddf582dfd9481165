"""TrainJob: ``nalu train`` from Python, without the CLI: real tiny runs, their outcome (exit code, message,
report), a stop and a resume, --check, config errors, and the same numbers as the command for the same options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.config.recipes import Advice
from nalu_cli.errors import CheckpointError, ConfigError
from nalu_cli.files import json_safe
from nalu_cli.runs.checkpoint import load_checkpoint
from nalu_cli.training.job import INTERRUPTED, TrainJob
from nalu_cli.training.report import CHECK_FAILED
from tests.conftest import subprocess_env

runner = CliRunner()

STEPS = 300
SMALL = ["eval.samples=512", "train.valid_samples=256", "train.log_every=100"]  # fast, still real training
VOLATILE = ("elapsed", "seed_steps_per_second", "run_dir")  # timings and the directory differ between two runs


def stable(report: dict[str, Any]) -> dict[str, Any]:
    """The report as ``--json`` prints it, without what differs between two identical runs."""
    return {k: v for k, v in json.loads(json.dumps(json_safe(report))).items() if k not in VOLATILE}


@pytest.fixture(scope="module")
def mul_job(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One finished mul job of STEPS steps (read-only for tests)."""
    out = tmp_path_factory.mktemp("job") / "mul"
    return TrainJob(op="mul", steps=STEPS, device="cpu", overrides=SMALL, out=out).run()


def test_a_job_trains_writes_its_run_and_reports_like_the_command(mul_job: Any, tmp_path: Path) -> None:
    assert mul_job.exit_code == 0 and mul_job.message is None and not mul_job.interrupted
    assert mul_job.report["command"] == "train" and mul_job.report["steps"] == STEPS
    assert mul_job.report["solved"] == mul_job.result.solved_count and mul_job.solved == (mul_job.report["solved"] == 1)
    assert all(path.exists() for path in mul_job.files()) and mul_job.run_dir == mul_job.result.run_dir
    data = load_checkpoint(mul_job.run.checkpoint_path)
    assert data["finished"] is True and data["step"] == STEPS
    cli = runner.invoke(
        app,
        ["train", "--op", "mul", "--steps", str(STEPS), "--device", "cpu", "--out", str(tmp_path / "cli"), "--json"]
        + [arg for item in SMALL for arg in ("--set", item)],
    )
    assert cli.exit_code == 0, cli.output
    assert stable(json.loads(cli.stdout)) == stable(mul_job.report)  # the same numbers, bit for bit


def test_a_stopped_job_saves_and_its_resume_ends_like_the_uninterrupted_run(mul_job: Any, tmp_path: Path) -> None:
    polls = {"n": 0}
    seen: list[int] = []

    def should_stop() -> bool:
        polls["n"] += 1
        return polls["n"] > 120  # polled before each step: stop after 120 steps

    out = tmp_path / "stopped"
    job = TrainJob(op="mul", steps=STEPS, device="cpu", overrides=SMALL, out=out)
    stopped = job.run(should_stop=should_stop, progress=lambda step, total, loss: seen.append(step))
    assert stopped.interrupted and stopped.exit_code == INTERRUPTED and stopped.report["interrupted"]
    assert stopped.report["steps"] == 120 and seen[-1] == 120
    assert stopped.message == f"Interrupted at step 120; checkpoint saved. Resume with: nalu train --resume {out}"
    assert load_checkpoint(out / "checkpoint.pt")["finished"] is False
    resumed = TrainJob(resume=out).run()
    assert resumed.exit_code == 0 and resumed.run_dir == out and resumed.report["steps"] == STEPS
    assert resumed.report["seeds"] == mul_job.report["seeds"]


def test_stop_asked_after_the_last_step_counts_but_the_run_is_complete(tmp_path: Path) -> None:
    """``should_stop`` is polled once more after training: True there ends the job as interrupted, run saved."""
    polls = {"n": 0}

    def should_stop() -> bool:
        polls["n"] += 1
        return polls["n"] > 50  # the 51st poll is the one after training

    out = tmp_path / "late"
    done = TrainJob(op="add", unit="nau", steps=50, device="cpu", overrides=SMALL, out=out).run(should_stop=should_stop)
    assert done.exit_code == INTERRUPTED and not done.result.interrupted and done.report["steps"] == 50
    assert done.stopped == f"during the final evaluation; the run is complete and saved in {out}"
    assert load_checkpoint(out / "checkpoint.pt")["finished"] is True


def test_check_fails_with_exit_3_and_advice_goes_to_on_note_and_the_warnings(tmp_path: Path) -> None:
    """NAC+ cannot multiply: a warning before training, and --check ends with exit 3 and its message."""
    notes: list[Advice] = []
    done = TrainJob(
        op="mul", unit="nac+", seeds=2, steps=50, device="cpu", overrides=SMALL, out=tmp_path / "r", check=True
    ).run(on_note=notes.append)
    assert [n.kind for n in notes] == ["warning"] and "cannot represent mul" in notes[0].text
    assert done.advice == notes and done.report["warnings"][0] == notes[0].text
    assert done.exit_code == CHECK_FAILED and not done.solved and done.report["seeds"][1]["seed"] == 1
    assert done.message == "--check: 2 of 2 seeds not solved on U[10,100] (seeds 0, 1)"
    unchecked = TrainJob(op="mul", unit="nac+", steps=50, device="cpu", overrides={"eval.samples": 512})
    assert unchecked.config_overrides()["model.unit"] == "nac+" and unchecked.config_overrides()["eval.samples"] == 512


@pytest.mark.parametrize(
    ("job", "error", "message"),
    [
        (TrainJob(op="mull"), ConfigError, "did you mean 'mul'"),
        (TrainJob(overrides=["train.lr"]), ConfigError, "--set 'train.lr' must be KEY=VALUE"),
        (TrainJob(seeds="0"), ConfigError, "--seeds must be at least 1"),
        (TrainJob(hidden="a"), ConfigError, "--hidden 'a' must be integers"),
        (TrainJob(resume="runs/x", force=True), ConfigError, "leave out --out and --force"),
        (TrainJob(resume="runs/x", preset="madsen2020"), ConfigError, "only --steps and --device may change"),
        (TrainJob(resume="nowhere"), CheckpointError, "no run directory at 'nowhere'"),
        (TrainJob(device="cuda:99"), ConfigError, "cuda:99"),
    ],
)
def test_a_config_error_raises_before_any_run_directory_exists(
    job: TrainJob, error: type[Exception], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as raised:
        job.run()
    assert message in str(raised.value)
    assert not list(tmp_path.iterdir())


def test_a_job_without_out_names_its_run_like_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    job = TrainJob(op="add", unit=["nau"], hidden=[], seeds=[3, 4], steps=20, device="cpu", overrides=SMALL)
    first, second = job.run(), job.run()
    assert first.run_dir == Path("runs/add-nau-s3") and second.run_dir == Path("runs/add-nau-s3-1")
    assert [s["seed"] for s in first.report["seeds"]] == [3, 4] and first.report["units"] == ["nau"]


def test_the_documented_example_runs_and_prints_its_lines() -> None:
    """docs/examples/train_job.py (the README's Python example) trains mul and prints the same lines every time."""
    script = Path(__file__).parents[3] / "docs" / "examples" / "train_job.py"
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=subprocess_env(), timeout=300
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.splitlines() == [
        "solved: True (1 of 1 seeds, on U[10,100])",
        "formula: y = x0 * x1",
        "exit code: 0",
    ]
