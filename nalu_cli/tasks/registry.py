"""Builds the task a config names (pair, static or recurrent)."""

from __future__ import annotations

from collections.abc import Sequence

from nalu_cli.errors import ConfigError
from nalu_cli.names import MODES
from nalu_cli.tasks.arithmetic import Task
from nalu_cli.tasks.ops import Interval, Op, check_domain, input_count, lookup_op


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
        from nalu_cli.tasks.recurrent import RecurrentTask

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
