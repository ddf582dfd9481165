"""Small programs (tasks/program.py): the text, its value against Python's exec, the operand draws."""

from __future__ import annotations

import contextlib
import io

import pytest
import torch

from nalu_cli import rng
from nalu_cli.config.resolve import resolve
from nalu_cli.errors import ConfigError
from nalu_cli.tasks import program
from nalu_cli.tasks.text import PAD


def _run(text: str) -> int:
    """What Python prints for a program of the grammar (its conditional written as Python's own)."""
    source = text.replace(";", "\n").replace(" else:", "\nelse:")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(source, {})  # noqa: S102 - our own generated text
    return int(out.getvalue())


def test_the_example_of_the_issue() -> None:
    text = program.program_text(352, 71, "conditional")
    assert text == "a=352;b=71;if a<b:c=a+b else:c=a-b;print(c)"
    assert program.program_value(352, 71, "conditional") == _run(text) == 281


def test_every_decoded_program_prints_its_target() -> None:
    t = program.program_task(((0.0, 999.0),), ((1000.0, 99_999.0),), None)
    for ranges in (t.interpolation, t.extrapolation):
        tokens, y = t.texts(torch.tensor([0, 1]), rng.STREAM_TRAIN, 0, 100, ranges)
        assert tokens.shape == (2, 100, t.pad_length(ranges))
        families = set()
        for row, value in zip(tokens.reshape(-1, tokens.shape[-1]), y.flatten(), strict=True):
            ids = [i for i in row.tolist() if i != PAD]
            assert row.tolist()[len(ids) :] == [PAD] * (len(row) - len(ids))
            text = "".join(program.ALPHABET[i - 1] for i in ids)
            assert _run(text) == int(value), text
            families.add("if" in text)
        assert families == {True, False}  # both families when task.program is unset


def test_operands_take_each_digit_count_equally_often_within_the_range() -> None:
    t = program.program_task(((0.0, 999.0),), ((1000.0, 99_999.0),), "plain")
    bits = rng.random_bits(torch.tensor([3]), rng.STREAM_TRAIN, 0, 3 * 6000).reshape(1, 6000, 3)
    for ranges, counts in ((t.interpolation, {1, 2, 3}), (t.extrapolation, {4, 5})):
        a = t.draw_operands(bits[..., :2], ranges).flatten().tolist()
        lo, hi = ranges[0]
        assert all(lo <= v <= hi for v in a)
        digits = [len(str(v)) for v in a]
        assert set(digits) == counts
        for c in counts:
            assert abs(digits.count(c) / len(a) - 1 / len(counts)) < 0.03
    assert program.VOCABULARY == 33 and len(set(program.ALPHABET)) == 32  # as docs/guide/programs.md
    assert program.digit_spans(5, 1234) == [(5, 9), (10, 99), (100, 999), (1000, 1234)]


def test_family_setting_and_batched_draws_equal_draws_alone() -> None:
    plain = program.program_task(((0.0, 99.0),), ((100.0, 999.0),), "plain")
    tokens, _ = plain.texts(torch.tensor([2, 0]), rng.STREAM_VALID, 7, 32, plain.interpolation)
    assert not any("if" in "".join(program.ALPHABET[i - 1] for i in row if i) for row in tokens[0].tolist())
    assert plain.pad_length(plain.interpolation) == len("a=99;b=99;print(a+b)")
    alone, _ = plain.texts(torch.tensor([0]), rng.STREAM_VALID, 7, 32, plain.interpolation)
    assert torch.equal(alone[0], tokens[1])


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"task.op": "mul"}, "its op is identity"),
        ({"task.program": "loops"}, "task.program"),
        ({"task.extrapolation": [1000, 10**7]}, "writes integers 0 to 999,999"),
        ({"model.unit": ["lstm", "lstm"]}, "is a cell, not an output unit"),
        ({"train.memory_budget_mb": 0.01}, "above train.memory_budget_mb"),
    ],
)
def test_bad_program_settings_are_config_errors(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(overrides={"task.mode": "program", **overrides})
    assert needle in str(err.value)
