"""Number words (tasks/words.py): the generator against an independent spelling, the split, the draws."""

from __future__ import annotations

import pytest
import torch

from nalu_cli import rng
from nalu_cli.config.resolve import resolve
from nalu_cli.errors import ConfigError
from nalu_cli.tasks import words
from nalu_cli.tasks.text import PAD

# Spelled by hand (British English, as num2words' en_GB writes them without hyphens and commas).
KNOWN = {
    0: "zero",
    7: "seven",
    13: "thirteen",
    20: "twenty",
    40: "forty",
    77: "seventy seven",
    100: "one hundred",
    105: "one hundred and five",
    515: "five hundred and fifteen",
    990: "nine hundred and ninety",
    1000: "one thousand",
    1005: "one thousand and five",
    1099: "one thousand and ninety nine",
    1100: "one thousand one hundred",
    2019: "two thousand and nineteen",
    21000: "twenty one thousand",
    100_001: "one hundred thousand and one",
    999_999: "nine hundred and ninety nine thousand nine hundred and ninety nine",
}


@pytest.mark.parametrize(("n", "text"), sorted(KNOWN.items()))
def test_number_words_spell_known_numbers(n: int, text: str) -> None:
    assert " ".join(words.number_words(n)) == text


def _reference_value(text: list[str]) -> int:
    """An independent reading: split at "thousand", each side a hundreds group of digit words."""
    small = {w: i for i, w in enumerate(words.UNITS_WORDS)} | {w: 20 + 10 * i for i, w in enumerate(words.TENS_WORDS)}

    def group(ws: list[str]) -> int:
        ws = [w for w in ws if w != "and"]
        if "hundred" in ws:
            k = ws.index("hundred")
            return 100 * small[ws[k - 1]] + sum(small[w] for w in ws[k + 1 :])
        return sum(small[w] for w in ws)

    if "thousand" in text:
        k = text.index("thousand")
        return 1000 * group(text[:k]) + group(text[k + 1 :])
    return group(text)


def test_every_number_below_1000_and_a_sample_above_reads_back() -> None:
    numbers = list(range(1000)) + list(range(1000, 1_000_000, 997)) + [999_999]
    lengths = []
    for n in numbers:
        text = words.number_words(n)
        assert _reference_value(text) == n == words.words_value(text), text
        assert words.encode(n) == [words.TOKEN[w] for w in text]
        lengths.append(len(text))
        assert len(text) <= words.max_tokens(n)
    assert max(lengths[:1000]) == 5 and max(lengths) == 11
    assert words.VOCABULARY == 32 and sorted(words.TOKEN.values()) == list(range(1, 32))  # as docs/guide/words.md
    with pytest.raises(ValueError, match="0 to 999,999"):
        words.number_words(1_000_000)


def test_split_sizes_are_the_papers_disjoint_and_keep_0_to_19_in_training() -> None:
    parts = words.split_numbers()
    train, valid, test = (set(parts[s].tolist()) for s in (rng.STREAM_TRAIN, rng.STREAM_VALID, rng.STREAM_TEST))
    assert (len(train), len(valid), len(test)) == (169, 200, 631)
    assert train | valid | test == set(range(1000)) and not (train & valid or train & test or valid & test)
    assert set(range(20)) <= train


def test_each_stream_draws_its_own_part_and_extrapolation_draws_above_1000() -> None:
    task = resolve(overrides={"task.mode": "words"})
    t = words.words_task(task.task.interpolation, task.task.extrapolation)
    seeds = torch.tensor([0, 1, 2])
    parts = words.split_numbers()
    for stream in (rng.STREAM_TRAIN, rng.STREAM_VALID, rng.STREAM_TEST, rng.STREAM_PROBE):
        n = t.numbers(seeds, stream, 5, 500, t.interpolation)
        assert set(n.flatten().tolist()) <= set(parts[words.part_of(stream)].tolist())
    far = t.numbers(seeds, rng.STREAM_TRAIN, 0, 2000, t.extrapolation)
    assert int(far.min()) >= 1000 and int(far.max()) <= 999_999 and int(far.max()) > 900_000
    # a range over both: numbers of the stream's part below 1,000, every number above
    mixed = t.numbers(seeds, rng.STREAM_TEST, 0, 4000, ((0.0, 1999.0),)).flatten().tolist()
    below = {v for v in mixed if v < 1000}
    assert below <= set(parts[rng.STREAM_TEST].tolist()) and any(v >= 1000 for v in mixed)


def test_tokens_are_padded_words_and_a_seeds_draw_is_the_same_whatever_seeds_share_it() -> None:
    t = words.words_task(((0.0, 999.0),), ((1000.0, 999_999.0),))
    tokens, y = t.texts(torch.tensor([4, 0, 9]), rng.STREAM_TRAIN, 3, 16, t.extrapolation)
    assert tokens.shape == (3, 16, 11) and y.shape == (3, 16)
    for row, value in zip(tokens[1], y[1], strict=True):
        ids = [i for i in row.tolist() if i != PAD]
        assert ids == words.encode(int(value)) and row.tolist()[len(ids) :] == [PAD] * (11 - len(ids))
    alone, y_alone = t.texts(torch.tensor([0]), rng.STREAM_TRAIN, 3, 16, t.extrapolation)
    assert torch.equal(alone[0], tokens[1]) and torch.equal(y_alone[0], y[1])


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"task.op": "add"}, "its op is identity"),
        ({"task.extrapolation": [1000, 2_000_000]}, "writes integers 0 to 999,999"),
        ({"task.interpolation": [-5, 10]}, "writes integers 0 to 999,999"),
        ({"task.interpolation": [0.2, 0.7]}, "holds no integer"),
        ({"task.program": "plain"}, "use it with task.mode program"),
        ({"model.unit": ["lstm", "lstm"]}, "is a cell, not an output unit"),
        ({"model.unit": ["rnn", "nalu"]}, "cell is lstm or a unit"),
        ({"model.unit": "nalu", "model.hidden": []}, "a cell over the token embeddings and an output unit"),
        ({"task.count_digit": 3}, "task.mode digits"),
        ({"train.memory_budget_mb": 0.01}, "above train.memory_budget_mb"),
    ],
)
def test_bad_words_settings_are_config_errors(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(overrides={"task.mode": "words", **overrides})
    assert needle in str(err.value)


def test_a_range_without_numbers_of_a_part_is_refused_before_training() -> None:
    with pytest.raises(ConfigError, match="U\\[0,5\\] holds no validation or test number"):
        resolve(overrides={"task.mode": "words", "task.interpolation": [0, 5]})
    with pytest.raises(ConfigError, match="task.extrapolation: U\\[0,3\\] holds no test number"):
        resolve(overrides={"task.mode": "words", "task.extrapolation": [0, 3]})
    resolve(overrides={"task.mode": "words", "task.interpolation": [0, 500], "task.extrapolation": [500, 2000]})
