"""The run directory as one object (``nalu_cli.runs.run``): naming, --out/--force/--resume rules, the writer's lock,
and --force never mixing two runs, with real processes racing and killed."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.errors import CheckpointError, ConfigError
from nalu_cli.runs.catalogue import summarize_run
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME, load_checkpoint
from nalu_cli.runs.lock import LOCK_NAME, RunLock, RunLockedError
from nalu_cli.runs.run import Run
from nalu_cli.training.loop import train
from tests.conftest import assert_error_line, nalu_command, subprocess_env, tiny_config

runner = CliRunner()
QUICK = ["--set", "eval.samples=256", "--set", "train.valid_samples=128", "--set", "train.log_every=50"]


def _op_of(run_dir: Path) -> tuple[str, str]:
    """(op in config.yaml, op in the checkpoint)."""
    declared = yaml.safe_load((run_dir / CONFIG_NAME).read_text())["task"]["op"]
    return declared, load_checkpoint(run_dir / CHECKPOINT_NAME)["config"]["task"]["op"]


def _wait_for_lock_holder(run_dir: Path, pid: int, timeout: float = 120) -> None:
    """Until process ``pid`` holds the lock of ``run_dir`` (it writes its pid into the lock file)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if (run_dir / LOCK_NAME).read_text().strip() == str(pid):
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"process {pid} never locked {run_dir}")


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*nalu_command(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env()
    )


# -- naming and the --out / --resume rules ------------------------------------------------------------------


def test_default_names_take_collision_suffixes(tmp_path: Path) -> None:
    config = tiny_config("add", **{"train.steps": 1})
    names = []
    for _ in range(3):
        with Run.create(config, base=tmp_path / "runs") as writer:
            names.append(writer.run.path.name)
    assert names == ["add-nau-s0", "add-nau-s0-1", "add-nau-s0-2"]


def test_out_rules(tmp_path: Path, mul_run: Path) -> None:
    empty = runner.invoke(cli.app, ["train", "--op", "add", "--steps", "5", "--out", ""])
    assert "--out must not be empty" in assert_error_line(empty, (2,))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "is a file" in assert_error_line(runner.invoke(cli.app, ["train", "--out", str(a_file)]), (2,))
    # a directory with a config.yaml but no checkpoint (a run killed before its first save) needs --force too
    half = tmp_path / "half"
    half.mkdir()
    (half / CONFIG_NAME).write_text("task: {op: mul}\n")
    err = assert_error_line(runner.invoke(cli.app, ["train", "--op", "add", "--steps", "5", "--out", str(half)]), (2,))
    assert "--force" in err and (half / CONFIG_NAME).read_text() == "task: {op: mul}\n"
    copy = tmp_path / "copy"
    shutil.copytree(mul_run, copy)
    err = assert_error_line(runner.invoke(cli.app, ["train", "--op", "add", "--steps", "5", "--out", str(copy)]), (2,))
    assert "already holds a run" in err and _op_of(copy) == ("mul", "mul")


def test_resume_rules(tmp_path: Path, mul_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(mul_run, run)
    other = tmp_path / "other"
    result = runner.invoke(cli.app, ["train", "--resume", str(run), "--out", str(other)])
    assert "leave out --out" in assert_error_line(result, (2,))
    assert not other.exists()
    stray = tmp_path / "stray.pt"
    shutil.copy(run / CHECKPOINT_NAME, stray)
    result = runner.invoke(cli.app, ["train", "--resume", str(stray)])
    assert "run directory or the checkpoint.pt inside one" in assert_error_line(result, (2,))
    done = load_checkpoint(run / CHECKPOINT_NAME)["step"]
    result = runner.invoke(cli.app, ["train", "--resume", str(run), "--steps", str(done - 1)])
    assert f"fewer than the {done} steps this run has already trained" in assert_error_line(result, (2,))


def test_resume_rewrites_config_yaml_and_the_checkpoint_inside_works(tmp_path: Path) -> None:
    run = tmp_path / "run"
    train(tiny_config("add", **{"train.steps": 100, "train.log_every": 50}), run)
    result = runner.invoke(cli.app, ["train", "--resume", str(run / CHECKPOINT_NAME), "--steps", "150", "--json"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((run / CONFIG_NAME).read_text())["train"]["steps"] == 150
    assert load_checkpoint(run / CHECKPOINT_NAME)["step"] == 150
    assert (run / CONFIG_NAME).stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_checkpoint_that_disagrees_with_config_yaml_is_reported(tmp_path: Path, mul_run: Path) -> None:
    add = tmp_path / "add"
    train(tiny_config("add", **{"train.steps": 50}), add)
    mixed = tmp_path / "mixed"
    shutil.copytree(add, mixed)
    shutil.copy(mul_run / CHECKPOINT_NAME, mixed / CHECKPOINT_NAME)  # another run's checkpoint copied in
    with pytest.raises(CheckpointError, match=r"disagree on task\.op"):
        Run.open(mixed).config()
    for args in (["eval", str(mixed)], ["train", "--resume", str(mixed)], ["compare", str(mixed), str(add)]):
        assert "disagree on task.op" in assert_error_line(runner.invoke(cli.app, args), (1,), args)
    row = summarize_run(mixed)
    assert row["status"] == "broken" and "disagree" in row["error"]


def test_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        train(tiny_config("add", **{"train.steps": 20}), tmp_path / "run")
    finally:
        os.umask(old)
    for name in (CONFIG_NAME, CHECKPOINT_NAME, METRICS_NAME):
        assert stat.S_IMODE((tmp_path / "run" / name).stat().st_mode) == 0o640, name


# -- the lock -----------------------------------------------------------------------------------------------


def test_lock_is_exclusive_and_names_the_holder(tmp_path: Path) -> None:
    lock = RunLock(tmp_path).acquire()
    try:
        with pytest.raises(RunLockedError, match=f"being written by process {os.getpid()}"):
            RunLock(tmp_path).acquire()
        config = tiny_config("add", **{"train.steps": 5})
        with pytest.raises(RunLockedError):
            Run.create(config, tmp_path, force=True)
    finally:
        lock.release()
    RunLock(tmp_path).acquire().release()  # free again


def test_a_second_writer_never_cleans_up_the_first_writers_temp_files(tmp_path: Path, mul_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(mul_run, run)
    in_flight = run / f".{CHECKPOINT_NAME}.abc123.tmp"  # what a writer's save looks like mid-write
    lock = RunLock(run).acquire()
    try:
        in_flight.write_bytes(b"half")
        for args in (["train", "--resume", str(run)], ["train", "--out", str(run), "--force", "--steps", "5"]):
            assert "being written by process" in assert_error_line(runner.invoke(cli.app, args), (1,), args)
        assert in_flight.exists()
    finally:
        lock.release()
    runner.invoke(cli.app, ["train", "--resume", str(run), "--steps", "650"])  # the lock is free: stale, removed
    assert not in_flight.exists()


def test_readers_never_wait_for_the_writer(mul_run: Path) -> None:
    lock = RunLock(mul_run).acquire()
    try:
        with pytest.raises(RunLockedError):
            Run.resume(mul_run)  # a second writer fails at once
        result = runner.invoke(cli.app, ["eval", str(mul_run), "--samples", "64", "--json"])
        assert result.exit_code == 0, result.output
        assert summarize_run(mul_run)["status"] == "finished"
    finally:
        lock.release()


def test_racing_force_writers_one_wins_the_other_fails_at_once(tmp_path: Path, mul_run: Path) -> None:
    """Two ``nalu train --out D --force`` at once: the second gets the lock error, D ends as one whole run."""
    run = tmp_path / "D"
    shutil.copytree(mul_run, run)  # an old run that both want to replace
    first = _spawn("train", "--op", "add", "--steps", "400", "--out", str(run), "--force", *QUICK)
    try:
        _wait_for_lock_holder(run, first.pid)
        os.kill(first.pid, signal.SIGSTOP)  # holds the lock while the second one tries
        started = time.monotonic()
        second = subprocess.run(
            [*nalu_command(), "train", "--op", "sub", "--steps", "400", "--out", str(run), "--force", *QUICK],
            capture_output=True, text=True, env=subprocess_env(), timeout=120,
        )  # fmt: skip
        waited = time.monotonic() - started
        assert second.returncode == 1, second.stderr
        assert second.stderr.strip() == f"Error: run {str(run)!r} is being written by process {first.pid}"
        assert waited < 30  # failed at once (the time is torch's import), did not wait for the writer
        assert _op_of(run) == ("mul", "mul")  # the old run, whole, while the first writer has not saved
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert _op_of(run) == ("add", "add")
    assert summarize_run(run)["status"] == "finished"
    assert not list(tmp_path.glob(".D.*")), "staging directory left behind"


def test_two_processes_started_together_never_mix(tmp_path: Path) -> None:
    run = tmp_path / "D"
    procs = [
        _spawn("train", "--op", op, "--steps", "300", "--out", str(run), "--force", *QUICK) for op in ("mul", "add")
    ]
    outcomes = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    for code, err in outcomes:
        assert code == 0 or (code == 1 and "is being written by process" in err), (code, err)
    declared, stored = _op_of(run)
    assert declared == stored  # whichever won (or finished last), one run's files only
    lines = (run / METRICS_NAME).read_text().splitlines()
    assert [yaml.safe_load(line)["step"] for line in lines] == [0, 50, 100, 150, 200, 250, 300]


def test_sigkill_releases_the_lock_and_force_before_first_save_keeps_the_old_run(tmp_path: Path, mul_run: Path) -> None:
    run = tmp_path / "D"
    shutil.copytree(mul_run, run)
    before = {name: (run / name).read_bytes() for name in (CONFIG_NAME, CHECKPOINT_NAME, METRICS_NAME)}
    writer = _spawn("train", "--op", "add", "--steps", "100000", "--checkpoint-every", "100000",
                    "--out", str(run), "--force", *QUICK)  # fmt: skip
    _wait_for_lock_holder(run, writer.pid)
    time.sleep(0.5)  # training, writing its config and log into the staging directory
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    # the old run is whole: not one byte of the new run's config or log went into it
    assert {name: (run / name).read_bytes() for name in before} == before
    assert summarize_run(run)["status"] == "finished"
    # the kernel released the lock: a new writer proceeds, and cleans up the killed writer's staging directory
    resumed = subprocess.run(
        [*nalu_command(), "train", "--op", "sub", "--steps", "100", "--out", str(run), "--force", *QUICK],
        capture_output=True, text=True, env=subprocess_env(), timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert _op_of(run) == ("sub", "sub")
    assert not list(tmp_path.glob(".D.*"))


def test_a_failing_force_run_leaves_the_old_run(tmp_path: Path, mul_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "D"
    shutil.copytree(mul_run, run)
    before = (run / CHECKPOINT_NAME).read_bytes()

    def boom(self: object) -> None:
        raise RuntimeError("failed before the first save")

    monkeypatch.setattr("nalu_cli.training.trainer.Trainer.train_step", boom)
    with pytest.raises(RuntimeError), Run.create(tiny_config("add"), run, force=True) as writer:
        train(writer.config, writer)  # type: ignore[arg-type]
    assert (run / CHECKPOINT_NAME).read_bytes() == before and _op_of(run) == ("mul", "mul")
    assert not list(tmp_path.glob(".D.*"))


def test_config_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Run.create(tiny_config("add"), "")
    torch.manual_seed(0)  # (keeps torch imported for the module's other tests)
