"""One writer per run directory: an OS advisory lock released when its process dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

from nalu_cli.errors import NaluError
from nalu_cli.files import describe_os_error

if TYPE_CHECKING:
    pass

LOCK_NAME = ".nalu.lock"


class RunLockedError(NaluError):
    """Another process is writing this run directory."""


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``DIR/.nalu.lock`` (released by the kernel when we die)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except OSError as err:
                raise NaluError(describe_os_error(err, "lock the run directory at")) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise RunLockedError(
                    f"run {str(self.directory)!r} is being written by process {holder or '(unknown)'}"
                ) from None
            # The directory may have been swapped (--force) between open and flock: then this is the old
            # run's lock file, not the one at the path now. Lock the one at the path.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return self
            os.close(fd)
        raise RunLockedError(f"run {str(self.directory)!r} keeps being replaced by another process")

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode("ascii").strip()
        if text.isdigit():
            return text
    return ""
