"""What the text kinds share (number words, ``tasks/words.py``; small programs, ``tasks/program.py``): integers
written as a token sequence, read one token at a time, whose target is the integer the text denotes.

A text task draws integers from a value range (``task.interpolation`` for training, ``task.extrapolation``
and ``--range`` for tests: the ranges are ranges of integers, 0 ≤ lo ≤ hi ≤ ``MAX_NUMBER``), writes each
one as tokens and pads the sequence on the right with token 0 (``PAD``) to a length fixed by the range
(``TextTask.pad_length``), so a seed's batch has the same shape whichever seeds share it. Inputs reach the
model as token ids in the run's float dtype, x [S, B, L]; the model (``models/text.py``) skips padding.
Every draw is a pure function of (seed, stream, step) through the counter-based generator (``nalu_cli/rng.py``).

Evaluation reports the MSE, MAE and relative error of the output and its exact-match accuracy (the share of
outputs that round to the target); a seed is *solved* on a range when its accuracy there is at least
``SOLVED_ACCURACY`` (there is no ε-perturbed exact model to compare with: the threshold is NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nalu_cli.lazy import lazy_import
from nalu_cli.names import BASELINE_CELLS
from nalu_cli.tasks.arithmetic import Task
from nalu_cli.tasks.kind import EVAL_CHUNK, Kind, RangeMetrics, activation_budget_problems
from nalu_cli.tasks.ops import Op, Ranges, format_ranges

if TYPE_CHECKING:
    import torch

    from nalu_cli import rng
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())
    rng = lazy_import("nalu_cli.rng", globals())

PAD = 0  # the padding token: the model leaves its state as it is on this token
MAX_NUMBER = 999_999  # the largest integer a text task writes (number words: "… thousand …")
SOLVED_ACCURACY = 0.9  # solved on a range: the rounded output is exact on at least 90% of its samples
TEXT_BASELINE = "lstm"  # the baseline cell of the text models (models/text.py)
TEXT_OP = "identity"  # the target is the integer itself: the op is the identity


def integer_bounds(ranges: Ranges) -> list[tuple[int, int]]:
    """The integers of each interval: [(ceil(lo), floor(hi))]."""
    return [(math.ceil(lo), math.floor(hi)) for lo, hi in ranges]


def uniform_ints(bits: torch.Tensor, lo: torch.Tensor | int, count: torch.Tensor | int) -> torch.Tensor:
    """lo + a uniform integer below ``count`` from 32-bit patterns (``rng.random_bits``): int64, bits' shape."""
    u = bits.to(torch.int64) & 0xFFFFFFFF
    return lo + ((u * count) >> 32)


@dataclass(frozen=True)
class TextTask(Task):
    """Integers written as token sequences; subclasses say how (``encode``) and which integers (``texts``)."""

    vocabulary: int = 0  # token ids 0 .. vocabulary - 1 (0 is PAD)

    def pad_length(self, ranges: Ranges) -> int:
        """The sequence length of every sample drawn from ``ranges`` (the longest text they hold)."""
        raise NotImplementedError

    def texts(self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges) -> tuple[Any, Any]:
        """Tokens [S, B, L] int64 and their targets [S, B] float64 for batch ``step`` of ``stream``."""
        raise NotImplementedError

    def token_names(self) -> dict[int, str]:
        """Each token id but padding -> how the text writes it (the token table of ``readouts/tokens.py``)."""
        raise NotImplementedError

    def tokens_of(self, text: str) -> list[int]:
        """The token ids of a text as ``token_names`` writes its tokens."""
        raise NotImplementedError

    def place_probes(self) -> list[tuple[str, str]]:
        """Pairs of texts (text, reference) whose outputs' ratio is a place value the model should have learned
        ("five hundred" against "five": 100); empty where the kind has none."""
        return []

    def sample_inputs(
        self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges, dtype: torch.dtype
    ) -> torch.Tensor:
        """Token ids as ``dtype``: x [S, B, L]."""
        return self.texts(seeds, stream, step, batch, ranges)[0].to(device=seeds.device, dtype=dtype)

    def batch(
        self,
        seeds: torch.Tensor,
        stream: int,
        step: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
        masks: Any = None,
        out: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch: (x [S, B, L], y [S, B, 1]); ``out`` is not used (tokens are no uniform draw)."""
        tokens, y = self.texts(seeds, stream, step, batch, ranges)
        return tokens.to(device=seeds.device, dtype=dtype), y.to(device=seeds.device, dtype=dtype)[..., None]

    def masks(self, seeds: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """No subsets: zero masks [S, 1] (the trainer asks for them all the same)."""
        zero = torch.zeros(seeds.shape[0], 1, dtype=dtype, device=seeds.device)
        return zero, zero

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
        """MSE, MAE, relative error (|err| / max(|y|, 1)) and exact-match accuracy per seed on ``samples`` texts
        from ``ranges``, drawn in chunks of ``EVAL_CHUNK``; solved: accuracy ≥ ``SOLVED_ACCURACY``."""
        s = seeds.shape[0]
        sums = [torch.zeros(s, dtype=torch.float64, device=seeds.device) for _ in range(4)]
        done, chunk = 0, 0
        while done < samples:
            n = min(EVAL_CHUNK, samples - done)
            tokens, y = self.texts(seeds, stream, chunk, EVAL_CHUNK, ranges)
            # the whole chunk through the model, then its first n: every seed's rows fill whole vector bodies of
            # the elementwise kernels (NALU's exp), so a seed's outputs are the same whatever seeds share the batch
            x = tokens.to(device=seeds.device, dtype=dtype)  # [S, EVAL_CHUNK, L]
            y = y[:, :n].to(device=seeds.device, dtype=torch.float64)  # [S, n]
            pred = model(x)[:, :n, 0].to(torch.float64)  # [S, n]
            err = pred - y
            sums[0] += (err * err).sum(dim=1)
            sums[1] += err.abs().sum(dim=1)
            sums[2] += (err.abs() / y.abs().clamp(min=1.0)).sum(dim=1)
            sums[3] += (pred.round() == y).to(torch.float64).sum(dim=1)
            done += n
            chunk += 1
        mse, mae, rel_err, accuracy = (v / samples for v in sums)
        nan = torch.full_like(mse, math.nan)
        return RangeMetrics(ranges, mse, mae, rel_err, nan, accuracy >= SOLVED_ACCURACY, accuracy)


def training_bytes(members: int, batch: int, length: int, hidden: int, cell: str) -> int:
    """A generous estimate of the activations autograd holds for one training step (float32 words × 4): per
    token the embedding (H), the cell's input and state and, for an LSTM, its four gates."""
    per_step = hidden + 2 * hidden * (hidden + 1) + 8 * hidden + (12 * hidden if cell in BASELINE_CELLS else 0)
    return 4 * 4 * members * batch * length * per_step


class TextKind(Kind):
    """A kind whose inputs are token sequences that write integers (number words, programs)."""

    value_ranges = True  # ranges of integers
    sums_inputs = False
    vocabulary = 0

    @property
    def solved_by_accuracy(self) -> bool:
        return True  # exact-match accuracy: an integer is read right or not

    def make(self, config: Any) -> TextTask:
        """The task of ``config`` (its settings already checked by ``problems``)."""
        raise NotImplementedError

    def own_problems(self, config: Any) -> list[str]:
        """The kind's own settings beyond what every text kind checks."""
        return []

    def problems(self, config: Any) -> list[str]:
        t, m = config.task, config.model
        problems = []
        if t.op != TEXT_OP:
            problems.append(
                f"task.op: {self.name} mode reads the integer a text denotes, so its op is {TEXT_OP}, not {t.op!r}"
            )
        if t.count_digit is not None:
            problems.append("task.count_digit counts digit images: use it with task.mode digits")
        problems += self.own_problems(config)
        units = m.units()
        if len(units) != 2 or len(m.hidden) > 1:
            problems.append(
                f"model: a {self.name} model is a cell over the token embeddings and an output unit:"
                " model.unit [CELL, OUTPUT] with model.hidden [H] (the state and embedding size)"
            )
            return problems
        if units[1] in BASELINE_CELLS:
            problems.append(f"model.unit: {units[1]} is a cell, not an output unit")
        if units[0] in BASELINE_CELLS and units[0] != TEXT_BASELINE:
            problems.append(f"model.unit: a {self.name} model's cell is {TEXT_BASELINE} or a unit, not {units[0]}")
        if problems:
            return problems
        hidden = m.hidden[0] if m.hidden else 16
        members = len(config.train.seed_list()) * config.train.restarts
        length = self.make(config).pad_length(tuple(t.interpolation))
        need = training_bytes(members, config.train.batch_size, length, hidden, units[0])
        return activation_budget_problems(config, need)

    def check_domain(self, op: Op, ranges: Ranges, name: str) -> list[str]:
        if op.expression is not None:
            return super().check_domain(op, ranges, name)
        problems = []
        for (lo, hi), (first, last) in zip(ranges, integer_bounds(ranges), strict=True):
            if lo < 0 or hi > MAX_NUMBER:
                problems.append(
                    f"{name}: {self.name} mode writes integers 0 to {MAX_NUMBER:,}, and {format_ranges(((lo, hi),))}"
                    " is outside them"
                )
            elif first > last:
                problems.append(f"{name}: {format_ranges(((lo, hi),))} holds no integer")
        return problems

    def model_inputs(self, op: Op, input_size: int) -> int:
        """The model reads token ids: its input count is the vocabulary's size (the embedding's rows)."""
        return self.vocabulary

    def draw_numbers(self, config: Any) -> int | None:
        return None  # tokens are written in Python from a few integers: nothing worth compiling

    def task(self, config: Any) -> TextTask:
        return self.make(config)
