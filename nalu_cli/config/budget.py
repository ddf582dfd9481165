"""Budgets: limits on what a config, a checkpoint or a grid may ask for, checked before anything is allocated.

A run trains M = seeds × restarts members as one batched model, so a handful of small numbers multiply into
gigabytes. ``estimate`` computes, from the config alone, the parameter count and an upper estimate of the
memory a run needs (parameters, gradients and Adam state; a training batch and an evaluation chunk through
every layer); ``check_memory`` refuses a config whose estimate exceeds the budget, before torch allocates
anything. The budget is ``train.max_memory_gb`` in a config (to train bigger runs), else
``$NALU_MAX_MEMORY_GB``, else ``DEFAULT_MAX_MEMORY_GB``. A checkpoint is checked against the environment
budget, never against a value it declares itself. Torch-free.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nalu_cli.config.limits import DEFAULT_MAX_MEMORY_GB, EVAL_ROWS, MAX_MEMBERS, MEMORY_ENV
from nalu_cli.errors import ConfigError, NaluError
from nalu_cli.tasks.ops import lookup_op
from nalu_cli.tasks.registry import kind_of

if TYPE_CHECKING:
    from nalu_cli.config.schema import Config

# Parameter tensors of in×out size per layer, by unit (an upper bound: gates and second matrices included).
_MATRICES = {"nac_add": 2, "nac_mul": 2, "nalu": 5, "inalu": 5, "nau": 1, "nmu": 1, "npu": 2, "realnpu": 2, "mlp": 1}
_STATE_COPIES = 6  # weights, gradient, Adam m and v, a clipped/updated copy, a saved copy
_ACTIVATION_COPIES = 12  # intermediate tensors autograd keeps per layer output (NALU's log/exp paths)


@dataclass(frozen=True)
class Estimate:
    """What a config needs: ``params`` over all members, ``bytes`` of memory (an upper estimate)."""

    members: int
    params: int
    bytes: int

    @property
    def gb(self) -> float:
        return self.bytes / 1e9


def limit_gb(config: Config | None = None) -> float:
    """The memory budget in GB: the config's ``train.max_memory_gb``, else the environment, else the default."""
    if config is not None and config.train.max_memory_gb is not None:
        return float(config.train.max_memory_gb)
    return environment_limit_gb()


def environment_limit_gb() -> float:
    raw = os.environ.get(MEMORY_ENV)
    if raw is None:
        return DEFAULT_MAX_MEMORY_GB
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise NaluError(f"${MEMORY_ENV}={raw!r} must be a positive number of gigabytes")
    return value


def estimate(config: Config) -> Estimate:
    """Parameters and memory of training (and evaluating) ``config``, from its numbers alone."""
    t, m = config.train, config.model
    members = len(t.seeds) if t.seeds is not None else 1
    members *= t.restarts
    in_features = kind_of(config.task.mode).model_inputs(lookup_op(config.task.op), config.task.input_size)
    sizes = [in_features, *m.hidden, 1]
    units = m.units()
    per_member = sum(_MATRICES.get(u, 5) * (sizes[i] + 1) * sizes[i + 1] for i, u in enumerate(units))
    width = sum(sizes)
    rows = max(t.batch_size, EVAL_ROWS)
    dtype_bytes = 8 if t.dtype == "float64" else 4
    per_member_bytes = per_member * _STATE_COPIES * dtype_bytes + rows * width * _ACTIVATION_COPIES * dtype_bytes
    return Estimate(members=members, params=members * per_member, bytes=members * per_member_bytes)


def check_memory(config: Config, what: str, limit: float | None = None) -> Estimate:
    """``estimate(config)``, or ``BudgetError`` when it exceeds ``limit`` GB (default ``limit_gb(config)``)."""
    est = estimate(config)
    budget = limit_gb(config) if limit is None else limit
    if est.members > MAX_MEMBERS:
        raise BudgetError(
            f"{what}: {est.members:,} members (seeds × restarts) is more than the {MAX_MEMBERS:,} one run may train"
        )
    if est.gb > budget:
        raise BudgetError(
            f"{what} needs about {est.gb:,.1f} GB ({est.params:,} parameters over {est.members:,}"
            f" member{'s' if est.members != 1 else ''}), over"
            f" the {budget:g} GB budget; use fewer seeds, restarts, smaller hidden sizes or batch, or raise it"
            f" with --set train.max_memory_gb=N (or ${MEMORY_ENV})"
        )
    return est


class BudgetError(ConfigError):
    """A config, checkpoint or grid asks for more than the budget allows (nothing was allocated; exit 2)."""


_ALLOC = re.compile(r"(?:tried to allocate|allocate)\s+([\d.]+)\s*(bytes|[KMGT]i?B)", re.IGNORECASE)
_UNITS = {"bytes": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def allocation_failure(err: BaseException, what: str) -> NaluError | None:
    """torch's own allocation failure as ``out of memory: N GB needed for WHAT`` (None for other errors)."""
    text = str(err)
    is_oom = isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError"
    if not is_oom and not (
        isinstance(err, RuntimeError) and ("can't allocate memory" in text or "out of memory" in text)
    ):
        return None
    match = _ALLOC.search(text)
    if match:
        gb = float(match.group(1)) * _UNITS.get(match.group(2).lower(), 1) / 1e9
        return NaluError(
            f"out of memory: {gb:.2f} GB needed for {what} (the memory estimate passed the budget,"
            " but the machine has less free)"
        )
    return NaluError(f"out of memory while allocating {what} (try fewer seeds, samples or a smaller batch)")
