"""What reaches the disk, in which order: the atomic writer's fsync → rename → fsync of the directory, and the
metrics log's weaker guarantee (appended and flushed line by line, never rewritten in place except by an
atomic rewrite on resume): after a kill it holds whole lines, at most one cut last line, which readers skip."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nalu_cli.runs.checkpoint import METRICS_NAME, MetricsLog, atomic_write_bytes, read_metrics
from tests.conftest import subprocess_env


def _path_of(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name file descriptors")
def test_atomic_write_fsyncs_file_then_renames_then_fsyncs_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old")
    calls: list[tuple[str, ...]] = []
    real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

    def fsync(fd: int) -> None:
        path = _path_of(fd)
        # what the fsync makes durable: for the temp file, all of the new data is already in it
        content = Path(path).read_bytes() if Path(path).is_file() else None
        calls.append(("fsync", path, repr(content)))
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        calls.append(("rename", str(src), str(dst), target.read_bytes().decode()))
        real_replace(src, dst)

    def rename(src: str, dst: str) -> None:
        calls.append(("rename", str(src), str(dst), target.read_bytes().decode()))
        real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(os, "rename", rename)
    atomic_write_bytes(target, b"new data")
    monkeypatch.undo()

    assert [c[0] for c in calls] == ["fsync", "rename", "fsync"], calls
    (_, tmp, content), (_, src, dst, before), (_, directory, _) = calls
    assert Path(tmp).parent == tmp_path and Path(tmp).name != target.name  # a temp file beside the target
    assert content == repr(b"new data")  # the whole new content is fsynced before it becomes visible
    assert (src, dst) == (tmp, str(target)) and before == "old"  # the old file is untouched until the rename
    assert Path(directory) == tmp_path  # and the rename itself is made durable
    assert target.read_bytes() == b"new data" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "config.yaml"
    atomic_write_bytes(target, b"old")

    def fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# Appends records {"step": i} through MetricsLog as fast as it can, printing nothing.
LOG_WRITER = """
import sys
from pathlib import Path
from nalu_cli.runs.checkpoint import MetricsLog
log = MetricsLog(Path(sys.argv[1]))
i = 0
while True:
    log.write({"step": i, "pad": "x" * (i % 5000)})
    i += 1
"""


def test_metrics_log_after_sigkill_holds_whole_lines_in_order(tmp_path: Path) -> None:
    """SIGKILL at random moments: the log is every record from 0 up, in order, with no gap and no line
    glued to another; at most the last line is cut, and ``read_metrics`` skips it."""
    rnd = random.Random(3)
    for attempt in range(3):
        path = tmp_path / f"{attempt}" / METRICS_NAME
        path.parent.mkdir()
        proc = subprocess.Popen([sys.executable, "-c", LOG_WRITER, str(path)], env=subprocess_env())
        end = time.monotonic() + 60
        while time.monotonic() < end and not (path.exists() and path.stat().st_size > 200_000):
            time.sleep(0.01)
        time.sleep(rnd.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        raw = path.read_text(encoding="utf-8").split("\n")
        whole, last = raw[:-1], raw[-1]  # last: "" when the file ends with a newline, else a cut line
        records = [json.loads(line) for line in whole]  # every newline-terminated line parses
        assert [r["step"] for r in records] == list(range(len(records))) and len(records) > 10
        if last:
            with pytest.raises(json.JSONDecodeError):
                json.loads(last)
        assert [r["step"] for r in read_metrics(path.parent)] == list(range(len(records)))


def test_a_cut_last_line_is_skipped_and_dropped_on_resume(tmp_path: Path) -> None:
    path = tmp_path / METRICS_NAME
    log = MetricsLog(path)
    for step in (0, 10, 20, 30):
        log.write({"step": step, "loss_median": 1.0 / (step + 1)})
    log.close()
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"step": 40, "loss_med')  # what a crash mid-write (power loss) can leave
    assert [r["step"] for r in read_metrics(tmp_path)] == [0, 10, 20, 30]
    # resuming from a checkpoint at step 20: lines after it go (they are written again), the cut line too,
    # and the next record starts on a line of its own
    resumed = MetricsLog(path, truncate_after_step=20)
    resumed.write({"step": 30, "loss_median": 0.5})
    resumed.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 10, 20, 30]
    assert not list(tmp_path.glob(".*.tmp"))


def test_metrics_log_is_appended_not_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writing a record appends to the open file (no temp file, no rename): the guarantee is per line."""
    renames: list[object] = []
    monkeypatch.setattr(os, "replace", lambda *a: renames.append(a))
    monkeypatch.setattr(os, "rename", lambda *a: renames.append(a))
    path = tmp_path / METRICS_NAME
    log = MetricsLog(path)
    inode = path.stat().st_ino
    for step in range(5):
        log.write({"step": step})
        assert len(path.read_text(encoding="utf-8").splitlines()) == step + 1  # flushed at once
    log.close()
    assert renames == [] and path.stat().st_ino == inode
