"""files.BoundedFile: the limit holds while reading, whatever the file is (not the size the OS reports)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from nalu_cli.errors import ConfigError
from nalu_cli.files import BoundedFile, read_bounded


def test_regular_file_within_and_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bounded(path, "file", 100, ConfigError) == b"x" * 100
    with pytest.raises(ConfigError, match=r"'.*f' is larger than 99 bytes"):
        read_bounded(path, "file", 99, ConfigError)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_endless_devices_stop_at_the_limit(device: str) -> None:
    with pytest.raises(ConfigError, match=r"\(a character device\) is larger than 1,000 bytes"):
        read_bounded(device, "config file", 1000, ConfigError)


def test_a_fifo_without_writer_reads_empty_at_once_and_with_an_endless_writer_stops(tmp_path: Path) -> None:
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    with BoundedFile(fifo, "table", 10, ConfigError) as f:
        assert f.kind == "a FIFO (named pipe)" and f.read() == b""

    stop = threading.Event()

    def writer() -> None:
        with open(fifo, "wb") as out:
            while not stop.is_set():
                try:
                    out.write(b"y" * 65536)
                    out.flush()
                except BrokenPipeError:
                    return

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        with pytest.raises(ConfigError, match="larger than 100,000 bytes"):
            f = BoundedFile(fifo, "table", 100_000, ConfigError)
            try:
                for _ in range(1000):  # the writer may not have opened it yet: then it reads as empty
                    if f.read():
                        break
                    f.close()
                    f = BoundedFile(fifo, "table", 100_000, ConfigError)
            finally:
                f.close()
    finally:
        stop.set()
        thread.join(timeout=10)


def test_a_file_that_grows_while_read_stops_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "growing"
    path.write_bytes(b"a" * 10)
    with BoundedFile(path, "metrics log", 5000, ConfigError) as f, open(path, "ab") as grow:
        chunks = f.chunks()
        assert next(chunks) == b"a" * 10
        grow.write(b"b" * 6000)  # after the first read: the size seen at open said 10 bytes
        grow.flush()
        with pytest.raises(ConfigError, match="larger than 5,000 bytes"):
            list(chunks)


def test_directories_missing_files_and_long_lines(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        read_bounded(tmp_path, "grid file", 10, ConfigError)
    with pytest.raises(ConfigError, match="not found"):
        read_bounded(tmp_path / "none", "grid file", 10, ConfigError)
    path = tmp_path / "lines"
    path.write_bytes(b"ok\n" + b"z" * 50 + b"\nlast")
    with BoundedFile(path, "metrics log", 1000, ConfigError) as f:
        lines = f.lines(max_line=60)
        assert [next(lines), next(lines), next(lines)] == [b"ok", b"z" * 50, b"last"]
    with BoundedFile(path, "metrics log", 1000, ConfigError) as f, pytest.raises(ConfigError, match="line 2 of"):
        list(f.lines(max_line=10))
