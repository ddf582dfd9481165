"""The training loop, batched over seeds; resumable, interruptible, divergence-safe. Never prints.

One run trains M = N·K *members* as one batched model: N reported seeds, each with K restarts.
Member k of seed s draws its initial weights and training batches from member seed ``s + k·2**32``
(restart 0 is the plain seed) and shares seed s's task (the static task's subsets) and validation data,
so restarts compete on equal terms. With K > 1 the member with the lowest interpolation validation
error is selected per seed; extrapolation data never influences training or selection.

Data and initial weights are pure functions of (seed, step), so a run resumed from a checkpoint
continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nalu_cli import rng
from nalu_cli.config import budget
from nalu_cli.config.schema import Config
from nalu_cli.errors import CheckpointError, NaluError
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.readouts.formula import formula_fields
from nalu_cli.readouts.sequence import read_all_formulas
from nalu_cli.runs.checkpoint import save_checkpoint
from nalu_cli.tasks.arithmetic import Task
from nalu_cli.training.build import (
    GENERATION_STRIDE,
    PROBE_SAMPLES,
    Members,
    build_model,
    build_task,
    compile_wanted,
    resolve_device,
)
from nalu_cli.training.evaluate import RangeMetrics, evaluate_range, sparsity_error
from nalu_cli.training.optim import BatchedAdam, clip_per_seed, finite, per_seed_all_finite
from nalu_cli.training.precondition import Preconditioner
from nalu_cli.training.schedule import cosine
from nalu_cli.training.stopping import evaluating
from nalu_cli.units.madsen import NAU

if TYPE_CHECKING:
    from nalu_cli.runs.run import Run

# Small training draws on the CPU come a block of steps at a time: min(AHEAD_STEPS, AHEAD_NUMBERS // numbers a
# step) steps, when that is at least 2 (up to 2**15 numbers a step). A 2-input batch of 64 for one seed then
# costs about 1 µs a step instead of 15-25; blocks above 2**16 numbers measured no faster (cache).
AHEAD_NUMBERS = 1 << 16
AHEAD_STEPS = 256

ProgressFn = Callable[[int, int, float], None]
StopFn = Callable[[], bool]


@dataclass
class TrainResult:
    """What a finished (or interrupted) run reports; ``seeds`` has one dict per reported seed."""

    run_dir: Path | None
    config: Config
    step: int
    interrupted: bool
    device: str
    elapsed: float
    seeds: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    compiled: bool = False  # the training data came from the compiled generator (same values as eager)
    seed_steps_per_second: float | None = None  # members × steps trained in this call / training-loop time
    # A stop request abandoned an evaluation (``stopping``); ``saved_step`` is the step of the checkpoint the run
    # can be resumed from (None: none was saved).
    abandoned_evaluation: bool = False
    saved_step: int | None = None

    @property
    def solved_count(self) -> int:
        return sum(1 for s in self.seeds if s["solved"])


class Trainer:
    """Sets up task, model and optimiser for a config and runs the loop.

    ``train()`` below is the one-call entry point; the class exists so tests and benchmarks can step it.
    """

    @classmethod
    def from_run(cls, run: Run, device: torch.device | None = None) -> tuple[Trainer, dict[str, Any]]:
        """Rebuild a run's model from its own config: (trainer with weights loaded, raw checkpoint data).

        The memory estimate is checked from the declared config before anything is built.
        """
        config = run.config()
        run.check_budget()
        try:
            trainer = cls(config, device or torch.device("cpu"))
        except (MemoryError, RuntimeError) as err:
            failure = budget.allocation_failure(err, f"the model of run {str(run.path)!r}")
            if failure is None:
                raise
            raise failure from None
        try:
            trainer.restore(run.data())
        except CheckpointError as err:
            raise CheckpointError(f"{str(run.checkpoint_file)!r}: {err}") from None
        return trainer, run.data()

    def __init__(self, config: Config, device: torch.device | None = None) -> None:
        self.config = config
        self.warnings: list[str] = []
        if device is None:
            device = resolve_device(config.train.device)
        self.device = device
        self.dtype = torch.float64 if config.train.dtype == "float64" else torch.float32
        self.task = build_task(config)
        self._thresholds: dict[tuple[str, int], torch.Tensor] = {}  # near-perfect MSE per (range, samples)
        self.members = Members(config.train.seed_list(), config.train.restarts)
        self.task_seeds = self.members.task_seeds(device)  # [M]
        self.member_seeds = self.members.member_seeds(device)  # [M]
        self.model = build_model(config, self.members, device)
        self.params = [p for p in self.model.parameters()]
        lr_scales = None
        scales_of = getattr(self.model, "lr_scales", None)  # recurrent and digits models: the recurrent block
        if scales_of is not None:
            scale = config.model.recurrent_lr_scale
            lr_scales = scales_of(scale if scale is not None else 1.0 / config.task.length)
        self.optimizer = BatchedAdam(self.params, betas=(config.train.beta1, config.train.beta2), lr_scales=lr_scales)
        self.masks = self.task.masks(self.task_seeds, self.dtype)  # ([M, I], [M, I])
        self._selection = Task.selection(self.masks, self.dtype)  # [M, 2, I], built once for train_step
        # The static task's subset sums come out of the first layer's product when that layer is linear (one pass
        # over the batch instead of two; ArithmeticModel.forward_with_riders), else from Task.batch.
        fuse = isinstance(self.model, ArithmeticModel) and self.model.first_layer_is_linear()
        self._riders = self._selection if fuse and self.task.operands_are_products else None
        m = self.members.count
        self.step = 0
        self.alive = torch.ones(m, dtype=torch.bool, device=device)
        self.failed_step = torch.full((m,), -1, dtype=torch.int64, device=device)
        self.solved_at = torch.full((m,), -1, dtype=torch.int64, device=device)
        self._last_loss = torch.full((m,), math.nan, dtype=torch.float64, device=device)
        # On the CPU a Python flag "every member is alive" is free to keep and lets a step skip the selects
        # that isolate dead members; on a GPU it would need a device sync per step, so it stays False there.
        self._cpu = device.type == "cpu"
        self._everyone_alive = self._cpu
        self._ones = torch.ones(m, dtype=self.dtype, device=device)  # d Σ objective / d objective, made once
        # train.compile: decided now, compiled (and checked against the eager generator) on the first step.
        self.compile_wanted = compile_wanted(config, m)
        self.compiled = False
        self.compile_seconds: float | None = None
        self._compile_pending = self.compile_wanted
        # The training batch's memory, reused every step by the large draws (compiled, or chunked on the CPU):
        # a fresh [M, B, I] array each step costs as much in page faults as generating it (rng.uniform).
        self._x_buffer: torch.Tensor | None = None
        numbers = m * config.train.batch_size * self.task.input_size
        if self.task.draws_into_buffer and (numbers > rng.CPU_CHUNK or self.compile_wanted):
            self._x_buffer = torch.empty(numbers, dtype=self.dtype, device=device)
        # Small draws on the CPU come a block of steps at a time (Task.batches_ahead): the same values as a draw
        # per step, with the generator's fixed cost (keys, a dozen numpy passes) paid once per block.
        ahead = min(AHEAD_STEPS, AHEAD_NUMBERS // max(numbers, 1))
        eligible = self._cpu and self.task.draws_into_buffer and self._x_buffer is None and not self.compile_wanted
        self._ahead_steps = ahead if eligible and ahead >= 2 else 0
        self._ahead_first = 0  # the step of the block's first batch
        self._ahead_x: torch.Tensor | None = None  # [K, M, B, I]
        self._ahead_y: torch.Tensor | None = None  # [K, M, B, 1], or None: targets per step
        # stagnation tracking for re-initialisation (train.reinit)
        self.best_valid = torch.full((m,), math.inf, dtype=torch.float64, device=device)
        self.stale = torch.zeros(m, dtype=torch.int64, device=device)
        self.generation = torch.zeros(m, dtype=torch.int64, device=device)

    @cached_property
    def precond(self) -> Preconditioner | None:
        """The first layer's gradient preconditioner (``train.precondition``; ``nalu_cli/precondition.py``), or
        None: only a feed-forward model whose first unit is a NAU has one."""
        first = self.model.units[0]
        # a feed-forward model only: a recurrent or digits model's first unit is its cell over [h_{t-1}, x_t]
        if (
            not self.config.train.precondition
            or not isinstance(self.model, ArithmeticModel)
            or not isinstance(first, NAU)
        ):
            return None
        index = next(i for i, p in enumerate(self.params) if p is first.W)
        inputs = first.W.shape[-1]
        return Preconditioner.for_inputs(index, self.task.interpolation, inputs, self.config.train.precondition_damping)

    # -- one step ------------------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        t = self.config.train
        if t.schedule == "cosine":
            return cosine(t.lr, step, t.steps)
        return t.lr

    @property
    def last_loss(self) -> torch.Tensor:
        """Each member's training loss at the last step: [M] float64 (converted when read, not every step)."""
        return self._last_loss.detach().to(torch.float64)

    @last_loss.setter
    def last_loss(self, value: torch.Tensor) -> None:
        self._last_loss = value

    def _set_alive(self, alive: torch.Tensor) -> None:
        self.alive = alive
        self._everyone_alive = self._cpu and bool(alive.all())

    def _setup_compile(self) -> None:
        """Compile the training-data generator; on any failure keep the eager one and note why (one warning)."""
        self._compile_pending = False
        if not isinstance(self.task, Task):
            return
        compiled_task = replace(self.task, compiled_streams=frozenset({rng.STREAM_TRAIN}))
        t = self.config.train
        args = (self.member_seeds, rng.STREAM_TRAIN, self.step, t.batch_size, self.task.interpolation, self.dtype)
        started = time.perf_counter()
        reason = rng.check_compiled(lambda: compiled_task.sample_inputs(*args), lambda: self.task.sample_inputs(*args))
        self.compile_seconds = time.perf_counter() - started
        if reason is not None:
            self.warnings.append(f"train.compile: {reason}; using the eager data generator (same values, slower)")
            return
        self.task = compiled_task
        self.compiled = True

    def draw_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This step's training inputs x [M, B, I] and targets y [M, B, 1], or None for y when ``predict``
        computes the operands in the first layer's product. x (and y) may be views of memory the trainer
        reuses (the batch buffer, or the block of batches drawn ahead): read-only, valid for this step."""
        if self._ahead_steps:
            return self._draw_ahead()
        t = self.config.train
        args = (self.member_seeds, rng.STREAM_TRAIN, self.step, t.batch_size, self.task.interpolation, self.dtype)
        if self._riders is not None:
            return self.task.draw(*args, self._x_buffer), None
        return self.task.batch(*args, self._selection, out=self._x_buffer)

    def _draw_ahead(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``draw_batch`` from the block of batches drawn ahead, drawing the next block when the step is past it."""
        k = self.step - self._ahead_first
        if self._ahead_x is None or not 0 <= k < self._ahead_x.shape[0]:
            t = self.config.train
            x, y = self.task.batches_ahead(
                self.member_seeds, rng.STREAM_TRAIN, self.step, self._ahead_steps, t.batch_size,
                self.task.interpolation, self.dtype,
            )  # fmt: skip
            self._ahead_x, self._ahead_y = _aligned_rows(x), None if y is None else _aligned_rows(y)
            self._ahead_first, k = self.step, 0
        x = self._ahead_x[k]  # [M, B, I]
        if self._riders is not None:
            return x, None
        return x, self._ahead_y[k] if self._ahead_y is not None else self.task.target(x, self._selection)

    def predict(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's output and the targets for a ``draw_batch``: [M, B, 1] each."""
        if y is not None:
            return self.model(x), y
        assert self._riders is not None and isinstance(self.model, ArithmeticModel)
        pred, ab = self.model.forward_with_riders(x, self._riders)  # [M, B, 1], [M, B, 2]
        return pred, self.task.target_of(ab)

    def train_step(self) -> None:
        """One optimiser step for every living member."""
        if self._compile_pending:
            self._setup_compile()
        t = self.config.train
        pred, y = self.predict(*self.draw_batch())  # [M, B, 1], [M, B, 1]
        loss = ((pred - y) ** 2).mean(dim=(1, 2))  # [M]
        if t.loss_scale == "target":
            # relative MSE: the batch's mean squared target (no gradient) divides the loss, so the
            # regulariser's pull does not shrink as targets grow (sums over long sequences)
            loss = loss / (y.detach() ** 2).mean(dim=(1, 2)).clamp(min=1e-12)  # [M]
        lam = t.regularizer.weight(self.step)
        objective = loss + self.model.regularizer() * lam if lam > 0 else loss  # [M]
        # The gradient of Σ objective over the living members, seeded per member (1 alive, 0 dead) instead of
        # through a sum node: the same gradients, a node less; a dead member's NaN stays in its own slice.
        if self._everyone_alive:
            weights = self._ones  # [M]
            total = objective.detach().sum() if objective.shape[0] > 1 else objective.detach()  # for the check
        else:
            weights = self.alive.to(objective.dtype)  # [M]
            total = None  # the exact per-member check below runs instead
        grads = list(torch.autograd.grad(objective, self.params, grad_outputs=weights))
        if self.precond is not None:
            grads[self.precond.index] = self.precond.apply(grads[self.precond.index])  # [M, O, I]
        if t.clip_grad is not None:
            grads = clip_per_seed(grads, t.clip_grad)
        p_next, mv_next = self.optimizer.propose(grads, self.lr_at(self.step))  # [M, P], [2, M, P]
        # NaN/Inf checks. A non-finite gradient always makes its new weight non-finite (NaN, or inf / inf
        # through Adam's moments), so checking the objective and the new weights covers the gradients too.
        # On the CPU one sum answers "is everything finite?" (any NaN/Inf makes it non-finite; an overflow of
        # the sum itself only sends the step to the exact per-member check below).
        if total is not None and math.isfinite(float(p_next.sum() + total)):
            self.optimizer.commit(p_next, mv_next, None)
        else:
            ok = self.alive & finite(objective) & finite(p_next).all(dim=1)  # [M]
            self.optimizer.commit(p_next, mv_next, ok)
            newly_dead = self.alive & ~ok
            self.failed_step = torch.where(newly_dead, self.step, self.failed_step)
            self._set_alive(ok)
        self.model.post_step()
        self._last_loss = loss
        self.step += 1

    # -- monitoring ----------------------------------------------------------------------------------
    def evaluate(self, which: str, samples: int) -> RangeMetrics:
        """``which``: "interpolation" (validation stream) or "extrapolation" (test stream)."""
        if which == "interpolation":
            ranges, stream = self.task.interpolation, rng.STREAM_VALID
        else:
            ranges, stream = self.task.extrapolation, rng.STREAM_TEST
        key = (which, samples)
        with evaluating():  # a signal abandons it (stopping.EvaluationInterrupted)
            metrics = evaluate_range(
                self.model,
                self.task,
                self.task_seeds,
                ranges,
                samples,
                self.config.eval.solved_eps,
                stream,
                self.dtype,
                self._thresholds.get(key),
            )
        self._thresholds[key] = metrics.threshold  # the same data every time: computed once per range and size
        return metrics

    def monitor(self) -> dict[str, Any]:
        """Validation and extrapolation errors now; updates ``solved_at``. Returns a metrics record."""
        n = self.config.train.valid_samples
        valid = self.evaluate("interpolation", n)
        extrap = self.evaluate("extrapolation", n)
        newly = extrap.solved & (self.solved_at < 0) & self.alive
        self.solved_at = torch.where(newly, torch.full_like(self.solved_at, self.step), self.solved_at)
        reinitialised = self.maybe_reinitialise(valid.mse)
        record: dict[str, Any] = {
            "step": self.step,
            "lr": self.lr_at(min(self.step, self.config.train.steps - 1)),
            "loss_median": _median(self.last_loss),
            "valid_mse_median": _median(valid.mse),
            "extrap_mse_median": _median(extrap.mse),
            "alive": int(self.alive.sum()),
            "solved": int((self.solved_at >= 0).sum()),
            "members": self.members.count,
        }
        if reinitialised:
            record["reinitialised"] = reinitialised
        if self.members.count <= 64:
            record["loss"] = [float(v) for v in self.last_loss]
            record["valid_mse"] = [float(v) for v in valid.mse]
            record["extrap_mse"] = [float(v) for v in extrap.mse]
        return record

    def probe(self) -> torch.Tensor:
        """Inputs from the interpolation range that feed gates for the formula readout: [M, B, I]."""
        return self.task.sample_inputs(
            self.task_seeds, rng.STREAM_PROBE, 0, PROBE_SAMPLES, self.task.interpolation, self.dtype
        )

    def maybe_reinitialise(self, valid_mse: torch.Tensor) -> int:
        """Give fresh weights to members whose validation error stagnates (``train.reinit``); returns how many."""
        r = self.config.train.reinit
        if r.patience == 0 or self.step >= r.until * self.config.train.steps:
            return 0
        finite = torch.where(torch.isfinite(valid_mse), valid_mse, torch.full_like(valid_mse, math.inf))
        improved = finite < self.best_valid * (1 - r.min_improvement)
        self.best_valid = torch.where(improved, finite, self.best_valid)
        self.stale = torch.where(improved, torch.zeros_like(self.stale), self.stale + 1)
        reset = self.alive & (self.stale >= r.patience) & (finite > r.threshold)
        count = int(reset.sum())
        if count == 0:
            return 0
        self.generation = self.generation + reset.to(torch.int64)
        # A fresh draw for generation g uses member seed + g * 2**52: independent of every other member.
        fresh_seeds = (self.member_seeds + self.generation * GENERATION_STRIDE)[reset].cpu()
        fresh = build_model(self.config, Members([0], 1), self.device, member_seeds=fresh_seeds)
        with torch.no_grad():
            for p, p_new in zip(self.params, fresh.parameters(), strict=True):
                p[reset] = p_new.to(p.dtype)
        self.optimizer.reset(reset)
        self.best_valid = torch.where(reset, torch.full_like(self.best_valid, math.inf), self.best_valid)
        self.stale = torch.where(reset, torch.zeros_like(self.stale), self.stale)
        return count

    # -- checkpoints ---------------------------------------------------------------------------------
    def state(self, finished: bool, results: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "step": self.step,
            "finished": finished,
            "seeds": {"seeds": list(self.members.seeds), "restarts": self.members.restarts},
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "train_state": {
                "optimizer": self.optimizer.state_dict(),
                "alive": self.alive.cpu(),
                "failed_step": self.failed_step.cpu(),
                "solved_at": self.solved_at.cpu(),
                "last_loss": self.last_loss.cpu(),
                "best_valid": self.best_valid.cpu(),
                "stale": self.stale.cpu(),
                "generation": self.generation.cpu(),
            },
            "results": results or [],
            "compiled": self.compiled,  # training data from the compiled generator (bit-identical to eager)
        }

    def save(self, path: Path, finished: bool, results: list[dict[str, Any]] | None = None) -> None:
        if not bool(per_seed_all_finite(self.params).all()):
            raise NaluError("internal error: refusing to save non-finite weights")
        save_checkpoint(path, self.state(finished, results))

    def restore(self, data: dict[str, Any]) -> None:
        """Load weights and training state from a checkpoint dict (``CheckpointError`` on mismatch)."""
        try:
            self.model.load_state_dict(data["model"], strict=True)
            ts = data["train_state"]
            self.optimizer.load_state_dict(ts["optimizer"])
            for name in ("alive", "failed_step", "solved_at", "last_loss", "best_valid", "stale", "generation"):
                value = ts[name]
                current = getattr(self, name)
                if not isinstance(value, torch.Tensor) or value.shape != current.shape:
                    raise ValueError(f"{name} has the wrong shape")
                setattr(self, name, value.to(device=self.device, dtype=current.dtype))
            self._set_alive(self.alive)
        except (RuntimeError, ValueError, KeyError, TypeError, AssertionError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"checkpoint does not match its own config: {first}") from None
        step = data["step"]
        if step < 0 or step > self.config.train.steps:
            raise CheckpointError(f"checkpoint step {step} is outside 0..{self.config.train.steps}")
        self.step = step
        if not bool(per_seed_all_finite(self.params).all()):
            raise CheckpointError("checkpoint holds non-finite weights")

    # -- final report --------------------------------------------------------------------------------
    def results(self, samples: int) -> list[dict[str, Any]]:
        """Per reported seed: the selected restart and its metrics."""
        interp = self.evaluate("interpolation", samples)
        extrap = self.evaluate("extrapolation", samples)
        sparsity = sparsity_error(self.model)
        probe = self.probe()
        k = self.members.restarts
        target = self.task.kind.target_expression(self.task.op)
        chosen = []
        for i in range(len(self.members.seeds)):
            block = slice(i * k, (i + 1) * k)
            valid = interp.mse[block].clone()
            valid[~torch.isfinite(valid) | ~self.alive[block]] = math.inf
            chosen.append(i * k + int(torch.argmin(valid)) if k > 1 else i * k)
        readouts = read_all_formulas(self.model, chosen, probe)  # one forward pass for every seed
        out = []
        for i, (seed, best) in enumerate(zip(self.members.seeds, chosen, strict=True)):
            block = slice(i * k, (i + 1) * k)
            failed = int(self.failed_step[best])
            readout = readouts[best]
            solved = bool(extrap.solved[best]) and failed < 0
            out.append(
                {
                    "seed": seed,
                    "member": best,
                    "restart": best - i * k,
                    "interpolation": interp.row(best),
                    "extrapolation": extrap.row(best),
                    "solved": solved,
                    "solved_at": int(self.solved_at[best]) if int(self.solved_at[best]) >= 0 else None,
                    "diverged_at": failed if failed >= 0 else None,
                    "sparsity_error": float(sparsity[best]),
                    "restarts_solved": int(extrap.solved[block].sum()) if k > 1 else None,
                    **formula_fields(readout, solved, target),
                    "formula_reason": readout.reason,
                }
            )
        return out


def _aligned_rows(t: torch.Tensor) -> torch.Tensor:
    """``t`` [K, ...] copied so that every t[k] starts on a 64-byte boundary: each step's batch is laid out alike
    whatever its size (a BLAS kernel may choose its path, and so its rounding, by the data's alignment)."""
    k, per = t.shape[0], t[0].numel()
    unit = max(1, 64 // t.element_size())
    out = torch.empty(k, -(-per // unit) * unit, dtype=t.dtype, device=t.device)  # [K, per rounded up]
    out[:, :per] = t.reshape(k, per)
    return out[:, :per].view(t.shape)


def _median(t: torch.Tensor) -> float:
    finite = t[torch.isfinite(t)]
    if finite.numel() == 0:
        return math.nan
    return float(finite.to(torch.float64).median())
