"""Config: defaults, YAML files, overrides and one error listing every problem; shipped configs load."""

from __future__ import annotations

from pathlib import Path

import pytest

from nalu_cli.config import loading
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as config
from nalu_cli.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def test_defaults_per_op() -> None:
    assert config_resolve.resolve(overrides={"task.op": "mul"}).model.unit == "nmu"
    assert config_resolve.resolve(overrides={"task.op": "add"}).model.unit == "nau"
    cfg = config_resolve.resolve(overrides={"task.op": "mul", "model.unit": "nalu", "train.lr": "1e-3"})
    assert cfg.model.unit == "nalu" and cfg.train.lr == 1e-3


def test_yaml_11_pitfalls(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("task:\n  op: add\ntrain:\n  lr: 1e-3\n  steps: '200'\n")
    cfg = config_resolve.resolve(loading.load_yaml(f))
    assert cfg.train.lr == 1e-3 and cfg.train.steps == 200
    f.write_text("task:\n  op: no\n")
    with pytest.raises(ConfigError, match="task.op"):
        config_resolve.resolve(loading.load_yaml(f))


def test_every_problem_is_listed_at_once() -> None:
    data = {
        "task": {"op": "mull", "interpolation": [2, 1], "colour": "red"},
        "model": {"unit": "nmuu"},
        "train": {"lr": -1, "steps": "many", "device": "tpu"},
    }
    with pytest.raises(ConfigError) as info:
        config_resolve.resolve(data)
    text = str(info.value)
    for needle in (
        "task.op",
        "did you mean 'mul'",
        "lo must be below hi",
        "unknown key 'task.colour'",
        "model.unit",
        "did you mean 'nmu'",
        "train.lr",
        "train.steps",
        "train.device",
    ):
        assert needle in text, needle
    assert len(info.value.problems) >= 7


def test_impossible_combinations() -> None:
    with pytest.raises(ConfigError, match="sqrt needs non-negative"):
        config_resolve.resolve(overrides={"task.op": "sqrt", "task.interpolation": "-1,1"})
    with pytest.raises(ConfigError, match="0 outside"):
        config_resolve.resolve(overrides={"task.op": "div", "task.extrapolation": "-5,5"})
    with pytest.raises(ConfigError, match="layers"):
        config_resolve.resolve(overrides={"task.op": "mul", "model.unit": ["nau", "nmu"], "model.hidden": []})
    with pytest.raises(ConfigError, match="end"):
        config_resolve.resolve(overrides={"train.regularizer.start": 10, "train.regularizer.end": 5})


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        loading.load_yaml(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        loading.load_yaml(empty)
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        loading.load_yaml(bad)
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(b"\xff\xfe\x00\x81binary")
    with pytest.raises(ConfigError):
        loading.load_yaml(garbage)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n")
    with pytest.raises(ConfigError, match="mapping"):
        loading.load_yaml(scalar)


def test_seeds_parsing() -> None:
    assert config.parse_seeds("0-3") == [0, 1, 2, 3]
    assert config.parse_seeds("1,5,9") == [1, 5, 9]
    assert config_resolve.resolve(overrides={"train.seeds": "2-4"}).train.seed_list() == [2, 3, 4]
    with pytest.raises(ConfigError):
        config_resolve.resolve(overrides={"train.seeds": "4-2"})


def test_regularizer_schedule() -> None:
    reg = config.RegularizerConfig(scale=10, start=100, end=200)
    assert reg.weight(50) == 0 and reg.weight(150) == 5 and reg.weight(1000) == 10


SHIPPED = sorted((ROOT / "sample_configs").glob("*.yaml"))


def test_sample_configs_exist_for_every_op() -> None:
    names = {p.stem for p in SHIPPED}
    for op in ("add", "sub", "mul", "div", "square", "sqrt", "identity"):
        assert op in names
    assert any("static" in n for n in names)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_validates_and_names_its_command(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# nalu train --config sample_configs/" + path.name), first
    cfg = config_resolve.resolve(loading.load_yaml(path))
    assert cfg.task.op in first or cfg.task.op in path.stem


def test_booleans_are_not_numbers() -> None:
    """YAML ``true`` where a number belongs is refused (pydantic alone would read it as 1), every one listed."""
    with pytest.raises(ConfigError) as info:
        config_resolve.resolve({"train": {"steps": True, "lr": False}, "model": {"hidden": [True]}})
    assert sorted(info.value.problems) == [
        "model.hidden: expected a number, not [true]",
        "train.lr: expected a number, not false",
        "train.steps: expected a number, not true",
    ]
    assert config_resolve.resolve({"train": {"steps": 5, "precondition": True}}).train.precondition is True
