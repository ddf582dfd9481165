"""TensorBoard export: TFRecord framing, Event protos, per-seed curves; read back independently."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.config import resolve as config_resolve
from nalu_cli.runs.checkpoint import read_metrics
from nalu_cli.runs.tbexport import EVENT_FILE, crc32c, export_run, masked_crc32c
from nalu_cli.training.loop import train

torch.set_num_threads(1)
runner = CliRunner()


def crc32c_bitwise(data: bytes) -> int:
    """CRC-32C computed bit by bit (no table): an independent check of the exporter's table version."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def fields(buf: bytes) -> list[tuple[int, object]]:
    """Decode one protobuf message into (field number, value) pairs (varint, fixed64, bytes, fixed32)."""
    out, i = [], 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack("<d", buf[i : i + 8])[0], i + 8
        elif wire == 2:
            n, i = varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = struct.unpack("<f", buf[i : i + 4])[0], i + 4
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((number, value))
    return out


def read_events(path: Path) -> list[dict[str, object]]:
    """Parse an event file: check every TFRecord's CRCs, decode Events into step, wall time and scalars."""
    data, i, events = path.read_bytes(), 0, []
    while i < len(data):
        header = data[i : i + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", data[i + 8 : i + 12])[0] == masked(crc32c_bitwise(header))
        payload = data[i + 12 : i + 12 + length]
        assert struct.unpack("<I", data[i + 12 + length : i + 16 + length])[0] == masked(crc32c_bitwise(payload))
        i += 16 + length
        event: dict[str, object] = {"step": 0, "scalars": {}}
        for number, value in fields(payload):
            if number == 1:
                event["wall_time"] = value
            elif number == 2:
                event["step"] = value
            elif number == 3:
                event["file_version"] = bytes(value).decode()  # type: ignore[arg-type]
            elif number == 5:
                for _, v in fields(value):  # type: ignore[arg-type]
                    tag_value = dict(fields(v))  # type: ignore[arg-type]
                    event["scalars"][bytes(tag_value[1]).decode()] = tag_value[2]  # type: ignore[index]
        events.append(event)
    return events


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("tb") / "add-2seeds"
    cfg = config_resolve.resolve(
        overrides={
            "task.op": "add",
            "train.seeds": [3, 5],
            "train.steps": 100,
            "train.log_every": 25,
            "eval.samples": 64,
            "train.valid_samples": 64,
        }
    )
    train(cfg, run_dir)
    return run_dir


def test_crc32c_matches_the_standard_check_value() -> None:
    assert crc32c(b"123456789") == 0xE3069283 == crc32c_bitwise(b"123456789")
    assert crc32c(b"") == 0 and masked_crc32c(b"abc") == masked(crc32c_bitwise(b"abc"))


def test_export_writes_median_and_per_seed_curves(two_seeds: Path, tmp_path: Path) -> None:
    result = export_run(two_seeds, tmp_path / "tb")
    assert sorted(f["curve"] for f in result["files"]) == ["median", "seed3", "seed5"]
    log = read_metrics(two_seeds)
    median = read_events(tmp_path / "tb" / "median" / EVENT_FILE)
    assert median[0]["file_version"] == "brain.Event:2"
    assert [e["step"] for e in median[1:]] == [r["step"] for r in log] == [0, 25, 50, 75, 100]
    walls = [e["wall_time"] for e in median[1:]]
    assert walls == sorted(walls)
    for event, record in zip(median[1:], log, strict=True):
        scalars = event["scalars"]
        assert scalars["valid_mse"] == pytest.approx(record["valid_mse_median"], rel=1e-6, abs=1e-30)  # float32
        assert scalars["solved"] == record["solved"] and scalars["alive"] == 2
    assert "loss" not in median[1]["scalars"]  # NaN at step 0 is left out, not written as NaN
    seed5 = read_events(tmp_path / "tb" / "seed5" / EVENT_FILE)
    assert [e["step"] for e in seed5[1:]] == [0, 25, 50, 75, 100]
    assert seed5[-1]["scalars"]["extrap_mse"] == pytest.approx(log[-1]["extrap_mse"][1], rel=1e-6, abs=1e-30)


def test_tensorboard_reads_the_export(two_seeds: Path, tmp_path: Path) -> None:
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator", reason="tensorboard is not installed (nalu[tb])"
    )
    export_run(two_seeds, tmp_path / "tb")
    acc = accumulator.EventAccumulator(str(tmp_path / "tb" / "median"))
    acc.Reload()
    assert {"loss", "valid_mse", "extrap_mse", "lr", "solved", "alive"} <= set(acc.Tags()["scalars"])
    assert [e.step for e in acc.Scalars("valid_mse")] == [0, 25, 50, 75, 100]


def test_export_cli_default_location_and_reexport(two_seeds: Path, mul_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["export-tb", str(two_seeds)])
    assert result.exit_code == 0, result.output
    assert f"→ {two_seeds / 'tensorboard'} (3 curves, 5 log lines)" in result.stdout
    assert "view with: tensorboard --logdir" in result.stderr
    again = runner.invoke(app, ["export-tb", str(two_seeds), "-q"])
    assert again.exit_code == 0 and again.stderr == ""
    assert [p.name for p in (two_seeds / "tensorboard" / "median").iterdir()] == [EVENT_FILE]  # replaced, not added
    many = runner.invoke(app, ["export-tb", str(two_seeds), str(mul_run), "--out", str(tmp_path / "all"), "--json"])
    assert many.exit_code == 0, many.output
    data = json.loads(many.stdout)
    assert [e["out"] for e in data["exports"]] == [str(tmp_path / "all" / "add-2seeds"), str(tmp_path / "all" / "mul")]
    assert (tmp_path / "all" / "mul" / "seed0" / EVENT_FILE).exists()


def test_export_without_metrics_log_is_a_clear_error(two_seeds: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "checkpoint.pt").write_bytes((two_seeds / "checkpoint.pt").read_bytes())
    result = runner.invoke(app, ["export-tb", str(bare)])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ") and "no metrics log" in result.stderr
