"""The task kinds, registered once: pair, static, recurrent, digits, words, program. ``kind_of`` is how the rest of the
package reaches what differs between them (``tasks/kind.py``); ``make_task`` builds a task from plain values.

Adding a kind: a module in ``tasks/`` with its ``Kind`` and task, its model builder in ``models/registry.py``,
its defaults in the recipe book (``config/kinds.py``), and one entry here: ``KINDS`` is where a kind's
name is listed (``task.mode`` is checked against it).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from nalu_cli.errors import ConfigError
from nalu_cli.tasks.arithmetic import PAIR, STATIC, Task
from nalu_cli.tasks.digits import DIGITS
from nalu_cli.tasks.kind import Kind
from nalu_cli.tasks.ops import Interval, Op, lookup_op
from nalu_cli.tasks.program import PROGRAM_KIND
from nalu_cli.tasks.recurrent import RECURRENT
from nalu_cli.tasks.words import WORDS_KIND

KINDS: dict[str, Kind] = {kind.name: kind for kind in (PAIR, STATIC, RECURRENT, DIGITS, WORDS_KIND, PROGRAM_KIND)}


def kinds_help() -> str:
    """``pair (x0, x1), static (...) ... or digits (...)``: the kinds as ``--mode``'s help lists them."""
    *rest, last = (f"{kind.name} ({kind.summary})" for kind in KINDS.values())
    return f"{', '.join(rest)} or {last}"


def kind_of(mode: str) -> Kind:
    """The kind named ``mode`` (a validated config's ``task.mode``); ``ConfigError`` for an unknown one."""
    try:
        return KINDS[mode]
    except KeyError:
        raise ConfigError(f"unknown mode {mode!r}; choose one of {', '.join(KINDS)}") from None


def build_task(config: Any) -> Task:
    """The task a validated config trains."""
    return kind_of(config.task.mode).task(config)


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
    """Build a task from plain values, through its kind's ``task`` as from a config; ``ConfigError`` lists
    every problem (an unknown op and an unknown mode together). ``input_size`` is a sequence task's vector size;
    ``length``s are for sequences."""
    problems = []
    the_op: Op | None = None
    try:
        the_op = lookup_op(op)
    except ValueError as err:
        problems.append(str(err))
    kind = KINDS.get(mode)
    if kind is None:
        problems.append(f"unknown mode {mode!r}; choose one of {', '.join(KINDS)}")
    if problems or the_op is None or kind is None:
        raise ConfigError(problems)
    values = SimpleNamespace(  # the task section of a config, as make_task's arguments spell it
        op=op, input_size=input_size, vector_size=input_size, subset_ratio=subset_ratio,
        overlap_ratio=overlap_ratio, interpolation=tuple(interpolation), extrapolation=tuple(extrapolation),
        length=length, extrapolation_length=extrapolation_length, count_digit=None,
    )  # fmt: skip
    return kind.task(SimpleNamespace(task=values))  # type: ignore[no-any-return]
