"""Files written safely: atomic replacement that respects the umask, and OS errors told in one line.

``atomic_write_bytes`` writes to a temp file in the same directory, fsyncs it, gives it the mode a plain
``open()`` would (0o666 less the umask: 0644 under umask 022; ``mkstemp`` alone makes 0600), renames it over
the target and fsyncs the directory, so a reader or a crash sees the old file or the new one, never half.
Torch-free, so the CLI may import it.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import tempfile
import threading
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
