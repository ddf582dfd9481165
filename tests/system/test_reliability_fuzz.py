"""Bad input never produces a traceback: property-based tests throw hostile config files and command-line
arguments at every command and require exit code 1 or 2 with a one-line ``Error:`` message.

Every generated input is invalid by construction (it carries at least one value no command may accept), so
"exit 1 or 2" is the only right answer; anything else (exit 0, a traceback, an uncaught exception) fails.
"""

from __future__ import annotations

import math
import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nalu_cli import cli
from nalu_cli.runs.checkpoint import CHECKPOINT_NAME
from tests.conftest import assert_error_line, run_nalu

runner = CliRunner()
FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values no config may accept at that key (each one is a reason to refuse the whole file).
NAN, INF = math.nan, math.inf
BAD_VALUES: dict[str, list[Any]] = {
    "task.op": ["zz", "Mul ", 3, [], {"a": 1}, None, True],
    "task.mode": ["zz", 5, None],
    "task.input_size": [-1, 0, 3, 10**12, "many", 1.5, NAN, True],
    "task.interpolation": ["5,1", "a,b", [], "nan,1", "1,inf", {"lo": 1}, 7, "1e400,1e401", [[3, 3]], None],
    "task.extrapolation": ["2,2", "x", [1], "-inf,1", True],
    "task.subset_ratio": [0, -0.1, 0.9, NAN, "half"],
    "model.unit": ["zz", 5, [], ["nmu", "zz"], None],
    "model.hidden": [[-1], [0], "x", [10**9], {"a": 1}, [True]],
    "model.eps": [-1, 0, NAN, "x", 1e9],
    "model.activation": ["zz", 3],
    "train.steps": [0, -5, NAN, 10**20, "x", 1.5, True, None],
    "train.lr": [0, -1, NAN, INF, "fast", 1e9, [], False],
    "train.batch_size": [0, -1, 10**9, "x", NAN],
    "train.seed": [-1, 2**40, "x", 0.5],
    "train.seeds": ["x-y", [-1], "9-2", {}, [], [1, 1], True],
    "train.restarts": [0, -1, "x"],
    "train.device": ["tpu", 3],
    "train.schedule": ["zz", 1],
    "train.regularizer": [5, "x", {"scale": -1}, {"start": 5, "end": 2}, {"zz": 1}],
    "eval.samples": [0, -1, 10**12, "x"],
    "eval.ladder": [[], [0], [-1, 2], "x", [NAN]],
}
GOOD_VALUES: dict[str, list[Any]] = {
    "task.op": ["add", "sub", "mul", "div"],
    "task.interpolation": ["1,2", [1, 5]],
    "model.unit": ["nau", "nmu", "nalu"],
    "train.steps": [1, 2],
    "train.lr": [0.01, "1e-3"],
    "train.seed": [0, 3],
}
HOSTILE_TEXTS = [
    "",
    "   \n\t\n",
    "~",
    "- 1\n- 2\n",
    "just a string",
    "42",
    "task: [1, 2\n",  # unclosed flow sequence
    "task:\n  op: mul\n op2: x\n",  # bad indentation
    "!!python/object/apply:os.system ['touch /tmp/nalu-fuzz-pwned']\n",
    "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b]\n",
    "\ufeff\x00\x01",
    "task: {op: mul}\ntask: {op: add}\nzz: 1\n",
]


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


@st.composite
def hostile_config(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "text", "binary", "unknown", "section"]))
    if kind == "text":
        return draw(st.sampled_from(HOSTILE_TEXTS)).encode("utf-8")
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=300).filter(lambda b: b.strip(b" \t\r\n") != b""))
    data: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(sorted(GOOD_VALUES)), max_size=3, unique=True)):
        _set(data, key, draw(st.sampled_from(GOOD_VALUES[key])))
    if kind == "unknown":
        name = draw(st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=12))
        section = draw(st.sampled_from(["", "task.", "model.", "train.", "eval.", "train.regularizer."]))
        if section == "" and name in {"task", "model", "train", "eval"}:
            name += "_x"
        if section and name in _section_keys(section.rstrip(".")):
            name += "_x"
        _set(data, section + name, draw(st.one_of(st.integers(), st.text(max_size=5), st.none())))
    elif kind == "section":
        section = draw(st.sampled_from(["task", "model", "train", "eval"]))
        data[section] = draw(st.sampled_from([5, "x", [1, 2], True]))
    else:
        for key in draw(st.lists(st.sampled_from(sorted(BAD_VALUES)), min_size=1, max_size=3, unique=True)):
            _set(data, key, draw(st.sampled_from(BAD_VALUES[key])))
    return yaml.safe_dump(data, allow_unicode=True).encode("utf-8")


def _section_keys(section: str) -> set[str]:
    from nalu_cli.config.resolve import _known_keys

    return set(_known_keys(section))


@FUZZ
@given(content=hostile_config())
def test_hostile_config_files_for_train_and_sweep(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(content)
    result = runner.invoke(cli.app, ["train", "--config", str(path), "--out", str(tmp_path / "run"), "--force"])
    assert_error_line(result, (1, 2), ("train", content))
    assert not Path("/tmp/nalu-fuzz-pwned").exists()
    result = runner.invoke(cli.app, ["sweep", str(path), "--out", str(tmp_path / "sweep")])
    assert_error_line(result, (1, 2), ("sweep", content))


# Per command: (arguments that make the call invalid, option names to sprinkle random values on).
# The invalid arguments come last, so a random duplicate of the same option cannot override them.
def _invalid_calls(good_run: Path, garbage: Path, empty_dir: Path) -> dict[str, list[list[str]]]:
    missing = str(empty_dir / "nope")
    runs = [missing, str(garbage), str(empty_dir)]
    return {
        "train": [
            ["--steps", "0"], ["--lr", "nan"], ["--op", "zz"], ["--unit", "zz"], ["--batch-size", "-3"],
            ["--seeds", "b-a"], ["--interpolation", "5,1"], ["--device", "tpu"], ["--set", "train.zz=1"],
            ["--hidden", "x"], ["--config", missing], ["--resume", missing], ["--resume", str(garbage)],
            ["--extrapolation", "1e400,1e401"], ["--set", "noequals"], ["--restarts", "0"], ["--preset", "zz"],
        ],
        "eval": [[r] for r in runs] + [
            [str(good_run), "--range", "5,1"], [str(good_run), "--samples", "0"], [str(good_run), "--range", "x"],
        ],
        "extrapolate": [[r] for r in runs] + [
            [str(good_run), "--factors", "0"], [str(good_run), "--factors", "x"], [str(good_run), "--samples", "-1"],
        ],
        "inspect-weights": [[r] for r in runs],
        "benchmark": [
            ["--seeds", "0"], ["--ops", "zz"], ["--units", "zz"], ["--steps", "0"], ["--preset", "zz"],
            ["--set", "zz"], ["--ranges", "x"], ["--restarts", "0"], ["--ranges", "5,1:2,6"],
        ],
        "runs": [[missing], [str(garbage)], [str(empty_dir), "--sort", "zz"]],
        "compare": [[str(good_run), r] for r in runs] + [[str(good_run)]],
        "plot": [[r, "--out", str(empty_dir / "p.png")] for r in runs] + [[str(good_run), "--out", "x.bmp"]],
        "export-tb": [[r, "--out", str(empty_dir / "tb")] for r in runs],
        "sweep": [[missing], [str(garbage)], [str(empty_dir)]],
    }  # fmt: skip


SPRINKLE = {
    "train": ["--op", "--unit", "--steps", "--lr", "--seed", "--batch-size", "--hidden", "--interpolation"],
    "eval": ["--samples", "--range"],
    "extrapolate": ["--samples", "--factors"],
    "inspect-weights": ["--raw", "--seed"],
    "benchmark": ["--ops", "--units", "--seeds", "--steps"],
    "runs": ["--sort"],
    "compare": [],
    "plot": [],
    "export-tb": [],
    "sweep": ["--workers", "--executor"],
}
RANDOM_VALUES = st.one_of(
    st.sampled_from(["-1", "0", "nan", "inf", "-inf", "1e400", "", " ", "1,2", "5,1", "a-b", "\x00", "--", "Ω"]),
    st.text(max_size=12),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)


@FUZZ
@given(data=st.data())
def test_hostile_arguments_for_every_command(
    tmp_path_factory: pytest.TempPathFactory, mul_run: Path, data: Any
) -> None:
    base = tmp_path_factory.mktemp("fuzz")
    garbage = base / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 3)
    empty_dir = base / "empty"
    empty_dir.mkdir()
    calls = _invalid_calls(mul_run, garbage, empty_dir)
    command = data.draw(st.sampled_from(sorted(calls)))
    invalid = data.draw(st.sampled_from(calls[command]))
    used = {a for a in invalid if a.startswith("--")}
    extra: list[str] = []
    for option in data.draw(st.lists(st.sampled_from(SPRINKLE[command] or ["-q"]), max_size=3)):
        if option in used or option == "-q":
            continue
        if option == "--raw":
            extra.append(option)
        else:
            extra += [option, data.draw(RANDOM_VALUES).replace("\x00", "")]
    positional = [a for a in invalid if not a.startswith("--") and invalid.index(a) == 0]
    args = [command, *positional, *extra, *invalid[len(positional) :]]
    if command == "benchmark":
        args += ["--steps", "1"] if "--steps" not in used else []
    result = runner.invoke(cli.app, args)
    assert_error_line(result, (1, 2), args)


def test_hostile_inputs_through_the_installed_command(tmp_path: Path) -> None:
    """A few of the same through the real process: stderr is one ``Error:`` line, no traceback."""
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(bytes(range(256)))
    nan = tmp_path / "nan.yaml"
    nan.write_text("train:\n  lr: .nan\n  steps: 1e400\n  zz: 1\n")
    ckpt = tmp_path / CHECKPOINT_NAME
    ckpt.write_bytes(b"PK\x03\x04" + bytes(100))
    cases = [
        (["train", "--config", str(garbage)], 2),
        (["train", "--config", str(nan)], 2),
        (["train", "--stepz", "3"], 2),
        (["eval", str(ckpt)], 1),
        (["benchmark", "--seeds", "0"], 2),
    ]
    for args, code in cases:
        done = run_nalu(*args, timeout=120)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == code, (args, done.returncode, done.stderr)
        assert len(lines) == 1 and lines[0].startswith("Error:"), (args, done.stderr)
        assert "internal error" not in done.stderr, (args, done.stderr)
