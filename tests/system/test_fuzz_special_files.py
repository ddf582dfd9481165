"""Every command that reads a file, fed random and special files: FIFOs, /dev/zero, /dev/urandom, links to
them, directories, empty files, a line of megabytes, random bytes.

Each case runs a real ``nalu`` command line (``nalu_cli.cli.main``) in a forked child of one warm worker
process (``fuzz_worker.py``) and requires what a person at the terminal must see: an exit code from the
documented table, exactly one ``Error:`` line when it fails, no traceback and no "internal error", an end
within the timeout, and a peak resident memory under ``MEMORY_BOUND_MB`` above the worker's (reads are
bounded while reading: before ``files.BoundedFile`` these cases grew to 6-11 GB). The default suite runs every
command on /dev/zero and on a rotation of the other kinds, plus a few generated cases; ``-m slow`` generates
many more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import subprocess_env, tiny_config

MEMORY_BOUND_MB = 700  # over the worker's own memory; the largest refused read is a 50 MiB table
CASE_TIMEOUT = 120.0  # seconds; a FIFO without a writer or an endless device must not hang a command

KINDS = [
    "dev_zero",
    "fifo",
    "dev_urandom",
    "random_bytes",
    "empty",
    "huge_line",
    "link_to_zero",
    "link_to_urandom",
    "directory",
    "link_to_fifo",
]


def make_hostile(path: Path, kind: str, content: bytes = b"\x00\xffnot a file nalu wrote\n") -> None:
    """Put a hostile file of ``kind`` at ``path`` (replacing what is there)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    if kind == "dev_zero":
        path.symlink_to("/dev/zero")  # a run directory or an option names it through a link or directly
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev_urandom":
        path.symlink_to("/dev/urandom")
    elif kind == "random_bytes":
        path.write_bytes(content)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "huge_line":
        path.write_bytes(b"a" * (3 << 20))  # over the YAML and metrics-line limits, no newline
    elif kind == "link_to_zero":
        (path.parent / f".{path.name}.zero").symlink_to("/dev/zero")
        path.symlink_to(path.parent / f".{path.name}.zero")
    elif kind == "link_to_urandom":
        path.symlink_to("/dev/urandom")
    elif kind == "directory":
        path.mkdir()
    elif kind == "link_to_fifo":
        os.mkfifo(path.parent / f".{path.name}.fifo")
        path.symlink_to(path.parent / f".{path.name}.fifo")
    else:
        raise AssertionError(kind)


class Workspace:
    """A finished training run, a fit run and a good table, copied into each case's own directory."""

    def __init__(self, root: Path) -> None:
        from nalu_cli.fit.job import FitJob
        from nalu_cli.training.loop import train

        self.root = root
        self.run = root / "run"
        train(tiny_config("add", **{"model.unit": "nau", "train.steps": 30, "eval.samples": 64}), self.run)
        self.table = root / "ok.csv"
        rows = ["x0,x1,y", *(f"{a},{b},{a + b}" for a in range(1, 7) for b in range(1, 7))]
        self.table.write_text("\n".join(rows) + "\n")
        self.fit = root / "fit"
        FitJob(self.table, "y", unit="nau", members=1, steps=20, out=self.fit).run()
        self.count = 0

    def case_dir(self) -> Path:
        self.count += 1
        d = self.root / f"case{self.count}"
        d.mkdir()
        return d


# name -> (build(workspace, case_dir, kind, content) -> args, exit codes allowed)
Build = Callable[[Workspace, Path, str, bytes], list[str]]


def _arg(name: str, args: Callable[[Workspace, Path, Path], list[str]]) -> Build:
    def build(ws: Workspace, d: Path, kind: str, content: bytes) -> list[str]:
        path = d / name
        make_hostile(path, kind, content)
        return args(ws, d, path)

    return build


def _in_run(source: str, name: str, args: Callable[[Path, Path], list[str]]) -> Build:
    def build(ws: Workspace, d: Path, kind: str, content: bytes) -> list[str]:
        run = d / "run"
        shutil.copytree(getattr(ws, source), run)
        make_hostile(run / name, kind, content)
        return args(run, d)

    return build


COMMANDS: dict[str, tuple[Build, tuple[int, ...]]] = {
    "train --config": (_arg("c.yaml", lambda ws, d, p: ["train", "--config", str(p), "--out", str(d / "o")]), (2,)),
    "sweep GRID": (_arg("grid.yaml", lambda ws, d, p: ["sweep", str(p), "--out", str(d / "o")]), (2,)),
    "fit DATA": (_arg("t.csv", lambda ws, d, p: ["fit", str(p), "--target", "y", "--out", str(d / "o")]), (2,)),
    "fit --test": (
        _arg(
            "t.csv", lambda ws, d, p: ["fit", str(ws.table), "--target", "y", "--test", str(p), "--out", str(d / "o")]
        ),
        (2,),
    ),
    "eval --data": (_arg("t.csv", lambda ws, d, p: ["eval", str(ws.fit), "--data", str(p)]), (2,)),
    "eval CHECKPOINT": (_arg("c.pt", lambda ws, d, p: ["eval", str(p)]), (1,)),
    "eval RUN (checkpoint.pt)": (_in_run("run", "checkpoint.pt", lambda r, d: ["eval", str(r)]), (1,)),
    "eval RUN (config.yaml)": (_in_run("run", "config.yaml", lambda r, d: ["eval", str(r)]), (1,)),
    "train --resume (config.yaml)": (_in_run("run", "config.yaml", lambda r, d: ["train", "--resume", str(r)]), (1,)),
    "train --resume (checkpoint.pt)": (
        _in_run("run", "checkpoint.pt", lambda r, d: ["train", "--resume", str(r)]),
        (1,),
    ),
    "inspect-weights (checkpoint.pt)": (
        _in_run("run", "checkpoint.pt", lambda r, d: ["inspect-weights", str(r)]),
        (1,),
    ),
    "plot (metrics.jsonl)": (
        _in_run("run", "metrics.jsonl", lambda r, d: ["plot", str(r), "--out", str(d / "p.png")]),
        (0, 1),  # an empty log draws "no metrics log"
    ),
    "export-tb (metrics.jsonl)": (
        _in_run("run", "metrics.jsonl", lambda r, d: ["export-tb", str(r), "--out", str(d / "tb")]),
        (1,),
    ),
    "runs (fit.json)": (_in_run("fit", "fit.json", lambda r, d: ["runs", str(d)]), (0,)),  # a row with its error
    "runs (checkpoint.pt)": (_in_run("run", "checkpoint.pt", lambda r, d: ["runs", str(d)]), (0,)),
}


class Worker:
    def __init__(self, root: Path) -> None:
        env = {**subprocess_env(), "PYTHONPATH": str(Path(__file__).parents[2])}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("fuzz_worker.py"))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None and json.loads(self.proc.stdout.readline())["ready"]

    def run(self, args: list[str], cwd: Path) -> tuple[dict[str, Any], str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        out, err = cwd / ".stdout", cwd / ".stderr"
        case = {"args": args, "cwd": str(cwd), "stdout": str(out), "stderr": str(err), "timeout": CASE_TIMEOUT}
        self.proc.stdin.write(json.dumps(case) + "\n")
        self.proc.stdin.flush()
        result = json.loads(self.proc.stdout.readline())
        return result, err.read_text(errors="replace")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Worker]]:
    ws = Workspace(tmp_path_factory.mktemp("fuzz"))
    worker = Worker(ws.root)
    yield ws, worker
    worker.close()


def check_case(fuzz: tuple[Workspace, Worker], command: str, kind: str, content: bytes = b"\x00garbage\xff\n") -> None:
    ws, worker = fuzz
    build, codes = COMMANDS[command]
    d = ws.case_dir()
    args = build(ws, d, kind, content)
    result, err = worker.run(args, d)
    context = (command, kind, args, result, err[-2000:])
    assert not result["timed_out"], context
    assert "Traceback" not in err and "internal error" not in err, context
    assert result["code"] in codes, context
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) == (1 if result["code"] else 0), context
    grown_mb = (result["maxrss_kb"] - result["parent_kb"]) / 1024
    assert grown_mb < MEMORY_BOUND_MB, (f"{grown_mb:.0f} MB", *context)


ROTATION = [
    (command, kind) for i, command in enumerate(COMMANDS) for kind in ("dev_zero", KINDS[1 + i % (len(KINDS) - 1)])
]


@pytest.mark.parametrize(("command", "kind"), ROTATION, ids=[f"{c}-{k}" for c, k in ROTATION])
def test_every_reader_refuses_special_files_in_bounded_memory(
    fuzz: tuple[Workspace, Worker], command: str, kind: str
) -> None:
    check_case(fuzz, command, kind)


FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same examples on every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(FUZZ, max_examples=10)
@given(command=st.sampled_from(sorted(COMMANDS)), kind=st.sampled_from(KINDS), content=st.binary(max_size=4096))
def test_generated_hostile_files(fuzz: tuple[Workspace, Worker], command: str, kind: str, content: bytes) -> None:
    check_case(fuzz, command, kind, content)


@pytest.mark.slow
@settings(FUZZ, max_examples=300)
@given(
    command=st.sampled_from(sorted(COMMANDS)),
    kind=st.sampled_from([*KINDS, "random_bytes", "random_bytes"]),
    content=st.binary(max_size=65536) | st.text(max_size=4096).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
def test_many_generated_hostile_files(fuzz: tuple[Workspace, Worker], command: str, kind: str, content: bytes) -> None:
    check_case(fuzz, command, kind, content)
