"""Rough edges a new user hits with ``--op`` and ``nalu fit`` (issue 25, items 6 and 7): one line that says what
is wrong, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from tests.conftest import assert_error_line

runner = CliRunner()


@pytest.mark.parametrize(
    ("op", "message"),
    [
        ("1", "op is the number 1; an op is a name (add, sub"),
        ("2.5", "op is the number 2.5; an op is a name"),
        ("NaN", "op is the number nan; an op is a name"),
        ("x0-x0", "expression 'x0-x0' is constant (it equals 0 whatever the inputs)"),
        ("0*x0", "expression '0*x0' is constant (it equals 0 whatever the inputs)"),
        ("x0**0", "expression 'x0**0' is constant (it equals 1 whatever the inputs)"),
        ("x0 # hi", "'#' at column 4 is not allowed (it would start a comment)"),
        ("\uff580", "'\uff58' at column 1 is not an ASCII character"),  # fullwidth x
        ("x1 + \U0001d42100", "'\U0001d421' at column 6 is not an ASCII character"),  # bold x: columns count characters
    ],
)
def test_bad_ops_say_what_is_wrong(tmp_path: Path, op: str, message: str) -> None:
    result = runner.invoke(app, ["train", "--op", op, "--steps", "5", "--out", str(tmp_path / "r")])
    assert message in assert_error_line(result, codes=(2,)), result.output
    assert not (tmp_path / "r").exists()


def test_yaml_op_no_is_a_boolean_not_an_op(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("task:\n  op: no\n")
    result = runner.invoke(app, ["train", "--config", str(config), "--steps", "5", "--out", str(tmp_path / "r")])
    assert "op is the boolean false (YAML reads yes/no/on/off so; quote it)" in assert_error_line(result, codes=(2,))


def _table(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_fit_table_problems_are_one_line(tmp_path: Path) -> None:
    rs = np.random.default_rng(0)
    a, b = rs.uniform(1, 5, 30), rs.uniform(1, 5, 30)
    zero = _table(tmp_path / "z.csv", "a,b,y", [f"{u},{v},0" for u, v in zip(a, b, strict=True)])
    result = runner.invoke(app, ["fit", str(zero), "--target", "y", "--out", str(tmp_path / "r")])
    assert "the target 'y' is 0 on every row" in assert_error_line(result, codes=(2,))
    semi = _table(tmp_path / "s.csv", "a;b;y", [f"{u};{v};{u * v}" for u, v in zip(a, b, strict=True)])
    result = runner.invoke(app, ["fit", str(semi), "--target", "y", "--out", str(tmp_path / "r")])
    assert "looks separated by semicolons" in assert_error_line(result, codes=(2,))
    ok = _table(tmp_path / "ok.csv", "a,b,y", [f"{u},{v},{u * v}" for u, v in zip(a, b, strict=True)])
    result = runner.invoke(app, ["fit", str(ok), "--target", "y", "--holdout", "0", "--out", str(tmp_path / "r")])
    assert "--holdout 0: must be above 0 and below 0.9" in assert_error_line(result, codes=(2,))
    assert not (tmp_path / "r").exists()
