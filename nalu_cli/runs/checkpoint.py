"""Run directories and checkpoints: atomic writes, safe loads.

A run directory holds:
- ``config.yaml``      the resolved configuration,
- ``checkpoint.pt``    weights, metadata and the resumable training state (one file, so they always agree),
- ``metrics.jsonl``    one JSON object per logging step.

The config and the checkpoint are written to a temporary file in the same directory, fsynced, renamed over
the old one, then the directory is fsynced (``files``), so a reader (or a crash) sees either the old file or
the new one, never half of one. The metrics log is appended and flushed line by line instead (not fsynced):
after a crash it may end with one cut line, which the readers here skip and a resume drops. Loading uses
``torch.load(weights_only=True)``, which refuses any pickled object other than tensors and plain
containers: a checkpoint can never run code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from nalu_cli import __version__
from nalu_cli.config.schema import stored_form
from nalu_cli.errors import CheckpointError
from nalu_cli.files import BoundedFile, atomic_write_bytes, temp_affixes

FORMAT = "nalu-checkpoint"
VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.yaml"
METRICS_NAME = "metrics.jsonl"


def remove_stale_temps(directory: Path) -> None:
    """Delete the temp files a killed ``atomic_write_bytes`` left in a run directory.

    Call it only while holding the run's lock (``run.RunLock``): another writer's temp file is not stale.
    """
    for name in (CHECKPOINT_NAME, CONFIG_NAME, METRICS_NAME):
        prefix, suffix = temp_affixes(name)
        for tmp in Path(directory).glob(f"{prefix}*{suffix}"):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Serialise ``payload`` (tensors and plain data only) and write it atomically.

    A config in ``payload["config"]`` is stored as ``config.yaml`` stores it (``schema.stored_form``:
    ``train.seeds`` as its compact spec); the expanded seed list stays in ``payload["seeds"]``, which every
    reader (and every earlier nalu) takes the seeds from.
    """
    full: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "nalu_version": __version__,
        "torch_version": str(torch.__version__),
    }
    full.update(payload)
    if isinstance(full.get("config"), dict):
        full["config"] = stored_form(full["config"])
    buffer = io.BytesIO()
    torch.save(full, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())


ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive; every checkpoint nalu writes starts so
# A bare pickle stream of protocol 2-5 starts with the PROTO opcode and its protocol number.
PICKLE_PROTO = tuple(bytes([0x80, protocol]) for protocol in range(2, 6))


def checkpoint_limit() -> int:
    """The most bytes a checkpoint may have: the memory budget (a larger one could not be loaded within it)."""
    from nalu_cli.config.budget import environment_limit_gb

    return int(environment_limit_gb() * 1e9)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load and check a checkpoint file; ``CheckpointError`` with a one-line reason otherwise.

    The file is read whole, within ``checkpoint_limit()`` while reading (``files.BoundedFile``: a FIFO,
    ``/dev/zero`` or a file that grows stops there), and parsed from memory by ``torch.load(weights_only=True)``.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise CheckpointError(f"no checkpoint at {str(path)!r}")
    with BoundedFile(path, "checkpoint", checkpoint_limit(), CheckpointError) as f:
        first = b"".join(_take(f.chunks(), len(ZIP_MAGIC)))
        if not first:
            what = f"{f.kind} with nothing to read" if f.kind else "empty"
            raise CheckpointError(f"checkpoint {str(path)!r} is {what}, not a checkpoint file")
        if first.startswith(PICKLE_PROTO):
            raise CheckpointError(
                f"refusing to load {str(path)!r}: it is a bare pickle stream, not the zip archive torch.save writes"
                " (nalu never unpickles one: loading it could run code)"
            )
        if not first.startswith(ZIP_MAGIC):
            raise CheckpointError(
                f"{f.name} is not a readable nalu checkpoint (not the zip archive torch.save writes: corrupt or another format)"
            )
        raw = first + f.read()
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for bad files; all mean "not loadable"
        text = str(err).lower()
        if any(sign in text for sign in ("unsupported global", "unsupported class", "unrecognized function")):
            raise CheckpointError(
                f"refusing to load {str(path)!r}: it contains Python objects other than tensors and plain data"
                " (loading it could run code)"
            ) from None
        raise CheckpointError(
            f"{str(path)!r} is not a readable nalu checkpoint (truncated, corrupt or another format)"
        ) from None
    del raw
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a nalu checkpoint (no nalu format marker)")
    version = data.get("version")
    if not isinstance(version, int):
        raise CheckpointError(f"{str(path)!r} has no valid format version")
    if version > VERSION:
        raise CheckpointError(
            f"{str(path)!r} uses checkpoint format {version}, newer than this nalu understands ({VERSION});"
            " upgrade nalu"
        )
    for key, kind in (("config", dict), ("model", dict), ("step", int), ("seeds", dict)):
        if not isinstance(data.get(key), kind):
            raise CheckpointError(f"{str(path)!r} is missing or has a malformed {key!r} entry")
    return data


def find_checkpoint(run: str | Path) -> Path:
    """A run directory or a checkpoint file -> the checkpoint file."""
    p = Path(run)
    if p.is_dir():
        candidate = p / CHECKPOINT_NAME
        if not candidate.exists():
            raise CheckpointError(f"{str(p)!r} is not a run directory (no {CHECKPOINT_NAME} in it)")
        return candidate
    if not p.exists():
        raise CheckpointError(f"no run directory or checkpoint at {str(p)!r}")
    return p


def write_config(run_dir: Path, text: str) -> None:
    atomic_write_bytes(Path(run_dir) / CONFIG_NAME, text.encode("utf-8"))


class MetricsLog:
    """Append-only JSON-lines log, flushed after every line so ``tail -f`` and ``jq`` see it live."""

    def __init__(self, path: Path, truncate_after_step: int | None = None) -> None:
        self.path = Path(path)
        if truncate_after_step is not None and self.path.exists():
            # On resume, drop lines written after the checkpoint: the resumed run writes them again.
            kept = [line for line in self._lines() if line.get("step", 0) <= truncate_after_step]
            atomic_write_bytes(self.path, "".join(json.dumps(line) + "\n" for line in kept).encode("utf-8"))
        elif truncate_after_step is None and self.path.exists():
            self.path.unlink()
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (held open for the run)

    def _lines(self) -> list[dict[str, Any]]:
        return read_metrics_file(self.path)

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, allow_nan=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The metrics log of a run as a list of dicts (missing file -> empty list; ``read_metrics_file``)."""
    path = Path(run_dir) / METRICS_NAME
    if not os.path.lexists(path):
        return []
    return read_metrics_file(path)


def read_metrics_file(path: Path) -> list[dict[str, Any]]:
    """The records of a metrics log, read within ``MAX_METRICS_BYTES`` (lines within ``MAX_METRICS_LINE``).

    A crash may leave the last line cut: it is skipped. Any other line that is not a JSON object means the
    file is not a metrics log: ``CheckpointError`` naming the line.
    """
    from nalu_cli.config import limits

    out: list[dict[str, Any]] = []
    bad: int | None = None
    with BoundedFile(path, "metrics log", limits.MAX_METRICS_BYTES, CheckpointError) as f:
        for number, raw in enumerate(f.lines(limits.MAX_METRICS_LINE), start=1):
            if bad is not None:  # the bad line was not the last: the file is not a (crash-cut) log
                raise CheckpointError(
                    f"{f.name} is not a metrics log: line {bad} is not a JSON record (corrupt or another file)"
                )
            try:
                item = json.loads(raw.decode("utf-8", errors="replace"))
            except json.JSONDecodeError:
                item = None
            if isinstance(item, dict):
                out.append(item)
            elif raw.strip():
                bad = number
    return out


def _take(chunks: Iterator[bytes], n: int) -> Iterator[bytes]:
    """The first ``n`` bytes of ``chunks`` (fewer at the end), consuming no more chunks than needed."""
    got = 0
    for chunk in chunks:
        yield chunk
        got += len(chunk)
        if got >= n:
            return
