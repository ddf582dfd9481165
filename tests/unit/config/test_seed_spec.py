"""Seeds as stored: the compact spec (``schema.seeds_spec``), its round trip, and the write-time size check."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from nalu_cli.config import limits, schema
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config.loading import read_text_capped, safe_load_bounded
from nalu_cli.errors import ConfigError

TOP = schema.MAX_SEED


def config_with(seeds: list[int] | str) -> schema.Config:
    return config_resolve.resolve(overrides={"task.op": "add", "model.unit": "nau", "train.seeds": seeds})


def round_trip(config: schema.Config) -> schema.Config:
    """config.yaml as written, read back the way ``eval``/``--resume`` read it."""
    return config_resolve.validate(safe_load_bounded(config_resolve.dump_yaml(config)))


@pytest.mark.parametrize(
    ("seeds", "spec"),
    [
        ([0], [0]),
        ([4, 0, 9], [4, 0, 9]),
        (list(range(16)), list(range(16))),  # short: the list nalu always wrote
        (list(range(17)), "0-16"),
        (list(range(100_000)), "0-99999"),
        (list(range(TOP - 99_999, TOP + 1)), f"{TOP - 99_999}-{TOP}"),
        ([*range(10), 20, *range(30, 40)], "0-9,20,30-39"),
        ([*range(20), 40, 41, *range(50, 53)], "0-19,40,41,50-52"),
        (list(range(30, 0, -1)), ",".join(str(s) for s in range(30, 0, -1))),  # the order is kept
        ([*range(20, 40), *range(0, 20)], "20-39,0-19"),
    ],
)
def test_seeds_spec_is_short_and_exact(seeds: list[int], spec: list[int] | str) -> None:
    assert schema.seeds_spec(seeds) == spec
    assert (schema.parse_seeds(spec) if isinstance(spec, str) else spec) == seeds


def test_to_dict_yaml_load_validate_gives_the_same_seeds() -> None:
    rng = random.Random(0)
    cases: list[list[int]] = [list(range(17)), list(range(TOP - 99_999, TOP + 1))]
    for _ in range(40):
        n = rng.choice([1, 2, 15, 16, 17, 18, 200, 3000])
        pool = rng.choice([range(0, 3 * n + 5), range(TOP - 3 * n - 5, TOP + 1)])
        seeds = rng.sample(pool, n)
        if rng.random() < 0.5:
            seeds.sort()  # runs of consecutive seeds
        cases.append(seeds)
    for seeds in cases:
        config = config_with(seeds)
        back = round_trip(config)
        assert back.train.seed_list() == seeds
        assert back == config  # the whole config, not just its seeds
        stored = schema.stored_form(config.to_dict())
        assert config_resolve.validate(yaml.safe_load(yaml.safe_dump(stored))).train.seed_list() == seeds


def test_to_dict_keeps_the_expanded_list() -> None:
    """Sweep task keys and JSON are built from ``to_dict``: only what is written to disk is compact."""
    config = config_with("0-99")
    assert config.to_dict()["train"]["seeds"] == list(range(100))
    assert schema.stored_form(config.to_dict())["train"]["seeds"] == "0-99"
    assert schema.stored_form({"config": "not one"}) == {"config": "not one"}  # a fit spec: left alone


def test_config_yaml_of_100000_seeds_is_small() -> None:
    for spec in ("0-99999", f"{TOP - 99_999}-{TOP}"):
        config = config_resolve.resolve(
            overrides={"task.op": "add", "model.unit": "nau", "train.seeds": schema.seeds_option(spec)}
        )
        text = config_resolve.dump_yaml(config)
        assert len(text.encode()) < 2_000, len(text)
        assert f"seeds: {spec}\n" in text
        assert round_trip(config).train.seed_list() == config.train.seed_list()
    hundred_k = config_resolve.resolve(overrides={"train.seeds": schema.seeds_option("100000")})
    assert len(config_resolve.dump_yaml(hundred_k).encode()) < 2_000


def test_the_old_list_spelling_still_reads() -> None:
    """config.yaml written by earlier versions: the full list, one seed a line."""
    config = config_with(list(range(500)))
    old = yaml.safe_dump(config.to_dict(), sort_keys=False)
    assert "- 499\n" in old
    assert config_resolve.validate(safe_load_bounded(old)).train.seed_list() == list(range(500))


def test_config_yaml_over_the_read_limit_is_refused_at_write_time(tmp_path: Path) -> None:
    """100,000 scattered ten-digit seeds (the Python API allows it) are over 1 MB even as a spec: refused."""
    seeds = [TOP - 2 * i for i in range(100_000)]
    config = config_with(seeds)
    with pytest.raises(ConfigError, match=r"config.yaml would be 1,\d{3},\d{3} bytes, over the 1,000,000-byte"):
        config_resolve.dump_yaml(config)
    # the same seeds as one range are fine, and the text passes the readers' own check
    path = tmp_path / "config.yaml"
    path.write_text(config_resolve.dump_yaml(config_with(sorted(TOP - i for i in range(100_000)))))
    assert len(read_text_capped(path, "config file")) < limits.MAX_YAML_BYTES


@pytest.mark.parametrize(
    ("text", "seeds"),
    [("0-2,7,9-10", [0, 1, 2, 7, 9, 10]), (" 5 ", [5]), ("3,1", [3, 1]), ("0-3", [0, 1, 2, 3]), ("4,", [4])],
)
def test_parse_seeds_reads_ranges_inside_lists(text: str, seeds: list[int]) -> None:
    assert schema.parse_seeds(text) == seeds
    if not text.strip().isdigit():  # ``--seeds 5`` is five seeds from 0
        assert schema.seeds_option(text) == seeds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0-99999,100000", "at most 100000 seeds"),
        ("0-2000000000,5", "at most 100000 seeds"),  # counted before a list is built
        ("5-2,7", "runs backwards"),
        ("1,x", "must be N, A-B or a,b,c"),
        ("1,-5", "must be N, A-B or a,b,c"),
        ("1-", "must be N, A-B or a,b,c"),
    ],
)
def test_parse_seeds_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        schema.parse_seeds(text)
    with pytest.raises(ConfigError, match=message):
        schema.seeds_option(text)


def test_a_spec_with_repeats_is_refused() -> None:
    with pytest.raises(ConfigError, match="seeds must not repeat"):
        config_with("0-20,5")
