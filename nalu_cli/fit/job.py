"""A fit job: the options of ``nalu fit`` as fields, run to an outcome (the fit's report and its run directory).

``FitJob("orders.csv", "total").run()`` checks the options, picks the run directory (``runs/fit-TARGET``, or
the first free ``-1``, ``-2``, ... suffix), fits (``fit.driver.fit``) and returns a ``FitOutcome``. Nothing
is printed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nalu_cli.config.resolve import validate
from nalu_cli.errors import ConfigError
from nalu_cli.fit.driver import fit
from nalu_cli.runs.run import check_out


@dataclass
class FitJob:
    """What ``nalu fit`` takes, as fields.

    ``inputs`` are column names (a list, or joined by commas; default every column but ``target``).
    ``unit`` fits that unit (one per layer: a list, or joined by commas) instead of the ladder of stacks,
    with ``hidden`` sizes (a list, or ``"2"``). ``out`` given must not hold a fit unless ``force``.
    """

    data: str | Path
    target: str
    inputs: str | Sequence[str] | None = None
    test: str | Path | None = None
    holdout: float = 0.2
    unit: str | Sequence[str] | None = None
    hidden: str | Sequence[int] | None = None
    members: int = 8
    steps: int | None = None
    seed: int = 0
    out: str | Path | None = None
    force: bool = False

    def run(self, progress: Callable[[str, int, int], None] | None = None) -> FitOutcome:
        """Fit and write the run directory. Raises ``ConfigError`` for bad options or tables, ``NaluError``
        for a table or directory that cannot be read or written. ``progress(stage, done, total)`` is called
        as the fit moves on (for a progress bar)."""
        units = _names(self.unit)
        widths = self._widths()
        if widths is not None and units is None:
            raise ConfigError("--hidden needs --unit (without it the ladder of stacks is tried)")
        if units is not None:
            model = {"unit": units if len(units) > 1 else units[0], "hidden": widths or []}
            units = validate({"model": model}).model.units()  # ConfigError names a bad unit or layer count
        self._check_numbers()
        run_dir = Path(self.out) if self.out is not None else default_fit_dir(self.target)
        if self.out is not None:
            check_out(run_dir, self.force)  # one run per directory: a fit or a training run needs --force
        report = fit(
            self.data, self.target, inputs=_names(self.inputs), test=self.test, holdout=self.holdout, units=units,
            hidden=widths, members=self.members, steps=self.steps, seed=self.seed, out=run_dir, progress=progress,
        )  # fmt: skip
        return FitOutcome(report, run_dir)

    def _widths(self) -> list[int] | None:
        if self.hidden is None or not isinstance(self.hidden, str):
            return None if self.hidden is None else list(self.hidden)
        try:
            return [int(h) for h in self.hidden.split(",") if h.strip()]
        except ValueError:
            raise ConfigError(f"--hidden {self.hidden!r} must be integers separated by commas, such as 2") from None

    def _check_numbers(self) -> None:
        """The bounds ``nalu fit``'s options have, for callers that do not come through it."""
        if not 1 <= self.members <= 256:
            raise ConfigError(f"--members {self.members}: must be between 1 and 256")
        if self.steps is not None and not 1 <= self.steps <= 10**6:
            raise ConfigError(f"--steps {self.steps}: must be between 1 and 1000000")
        if self.seed < 0:
            raise ConfigError(f"--seed {self.seed}: must be at least 0")


@dataclass
class FitOutcome:
    """How a ``FitJob`` ended: its ``report`` (what ``nalu fit --json`` prints) and the run directory it wrote.
    ``exit_code`` is 0 and ``message`` None: a fit that cannot be made raises instead."""

    report: dict[str, Any]
    run_dir: Path
    exit_code: int = 0
    message: str | None = None

    @property
    def warnings(self) -> list[str]:
        return list(self.report["warnings"])


def default_fit_dir(target: str, base: Path = Path("runs")) -> Path:
    """``runs/fit-TARGET`` (the name made safe for a file system), or the first free ``-1``, ``-2``, ... suffix."""
    candidate = base / ("fit-" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("_") or "target"))
    first, n = candidate, 1
    while candidate.exists():
        candidate = first.with_name(f"{first.name}-{n}")
        n += 1
    return candidate


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """Names joined by commas (or a list of them), stripped, empty ones dropped."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item.strip()]
