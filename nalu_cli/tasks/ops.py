"""Arithmetic tasks: the operation registry, input ranges and seeded synthetic batches.

Two input modes (SPEC section 3):
- ``pair``: x = (x0, x1); a = x0, b = x1; target op(a, b) (unary ops use a only). An op written as an
  expression over x0, x1, … (``(x0 + x1) * x2``; see ``expr.py``) takes as many inputs as it names.
- ``static``: x has ``input_size`` entries; a and b are sums of two overlapping contiguous subsets
  (Trask's static arithmetic task as made precise by Madsen & Johansen); target op(a, b).

Both modes are the same computation: a = x @ mask_a, b = x @ mask_b with 0/1 selection vectors, so the
"nearly perfect model" used by the solved criterion (SPEC section 4) is one formula for every task.
Everything is batched over seeds: tensors carry a leading seed dimension S.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nalu_cli import names
from nalu_cli.lazy import lazy_import
from nalu_cli.tasks.expressions import Expression, ExpressionError, looks_like_expression, parse_expression

if TYPE_CHECKING:
    import torch
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())


Interval = tuple[float, float]
Ranges = tuple[Interval, ...]


@dataclass(frozen=True)
class Op:
    """One arithmetic operation: ``fn(a, b)``; ``arity`` 1 means b is ignored."""

    name: str
    arity: int
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    symbol: str  # how the formula readout writes it, e.g. "a * b"
    expression: Expression | None = None  # an op written as an expression over x0, x1, … (pair mode only)


OPS: dict[str, Op] = {
    op.name: op
    for op in [
        Op("add", 2, lambda a, b: a + b, "a + b"),
        Op("sub", 2, lambda a, b: a - b, "a - b"),
        Op("mul", 2, lambda a, b: a * b, "a * b"),
        Op("div", 2, lambda a, b: a / b, "a / b"),
        Op("square", 1, lambda a, b: a * a, "a * a"),
        Op("sqrt", 1, lambda a, b: torch.sqrt(a), "sqrt(a)"),
        Op("identity", 1, lambda a, b: a, "a"),
    ]
}
if tuple(OPS) != names.OPS:
    raise ImportError(f"tasks.ops defines {tuple(OPS)}, but names.OPS lists {names.OPS}")


# The named ops as expressions over the pair inputs: what a formula read back is compared with ("recovered").
NAMED_EXPRESSIONS = {
    "add": "x0 + x1",
    "sub": "x0 - x1",
    "mul": "x0 * x1",
    "div": "x0 / x1",
    "square": "x0 * x0",
    "sqrt": "sqrt(x0)",
    "identity": "x0",
}


def lookup_op(name: str) -> Op:
    """A named op, or an expression over x0, x1, … parsed into one; ``ValueError`` (a message) when neither."""
    if name in OPS:
        return OPS[name]
    if not looks_like_expression(name):
        import difflib

        match = difflib.get_close_matches(name, list(OPS), n=1, cutoff=0.6)
        hint = f"; did you mean {match[0]!r}?" if match else ""
        raise ValueError(
            f"unknown op {name!r}{hint} (choose from {', '.join(OPS)}, or write an expression such as (x0 + x1) * x2)"
        )
    try:
        expression = parse_expression(name)
    except ExpressionError as err:
        raise ValueError(str(err)) from None
    return Op(expression.text, expression.n_inputs, _unused_fn, expression.text, expression)


def _unused_fn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    raise AssertionError("an expression op is evaluated from x, not from (a, b)")


def op_slug(name: str) -> str:
    """A file-name-safe label of an op: ``(x0 + x1) * x2`` -> ``x0+x1_mul_x2``."""
    text = name.replace("**", " pow ").replace("*", " mul ").replace("/", " div ")
    text = re.sub(r"[^A-Za-z0-9.+-]+", "_", text.replace(" + ", "+").replace(" - ", "-")).strip("_")
    return text[:60] or "expr"


def parse_ranges(value: object) -> Ranges:
    """Parse a range or a union of ranges.

    Accepts ``"1,2"``, ``"-6,-2;2,6"`` (``;`` joins a union), ``[1, 2]``, ``[[-6, -2], [2, 6]]``.
    Raises ``ValueError`` with a message for the user.
    """
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace("|", ";").split(";") if p.strip()]
        if not parts:
            raise ValueError("empty range; write LO,HI such as 1,10 (a union: -6,-2;2,6)")
        intervals = []
        for part in parts:
            bounds = [b.strip() for b in part.strip("[]() ").split(",")]
            if len(bounds) != 2:
                raise ValueError(f"range {part!r} must be LO,HI such as 1,10")
            try:
                intervals.append((float(bounds[0]), float(bounds[1])))
            except ValueError:
                raise ValueError(f"range {part!r} must hold two numbers, such as 1,10") from None
        return _check_intervals(intervals)
    if isinstance(value, (list, tuple)):
        if len(value) == 2 and all(_is_number(v) for v in value):
            return _check_intervals([(float(value[0]), float(value[1]))])
        intervals = []
        for item in value:
            if not (isinstance(item, (list, tuple)) and len(item) == 2 and all(_is_number(v) for v in item)):
                raise ValueError("a range is [LO, HI] and a union is [[LO, HI], [LO, HI], ...]")
            intervals.append((float(item[0]), float(item[1])))
        if not intervals:
            raise ValueError("empty range list")
        return _check_intervals(intervals)
    raise ValueError("a range is written LO,HI or [LO, HI] (a union: [[LO, HI], [LO, HI]])")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_intervals(intervals: list[Interval]) -> Ranges:
    for lo, hi in intervals:
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"range [{lo}, {hi}] must have finite bounds")
        if lo >= hi:
            raise ValueError(f"range [{lo:g}, {hi:g}] is empty: lo must be below hi")
    ordered = sorted(intervals)
    for (lo1, hi1), (lo2, hi2) in zip(ordered, ordered[1:], strict=False):
        if lo2 < hi1:
            raise ValueError(f"ranges [{lo1:g}, {hi1:g}] and [{lo2:g}, {hi2:g}] overlap")
    return tuple(ordered)


def format_ranges(ranges: Ranges) -> str:
    """``U[1,2]`` or ``U[-6,-2] ∪ U[2,6]``, as the papers write them."""
    return " ∪ ".join(f"U[{lo:g},{hi:g}]" for lo, hi in ranges)


def scale_ranges(ranges: Ranges, factor: float) -> Ranges:
    """Every interval multiplied by ``factor`` (> 0): the extrapolation ladder."""
    return tuple((lo * factor, hi * factor) for lo, hi in ranges)
