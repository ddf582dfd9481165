"""Evaluating small programs (Trask et al. 2018, section 4.4, after Zaremba & Sutskever's "Learning to
Execute"): a program is text fed one character at a time; the target is the integer it prints.

Grammar (docs/guide/programs.md; A and B are decimal integers without leading zeros, op1, op2 ∈ {+, -},
cmp ∈ {<, >}):

    plain        a=A;b=B;print(a op1 b)
    conditional  a=A;b=B;if a cmp b:c=a op1 b else:c=a op2 b;print(c)

``task.program`` picks the family (``plain`` or ``conditional``); unset, each program is either with
probability 1/2. Operands: for each of A and B a digit count is drawn uniformly among the counts the value
range holds, then the operand uniformly among the range's integers of that many digits (so on 0–999 one-,
two- and three-digit operands are equally common; on 1,000–99,999 four- and five-digit ones). Then the
family, op1, op2 and cmp, each uniform. All of it from one draw of the counter-based generator per batch.

Encoding: one token per character of ``ALPHABET`` (ids 1 … 32; 0 is padding), right-padded to the longest
program the range and family allow (``pad_length``). Training, validation and test programs on 0–999 come
from different generator streams but the same distribution: about 1.5 million distinct programs, so a test
program may have been trained on (said in the guide); the operands of 4 and 5 digits never are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nalu_cli.lazy import lazy_import
from nalu_cli.tasks.kind import Kind
from nalu_cli.tasks.ops import OPS, Ranges, format_ranges
from nalu_cli.tasks.text import PAD, TEXT_OP, TextKind, TextTask, integer_bounds, uniform_ints

if TYPE_CHECKING:
    import torch

    from nalu_cli import rng
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())
    rng = lazy_import("nalu_cli.rng", globals())

ALPHABET = "0123456789abc=;:+-<>() eflinprst"
TOKEN = {ch: i + 1 for i, ch in enumerate(ALPHABET)}  # 0 is PAD
VOCABULARY = len(ALPHABET) + 1
FAMILIES = ("plain", "conditional")
DRAWS = 8  # generator numbers per program: family, digits of a, a, digits of b, b, op1, op2, cmp


def program_text(a: int, b: int, family: str, op1: str = "+", op2: str = "-", cmp: str = "<") -> str:
    """The program's text: ``program_text(352, 71, "conditional")`` → a=352;b=71;if a<b:c=a+b else:c=a-b;print(c)."""
    if family == "plain":
        return f"a={a};b={b};print(a{op1}b)"
    return f"a={a};b={b};if a{cmp}b:c=a{op1}b else:c=a{op2}b;print(c)"


def program_value(a: int, b: int, family: str, op1: str = "+", op2: str = "-", cmp: str = "<") -> int:
    """What the program prints (checked against Python's own ``exec`` in the tests)."""
    first, second = a + b if op1 == "+" else a - b, a + b if op2 == "+" else a - b
    if family == "plain":
        return first
    return first if (a < b if cmp == "<" else a > b) else second


def digit_spans(first: int, last: int) -> list[tuple[int, int]]:
    """The integers of first..last grouped by their number of digits: [(lo, hi)] (0 counts as one digit)."""
    spans = []
    lo = first
    while lo <= last:
        top = 9 if lo < 10 else 10 ** len(str(lo)) - 1
        spans.append((lo, min(top, last)))
        lo = top + 1
    return spans


@dataclass(frozen=True)
class ProgramTask(TextTask):
    """Small programs: characters [S, B, L], target the printed integer. ``family`` None: both families."""

    family: str | None = None

    @property
    def kind(self) -> Kind:
        return PROGRAM_KIND

    def families(self) -> tuple[str, ...]:
        return FAMILIES if self.family is None else (self.family,)

    def token_names(self) -> dict[int, str]:
        return {i: ch for ch, i in TOKEN.items()}

    def tokens_of(self, text: str) -> list[int]:
        return [TOKEN[ch] for ch in text]

    def place_probes(self) -> list[tuple[str, str]]:
        """The place value of a digit: a of 50, 500, 5000 against a of 5 in a plain program (b = 0)."""
        return [(program_text(5 * 10**k, 0, "plain"), program_text(5, 0, "plain")) for k in (1, 2, 3)]

    def pad_length(self, ranges: Ranges) -> int:
        top = max(hi for _, hi in integer_bounds(ranges))
        return max(len(program_text(top, top, f)) for f in self.families())

    def draw_operands(self, bits: torch.Tensor, ranges: Ranges) -> torch.Tensor:
        """Operands from two generator numbers each (digit count, value): bits [S, B, 2] -> [S, B] int64."""
        spans = [s for first, last in integer_bounds(ranges) for s in digit_spans(first, last)]
        counts: dict[int, list[tuple[int, int]]] = {}
        for lo, hi in spans:  # the spans of each digit count (several ranges may add to one count)
            counts.setdefault(len(str(lo)), []).append((lo, hi))
        groups = sorted(counts.items())
        choice = uniform_ints(bits[..., 0], 0, len(groups))  # [S, B]: which digit count
        out = torch.zeros_like(choice)
        for g, (_, parts) in enumerate(groups):
            size = sum(hi - lo + 1 for lo, hi in parts)
            k = uniform_ints(bits[..., 1], 0, size)  # [S, B]: which integer of that count
            value = torch.zeros_like(k)
            start = 0
            for lo, hi in parts:
                inside = (k >= start) & (k < start + hi - lo + 1)
                value = torch.where(inside, lo + k - start, value)
                start += hi - lo + 1
            out = torch.where(choice == g, value, out)
        return out

    def texts(self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges) -> tuple[Any, Any]:
        bits = rng.random_bits(seeds.cpu(), stream, step, batch * DRAWS).reshape(-1, batch, DRAWS)  # [S, B, 8]
        a = self.draw_operands(bits[..., 1:3], ranges).flatten().tolist()
        b = self.draw_operands(bits[..., 3:5], ranges).flatten().tolist()
        families = self.families()
        coins = [
            uniform_ints(bits[..., i], 0, n).flatten().tolist() for i, n in ((0, len(families)), (5, 2), (6, 2), (7, 2))
        ]
        length = self.pad_length(ranges)
        rows, values = [], []
        for i in range(len(a)):
            args = (a[i], b[i], families[coins[0][i]], "+-"[coins[1][i]], "+-"[coins[2][i]], "<>"[coins[3][i]])
            ids = [TOKEN[ch] for ch in program_text(*args)]
            rows.append(ids + [PAD] * (length - len(ids)))
            values.append(program_value(*args))
        tokens = torch.tensor(rows, dtype=torch.int64).reshape(seeds.shape[0], batch, length)  # [S, B, L]
        return tokens, torch.tensor(values, dtype=torch.float64).reshape(seeds.shape[0], batch)


def program_task(interpolation: Ranges, extrapolation: Ranges, family: str | None) -> ProgramTask:
    """The program task on these operand ranges."""
    return ProgramTask(
        op=OPS[TEXT_OP], mode="program", input_size=VOCABULARY, subset_ratio=0.25, overlap_ratio=0.5,
        interpolation=tuple(interpolation), extrapolation=tuple(extrapolation), vocabulary=VOCABULARY,
        family=family,
    )  # fmt: skip


class ProgramKind(TextKind):
    """Evaluating small programs (Trask 2018, section 4.4; Zaremba & Sutskever 2014)."""

    name = "program"
    summary = "a small program's text, one character at a time; task.program picks the family"
    vocabulary = VOCABULARY

    def describe(self, config: Any) -> str:
        t = config.task
        family = getattr(t, "program", None) or "plain+conditional"
        return (
            f"{family} programs (program) · {'+'.join(config.model.units())} · operands"
            f" {format_ranges(t.interpolation)} → test {format_ranges(t.extrapolation)}"
        )

    def make(self, config: Any) -> ProgramTask:
        t = config.task
        return program_task(t.interpolation, t.extrapolation, getattr(t, "program", None))


PROGRAM_KIND = ProgramKind()
