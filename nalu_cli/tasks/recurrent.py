"""The recurrent arithmetic task and the recurrent model (Trask et al. 2018, section 4.1; Madsen & Johansen).

Task: a sequence of T vectors x_t, each of ``vector_size`` entries drawn from the range; a and b are sums,
over time, of two overlapping contiguous subsets of each vector's entries (the static task's subsets, fixed
per seed); the target is op(a, b) after the last vector. Training uses length ``length``; extrapolation is
measured on ``extrapolation_length`` (and the larger value range).

Model: a recurrent cell, any unit over ``[h_{t-1}, x_t]`` with hidden size H, from a fixed (zero) or learned
initial state, followed by an output unit on h_T. ``lstm`` and ``rnn`` cells are torch's own ``LSTMCell`` and
``RNNCell`` run on per-seed parameters (``torch.func.functional_call``), the baseline that does not extrapolate.

Data are a pure function of (seed, stream, step, t): vector t of batch ``step`` is drawn with generator step
``step · 2**20 + t``, so a sequence can be generated one vector at a time. Evaluation streams: it never
holds the whole sequence or any step's activations (``torch.no_grad``), so memory does not grow with T.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from nalu_cli.lazy import lazy_import, torch_no_grad
from nalu_cli.names import BASELINE_CELLS
from nalu_cli.tasks.arithmetic import Masks, StaticKind, Task, checked_op
from nalu_cli.tasks.kind import Kind, RangeMetrics, activation_budget_problems, subset_problem
from nalu_cli.tasks.ops import Ranges, format_ranges

if TYPE_CHECKING:
    import torch
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())


MAX_LENGTH = 1_000_000  # below the 2**20 stride between training steps in the generator's step counter
TIME_STRIDE = 2**20
SEQUENCE_CHUNK = 1000  # sequences per seed drawn at once during evaluation; part of the data definition


@dataclass(frozen=True)
class RecurrentTask(Task):
    """The static task's subsets summed over a sequence. ``input_size`` is the vector size."""

    length: int
    extrapolation_length: int
    eval_length: int | None = None  # set by ``at_length`` for the length ladder

    sequential = True

    @property
    def kind(self) -> Kind:
        return RECURRENT

    def evaluate(
        self,
        model: Any,
        seeds: torch.Tensor,
        ranges: Ranges,
        samples: int,
        solved_eps: float,
        stream: int,
        dtype: torch.dtype,
        threshold: torch.Tensor | None = None,
    ) -> RangeMetrics:
        """``Task.evaluate`` over sequences streamed through ``evaluate_sequences`` (the threshold is always
        computed beside the model, step by step)."""
        sums = evaluate_sequences(model, self, seeds, ranges, samples, solved_eps, stream, dtype)
        mse, mae, rel_err, threshold = (v / samples for v in sums)
        return RangeMetrics(ranges, mse, mae, rel_err, threshold, torch.isfinite(mse) & (mse < threshold))

    def at_length(self, length: int) -> RecurrentTask:
        """The same task evaluated at sequence length ``length`` on every range."""
        return replace(self, eval_length=length)

    def length_for(self, ranges: Ranges) -> int:
        """Training length on the interpolation range, extrapolation length elsewhere (unless fixed)."""
        if self.eval_length is not None:
            return self.eval_length
        return self.length if tuple(ranges) == tuple(self.interpolation) else self.extrapolation_length

    def step_inputs(
        self, seeds: torch.Tensor, stream: int, step: int, t: int, batch: int, ranges: Ranges, dtype: torch.dtype
    ) -> torch.Tensor:
        """Vector t of every sequence in batch ``step``: x_t [S, B, V]."""
        return Task.sample_inputs(self, seeds, stream, step * TIME_STRIDE + t, batch, ranges, dtype)

    def sample_inputs(
        self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges, dtype: torch.dtype
    ) -> torch.Tensor:
        """Whole sequences (training, probes): x [S, B, T, V]."""
        length = self.length_for(ranges)
        steps = [self.step_inputs(seeds, stream, step, t, batch, ranges, dtype) for t in range(length)]
        return torch.stack(steps, dim=2)  # [S, B, T, V]

    def operands(self, x: torch.Tensor, masks: Masks) -> tuple[torch.Tensor, torch.Tensor]:
        """a, b summed over time. x: [S, B, T, V] -> a, b [S, B, 1]."""
        return Task.operands(self, x.sum(dim=2), masks)

    def near_perfect_mse(self, x: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor], eps: float) -> torch.Tensor:
        """The nearly perfect recurrent model's MSE on whole sequences x [S, B, T, V]: [S] (see ``NearPerfect``)."""
        near = NearPerfect(self, masks, eps, x.shape[0], x.shape[1], x.device)
        for t in range(x.shape[2]):
            near.update(x[:, :, t])
        return near.sq_error().mean(dim=(1, 2))


class NearPerfect:
    """The exact recurrent solution and its ε-perturbed copy, stepped together in float64.

    Exact: h_t = h_{t-1} + (x_t · mask_a, x_t · mask_b), y = op(h_T[0], h_T[1]). Every weight moved by ε
    toward the wrong value: the recurrent matrix [[1-ε, ε], [ε, 1-ε]], input weights 1-ε on a subset and
    ε off it, output weights 1-ε (as the static criterion: op((1-ε) a_ε, (1-ε) b_ε)). A trained model is
    solved on some sequences when its MSE there is below this model's MSE on the same sequences.
    """

    def __init__(
        self,
        task: Task,
        masks: tuple[torch.Tensor, torch.Tensor],
        eps: float,
        seeds: int,
        batch: int,
        device: torch.device,
    ) -> None:
        mask_a, mask_b = (m.to(torch.float64) for m in masks)
        self.op = task.op
        self.eps = eps
        self.select = torch.stack([mask_a, mask_b], dim=-1)  # [S, V, 2]
        self.select_eps = self.select * (1 - eps) + (1 - self.select) * eps  # [S, V, 2]
        self.exact = torch.zeros(seeds, batch, 2, dtype=torch.float64, device=device)  # [S, B, 2]
        self.perturbed = torch.zeros_like(self.exact)  # [S, B, 2]

    def update(self, x_t: torch.Tensor) -> None:
        """One time step. x_t: [S, B, V]."""
        x64 = x_t.to(torch.float64)
        self.exact += torch.bmm(x64, self.select)  # [S, B, 2]
        p = self.perturbed
        mixed = p * (1 - self.eps) + p.flip(-1) * self.eps  # [S, B, 2]
        self.perturbed = mixed + torch.bmm(x64, self.select_eps)

    def target(self) -> torch.Tensor:
        """op(a, b): [S, B, 1] float64."""
        return self.op.fn(self.exact[..., 0:1], self.exact[..., 1:2])

    def sq_error(self) -> torch.Tensor:
        """(exact - perturbed)² of the outputs: [S, B, 1]."""
        y = self.target()
        a, b = self.perturbed[..., 0:1] * (1 - self.eps), self.perturbed[..., 1:2] * (1 - self.eps)
        return (y - self.op.fn(a, b)) ** 2


class SequenceModel(Protocol):
    """What ``stream_predictions`` needs of a model: recurrent and digits models."""

    def initial_state(self, batch: int, x: torch.Tensor) -> Any: ...
    def step(self, state: Any, x: torch.Tensor) -> Any: ...
    def readout(self, state: Any) -> torch.Tensor: ...


def stream_predictions(
    model: SequenceModel, samples: int, length: int, inputs: Callable[[int, int, int], torch.Tensor]
) -> Iterator[tuple[int, torch.Tensor]]:
    """Feed ``samples`` sequences per seed of ``length`` steps, up to ``SEQUENCE_CHUNK`` at a time, one step
    at a time: ``inputs(chunk, t, n)`` gives step t of chunk ``chunk`` (its first n sequences) as [S, n, V].
    Yields (n, the readout [S, n, 1] in float64) per chunk. Memory is O(S · chunk · V), whatever the length."""
    done, chunk = 0, 0
    while done < samples:
        n = min(SEQUENCE_CHUNK, samples - done)
        state = None
        for t in range(length):
            x_t = inputs(chunk, t, n)  # [S, n, V]
            state = model.step(model.initial_state(n, x_t) if state is None else state, x_t)
        assert state is not None
        yield n, model.readout(state).to(torch.float64)  # [S, n, 1]
        done += n
        chunk += 1


@torch_no_grad
def evaluate_sequences(
    model: SequenceModel,
    task: RecurrentTask,
    seeds: torch.Tensor,
    ranges: Ranges,
    samples: int,
    solved_eps: float,
    stream: int,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sums over ``samples`` sequences per seed of squared, absolute and relative error and the near-perfect
    model's squared error: four [S] float64 tensors (``stream_predictions``)."""
    masks = task.masks(seeds, dtype)
    s = seeds.shape[0]
    sums = [torch.zeros(s, dtype=torch.float64, device=seeds.device) for _ in range(4)]
    near: NearPerfect | None = None  # the exact and near-perfect models, stepped beside the trained one

    def inputs(chunk: int, t: int, n: int) -> torch.Tensor:
        nonlocal near
        if t == 0:
            near = NearPerfect(task, masks, solved_eps, s, n, seeds.device)
        assert near is not None
        x_t = task.step_inputs(seeds, stream, chunk, t, SEQUENCE_CHUNK, ranges, dtype)[:, :n]  # [S, n, V]
        near.update(x_t)
        return x_t

    for _, pred in stream_predictions(model, samples, task.length_for(ranges), inputs):
        assert near is not None
        y = near.target()  # [S, n, 1]
        err = pred - y
        sums[0] += (err * err).sum(dim=(1, 2))
        sums[1] += err.abs().sum(dim=(1, 2))
        sums[2] += (err.abs() / y.abs().clamp(min=1e-12)).sum(dim=(1, 2))
        sums[3] += near.sq_error().sum(dim=(1, 2))
    return sums[0], sums[1], sums[2], sums[3]


def training_bytes(members: int, batch: int, length: int, vector_size: int, hidden: int, cell: str) -> int:
    """A generous estimate of the activations autograd holds for one training step (float32 words × 4)."""
    per_step = vector_size + (hidden + vector_size) * (hidden + 1) + 8 * hidden
    if cell in BASELINE_CELLS:
        per_step += 12 * hidden
    return 4 * 4 * members * batch * length * per_step


class RecurrentKind(StaticKind):
    """Sequences of ``vector_size``-vectors; a and b are the static task's subsets summed over time
    (Trask 2018; stable-nalu's simple_function_recurrent)."""

    name = "recurrent"
    summary = "sums over a sequence of x_t"
    sequences = True

    def problems(self, config: Any) -> list[str]:
        t, m = config.task, config.model
        if t.count_digit is not None:
            return ["task.count_digit counts digit images: use it with task.mode digits"]
        problems = subset_problem(
            "task: two subsets of {size} entries need {span} but vector_size is {total}",
            t.vector_size, t.subset_ratio, t.overlap_ratio,
        )  # fmt: skip
        units = m.units()
        if len(units) != 2 or len(m.hidden) > 1:
            problems.append(
                "model: a recurrent model is a cell and an output unit: model.unit [CELL, OUTPUT] with"
                " model.hidden [H] (the state size)"
            )
        elif units[1] in BASELINE_CELLS:
            problems.append(f"model.unit: {units[1]} is a cell, not an output unit")
        hidden = m.hidden[0] if m.hidden else 2
        need = training_bytes(
            len(config.train.seed_list()) * config.train.restarts, config.train.batch_size, t.length,
            t.vector_size, hidden, units[0],
        )  # fmt: skip
        return problems + activation_budget_problems(config, need)

    def describe(self, config: Any) -> str:
        t = config.task
        return (
            f"{t.op} (recurrent, T={t.length}→{t.extrapolation_length}) · {'+'.join(config.model.units())} · train"
            f" {format_ranges(t.interpolation)} → test {format_ranges(t.extrapolation)}"
        )

    def task(self, config: Any) -> RecurrentTask:
        t = config.task
        op = checked_op(self, t.op, t.interpolation, t.extrapolation)
        return RecurrentTask(
            op=op,
            mode=self.name,
            input_size=t.vector_size,
            subset_ratio=t.subset_ratio,
            overlap_ratio=t.overlap_ratio,
            interpolation=tuple(t.interpolation),
            extrapolation=tuple(t.extrapolation),
            length=t.length,
            extrapolation_length=t.extrapolation_length,
        )


RECURRENT = RecurrentKind()
