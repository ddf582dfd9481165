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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from nalu_cli import rng
from nalu_cli.errors import ConfigError
from nalu_cli.expr import Expression, ExpressionError, looks_like_expression, parse_expression

Interval = tuple[float, float]
Ranges = tuple[Interval, ...]
Masks = tuple[torch.Tensor, torch.Tensor] | torch.Tensor  # (mask_a, mask_b) [S, I] each, or Task.selection [S, 2, I]


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

MODES = ("pair", "static", "recurrent")  # recurrent: nalu_cli.recurrent

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


def target_expression(op: Op, mode: str) -> Expression | None:
    """The expression a pair-mode formula should equal (None in static mode, whose formula names subsets)."""
    if mode != "pair":
        return None
    return op.expression if op.expression is not None else parse_expression(NAMED_EXPRESSIONS[op.name])


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


def input_count(op: Op, mode: str, input_size: int) -> int:
    """Inputs of the model: 2 for a named op in pair mode, one per named input of an expression, or input_size."""
    if mode != "pair":
        return input_size
    return op.expression.n_inputs if op.expression is not None else 2


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


def check_domain(op: Op, mode: str, ranges: Ranges, name: str) -> list[str]:
    """Problems that make ``op`` undefined on ``ranges`` (empty list when fine)."""
    if op.expression is not None:
        if mode != "pair":
            return [f"{name}: an expression op runs in pair mode (inputs x0, x1, …), not {mode} mode"]
        return op.expression.domain_problems(ranges, name)
    problems = []
    lo_all = min(lo for lo, _ in ranges)
    if op.name == "sqrt" and lo_all < 0:
        problems.append(f"{name}: sqrt needs non-negative inputs but the range reaches {lo_all:g}")
    if op.name == "div":
        if any(lo <= 0 <= hi for lo, hi in ranges):
            problems.append(f"{name}: division needs 0 outside the range, but {format_ranges(ranges)} contains it")
        elif mode != "pair" and lo_all < 0 < max(hi for _, hi in ranges):
            problems.append(f"{name}: static-mode division needs ranges of one sign (sums of mixed signs can be 0)")
    return problems


@dataclass(frozen=True)
class Task:
    """A synthetic arithmetic task. All sampling is a pure function of (seed, stream, step)."""

    op: Op
    mode: str
    input_size: int
    subset_ratio: float
    overlap_ratio: float
    interpolation: Ranges
    extrapolation: Ranges
    # Streams whose inputs come from the compiled generator (same values; see rng.check_compiled). The trainer
    # compiles the training stream only: evaluation draws are rare and of other shapes (no recompiles).
    compiled_streams: frozenset[int] = field(default=frozenset(), kw_only=True)  # keyword-only: subclasses add fields

    def masks(self, seeds: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Selection vectors of a and b. seeds: [S] -> (mask_a [S, I], mask_b [S, I]), entries 0 or 1."""
        n = self.input_size
        s = seeds.shape[0]
        idx = torch.arange(n, device=seeds.device)[None, :]  # [1, I]
        if self.mode == "pair":
            start_a = torch.zeros(s, 1, dtype=torch.int64, device=seeds.device)
            start_b = start_a + 1
            size = 1
        else:
            size = max(1, round(n * self.subset_ratio))
            overlap = round(size * self.overlap_ratio)
            span = 2 * size - overlap
            bits = rng.random_bits(seeds, rng.STREAM_SUBSET, 0, 1).to(torch.int64) & 0xFFFFFFFF  # [S, 1]
            start_a = bits % (n - span + 1)  # [S, 1]
            start_b = start_a + size - overlap
        mask_a = ((idx >= start_a) & (idx < start_a + size)).to(dtype)  # [S, I]
        mask_b = ((idx >= start_b) & (idx < start_b + size)).to(dtype)  # [S, I]
        return mask_a, mask_b

    def sample_inputs(
        self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges, dtype: torch.dtype
    ) -> torch.Tensor:
        """Inputs drawn uniformly from the union of ``ranges``. -> x [S, B, I]."""
        return self._draw_inputs(seeds, stream, step, batch, ranges, dtype, None)

    @property
    def draws_into_buffer(self) -> bool:
        """Whether ``batch`` can draw into a reusable buffer: tasks that draw their own way (recurrent
        sequences, digit images) override ``sample_inputs`` and leave ``out`` unused."""
        return type(self).sample_inputs is Task.sample_inputs

    def _draw_inputs(
        self,
        seeds: torch.Tensor,
        stream: int,
        step: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
        out: torch.Tensor | None,
        ahead: int | None = None,
    ) -> torch.Tensor:
        """``sample_inputs``; ``out``: a buffer of S·B·I values that large draws may write into
        (``rng.uniform``), the result then a view of it, valid until the buffer's next use. ``ahead``: the
        inputs of that many steps from ``step`` on, [ahead, S, B, I] (``rng.uniform_ahead``)."""
        shape = (batch, self.input_size)
        compiled = stream in self.compiled_streams

        def uniform(affine: rng.Affine | None, out: torch.Tensor | None) -> torch.Tensor:
            if ahead is not None:
                return rng.uniform_ahead(seeds, stream, step, ahead, shape, dtype, affine)  # [K, S, B, I]
            return rng.uniform(seeds, stream, step, shape, dtype, affine, compiled, out)  # [S, B, I]

        if len(ranges) == 1:  # u * (hi - lo) + lo, applied while the generator's values are in cache
            lo, hi = ranges[0]
            return uniform((hi - lo, lo), out)  # [(K,) S, B, I]
        u = uniform(None, None)  # [(K,) S, B, I]
        total = float(torch.tensor([hi - lo for lo, hi in ranges], dtype=torch.float64).sum())
        # Map u onto the concatenated intervals, so each is hit in proportion to its length.
        t = u.to(torch.float64) * total  # [S, B, I]
        x = torch.empty_like(t)
        start = 0.0
        for i, (lo, hi) in enumerate(ranges):
            end = total if i == len(ranges) - 1 else start + (hi - lo)
            inside = (t >= start) & (t < end) if i < len(ranges) - 1 else t >= start
            x = torch.where(inside, lo + (t - start), x)
            start = end
        return x.clamp(ranges[0][0], ranges[-1][1]).to(dtype)

    def operands(self, x: torch.Tensor, masks: Masks) -> tuple[torch.Tensor, torch.Tensor]:
        """a, b from inputs. x: [S, B, I], masks [S, I] (or ``selection(masks)``) -> a, b [S, B, 1].

        ``selection(masks)`` holds 0/1 entries, so in pair mode a and b are x0 and x1 themselves (the product
        with the selection gives the same floats). The static task's subset sums are the product
        selection [S, 2, I] @ x^T: 2-4x faster than x @ selection^T for two columns, and a seed's sums are the
        same floats whatever the batch of seeds (tests/test_tasks.py); they are summed in another order than
        before 2026-11-30 (README, "Reproducibility and speed")."""
        if isinstance(masks, torch.Tensor):
            selection = masks  # [S, 2, I], entries 0 or 1
            if self.mode == "pair":
                return x[..., 0:1], x[..., 1:2]
        else:
            selection = self.selection(masks, x.dtype)  # [S, 2, I]
        if self.mode == "static":
            ab = torch.bmm(selection, x.transpose(1, 2))  # [S, 2, B]
            return ab[:, 0, :, None], ab[:, 1, :, None]
        ab = torch.bmm(x, selection.transpose(1, 2).contiguous())  # [S, B, 2]
        return ab[..., 0:1], ab[..., 1:2]

    @staticmethod
    def selection(masks: tuple[torch.Tensor, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
        """Both masks as one matrix (a trainer computes it once instead of every step): [S, 2, I]."""
        return torch.stack(masks, dim=1).to(dtype)

    def target(self, x: torch.Tensor, masks: Masks) -> torch.Tensor:
        """op(a, b), or the expression of x. x: [S, B, I] -> y [S, B, 1]."""
        if self.op.expression is not None:
            return self.op.expression.evaluate(x)
        a, b = self.operands(x, masks)
        return self.op.fn(a, b)

    @property
    def operands_are_products(self) -> bool:
        """Whether a and b are ``selection @ x`` (the static task's subset sums): a trainer may then compute them
        in its first linear layer's product (``ArithmeticModel.forward_with_riders``) and call ``target_of``."""
        return self.mode == "static" and self.op.expression is None

    def target_of(self, ab: torch.Tensor) -> torch.Tensor:
        """op(a, b) from the operands side by side: ab [S, B, 2] -> y [S, B, 1]."""
        return self.op.fn(ab[..., 0:1], ab[..., 1:2])

    def batch(
        self,
        seeds: torch.Tensor,
        stream: int,
        step: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
        masks: Masks | None = None,
        out: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch per seed: (x [S, B, I], y [S, B, 1]); ``out`` as in ``draw``."""
        if masks is None:
            masks = self.masks(seeds, dtype)
        x = self.draw(seeds, stream, step, batch, ranges, dtype, out)
        return x, self.target(x, masks)

    def batches_ahead(
        self,
        seeds: torch.Tensor,
        stream: int,
        first_step: int,
        steps: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batches of ``steps`` consecutive steps in one call, for a task that draws uniform inputs
        (``draws_into_buffer``): x [K, S, B, I], entry k equal to ``draw`` at step first_step + k bit for bit,
        and their targets [K, S, B, 1] where a target is a function of its own row alone (pair mode: op(x0, x1),
        correctly rounded elementwise whatever the array's shape), else None (``target`` per step then: the
        subset sums are products whose rounding may depend on the batch's shape)."""
        x = self._draw_inputs(seeds, stream, first_step, batch, ranges, dtype, None, ahead=steps)  # [K, S, B, I]
        if self.mode == "pair" and self.op.expression is None:
            return x, self.target_of(x[..., 0:2])  # a, b = x0, x1: [K, S, B, 1]
        return x, None

    def draw(
        self,
        seeds: torch.Tensor,
        stream: int,
        step: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``sample_inputs``, written into ``out`` (a reusable buffer of S·B·I values) where the task draws
        uniform inputs; the result is then a view of it, valid until the buffer's next use. -> x [S, B, I]."""
        if out is not None and self.draws_into_buffer:
            return self._draw_inputs(seeds, stream, step, batch, ranges, dtype, out)
        return self.sample_inputs(seeds, stream, step, batch, ranges, dtype)  # a task that draws its own way

    def near_perfect_mse(self, x: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor], eps: float) -> torch.Tensor:
        """MSE of a nearly perfect model (SPEC section 4), per seed: [S].

        The exact two-layer solution selects a and b with weights 1 on their subset and 0 elsewhere,
        then applies the op to them with output weights 1. The nearly perfect model moves every one of
        those weights by ``eps`` toward the wrong value: selection weights to 1 - eps and eps, output
        weights to 1 - eps, giving op((1 - eps) a_eps, (1 - eps) b_eps). Computed in float64 so the
        threshold itself is not rounding noise.
        """
        x64 = x.to(torch.float64)
        if self.op.expression is not None:  # the same construction over the expression's tree (expr.py)
            y_exact = self.op.expression.evaluate(x64)  # [S, B, 1]
            y_near = self.op.expression.near_perfect(x64, eps)  # [S, B, 1]
            return ((y_exact - y_near) ** 2).mean(dim=(1, 2))  # [S]
        mask_a, mask_b = (m.to(torch.float64) for m in masks)
        a, b = self.operands(x64, (mask_a, mask_b))
        a_eps, b_eps = self.operands(
            x64, (mask_a * (1 - eps) + (1 - mask_a) * eps, mask_b * (1 - eps) + (1 - mask_b) * eps)
        )
        y = self.op.fn(a, b)  # [S, B, 1]
        y_eps = self.op.fn(a_eps * (1 - eps), b_eps * (1 - eps))  # [S, B, 1]
        return ((y - y_eps) ** 2).mean(dim=(1, 2))  # [S]


def make_task(
    op: str,
    mode: str,
    input_size: int,
    subset_ratio: float,
    overlap_ratio: float,
    interpolation: Sequence[Interval],
    extrapolation: Sequence[Interval],
    length: int = 10,
    extrapolation_length: int = 1000,
) -> Task:
    """Build a task; ``ConfigError`` lists every problem. ``length``s are for the recurrent mode."""
    problems = []
    the_op: Op | None = None
    try:
        the_op = lookup_op(op)
    except ValueError as err:
        problems.append(str(err))
    if mode not in MODES:
        problems.append(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if problems or the_op is None:
        raise ConfigError(problems)
    problems += check_domain(the_op, mode, tuple(interpolation), "task.interpolation")
    problems += check_domain(the_op, mode, tuple(extrapolation), "task.extrapolation")
    if problems:
        raise ConfigError(problems)
    if mode == "recurrent":
        from nalu_cli.recurrent import RecurrentTask

        return RecurrentTask(
            op=the_op,
            mode=mode,
            input_size=input_size,
            subset_ratio=subset_ratio,
            overlap_ratio=overlap_ratio,
            interpolation=tuple(interpolation),
            extrapolation=tuple(extrapolation),
            length=length,
            extrapolation_length=extrapolation_length,
        )
    return Task(
        op=the_op,
        mode=mode,
        input_size=input_count(the_op, mode, input_size),
        subset_ratio=subset_ratio,
        overlap_ratio=overlap_ratio,
        interpolation=tuple(interpolation),
        extrapolation=tuple(extrapolation),
    )
