"""Files written and read safely: atomic replacement that respects the umask, reads bounded while reading,
and OS errors told in one line.

``atomic_write_bytes`` writes to a temp file in the same directory, fsyncs it, gives it the mode a plain
``open()`` would (0o666 less the umask: 0644 under umask 022; ``mkstemp`` alone makes 0600), renames it over
the target and fsyncs the directory, so a reader or a crash sees the old file or the new one, never half.
Torch-free, so the CLI may import it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import math
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_UMASK_LOCK = threading.Lock()


def temp_affixes(name: str) -> tuple[str, str]:
    """(prefix, suffix) of the temp files written on the way to file ``name``: ``.NAME.<random>.tmp``."""
    return f".{name}.", ".tmp"


def current_umask() -> int:
    """The process umask (read from /proc when possible; else set and restored under a lock)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, chmod to the umask's mode, rename, fsync dir.

    On failure (disk full, read-only, ...) the temp file is removed, the old file is untouched, and the
    ``OSError`` propagates (``describe_os_error`` words it for a person).
    """
    path = Path(path)
    directory = path.parent
    prefix, suffix = temp_affixes(path.name)
    fd, tmp_name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), 0o666 & ~current_umask())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    fsync_dir(directory)


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file-size limit was reached)",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "a file name is too long (over 255 bytes per path component)",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a path component is not a directory",
    errno.ENOENT: "no such file or directory",
}


def describe_os_error(err: OSError, action: str) -> str:
    """``cannot write 'runs/x/checkpoint.pt': no space left on the device`` (``action`` = 'write', ...)."""
    reason = _REASONS.get(err.errno or 0) or err.strerror or type(err).__name__
    target = err.filename if err.filename is not None else None
    return f"cannot {action} {str(target)!r}: {reason}" if target is not None else f"cannot {action}: {reason}"


def json_safe(value: Any) -> Any:
    """Replace NaN/Inf floats (not valid JSON) by the strings "nan", "inf", "-inf", recursively."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# -- bounded reading ---------------------------------------------------------------------------------------
# Every file a person names or can plant in a run directory is read through these: the limit holds while
# reading, whatever the file is (a regular file that grows, a FIFO, /dev/zero, /dev/urandom), never by
# trusting the size the OS reports. Errors are raised as ``error(message)``: the caller picks the exception
# (``ConfigError`` for a file named on the command line, ``CheckpointError`` for a run's file, ...).

_CHUNK = 1 << 20

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def special_kind(mode: int) -> str | None:
    """'a FIFO (named pipe)', 'a character device', ... for a special file's ``st_mode``; None for a regular one."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


class BoundedFile:
    """An open file read in chunks up to ``limit`` bytes (``what`` names it in messages: 'config file').

    Opened without blocking on a FIFO that has no writer (it reads as empty). ``kind`` is
    ``special_kind`` of the file (None: regular). Use as a context manager.
    """

    def __init__(self, path: str | Path, what: str, limit: int, error: Callable[[str], Exception]) -> None:
        self.path, self.what, self.limit, self.error = Path(path), what, limit, error
        self.read_so_far = 0
        name = f"{what} {str(self.path)!r}"
        try:
            self.fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise error(f"{name} not found") from None
        except OSError as err:
            raise error(f"cannot read {name}: {_reason(err)}") from None
        try:
            mode = os.fstat(self.fd).st_mode
            if stat.S_ISDIR(mode):
                raise error(f"{name} is a directory, not a file")
            self.kind = special_kind(mode)
            flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
            fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # reads wait for a writer's data
        except BaseException:
            os.close(self.fd)
            raise
        self.name = name if self.kind is None else f"{name} ({self.kind})"

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes in chunks; ``error`` as soon as more than ``limit`` bytes have been read."""
        while True:
            try:
                chunk = os.read(self.fd, min(_CHUNK, self.limit + 1 - self.read_so_far))
            except OSError as err:
                raise self.error(f"cannot read {self.name}: {_reason(err)}") from None
            if not chunk:
                return
            self.read_so_far += len(chunk)
            if self.read_so_far > self.limit:
                raise self.error(f"{self.name} is larger than {self.limit:,} bytes, the most nalu reads")
            yield chunk

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def lines(self, max_line: int) -> Iterator[bytes]:
        """The file's lines (without their ``\\n``; the last may be cut), each at most ``max_line`` bytes."""
        pending = b""
        number = 0
        for chunk in self.chunks():
            pending += chunk
            *done, pending = pending.split(b"\n")
            for line in done:
                number += 1
                if len(line) > max_line:
                    raise self._long_line(number, max_line)
                yield line
            if len(pending) > max_line:
                raise self._long_line(number + 1, max_line)
        if pending:
            yield pending

    def _long_line(self, number: int, max_line: int) -> Exception:
        return self.error(f"line {number} of {self.name} is longer than {max_line:,} bytes: it is not a {self.what}")

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> BoundedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_bounded(path: str | Path, what: str, limit: int, error: Callable[[str], Exception]) -> bytes:
    """The bytes of ``path``, refusing (``error``) more than ``limit`` bytes while reading."""
    with BoundedFile(path, what, limit, error) as f:
        return f.read()


def _reason(err: OSError) -> str:
    return _REASONS.get(err.errno or 0) or err.strerror or type(err).__name__
