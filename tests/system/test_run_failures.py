"""Every way writing or reading a run can fail on a real system is one ``Error:`` line, and leaves the last
checkpoint whole: a full disk (a file-size limit, or a small tmpfs when mounting is allowed), a read-only
directory, a name over 255 bytes, run files that are directories, torch's own allocation failure, and an
ASCII-only output encoding."""

from __future__ import annotations

import io
import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME, load_checkpoint
from nalu_cli.training.loop import train
from tests.conftest import assert_error_line, nalu_command, subprocess_env, tiny_config

runner = CliRunner()
QUICK = ["--set", "eval.samples=256", "--set", "train.valid_samples=128", "--set", "train.log_every=50"]
TRAIN = ["train", "--op", "mul", "--steps", "200", "--checkpoint-every", "50", *QUICK]


def _nalu(*args: str, preexec: object = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*nalu_command(), *args], capture_output=True, text=True, env=env or subprocess_env(), timeout=300,
        preexec_fn=preexec,  # type: ignore[arg-type]
    )  # fmt: skip


def _one_error_line(done: subprocess.CompletedProcess[str], code: int = 1) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, (done.returncode, done.stderr)
    assert len(lines) == 1 and lines[0].startswith("Error:") and "internal error" not in lines[0], done.stderr
    return lines[0]


def _checkpoint_sizes(tmp_path: Path) -> tuple[int, int]:
    """(bytes of a periodic checkpoint, bytes of the final one) of TRAIN, measured by training it here."""
    ref = tmp_path / "reference"
    config = tiny_config("mul", **{"train.steps": 200, "train.log_every": 50, "eval.samples": 256,
                                   "train.valid_samples": 128})  # fmt: skip
    train(config, ref, checkpoint_every=50)
    final = (ref / CHECKPOINT_NAME).stat().st_size
    data = torch.load(ref / CHECKPOINT_NAME, weights_only=True)
    data.update(results=[], finished=False, step=150)
    buffer = io.BytesIO()
    torch.save(data, buffer)
    return len(buffer.getvalue()), final


def test_a_file_size_limit_during_train_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    periodic, final = _checkpoint_sizes(tmp_path)
    limit = final - 1  # the periodic saves fit, the final one (with results) does not
    assert periodic < limit

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run = tmp_path / "run"
    err = _one_error_line(_nalu(*TRAIN, "--out", str(run), preexec=cap))
    assert f"cannot write {str(run / CHECKPOINT_NAME)!r}: file too large" in err
    data = load_checkpoint(run / CHECKPOINT_NAME)  # the earlier checkpoint, whole
    assert data["step"] == 150 and not data["finished"]
    assert not list(run.glob(".*.tmp")), "the temp file of the failed save was left behind"


@contextmanager
def _mounted(*args: str) -> Iterator[None]:
    target = args[-1]
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip() or 'not permitted'})")
    try:
        yield
    finally:
        subprocess.run(["umount", target], capture_output=True)


def test_disk_full_on_a_small_tmpfs(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    with _mounted("-t", "tmpfs", "-o", "size=24k", "tmpfs", str(disk)):
        run = disk / "run"
        err = _one_error_line(_nalu(*TRAIN, "--out", str(run)))
        assert "no space left on the device" in err
        if (run / CHECKPOINT_NAME).exists():
            load_checkpoint(run / CHECKPOINT_NAME)  # an earlier checkpoint stays whole
        assert not list(run.glob(".*.tmp"))


def test_read_only_run_directory(tmp_path: Path, mul_run: Path) -> None:
    area = tmp_path / "area"
    shutil.copytree(mul_run, area / "run")
    before = (area / "run" / CHECKPOINT_NAME).read_bytes()
    with _mounted("--bind", str(area), str(area)):
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(area)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        for args in (
            ["train", "--resume", str(area / "run"), "--steps", "700"],
            ["train", "--op", "add", "--steps", "5", "--out", str(area / "run"), "--force"],
            ["train", "--op", "add", "--steps", "5", "--out", str(area / "new")],
        ):
            result = runner.invoke(cli.app, args)
            assert "read-only" in assert_error_line(result, (1,), args)
        assert runner.invoke(cli.app, ["eval", str(area / "run")]).exit_code == 0  # readers need no writes
    assert (area / "run" / CHECKPOINT_NAME).read_bytes() == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores permission bits; the read-only mount test covers it")
def test_permission_denied(tmp_path: Path, mul_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(mul_run, run)
    run.chmod(0o500)
    try:
        result = runner.invoke(cli.app, ["train", "--resume", str(run)])
        assert "permission denied" in assert_error_line(result, (1,))
    finally:
        run.chmod(0o700)


def test_a_name_over_255_bytes(tmp_path: Path) -> None:
    for out in (tmp_path / ("x" * 300), tmp_path / ("y" * 300) / "run"):
        result = runner.invoke(cli.app, ["train", "--op", "add", "--steps", "5", "--out", str(out)])
        assert "file name is too long" in assert_error_line(result, (1,))


def test_run_files_that_are_directories(tmp_path: Path, mul_run: Path) -> None:
    metrics_dir = tmp_path / "m"
    shutil.copytree(mul_run, metrics_dir)
    (metrics_dir / METRICS_NAME).unlink()
    (metrics_dir / METRICS_NAME).mkdir()
    result = runner.invoke(cli.app, ["train", "--resume", str(metrics_dir), "--steps", "700"])
    assert "is a directory" in assert_error_line(result, (1,))
    config_dir = tmp_path / "c"
    shutil.copytree(mul_run, config_dir)
    (config_dir / CONFIG_NAME).unlink()
    (config_dir / CONFIG_NAME).mkdir()
    for args in (["train", "--resume", str(config_dir)], ["eval", str(config_dir)]):
        assert "is a directory" in assert_error_line(runner.invoke(cli.app, args), (1,), args)


def test_torch_allocation_failure_is_one_line(tmp_path: Path) -> None:
    """The estimate passes a raised budget, but the process may only map 2 GB: torch's own failure, worded."""

    def cap() -> None:
        limit = 2 * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = _nalu("train", "--op", "mul", "--unit", "nau,nau,nmu", "--hidden", "12000,12000", "--steps", "2",
                 "--set", "train.max_memory_gb=1000", "--out", str(tmp_path / "run"), *QUICK, preexec=cap)  # fmt: skip
    err = _one_error_line(done)
    assert err.startswith("Error: out of memory: ") and " GB needed for training this run" in err


def test_ascii_only_output(tmp_path: Path) -> None:
    env = subprocess_env() | {"PYTHONIOENCODING": "ascii"}
    done = _nalu(*TRAIN, "--out", str(tmp_path / "run"), env=env)
    assert done.returncode == 0 and "Error" not in done.stderr, done.stderr
    assert "solved on" in done.stdout
    listing = _nalu("runs", str(tmp_path), env=env)
    assert listing.returncode == 0 and "run" in listing.stdout, listing.stderr


def test_divergence_without_a_checkpoint_does_not_claim_one(tmp_path: Path) -> None:
    args = ["--op", "add", "--unit", "nac_add", "--interpolation", "1e25,1e30", "--lr", "100"]
    result = runner.invoke(cli.app, ["train", *args, "--out", str(tmp_path / "run"), *QUICK])
    err = assert_error_line(result, (1,))
    assert "diverged" in err and "no checkpoint of this run was saved" in err
    assert "last good checkpoint is kept" not in err
