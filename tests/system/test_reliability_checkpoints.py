"""Checkpoints from strangers: a malicious pickle is refused and its code never runs; every kind of broken
checkpoint gives one ``Error:`` line and exit code 1 from every command that reads checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.errors import CheckpointError
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME, FORMAT, VERSION, load_checkpoint
from tests.conftest import assert_error_line, run_nalu

runner = CliRunner()


class _RunsACommand:
    """Unpickling this calls ``os.system(command)``: the classic pickle exploit."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def _malicious_files(tmp_path: Path, marker: Path) -> dict[str, Path]:
    """Checkpoint look-alikes that run ``touch marker`` when unpickled without restrictions."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": {},
        "model": _RunsACommand(f"touch {marker}"),
        "step": 1,
        "seeds": {},
    }
    zip_file = tmp_path / "zip" / CHECKPOINT_NAME  # torch's zip format, as nalu writes it
    zip_file.parent.mkdir()
    torch.save(payload, zip_file)
    legacy = tmp_path / "legacy" / CHECKPOINT_NAME  # a bare pickle stream
    legacy.parent.mkdir()
    legacy.write_bytes(pickle.dumps(payload, protocol=2))
    for path in (zip_file, legacy):  # a metrics log beside it, so export-tb gets as far as the checkpoint
        (path.parent / "metrics.jsonl").write_text('{"step": 0, "loss_median": 1.0}\n')
    return {"zip": zip_file, "legacy": legacy}


READERS = [
    ["eval"],
    ["extrapolate"],
    ["inspect-weights"],
    ["compare"],  # with the good run as the other side
    ["plot"],
    ["export-tb"],
    ["train", "--resume"],
]


def _command(reader: list[str], path: Path, good: Path, tmp_path: Path) -> list[str]:
    if reader == ["compare"]:
        return ["compare", str(good), str(path)]
    if reader == ["plot"]:
        return ["plot", str(path), "--out", str(tmp_path / "p.png")]
    if reader == ["export-tb"]:
        return ["export-tb", str(path), "--out", str(tmp_path / "tb")]
    return [*reader, str(path)]


def _runs_listing(directory: Path) -> dict[str, dict[str, object]]:
    """``nalu runs DIRECTORY --json``: it lists broken runs (exit 0), so each is marked rather than an error."""
    listing = runner.invoke(cli.app, ["runs", str(directory), "--json"])
    assert listing.exit_code == 0 and "Traceback" not in listing.output, listing.output
    return {Path(str(r["path"])).name: r for r in json.loads(listing.stdout)["runs"]}


def test_the_exploit_is_real(tmp_path: Path) -> None:
    """Without nalu's safe loading, these files do run the command (so the refusal below means something)."""
    marker = tmp_path / "pwned"
    for path in _malicious_files(tmp_path, marker).values():
        code = f"import torch; torch.load({str(path)!r}, weights_only=False)"
        subprocess.run([sys.executable, "-c", code], timeout=120, capture_output=True)
        assert marker.exists(), f"{path.parent.name}: the crafted pickle did not run its command"
        marker.unlink()


@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, kind: str, mul_run: Path) -> None:
    marker = tmp_path / "pwned"
    path = _malicious_files(tmp_path, marker)[kind]
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(path)
    for reader in READERS:
        for target in (path, path.parent):  # the file itself and its run directory
            result = runner.invoke(cli.app, _command(reader, target, mul_run, tmp_path))
            err = assert_error_line(result, context=reader)
            assert "refusing to load" in err, (reader, err)
    row = _runs_listing(tmp_path)[kind]  # `runs` reads the checkpoint too: marked broken, code not run
    assert row["status"] == "broken" and "refusing to load" in str(row["error"]), row
    assert not marker.exists(), "the pickle's command ran"
    # the real installed command, too
    done = run_nalu("inspect-weights", str(path), timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("Error:") and "refusing to load" in done.stderr
    assert "Traceback" not in done.stderr
    assert not marker.exists(), "the pickle's command ran"


def _broken_checkpoints(tmp_path: Path, good_run: Path) -> dict[str, tuple[Path, str]]:
    """name -> (a run directory holding a broken checkpoint, a phrase its error must contain)."""
    good = (good_run / CHECKPOINT_NAME).read_bytes()
    data = torch.load(good_run / CHECKPOINT_NAME, weights_only=True)

    def run_dir(name: str) -> Path:
        d = tmp_path / name
        shutil.copytree(good_run, d)
        return d

    out: dict[str, tuple[Path, str]] = {}
    d = run_dir("empty")
    (d / CHECKPOINT_NAME).write_bytes(b"")
    out["empty"] = (d, "is empty")
    for cut in (10, len(good) // 3, len(good) - 7):
        d = run_dir(f"truncated{cut}")
        (d / CHECKPOINT_NAME).write_bytes(good[:cut])
        out[f"truncated{cut}"] = (d, "not a readable nalu checkpoint")
    d = run_dir("text")
    (d / CHECKPOINT_NAME).write_text("task:\n  op: mul\n")
    out["text"] = (d, "not a readable nalu checkpoint")
    d = run_dir("foreign")
    torch.save({"state_dict": {"w": torch.zeros(2)}}, d / CHECKPOINT_NAME)
    out["foreign"] = (d, "not a nalu checkpoint")
    d = run_dir("future")
    torch.save({**data, "version": VERSION + 1}, d / CHECKPOINT_NAME)
    out["future"] = (d, "upgrade nalu")
    d = run_dir("wrong_shapes")
    edited = {**data, "model": {k: torch.zeros(3, 5, 7) for k in data["model"]}}
    torch.save(edited, d / CHECKPOINT_NAME)
    out["wrong_shapes"] = (d, "does not match its own config")
    d = run_dir("missing_tensor")
    torch.save({**data, "model": dict(list(data["model"].items())[1:])}, d / CHECKPOINT_NAME)
    out["missing_tensor"] = (d, "does not match its own config")
    d = run_dir("bad_config")
    torch.save(
        {**data, "config": {**data["config"], "task": {**data["config"]["task"], "op": "pow"}}}, d / CHECKPOINT_NAME
    )
    out["bad_config"] = (d, "invalid config")
    d = run_dir("nan_weights")
    torch.save(
        {**data, "model": {k: torch.full_like(v, float("nan")) for k, v in data["model"].items()}}, d / CHECKPOINT_NAME
    )
    out["nan_weights"] = (d, "non-finite")
    d = run_dir("no_step")
    torch.save({k: v for k, v in data.items() if k != "step"}, d / CHECKPOINT_NAME)
    out["no_step"] = (d, "malformed 'step'")
    return out


def test_broken_checkpoints_give_one_line_errors(tmp_path: Path, mul_run: Path) -> None:
    cases = _broken_checkpoints(tmp_path, mul_run)
    phrases = {name: phrase for name, (_, phrase) in cases.items()}
    unloadable = ["empty", "truncated10", "text", "foreign", "future", "no_step"]
    for name, (run_dir, phrase) in cases.items():
        before = (run_dir / CHECKPOINT_NAME).read_bytes()
        # export-tb reads the metrics log and the checkpoint's metadata, not the model: it refuses the
        # checkpoints that do not load at all
        readers = [r for r in READERS if r != ["export-tb"] or name.startswith(("truncated", *unloadable))]
        for reader in readers:
            result = runner.invoke(cli.app, _command(reader, run_dir, mul_run, tmp_path))
            err = assert_error_line(result, context=reader)
            assert phrase in err, (name, reader, err)
        assert (run_dir / CHECKPOINT_NAME).read_bytes() == before, f"{name}: a failed command changed the file"
    # `runs` lists a directory of runs and marks the broken ones instead of failing on them. It reads stored
    # results only, so the checkpoints that load but do not fit their config are the ones it cannot tell.
    rows = _runs_listing(tmp_path)
    assert {name for name, row in rows.items() if row["status"] == "broken"} >= set(unloadable), rows
    for name in unloadable:
        assert phrases[name] in str(rows[name]["error"]), (name, rows[name])


def test_broken_checkpoint_through_the_installed_command(tmp_path: Path, mul_run: Path) -> None:
    cases = _broken_checkpoints(tmp_path, mul_run)
    for name in ("truncated10", "wrong_shapes", "future"):
        run_dir, phrase = cases[name]
        done = run_nalu("eval", str(run_dir), timeout=120)
        assert done.returncode == 1, (name, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:") and phrase in lines[0], (name, done.stderr)
