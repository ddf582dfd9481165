"""The training loop: steps with periodic evaluation, progress, stopping and checkpoints."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nalu_cli.config.schema import Config
from nalu_cli.errors import DivergenceError
from nalu_cli.training import stopping
from nalu_cli.training.stopping import EvaluationInterrupted
from nalu_cli.training.trainer import ProgressFn, StopFn, Trainer, TrainResult, _median

if TYPE_CHECKING:
    from nalu_cli.runs.run import RunWriter


def train(
    config: Config,
    run_dir: Path | RunWriter | None = None,
    *,
    resume: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    checkpoint_every: int = 1000,
    device: torch.device | None = None,
    stop_on_divergence: bool = True,
) -> TrainResult:
    """Train ``config``; write the run directory if given. Returns per-seed results.

    ``run_dir`` is a ``run.RunWriter`` (``Run.create``/``Run.resume``: locked, with the naming, --force and
    resume rules) or a plain path, which this call locks and writes as it is (library use).
    ``progress(step, total, loss)`` is called every few steps; ``should_stop()`` is polled every step
    and, when it returns True, the run saves a resumable checkpoint and returns ``interrupted=True``.
    Raises ``DivergenceError`` when a single-seed run produces NaN/Inf (the checkpoint on disk is kept),
    unless ``stop_on_divergence`` is False: benchmarks and sweeps count a diverged seed as a failure
    (``diverged_at`` in its result) however many seeds share the run.
    """
    from nalu_cli.config import budget
    from nalu_cli.runs.run import RunWriter

    writer: RunWriter | None
    if run_dir is None or isinstance(run_dir, RunWriter):
        writer, own = run_dir, False
        resume = resume or (writer is not None and writer.resume_data is not None)
    else:
        writer, own = RunWriter.direct(Path(run_dir), config, resume), True
    try:
        try:
            trainer = Trainer(config, device)
            if writer is not None:
                if resume:
                    assert writer.resume_data is not None
                    trainer.restore(writer.resume_data)
                    writer.open_log(truncate_after_step=trainer.step)
                else:
                    writer.open_log()
            return _train_loop(trainer, writer, progress, should_stop, checkpoint_every, stop_on_divergence)
        except (MemoryError, RuntimeError) as err:
            failure = budget.allocation_failure(err, "training this run")
            if failure is None:
                raise
            raise failure from None
    finally:
        if own and writer is not None:
            writer.release()


def _train_loop(
    trainer: Trainer,
    writer: RunWriter | None,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
    checkpoint_every: int,
    stop_on_divergence: bool,
) -> TrainResult:
    config = trainer.config
    total = config.train.steps
    log_every = config.train.log_every
    started = time.perf_counter()
    interrupted = False
    single = trainer.members.count == 1 and stop_on_divergence
    first_step = trainer.step

    def log(record: dict[str, Any]) -> None:
        if writer is not None:
            writer.write_metrics(record)

    saved = first_step if writer is not None and writer.resume_data is not None else None
    savable = True  # the state is one a checkpoint may hold: not between a step and its logged evaluation
    abandoned = False
    try:
        try:
            if trainer.step == 0:
                log(trainer.monitor() | {"time": 0.0})
            while trainer.step < total:
                if should_stop is not None and should_stop():
                    interrupted = True
                    break
                trainer.train_step()
                step = trainer.step
                # Reading ``alive`` waits for a GPU: there, look every 10 steps and before each save (a seed that
                # died keeps its last finite weights and the step it died at, so looking later loses nothing).
                look = trainer.device.type == "cpu" or step % 10 == 0 or step == total or step % checkpoint_every == 0
                if single and look and not bool(trainer.alive[0]):
                    failed = int(trainer.failed_step[0])
                    log({"step": step, "diverged_at": failed, "time": time.perf_counter() - started})
                    kept = (
                        "; the last good checkpoint is kept"
                        if writer is not None and writer.has_checkpoint
                        else "; no checkpoint of this run was saved"
                    )
                    raise DivergenceError(
                        f"training diverged at step {failed}: loss or weights became NaN/Inf"
                        f" (try a lower --lr or a narrower range){kept}"
                    )
                if step % log_every == 0 or step == total:
                    savable = False  # the evaluation may change the run (solved_at, reinitialising)
                    record = trainer.monitor()
                    savable = True
                    log(record | {"time": time.perf_counter() - started})
                if progress is not None and (step % 10 == 0 or step == total):
                    progress(step, total, _median(trainer.last_loss))
                if writer is not None and step % checkpoint_every == 0 and step < total:
                    writer.save(trainer, finished=False)
                    saved = step
                if look and not bool(trainer.alive.any()):
                    break  # every member diverged; nothing left to train
            results = trainer.results(config.eval.samples)
        except EvaluationInterrupted:
            # A signal abandoned an evaluation: save the run where it stands unless that is between a step and
            # its evaluation (then the last checkpoint stays: resuming replays from it, exactly).
            stopping.reset()
            interrupted, abandoned, results = True, True, []
            if writer is not None and savable:
                writer.save(trainer, finished=False)
                saved = trainer.step
        else:
            if writer is not None:
                writer.save(trainer, finished=not interrupted, results=results)
                saved = trainer.step
    finally:
        if writer is not None and writer.log is not None:
            writer.log.close()
            writer.log = None
    elapsed = time.perf_counter() - started
    trained = (trainer.step - first_step) * trainer.members.count
    return TrainResult(
        run_dir=writer.run.path if writer is not None else None,
        config=config,
        step=trainer.step,
        interrupted=interrupted,
        device=str(trainer.device),
        elapsed=elapsed,
        seeds=results,
        warnings=trainer.warnings,
        compiled=trainer.compiled,
        seed_steps_per_second=trained / elapsed if trained and elapsed > 0 else None,
        abandoned_evaluation=abandoned,
        saved_step=saved,
    )
