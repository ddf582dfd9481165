"""``nalu train --op`` with constants (issue 22): real tiny training, read back with the constants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from tests.conftest import assert_error_line

runner = CliRunner()


def _train(tmp_path: Path, name: str, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["train", *args, "--out", str(tmp_path / name), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("op", "formula", "units"),
    [
        ("1.8*x0 + 32", "y = 1.8 * x0 + 32", ["mlp"]),
        ("x0*x1/2", "y = 0.5 * x0 * x1", ["nmu", "mlp"]),
        ("pi*x0*x1", "y = pi * x0 * x1", ["nmu", "mlp"]),
    ],
)
def test_op_with_constants_is_solved_and_read_back(tmp_path: Path, op: str, formula: str, units: list[str]) -> None:
    """The derived recipe (1000 steps for the MLP alone, 3000 for one scaled term): a few seconds each."""
    report = _train(tmp_path, "r", "--op", op, "--seeds", "3")
    assert report["units"] == units
    assert report["solved"] == report["total"] == 3
    for seed in report["seeds"]:
        assert seed["solved"] and seed["formula_exact"] and seed["recovered"], seed
        assert seed["formula"] == formula


def test_constants_batched_seeds_equal_seeds_alone(tmp_path: Path) -> None:
    both = _train(tmp_path, "both", "--op", "x0*x1/2 + 3", "--seeds", "0,1", "--steps", "600")
    alone = _train(tmp_path, "alone", "--op", "x0*x1/2 + 3", "--seeds", "1", "--seed", "1", "--steps", "600")
    assert both["units"] == ["nmu", "mlp"]
    b, a = both["seeds"][1], alone["seeds"][0]
    assert b["seed"] == a["seed"] == 1
    for key in ("formula", "solved", "solved_at", "interpolation", "extrapolation", "formula_deviation"):
        assert b[key] == a[key], key


@pytest.mark.parametrize("op", ["1.8*x0 + ", "x0*y/2", "pi(x0)", "x0 / (x0 - x0) + 0.5"])
def test_nonsense_with_constants_is_one_error_line(tmp_path: Path, op: str) -> None:
    result = runner.invoke(app, ["train", "--op", op, "--out", str(tmp_path / "r")])
    assert_error_line(result, codes=(2,), context=op)
    assert not (tmp_path / "r").exists()
