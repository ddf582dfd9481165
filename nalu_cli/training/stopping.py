"""Stopping inside an evaluation: a signal abandons it at once instead of waiting for its end.

An evaluation (``Trainer.evaluate``) runs in chunks inside each task kind (``tasks/``); a long one (a million
sequence steps, 100,000 seeds) takes minutes. The trainer marks the time it spends evaluating
(``evaluating``). A signal handler (the CLI's) calls ``request_stop()``: inside an evaluation that raises
``EvaluationInterrupted`` from the handler, which Python delivers at the next bytecode boundary, after the
torch operation of the current chunk returns; outside one, the next evaluation is abandoned as it starts.
The training loop turns the exception into the ordinary "interrupted" outcome, with the run saved whole at
a checkpoint it can be resumed from (``loop``). Library callers that stop through ``should_stop`` instead
keep their evaluations: only ``request_stop`` abandons one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

_state = {"depth": 0, "stop": False}


class EvaluationInterrupted(Exception):
    """A stop request arrived before or during an evaluation, which was abandoned (its results are lost)."""


def in_evaluation() -> bool:
    """Whether the process is inside an evaluation."""
    return _state["depth"] > 0


def request_stop() -> None:
    """Abandon the evaluation under way (``EvaluationInterrupted`` raised here) and any that starts later.

    Call it from a signal handler, in the main thread."""
    _state["stop"] = True
    if in_evaluation():
        raise EvaluationInterrupted


@contextmanager
def evaluating() -> Iterator[None]:
    """Mark an evaluation; ``EvaluationInterrupted`` at once when a stop was requested before it."""
    if _state["stop"]:
        raise EvaluationInterrupted
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] = max(0, _state["depth"] - 1)


def reset() -> None:
    """No stop requested and no evaluation under way (a session's start and end)."""
    _state["depth"], _state["stop"] = 0, False
