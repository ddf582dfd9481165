"""A training job: the options a person sets, run from start to outcome (what ``nalu train`` does, without a CLI).

``TrainJob(op="mul", steps=2000, out="runs/mul").run()`` resolves the config (recipe < preset < file <
options), gathers the advice for the stack, creates the run directory (or resumes one), trains, and returns
a ``TrainOutcome``: the report ``nalu train --json`` prints, the exit code the command ends with and its
message. Nothing is printed; callbacks carry progress, notes and the stop request to the caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nalu_cli.config import loading
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as cfgmod
from nalu_cli.config.recipes import Advice, advice
from nalu_cli.config.schema import Config
from nalu_cli.errors import ConfigError
from nalu_cli.runs.run import Run, RunWriter
from nalu_cli.training.build import resolve_device
from nalu_cli.training.loop import train
from nalu_cli.training.report import outcome, train_report
from nalu_cli.training.trainer import ProgressFn, StopFn, TrainResult

INTERRUPTED = 130  # the exit code of a stopped run (a shell's code for Ctrl-C; nalu train uses 143 for SIGTERM)

# ``around_training(config, run)``: a context entered just around the training loop (the CLI shows its
# progress bar and turns signals into stop requests there).
AroundTraining = Callable[[Config, Run], AbstractContextManager[Any]]


@dataclass
class TrainJob:
    """What ``nalu train`` takes, as fields; ``None`` leaves a setting to the file, the preset or the recipe.

    ``unit`` is one unit or one per layer (a list, or names joined by commas); ``hidden`` the hidden sizes
    (a list, or ``"2,2"``); ``seeds`` a count of seeds from ``seed``, a list, or ``"A-B"``/``"a,b,c"``.
    ``overrides`` sets any config key, as ``{"train.lr": 0.01}`` or as ``["train.lr=0.01"]`` (``--set``);
    it wins over every other field. ``resume`` continues the run in that directory (only ``steps`` and
    ``device`` may then change). With ``check``, a run where not every seed is solved ends with exit code 3.
    """

    op: str | None = None
    unit: str | Sequence[str] | None = None
    mode: str | None = None
    hidden: str | Sequence[int] | None = None
    steps: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    seed: int | None = None
    seeds: str | int | Sequence[int] | None = None
    restarts: int | None = None
    interpolation: str | None = None
    extrapolation: str | None = None
    device: str | None = None
    config: str | Path | None = None
    preset: str | None = None
    overrides: Mapping[str, Any] | Sequence[str] = field(default_factory=list)
    out: str | Path | None = None
    resume: str | Path | None = None
    force: bool = False
    checkpoint_every: int = 1000
    check: bool = False

    def config_overrides(self) -> dict[str, Any]:
        """The fields as dotted config keys (``ConfigError`` for a malformed one)."""
        flags: dict[str, Any] = {
            "task.op": self.op,
            "task.mode": self.mode,
            "train.steps": self.steps,
            "train.lr": self.lr,
            "train.batch_size": self.batch_size,
            "train.seed": self.seed,
            "train.restarts": self.restarts,
            "train.device": self.device,
            "task.interpolation": self.interpolation,
            "task.extrapolation": self.extrapolation,
        }
        overrides = {k: v for k, v in flags.items() if v is not None}
        if self.unit is not None:
            units = self.unit.split(",") if isinstance(self.unit, str) else list(self.unit)
            units = [u.strip() for u in units if u.strip()]
            overrides["model.unit"] = units[0] if len(units) == 1 else units
        if self.hidden is not None:
            hidden = self.hidden
            overrides["model.hidden"] = cfgmod.hidden_option(hidden) if isinstance(hidden, str) else list(hidden)
        if self.seeds is not None:
            seeds = self.seeds
            if isinstance(seeds, str | int):
                overrides["train.seeds"] = cfgmod.seeds_option(str(seeds), self.seed or 0)
            else:
                overrides["train.seeds"] = list(seeds)
        if isinstance(self.overrides, Mapping):
            overrides |= dict(self.overrides)
        else:
            overrides |= dict(loading.parse_assignment(item) for item in self.overrides)
        return overrides

    def run(
        self,
        *,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        on_note: Callable[[Advice], None] | None = None,
        around_training: AroundTraining | None = None,
    ) -> TrainOutcome:
        """Resolve, advise, create (or resume) the run, train it and report.

        ``progress(step, total, loss)`` is called every few steps; ``should_stop()`` is polled every step (True:
        save a resumable checkpoint and stop) and once after training (True: the run finished, but was asked
        to stop); ``on_note(advice)`` gets each warning or note about the stack before the run directory is
        made. Raises ``ConfigError`` for bad options, ``NaluError`` for a run that cannot be written or read,
        ``DivergenceError`` when a single seed diverges.
        """
        writer, advised = self._open(on_note)
        with writer:
            assert writer.config is not None
            around = around_training(writer.config, writer.run) if around_training else contextlib.nullcontext()
            with around:
                result = train(
                    writer.config,
                    writer,
                    progress=progress,
                    should_stop=should_stop,
                    checkpoint_every=self.checkpoint_every,
                )
        report = train_report(result)
        report["warnings"] = [a.text for a in advised] + report["warnings"]
        run_dir = writer.run.path
        if result.interrupted or (should_stop is not None and should_stop()):
            # stopped after the last step: the final evaluation finished and was saved; the stop still counts
            where = _stopped_where(result, run_dir)
            return TrainOutcome(report, result, writer.run, advised, INTERRUPTED, f"Interrupted {where}", where)
        code, message = outcome(report, self.check)
        return TrainOutcome(report, result, writer.run, advised, code, message)

    def _open(self, on_note: Callable[[Advice], None] | None) -> tuple[RunWriter, list[Advice]]:
        """The writer of the new or resumed run, and the advice given (passed to ``on_note`` first)."""
        overrides = self.config_overrides()
        if self.resume is not None:
            if self.out is not None or self.force:
                raise ConfigError("--resume continues the run in its own directory; leave out --out and --force")
            if self.config is not None or self.preset is not None:
                raise ConfigError("--resume continues a run with its own config; only --steps and --device may change")
            return Run.resume(self.resume, overrides), []
        file_data = loading.load_yaml(self.config) if self.config is not None else None
        config = config_resolve.resolve(file_data, overrides, self.preset)
        resolve_device(config.train.device)  # an absent GPU is refused before the run directory exists
        advised = advice(config.task.op, config.model.units(), config.task.mode, self.preset)
        for item in advised:
            if on_note is not None:
                on_note(item)
        return Run.create(config, self.out, force=self.force), advised


def _stopped_where(result: TrainResult, run_dir: Path) -> str:
    """Where a stopped run stopped, what is saved and how to go on (the line after "Interrupted")."""
    resume = f"Resume with: nalu train --resume {run_dir}"
    if not result.interrupted:
        return f"during the final evaluation; the run is complete and saved in {run_dir}"
    if not result.abandoned_evaluation:
        return f"at step {result.step}; checkpoint saved. {resume}"
    if result.saved_step == result.step:
        return f"during an evaluation at step {result.step}, abandoned; checkpoint saved. {resume}"
    if result.saved_step is not None:
        return (
            f"during the evaluation at step {result.step}, abandoned; the checkpoint of step {result.saved_step}"
            f" is kept. {resume}"
        )
    return (
        f"during the evaluation at step {result.step}, abandoned, before any checkpoint was saved:"
        f" nothing to resume (run it again with --out {run_dir} --force)"
    )


@dataclass
class TrainOutcome:
    """How a ``TrainJob`` ended.

    ``report`` is what ``nalu train --json`` prints (its ``warnings`` open with the advice given before
    training); ``exit_code`` 0 ok, 1 every seed diverged, 3 ``check`` found an unsolved seed, ``INTERRUPTED``
    when ``should_stop`` stopped it, with ``message`` the line that says why (None when 0); ``stopped`` says
    where an interrupted run stopped and how to resume it.
    """

    report: dict[str, Any]
    result: TrainResult
    run: Run
    advice: list[Advice]
    exit_code: int
    message: str | None
    stopped: str | None = None

    @property
    def interrupted(self) -> bool:
        return self.stopped is not None

    @property
    def run_dir(self) -> Path:
        return self.run.path

    @property
    def solved(self) -> bool:
        """Every seed solved (it extrapolates)."""
        return bool(self.result.seeds) and self.result.solved_count == len(self.result.seeds)

    def files(self) -> Iterator[Path]:
        """The files the run wrote."""
        yield from (self.run.config_path, self.run.checkpoint_path, self.run.metrics_path)
