"""Number words to numbers (Trask et al. 2018, section 4.3): the English words of an integer, one token at a
time; the target is the integer ("five hundred and fifteen" → 515).

Grammar (British English, as the paper's examples; docs/guide/words.md):

    number    := "zero" | thousands | below1000
    thousands := below1000 "thousand" [rest]              (1,000 – 999,999)
    rest      := "and" below100 | below1000                 ("and" when the remainder is 1 – 99)
    below1000 := unit "hundred" ["and" below100] | below100
    below100  := unit | teen | tens [unit]                  ("seventy seven", no hyphen)

Tokens: 0 is padding, then the 31 words of ``WORDS`` (zero … nineteen, twenty … ninety, hundred, thousand,
and): a vocabulary of 32. A text of 0–999 has at most 5 tokens, of 0–999,999 at most 11.

Split of 0–999 (the paper's sizes: 169 training, 200 validation, 631 test numbers): 0–19 are always training
numbers (each word must be seen once to be learned); the other 980 are ordered by a fixed permutation from
the counter-based generator (seed 0, ``SPLIT_STREAM``), the first 149 join training, the next 200 are
validation and the last 631 test numbers. Training draws (``STREAM_TRAIN``, and the probes) take only
training numbers, validation draws only validation numbers, test draws only test numbers; numbers of 1,000
and above (the extrapolation range) are never trained on and are test numbers for every stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nalu_cli.errors import ConfigError
from nalu_cli.lazy import lazy_import
from nalu_cli.tasks.kind import Kind
from nalu_cli.tasks.ops import OPS, Ranges, format_ranges
from nalu_cli.tasks.text import MAX_NUMBER, PAD, TEXT_OP, TextKind, TextTask, integer_bounds, uniform_ints

if TYPE_CHECKING:
    import torch

    from nalu_cli import rng
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())
    rng = lazy_import("nalu_cli.rng", globals())

UNITS_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)  # fmt: skip
TENS_WORDS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
WORDS = (*UNITS_WORDS, *TENS_WORDS, "hundred", "thousand", "and")
TOKEN = {word: i + 1 for i, word in enumerate(WORDS)}  # 0 is PAD
VOCABULARY = len(WORDS) + 1
SPLIT_DOMAIN = 1000  # numbers below this are split into train/validation/test; the rest are test numbers
ALWAYS_TRAIN = 20  # 0–19: every unit and teen word is a training number
SPLIT_SIZES = (169, 200, 631)  # training, validation, test numbers of 0–999 (Trask et al. 2018, section 4.3)
SPLIT_STREAM, SPLIT_STEP = 5, 424_242  # the fixed permutation: generator (seed 0, stream 5, this step)


def _below100(n: int) -> list[str]:
    if n < 20:
        return [UNITS_WORDS[n]]
    tens, unit = divmod(n, 10)
    return [TENS_WORDS[tens - 2]] + ([UNITS_WORDS[unit]] if unit else [])


def _below1000(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    if not hundreds:
        return _below100(rest)
    return [UNITS_WORDS[hundreds], "hundred"] + (["and", *_below100(rest)] if rest else [])


def number_words(n: int) -> list[str]:
    """The English words of ``n`` (0 ≤ n ≤ 999,999): ``number_words(515)`` → five hundred and fifteen."""
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number words cover 0 to {MAX_NUMBER:,}, not {n}")
    if n < 1000:
        return _below1000(n)
    thousands, rest = divmod(n, 1000)
    words = [*_below1000(thousands), "thousand"]
    if rest:
        words += ["and", *_below100(rest)] if rest < 100 else _below1000(rest)
    return words


def words_value(words: list[str]) -> int:
    """The integer a list of number words denotes (the inverse of ``number_words``, used by the tests)."""
    total, current = 0, 0
    for word in words:
        if word == "thousand":
            total, current = (total + current) * 1000, 0
        elif word == "hundred":
            current *= 100
        elif word != "and":
            current += UNITS_WORDS.index(word) if word in UNITS_WORDS else 10 * (TENS_WORDS.index(word) + 2)
    return total + current


@lru_cache(maxsize=1)
def _small_tokens() -> list[list[int]]:
    """Token ids of 0–999 (cached: most texts are made of them)."""
    return [[TOKEN[w] for w in _below1000(n)] for n in range(1000)]


def encode(n: int) -> list[int]:
    """Token ids of ``n``'s words (no padding)."""
    if n < 1000:
        return _small_tokens()[n]
    thousands, rest = divmod(n, 1000)
    ids = [*_small_tokens()[thousands], TOKEN["thousand"]]
    if rest:
        ids += [TOKEN["and"], *_small_tokens()[rest]] if rest < 100 else _small_tokens()[rest]
    return ids


def max_tokens(hi: int) -> int:
    """The longest text of an integer up to ``hi``: 5 tokens below 1,000 (… hundred and seventy seven), 11 above."""
    return 5 if hi < 1000 else 11


@lru_cache(maxsize=1)
def split_numbers() -> dict[int, torch.Tensor]:
    """The numbers of 0–999 in each part: {STREAM_TRAIN: [169], STREAM_VALID: [200], STREAM_TEST: [631]}, sorted
    int64 tensors. A fixed permutation of 20–999 from the counter-based generator; 0–19 always train."""
    rest = SPLIT_DOMAIN - ALWAYS_TRAIN
    bits = rng.random_bits(torch.tensor([0]), SPLIT_STREAM, SPLIT_STEP, rest)[0].to(torch.int64) & 0xFFFFFFFF
    order = torch.argsort(bits * rest + torch.arange(rest), stable=True) + ALWAYS_TRAIN  # [980], ties by index
    n_train = SPLIT_SIZES[0] - ALWAYS_TRAIN
    parts = (
        torch.cat([torch.arange(ALWAYS_TRAIN), order[:n_train]]),
        order[n_train : n_train + SPLIT_SIZES[1]],
        order[n_train + SPLIT_SIZES[1] :],
    )
    streams = (rng.STREAM_TRAIN, rng.STREAM_VALID, rng.STREAM_TEST)
    return {stream: part.sort().values for stream, part in zip(streams, parts, strict=True)}


def part_of(stream: int) -> int:
    """Which part of 0–999 a stream draws from: validation and test draws their own, every other stream
    (training, the probes) the training numbers."""
    return stream if stream in (rng.STREAM_VALID, rng.STREAM_TEST) else rng.STREAM_TRAIN


@dataclass(frozen=True)
class WordsTask(TextTask):
    """Number words to numbers: tokens [S, B, L] (L = ``max_tokens``), target the number."""

    @property
    def kind(self) -> Kind:
        return WORDS_KIND

    def pad_length(self, ranges: Ranges) -> int:
        return max_tokens(max(hi for _, hi in integer_bounds(ranges)))

    def token_names(self) -> dict[int, str]:
        return {i: word for word, i in TOKEN.items()}

    def tokens_of(self, text: str) -> list[int]:
        return [TOKEN[word] for word in text.split()]

    def place_probes(self) -> list[tuple[str, str]]:
        """Hundreds and thousands after a unit and a tens word ("… thousand" is never a training number)."""
        return [(f"{n} {place}", n) for place in ("hundred", "thousand") for n in ("one", "five", "nine")] + [
            ("twenty thousand", "twenty")
        ]

    def candidates(self, stream: int, ranges: Ranges) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """What a stream may draw from ``ranges``: the numbers below 1,000 of its part that lie in a range
        ([K] int64), and the spans of 1,000 and above [(first, last)]."""
        small = split_numbers()[part_of(stream)]
        inside = torch.zeros_like(small, dtype=torch.bool)
        spans = []
        for first, last in integer_bounds(ranges):
            inside |= (small >= first) & (small <= last)
            if last >= SPLIT_DOMAIN:
                spans.append((max(first, SPLIT_DOMAIN), last))
        return small[inside], spans

    def numbers(self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges) -> torch.Tensor:
        """Integers drawn uniformly from what the stream may draw in ``ranges``: [S, B] int64."""
        small, spans = self.candidates(stream, ranges)
        sizes = [small.shape[0]] + [last - first + 1 for first, last in spans]
        total = sum(sizes)
        if total == 0:
            raise ConfigError(
                f"{format_ranges(ranges)} holds no number of this draw's part of 0-999 (training, validation or test"
                " numbers; docs/guide/words.md)"
            )
        bits = rng.random_bits(seeds.cpu(), stream, step, batch)  # [S, B]
        index = uniform_ints(bits, 0, total)  # [S, B] in 0 .. total - 1
        out = small[index.clamp(max=max(small.shape[0] - 1, 0))] if small.shape[0] else torch.zeros_like(index)
        start = small.shape[0]
        for (first, _), size in zip(spans, sizes[1:], strict=True):
            hit = (index >= start) & (index < start + size)
            out = torch.where(hit, first + index - start, out)
            start += size
        return out

    def texts(self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges) -> tuple[Any, Any]:
        n = self.numbers(seeds, stream, step, batch, ranges)  # [S, B]
        length = self.pad_length(ranges)
        rows = [encode(value) for value in n.flatten().tolist()]
        padded = [row + [PAD] * (length - len(row)) for row in rows]
        tokens = torch.tensor(padded, dtype=torch.int64).reshape(*n.shape, length)  # [S, B, L]
        return tokens, n.to(torch.float64)


def words_task(interpolation: Ranges, extrapolation: Ranges) -> WordsTask:
    """The words task on these integer ranges."""
    return WordsTask(
        op=OPS[TEXT_OP], mode="words", input_size=VOCABULARY, subset_ratio=0.25, overlap_ratio=0.5,
        interpolation=tuple(interpolation), extrapolation=tuple(extrapolation), vocabulary=VOCABULARY,
    )  # fmt: skip


class WordsKind(TextKind):
    """Number words to numbers (Trask 2018, section 4.3)."""

    name = "words"
    summary = "the English words of an integer, one token at a time"
    vocabulary = VOCABULARY

    def describe(self, config: Any) -> str:
        t = config.task
        return (
            f"number words (words) · {'+'.join(config.model.units())} · train {format_ranges(t.interpolation)}"
            f" (training part) → test {format_ranges(t.extrapolation)}"
        )

    def own_problems(self, config: Any) -> list[str]:
        t = config.task
        if getattr(t, "program", None) is not None:
            return ["task.program picks a program family: use it with task.mode program"]
        problems = []
        task = words_task(t.interpolation, t.extrapolation)
        for name, ranges, parts in (
            ("task.interpolation", task.interpolation, ("training", "validation", "test")),
            ("task.extrapolation", task.extrapolation, ("test",)),
        ):
            bounds = integer_bounds(ranges)
            if any(
                last >= SPLIT_DOMAIN or (first <= ALWAYS_TRAIN and last >= SPLIT_DOMAIN - 1) for first, last in bounds
            ):
                continue  # every part has numbers there (decided without the generator: config stays torch-free)
            streams = {"training": rng.STREAM_TRAIN, "validation": rng.STREAM_VALID, "test": rng.STREAM_TEST}
            empty = [part for part in parts if task.candidates(streams[part], ranges)[0].shape[0] == 0]
            if empty:
                problems.append(
                    f"{name}: {format_ranges(ranges)} holds no {' or '.join(empty)} number of the split of 0-999"
                    " (docs/guide/words.md); widen it"
                )
        return problems

    def make(self, config: Any) -> WordsTask:
        return words_task(config.task.interpolation, config.task.extrapolation)


WORDS_KIND = WordsKind()
