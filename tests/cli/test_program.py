"""`--mode program` end to end through the CLI: every command, JSON against the schema, the family setting,
batched seeds equal to seeds alone, one-line errors (tiny real training)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from tests.cli.test_words import TINY, as_json, commands_end_to_end
from tests.conftest import assert_error_line


def test_program_every_command_end_to_end(tmp_path: Path) -> None:
    commands_end_to_end("program", tmp_path, "U[1000,99999]", "10000,99999")


def test_program_family_and_batched_seeds_equal_alone(tmp_path: Path) -> None:
    args = ["--mode", "program", "--steps", "8", "--set=task.program=conditional", *TINY]
    together = as_json("train", *args, "--seeds", "3,4", "--out", str(tmp_path / "a"), schema="train")
    alone = as_json("train", *args, "--seeds", "1", "--seed", "4", "--out", str(tmp_path / "b"), schema="train")
    assert together["describe"].startswith("conditional programs (program)")
    assert together["seeds"][1]["extrapolation"] == alone["seeds"][0]["extrapolation"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "task.program=loops"], "task.program"),
        (["--op", "mul"], "its op is identity"),
        (["--set", "task.interpolation=[0.5,0.7]"], "holds no integer"),
        (["--unit", "nalu", "--hidden", ""], "a cell over the token embeddings and an output unit"),
    ],
)
def test_bad_program_settings_are_one_error_line(tmp_path: Path, args: list[str], needle: str) -> None:
    result = CliRunner().invoke(
        app, ["train", "--mode", "program", "--steps", "5", "--out", str(tmp_path / "r"), *args]
    )
    assert needle in assert_error_line(result, (2,))
