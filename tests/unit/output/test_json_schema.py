"""Each command's real ``--json`` output matches its documented schema (nalu_cli/schema.py, docs/json.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nalu_cli.cli.core import app
from nalu_cli.output.schema import SCHEMAS, check, markdown

runner = CliRunner()
ROOT = Path(__file__).parents[3]
SMALL = ["--set", "eval.samples=128", "--set", "train.valid_samples=64"]


def json_of(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, (args, result.output)
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A single-layer run, a two-layer gated run with two seeds, and an unfinished-looking directory."""
    root = tmp_path_factory.mktemp("schema") / "runs"
    json_of(["train", "--op", "mul", "--steps", "200", "--out", str(root / "mul"), *SMALL])
    json_of(
        ["train", "--op", "add", "--unit", "nalu,nalu", "--hidden", "2", "--seeds", "2", "--steps", "100"]
        + ["--out", str(root / "nalu2"), *SMALL]
    )
    (root / "broken").mkdir()
    (root / "broken" / "checkpoint.pt").write_bytes(b"")
    return root


def assert_matches(data: dict[str, object]) -> None:
    command = str(data["command"])
    problems = check(data, SCHEMAS[command])
    assert not problems, "\n".join(problems)


def test_every_command_output_matches_its_schema(runs: Path, tmp_path: Path) -> None:
    mul, nalu = str(runs / "mul"), str(runs / "nalu2")
    outputs = [
        json_of(["train", "--op", "div", "--seeds", "2", "--steps", "50", "--out", str(tmp_path / "d"), *SMALL]),
        json_of(["eval", mul, "--samples", "64"]),
        json_of(["eval", nalu, "--range", "1,2", "--samples", "64"]),
        json_of(["extrapolate", nalu, "--samples", "64"]),
        json_of(["inspect-weights", mul]),
        json_of(["inspect-weights", nalu, "--raw"]),
        json_of(["runs", str(runs)]),
        json_of(["compare", mul, nalu]),
        json_of(["export-tb", mul, nalu, "--out", str(tmp_path / "tb")]),
        json_of(["benchmark", "--ops", "add", "--units", "nau", "--seeds", "2", "--steps", "20", *SMALL]),
    ]
    # nalu fit: a law it reads (closed form) and one outside every candidate (formula null, the closest shown)
    for name, law in (("exact", lambda a, b: 0.5 * a * b * b), ("none", lambda a, b: math.exp(a) + math.sin(b))):
        table = tmp_path / f"{name}.csv"
        rows = [(1 + (i * 0.37) % 2, 1 + (i * 0.61) % 4) for i in range(200)]
        table.write_text("a,b,y\n" + "".join(f"{a},{b},{law(a, b)}\n" for a, b in rows))
        fitted = json_of(
            ["fit", str(table), "--target", "y", "--steps", "5", "--members", "1", "--out", str(tmp_path / name)]
        )
        assert (fitted["formula"] is None) == (name == "none") and (fitted["closest"] is None) == (name == "exact")
        outputs.append(fitted)
    try:
        import matplotlib  # noqa: F401

        outputs.append(json_of(["plot", mul, nalu, "--out", str(tmp_path / "p.png"), "--samples", "64"]))
    except ImportError:
        pass
    for data in outputs:
        assert_matches(data)
    assert {str(d["command"]) for d in outputs} >= set(SCHEMAS) - {"plot"}


def test_compare_gives_model_unit_as_a_list_whatever_the_config_wrote(runs: Path) -> None:
    data = json_of(["compare", str(runs / "mul"), str(runs / "nalu2")])
    assert data["differences"]["model.unit"] == [["nmu"], ["nalu", "nalu"]]  # type: ignore[index]


def test_check_finds_what_does_not_match() -> None:
    schema = {"a": "int", "b": ["number"], "c": "str|null", "d?": "bool", "e": ("null", ["int"])}
    assert check({"a": 1, "b": [1.5, "nan", 2], "c": None, "e": None}, schema) == []
    assert check({"a": 1, "b": [], "c": "x", "d": True, "e": [3]}, schema) == []
    assert check({"a": "1", "b": [], "c": None, "e": None}, schema) == ["$.a: expected int, got str '1'"]
    assert check({"a": True, "b": [], "c": None, "e": None}, schema)[0].startswith("$.a: expected int, got bool")
    assert check({"a": 1, "b": ["x"], "c": None, "e": None}, schema) == ["$.b[0]: expected number, got str 'x'"]
    assert check({"a": 1, "b": [], "e": None}, schema) == ["$: missing key 'c'"]
    assert check({"a": 1, "b": [], "c": None, "e": None, "z": 0}, schema) == [
        "$: key 'z' is not in the documented schema"
    ]
    assert check({"a": 1, "b": [], "c": None, "e": "no"}, schema) != []


def test_docs_json_md_is_generated_from_the_schema() -> None:
    assert (ROOT / "docs" / "json.md").read_text() == markdown(), "run: python docs/make_readme.py --fast"
    text = markdown()
    for command in SCHEMAS:
        assert f"## `nalu {command} --json`" in text
