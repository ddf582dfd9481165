"""A task kind: what differs between pair, static, recurrent, digits, words and program tasks, declared by the
kind itself.

Each kind module (``tasks/arithmetic.py`` for pair and static, ``tasks/recurrent.py``, ``tasks/digits.py``,
``tasks/words.py`` and ``tasks/program.py`` with what they share in ``tasks/text.py``) defines one ``Kind``
object: its config problems, its memory estimate, how it describes a run, how many inputs its model reads
(for a text kind: its vocabulary), how many numbers a training step draws, whether a run is solved by its
exact-match accuracy, and the task it builds; the task it builds
evaluates itself (``Task.evaluate``). ``tasks/registry.py`` registers the kinds once; the model a kind
trains is registered in ``models/registry.py`` and its defaults are in the recipe book. Nothing else in the
package branches on a kind's name. Configs reach a kind as plain objects (``config`` below is a
``config.schema.Config``; ``tasks`` sits below ``config`` and never imports it).

Also here: ``RangeMetrics``, what every kind's evaluation returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nalu_cli.lazy import lazy_import
from nalu_cli.tasks.expressions import Expression, parse_expression
from nalu_cli.tasks.ops import NAMED_EXPRESSIONS, Op, Ranges, format_ranges

if TYPE_CHECKING:
    import torch
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())

EVAL_CHUNK = 256  # samples per seed drawn at once; part of the data definition, never change lightly


@dataclass
class RangeMetrics:
    """Per-seed metrics on one range; each tensor is [S] float64 (bools for ``solved``)."""

    ranges: Ranges
    mse: torch.Tensor
    mae: torch.Tensor
    rel_err: torch.Tensor
    threshold: torch.Tensor
    solved: torch.Tensor
    accuracy: torch.Tensor | None = None  # digits mode: the share of outputs that round to the exact target

    def row(self, i: int) -> dict[str, object]:
        """Plain-data metrics of seed ``i`` (NaN/Inf kept as floats; the JSON layer spells them)."""
        row: dict[str, object] = {
            "range": format_ranges(self.ranges),
            "mse": float(self.mse[i]),
            "mae": float(self.mae[i]),
            "rel_err": float(self.rel_err[i]),
            "threshold": float(self.threshold[i]),
            "solved": bool(self.solved[i]),
        }
        if self.accuracy is not None:
            row["accuracy"] = float(self.accuracy[i])
        return row


class Kind:
    """The base every kind refines; the defaults describe a feed-forward kind on value ranges."""

    name = ""
    summary = ""  # what the kind's inputs are, for `nalu train --mode`'s help
    sequences = False  # trained at task.length, tested at longer lengths (eval.lengths, the length ladder)
    value_ranges = True  # inputs drawn from value ranges (False: digit images from a fixed set)
    takes_expressions = False  # an op may be an expression over x0, x1, … (the pair task)
    sums_inputs = True  # a and b are sums of several inputs, so they can cross 0 where single inputs do not

    @property
    def solved_by_accuracy(self) -> bool:
        """Whether a run is solved by its exact-match accuracy (``RangeMetrics.accuracy``: digit images, text)
        rather than by the near-perfect model's MSE; a benchmark then reports the median accuracy."""
        return not self.value_ranges

    def problems(self, config: Any) -> list[str]:
        """Problems of this kind's settings in a config whose sections are each valid (one message each)."""
        return []

    def describe(self, config: Any) -> str:
        """The line under a command's title: op, kind, units and the train → test split."""
        t = config.task
        return (
            f"{t.op} ({t.mode}) · {'+'.join(config.model.units())} · train {format_ranges(t.interpolation)}"
            f" → test {format_ranges(t.extrapolation)}"
        )

    def model_inputs(self, op: Op, input_size: int) -> int:
        """Inputs of the model (the static task's input vector by default)."""
        return input_size

    def draw_numbers(self, config: Any) -> int | None:
        """Numbers one training sample draws from the generator (``train.compile: auto`` weighs them);
        None: the kind draws no numbers worth compiling."""
        return int(config.task.input_size)

    def target_expression(self, op: Op) -> Expression | None:
        """The expression a formula read back should equal (None: the formula names subsets, not inputs)."""
        return None

    def task(self, config: Any) -> Any:
        """The task a config trains (a ``tasks.arithmetic.Task``); ``ConfigError`` lists every problem."""
        raise NotImplementedError

    def check_domain(self, op: Op, ranges: Ranges, name: str) -> list[str]:
        """Problems that make ``op`` undefined on ``ranges`` for this kind (empty list when fine)."""
        if op.expression is not None:
            if not self.takes_expressions:
                return [f"{name}: an expression op runs in pair mode (inputs x0, x1, …), not {self.name} mode"]
            return op.expression.domain_problems(ranges, name)
        problems = []
        lo_all = min(lo for lo, _ in ranges)
        if op.name == "sqrt" and lo_all < 0:
            problems.append(f"{name}: sqrt needs non-negative inputs but the range reaches {lo_all:g}")
        if op.name == "div":
            if any(lo <= 0 <= hi for lo, hi in ranges):
                problems.append(f"{name}: division needs 0 outside the range, but {format_ranges(ranges)} contains it")
            elif self.sums_inputs and lo_all < 0 < max(hi for _, hi in ranges):
                problems.append(f"{name}: static-mode division needs ranges of one sign (sums of mixed signs can be 0)")
        return problems


def named_expression(op: Op) -> Expression:
    """A pair-mode op as an expression over x0, x1 (an expression op is its own)."""
    return op.expression if op.expression is not None else parse_expression(NAMED_EXPRESSIONS[op.name])


def subset_problem(size_of: str, total: int, subset_ratio: float, overlap_ratio: float) -> list[str]:
    """Two overlapping contiguous subsets that do not fit in ``total`` inputs (static and recurrent tasks)."""
    size = max(1, round(total * subset_ratio))
    span = 2 * size - round(size * overlap_ratio)
    return [size_of.format(size=size, span=span, total=total)] if span > total else []


def activation_budget_problems(config: Any, need: int) -> list[str]:
    """A sequence model's training step that would hold ``need`` bytes of activations, over the budget."""
    if need <= config.train.memory_budget_mb * 2**20:
        return []
    return [
        f"train: a step at length {config.task.length} with batch {config.train.batch_size} holds about"
        f" {need / 2**20:.0f} MB of activations, above train.memory_budget_mb {config.train.memory_budget_mb:g}"
        " (use a shorter task.length, a smaller batch or fewer seeds)"
    ]
