"""Digit images: sums, products and counts of handwritten digits shown one at a time (Trask et al. 2018,
section 4.2; Madsen & Johansen 2020, sequential MNIST).

Task: a sequence of T images from scikit-learn's bundled 8×8 digits (``load_digits``, 1797 images, pixels
0..16 scaled to [0, 1]); the target is the sum of the digits shown (op ``add``), their product (op ``mul``,
short sequences), or, with ``task.count_digit: K``, how many of the images show digit K (op ``add`` over
indicators). The images are split once, by position: every fifth image (index 4, 9, 14, …; 359 images) is
a test image, the other 1438 are training images. Training and validation sequences draw from the training
images, test sequences (``eval``, ``extrapolate``, the solved flag) only from the test images, so a test
image is never trained on.

Model: an image network (64 → ``model.image_hidden`` → 10, ReLU, softmax) maps each image to a number, the
probability-weighted value of its ten classes; the values are fixed: 0..9 (sum, product) or 1 for class K
and 0 elsewhere (count), as stable-nalu's softmax transform. Only the sequence target trains it: no image
is ever labelled. The numbers d_t feed ``recurrent.RecurrentModel`` with vector size 1: an NAU cell
accumulates them (sum, count), an NMU cell multiplies them (product, from the initial state h_0 = 1), an
LSTM is the baseline. Every seed has its own parameters (leading dim S), drawn from the counter-based
generator, so a seed trains bit-identically alone or beside others.

Sequences are a pure function of (seed, stream, step, t): image t of batch ``step`` is chosen with
generator step ``step · 2**20 + t``. Evaluation streams one image at a time under ``torch.no_grad``, so its
memory does not grow with T. A digits run is *solved* on a set of test sequences when the rounded output
is right on at least half of them (``SOLVED_ACCURACY``): no image classifier is perfect, so the static
task's ε-perturbed exact model, whose MSE is ~0, is no yardstick here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nalu_cli.errors import NaluError
from nalu_cli.lazy import lazy_import, torch_no_grad
from nalu_cli.names import BASELINE_CELLS, CLASSES, PIXELS, digit_values
from nalu_cli.tasks.kind import Kind, RangeMetrics, activation_budget_problems
from nalu_cli.tasks.ops import OPS, Ranges
from nalu_cli.tasks.recurrent import (
    SEQUENCE_CHUNK,
    TIME_STRIDE,
    RecurrentKind,
    RecurrentTask,
    SequenceModel,
    stream_predictions,
)

if TYPE_CHECKING:
    import torch

    from nalu_cli import rng
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())
    rng = lazy_import("nalu_cli.rng", globals())


TEST_EVERY = 5  # every fifth image of load_digits (index 4, 9, 14, ...) is a test image, the rest training images
SOLVED_ACCURACY = 0.5  # solved: the rounded output is right on at least half of the test sequences
DIGIT_OPS = ("add", "mul")
MAX_PRODUCT_LENGTH = 30  # 9**30 ≈ 4e28: beyond this a product's rounded value means nothing even in float64
MISSING = "digits mode needs scikit-learn: pip install 'nalu[digits]'"


@lru_cache(maxsize=1)
def _dataset() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 images [N, 64] float64 in [0, 1] and their labels [N] int64 (cached; read once)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise NaluError(MISSING) from None
    data = load_digits()
    images = torch.from_numpy(data.data).to(torch.float64) / 16.0  # [N, 64]
    labels = torch.from_numpy(data.target).to(torch.int64)  # [N]
    return images, labels


def require_sklearn() -> None:
    """Raise the install hint (``NaluError``, exit 1) when scikit-learn is missing."""
    _dataset()


def split(part: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The training (``"train"``) or test (``"test"``) images [N, 64] float64 and labels [N]."""
    images, labels = _dataset()
    test = torch.arange(images.shape[0]) % TEST_EVERY == TEST_EVERY - 1  # [N] bool
    keep = ~test if part == "train" else test
    return images[keep], labels[keep]


def part_of(stream: int) -> str:
    """Which images a stream draws from: test sequences from the test images, everything else from training."""
    return "test" if stream == rng.STREAM_TEST else "train"


def class_values(count_digit: int | None) -> torch.Tensor:
    """The number each class stands for: [10] float64 (0..9, or the indicator of ``count_digit``)."""
    return torch.tensor(digit_values(count_digit), dtype=torch.float64)


def make_digits_task(op: str, length: int, extrapolation_length: int, count_digit: int | None) -> DigitsTask:
    """The digits task (``NaluError`` with the install hint when scikit-learn is missing)."""
    require_sklearn()
    return DigitsTask(
        op=OPS[op],
        mode="digits",
        input_size=PIXELS,
        subset_ratio=0.25,
        overlap_ratio=0.5,
        interpolation=((0.0, 9.0),),  # the digit values (the length ladder is what extrapolates here)
        extrapolation=((0.0, 9.0),),
        length=length,
        extrapolation_length=extrapolation_length,
        count_digit=count_digit,
    )


@dataclass(frozen=True)
class DigitsTask(RecurrentTask):
    """Sequences of digit images; ``input_size`` is 64 (pixels). ``count_digit`` K counts the K's instead."""

    count_digit: int | None = None

    @property
    def values(self) -> torch.Tensor:
        """The number each class stands for: [10] float64."""
        return class_values(self.count_digit)

    def length_for(self, ranges: Ranges) -> int:
        return self.eval_length if self.eval_length is not None else self.length

    @property
    def kind(self) -> Kind:
        return DIGITS

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
        """Error and accuracy on ``samples`` digit sequences (``evaluate_digits``); a seed is solved when its
        rounded output is right on ``SOLVED_ACCURACY`` of them (no MSE yardstick: the threshold is NaN)."""
        m = evaluate_digits(model, self, seeds, samples, stream, dtype)
        mse, mae, rel_err, accuracy = (v / samples for v in (m.sq, m.abs, m.rel, m.correct))
        nan = torch.full_like(mse, math.nan)
        return RangeMetrics(ranges, mse, mae, rel_err, nan, accuracy >= SOLVED_ACCURACY, accuracy)

    def stream_length(self, stream: int) -> int:
        """Sequence length of an evaluation: ``eval_length`` if set, else the training length for validation
        sequences and the extrapolation length for test sequences."""
        if self.eval_length is not None:
            return self.eval_length
        return self.extrapolation_length if stream == rng.STREAM_TEST else self.length

    def indices(self, seeds: torch.Tensor, stream: int, step: int, t: int, batch: int) -> torch.Tensor:
        """Which image (of the stream's part) is image t of each sequence of batch ``step``: [S, B] int64."""
        count = split(part_of(stream))[0].shape[0]
        bits = rng.random_bits(seeds, stream, step * TIME_STRIDE + t, batch).to(torch.int64) & 0xFFFFFFFF
        return (bits * count) >> 32  # [S, B], uniform over 0..count-1 without modulo bias worth naming

    def images_at(
        self, seeds: torch.Tensor, stream: int, step: int, t: int, batch: int, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Image t of every sequence of batch ``step`` and its label: ([S, B, 64], [S, B] int64)."""
        images, labels = split(part_of(stream))
        idx = self.indices(seeds, stream, step, t, batch).cpu()  # [S, B]
        return images[idx].to(device=seeds.device, dtype=dtype), labels[idx].to(seeds.device)

    def step_inputs(
        self, seeds: torch.Tensor, stream: int, step: int, t: int, batch: int, ranges: Ranges, dtype: torch.dtype
    ) -> torch.Tensor:
        return self.images_at(seeds, stream, step, t, batch, dtype)[0]  # [S, B, 64]

    def sequences(
        self, seeds: torch.Tensor, stream: int, step: int, batch: int, length: int, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole sequences and their labels: (x [S, B, T, 64], labels [S, B, T])."""
        pairs = [self.images_at(seeds, stream, step, t, batch, dtype) for t in range(length)]
        return torch.stack([p[0] for p in pairs], dim=2), torch.stack([p[1] for p in pairs], dim=2)

    def sample_inputs(
        self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges, dtype: torch.dtype
    ) -> torch.Tensor:
        """Whole sequences at ``length_for`` (training, probes): x [S, B, T, 64]."""
        return self.sequences(seeds, stream, step, batch, self.length_for(ranges), dtype)[0]

    def label_target(self, labels: torch.Tensor) -> torch.Tensor:
        """The target of label sequences [S, B, T]: [S, B, 1] float64 (sum, product or count)."""
        values = self.values.to(labels.device)[labels]  # [S, B, T]
        y = values.prod(dim=2) if self.op.name == "mul" else values.sum(dim=2)  # [S, B]
        return y[..., None]

    def masks(self, seeds: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """No subsets in digits mode: zero masks [S, 1] (the trainer asks for them all the same)."""
        zero = torch.zeros(seeds.shape[0], 1, dtype=dtype, device=seeds.device)
        return zero, zero

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
        """A training batch: (x [S, B, T, 64], y [S, B, 1]). ``out`` (a reusable buffer) is not used here."""
        x, labels = self.sequences(seeds, stream, step, batch, self.length_for(ranges), dtype)
        return x, self.label_target(labels).to(dtype)

    def describe_ranges(self, ranges: Ranges) -> str:
        return "digit images"


@dataclass
class DigitsMetrics:
    """Sums over the evaluated sequences per seed, each [S] float64."""

    sq: torch.Tensor
    abs: torch.Tensor
    rel: torch.Tensor
    correct: torch.Tensor


@torch_no_grad
def evaluate_digits(
    model: SequenceModel, task: DigitsTask, seeds: torch.Tensor, samples: int, stream: int, dtype: torch.dtype
) -> DigitsMetrics:
    """Error sums and the number of sequences whose rounded output is exact, on ``samples`` sequences per
    seed at ``task.stream_length(stream)``, one image at a time (``recurrent.stream_predictions``)."""
    s = seeds.shape[0]
    sums = [torch.zeros(s, dtype=torch.float64, device=seeds.device) for _ in range(4)]
    values = task.values.to(seeds.device)  # [10] float64
    mul = task.op.name == "mul"
    y = torch.empty(0)  # the current chunk's targets, built step by step beside the model

    def inputs(chunk: int, t: int, n: int) -> torch.Tensor:
        nonlocal y
        if t == 0:
            y = torch.full((s, n), 1.0 if mul else 0.0, dtype=torch.float64, device=seeds.device)  # [S, n]
        images, labels = task.images_at(seeds, stream, chunk, t, SEQUENCE_CHUNK, dtype)
        images, labels = images[:, :n], labels[:, :n]  # [S, n, 64], [S, n]
        y = y * values[labels] if mul else y + values[labels]
        return images

    for _, out in stream_predictions(model, samples, task.stream_length(stream), inputs):
        pred = out[..., 0]  # [S, n]
        err = pred - y
        sums[0] += (err * err).sum(dim=1)
        sums[1] += err.abs().sum(dim=1)
        sums[2] += (err.abs() / y.abs().clamp(min=1.0)).sum(dim=1)
        sums[3] += (pred.round() == y).to(torch.float64).sum(dim=1)
    return DigitsMetrics(*sums)


def training_bytes(members: int, batch: int, length: int, image_hidden: int, hidden: int, cell: str) -> int:
    """A generous estimate of the activations autograd holds for one training step (float32 words × 4)."""
    per_image = PIXELS + 3 * image_hidden + 4 * CLASSES
    per_step = per_image + 8 * hidden + (12 * hidden if cell in ("lstm", "rnn") else 0)
    return 4 * 4 * members * batch * length * per_step


def eval_bytes(members: int, image_hidden: int, hidden: int) -> int:
    """Working memory of a streaming evaluation (one image per sequence at a time), float32 words × 4."""
    return 4 * 4 * members * SEQUENCE_CHUNK * (PIXELS + 2 * image_hidden + 2 * CLASSES + 8 * hidden)


class DigitsKind(RecurrentKind):
    """Sequences of 8x8 digit images; the target is their sum, product or count (Trask 2018, section 4.2)."""

    name = "digits"
    summary = "sums/products/counts of digit images; needs nalu[digits]"
    value_ranges = False

    def problems(self, config: Any) -> list[str]:
        t, m = config.task, config.model
        units = m.units()
        problems = []
        if t.op not in DIGIT_OPS:
            problems.append(
                f"task.op: digits mode sums (add), counts (add with task.count_digit) or multiplies (mul) digits,"
                f" not {t.op!r}"
            )
        if t.count_digit is not None and t.op != "add":
            problems.append("task.count_digit: counting is a sum of indicators; use it with task.op add")
        if t.op == "mul":
            longest = max([t.length, t.extrapolation_length, *config.eval.lengths])
            if longest > MAX_PRODUCT_LENGTH:
                problems.append(
                    f"task: a product of {longest} digits (up to 9^{longest}) has no meaningful rounded value;"
                    f" digits mode multiplies sequences of at most {MAX_PRODUCT_LENGTH} images"
                    " (task.length, task.extrapolation_length, eval.lengths)"
                )
        if len(units) != 2 or len(m.hidden) > 1:
            problems.append(
                "model: a digits model is an accumulator cell and an output unit: model.unit [CELL, OUTPUT] with"
                " model.hidden [H] (the state size)"
            )
            return problems
        if units[1] in BASELINE_CELLS:
            problems.append(f"model.unit: {units[1]} is a cell, not an output unit")
        hidden = m.hidden[0] if m.hidden else 1
        members = len(config.train.seed_list()) * config.train.restarts
        need = training_bytes(members, config.train.batch_size, t.length, m.image_hidden, hidden, units[0])
        return problems + activation_budget_problems(config, need)

    def describe(self, config: Any) -> str:
        t = config.task
        what = f"count of {t.count_digit}s" if t.count_digit is not None else t.op
        return (
            f"{what} (digit images, T={t.length}→{t.extrapolation_length}) · {'+'.join(config.model.units())}"
            " · train images → test images"
        )

    def draw_numbers(self, config: Any) -> int | None:
        return None  # images are picked from a table: there is no generator worth compiling

    def task(self, config: Any) -> DigitsTask:
        t = config.task
        return make_digits_task(t.op, t.length, t.extrapolation_length, t.count_digit)


DIGITS = DigitsKind()
