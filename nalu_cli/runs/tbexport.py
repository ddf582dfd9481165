"""TensorBoard export of a run's metrics log, written without TensorBoard or TensorFlow installed.

A TensorBoard event file is a sequence of TFRecords, each holding one serialised ``Event`` protocol
buffer. We write only what scalar summaries need, by hand:

- TFRecord: ``uint64 length`` (little endian), ``uint32 masked_crc32c(length bytes)``, the data,
  ``uint32 masked_crc32c(data)``; masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2**32).
- ``Event``: wall_time (field 1, double), step (field 2, int64), file_version (field 3, string) or
  summary (field 5, message); ``Summary``: repeated value (field 1); ``Summary.Value``: tag (field 1,
  string), simple_value (field 2, float).

The layout follows TensorBoard's convention of one directory per curve family: ``OUT/median`` holds the
median over seeds (loss, valid_mse, extrap_mse, lr, solved, alive) and ``OUT/seed<S>`` each seed's own
curves when the log has per-seed values, so TensorBoard overlays the seeds on one chart per tag.
View with ``tensorboard --logdir OUT`` (``pip install 'nalu[tb]'``).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

from nalu_cli.errors import NaluError
from nalu_cli.files import atomic_write_bytes
from nalu_cli.runs.run import Run

EVENT_FILE = "events.out.tfevents.0.nalu"  # fixed name: exporting again replaces the file, never duplicates
MEDIAN_TAGS = {
    "loss_median": "loss",
    "valid_mse_median": "valid_mse",
    "extrap_mse_median": "extrap_mse",
    "lr": "lr",
    "solved": "solved",
    "alive": "alive",
}
SEED_TAGS = {"loss": "loss", "valid_mse": "valid_mse", "extrap_mse": "extrap_mse"}


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli polynomial, reflected
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``; crc32c(b"123456789") == 0xE3069283."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64 is encoded as its two's complement, 10 bytes
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode_event(
    wall_time: float, step: int, *, file_version: str | None = None, scalars: dict[str, float] | None = None
) -> bytes:
    """One serialised ``Event`` protocol buffer: a file-version header or scalar summaries."""
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _varint(2 << 3 | 0) + _varint(step)
    if file_version is not None:
        out += _field_bytes(3, file_version.encode("utf-8"))
    if scalars:
        summary = b"".join(
            _field_bytes(1, _field_bytes(1, tag.encode("utf-8")) + _varint(2 << 3 | 5) + struct.pack("<f", value))
            for tag, value in scalars.items()
        )
        out += _field_bytes(5, summary)
    return out


def record(data: bytes) -> bytes:
    """``data`` framed as one TFRecord."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def event_file(points: list[tuple[float, int, dict[str, float]]]) -> bytes:
    """A whole event file: the version header, then one event per (wall_time, step, scalars)."""
    start = points[0][0] if points else 0.0
    out = [record(encode_event(start, 0, file_version="brain.Event:2"))]
    out += [record(encode_event(t, step, scalars=scalars)) for t, step, scalars in points if scalars]
    return b"".join(out)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def export_run(run: str | Path, out: Path) -> dict[str, Any]:
    """Write ``run``'s metrics log as TensorBoard scalars under ``out``; returns what was written."""
    opened = Run.open(run)
    ckpt = opened.checkpoint_file
    lines = opened.metrics()
    if not lines:
        raise NaluError(f"{str(opened.path)!r} has no metrics log (metrics.jsonl) to export")
    data = opened.data()
    seeds = [int(s) for s in data["seeds"].get("seeds", [])]
    restarts = int(data["seeds"].get("restarts", 1))
    members = [(s, k) for s in seeds for k in range(restarts)]  # member order of the batched model
    # Wall time: "time" counts seconds since the (re)start of training; a resumed run starts again at 0,
    # so add up the sessions, then place the last line at the checkpoint's modification time.
    elapsed, offset, previous = [], 0.0, 0.0
    for line in lines:
        t = _finite(line.get("time")) or 0.0
        if t < previous:
            offset += previous
        previous = t
        elapsed.append(offset + t)
    start = ckpt.stat().st_mtime - max(elapsed)
    curves: dict[str, list[tuple[float, int, dict[str, float]]]] = {"median": []}
    for line, seconds in zip(lines, elapsed, strict=True):
        step = line.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            continue
        wall = start + seconds
        medians = {tag: v for key, tag in MEDIAN_TAGS.items() if (v := _finite(line.get(key))) is not None}
        curves["median"].append((wall, step, medians))
        for key, tag in SEED_TAGS.items():
            values = line.get(key)
            if not isinstance(values, list) or len(values) != len(members):
                continue
            for (seed, restart), value in zip(members, values, strict=True):
                v = _finite(value)
                if v is None:
                    continue
                name = f"seed{seed}" if restarts == 1 else f"seed{seed}-restart{restart}"
                curve = curves.setdefault(name, [])
                if not curve or curve[-1][1] != step:
                    curve.append((wall, step, {}))
                curve[-1][2][tag] = v
    written = []
    for name, points in curves.items():
        directory = Path(out) / name
        try:
            directory.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(directory / EVENT_FILE, event_file(points))
        except OSError as err:
            raise NaluError(f"cannot write TensorBoard files to {str(directory)!r}: {err.strerror or err}") from None
        written.append({"curve": name, "path": str(directory / EVENT_FILE), "points": len(points)})
    return {"run": str(run), "out": str(out), "files": written, "steps": len(lines)}
