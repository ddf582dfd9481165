"""The README cannot drift: its marked blocks equal what the commands print now (timings and dates aside).

``python docs/make_readme.py`` rewrites the blocks; these tests run the same generator without writing.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[2]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_readme", ROOT / "docs" / "make_readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_readme"] = module
    spec.loader.exec_module(module)
    return module


gen = generator()


def drift(blocks: list[object]) -> list[str]:
    fresh = gen.make_blocks(blocks)
    return list(gen.stale(gen.readme_blocks((ROOT / "README.md").read_text()), fresh))


def test_every_block_of_the_generator_is_in_the_readme_and_back() -> None:
    in_readme = set(gen.readme_blocks((ROOT / "README.md").read_text()))
    assert in_readme == {b.name for b in gen.BLOCKS}


def test_normalise_masks_timings_and_dates_only() -> None:
    a = "2000 steps in 1.4 s on cpu · run saved to runs/mul-nmu-s0\n│ add │  3000 │ 19 s │\n│ x │ 2026-11-25 11:17 │"
    b = "2000 steps in 12.0 s on cpu · run saved to runs/mul-nmu-s0\n│ add │  3000 │ 4 s │\n│ x │ 2027-01-02 09:00 │"
    assert gen.normalise(a) == gen.normalise(b)
    for changed in (a.replace("mul-nmu-s0", "mul-nmu-s0-1"), a.replace("3000", "3001"), a.replace("cpu", "cuda")):
        assert gen.normalise(changed) != gen.normalise(a)


def test_a_changed_output_is_caught() -> None:
    body = "```console\n$ nalu x\nsolved 20/20 in 1.0 s\n```\n"
    assert gen.stale({"b": body}, {"b": body.replace("1.0 s", "3.5 s")}) == []
    assert gen.stale({"b": body}, {"b": body.replace("20/20", "6/20")}) != []
    text = "a\n<!-- BEGIN nalu:b -->\nold\n<!-- END nalu:b -->\nz\n"
    assert gen.replace_blocks(text, {"b": "new\n"}) == "a\n<!-- BEGIN nalu:b -->\nnew\n<!-- END nalu:b -->\nz\n"
    assert gen.replace_blocks(text, {}) == text  # a block not made this time is left as it is


def test_the_quick_readme_examples_are_what_the_commands_print() -> None:
    problems = drift(gen.selected(None, fast=True))
    assert not problems, "README.md is stale; run: python docs/make_readme.py\n" + "\n".join(problems)


@pytest.mark.slow
def test_the_long_readme_examples_are_what_the_commands_print() -> None:
    problems = drift([b for b in gen.selected(None, fast=False)])
    assert not problems, "README.md is stale; run: python docs/make_readme.py\n" + "\n".join(problems)
