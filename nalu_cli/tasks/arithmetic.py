"""The pair and static tasks: seeded synthetic batches whose target is op(a, b) of two subset sums."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from nalu_cli.errors import ConfigError
from nalu_cli.lazy import lazy_import
from nalu_cli.tasks.expressions import Expression
from nalu_cli.tasks.kind import EVAL_CHUNK, Kind, RangeMetrics, named_expression, subset_problem
from nalu_cli.tasks.ops import Op, Ranges, lookup_op

if TYPE_CHECKING:
    import torch

    from nalu_cli import rng
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())
    rng = lazy_import("nalu_cli.rng", globals())


Masks: TypeAlias = (
    "tuple[torch.Tensor, torch.Tensor] | torch.Tensor"  # (mask_a, mask_b) [S, I] each, or Task.selection [S, 2, I]
)


@dataclass(frozen=True)
class Task:
    """A synthetic arithmetic task. All sampling is a pure function of (seed, stream, step)."""

    op: Op
    mode: str
    input_size: int
    subset_ratio: float
    overlap_ratio: float
    interpolation: Ranges
    extrapolation: Ranges
    # Streams whose inputs come from the compiled generator (same values; see rng.check_compiled). The trainer
    # compiles the training stream only: evaluation draws are rare and of other shapes (no recompiles).
    compiled_streams: frozenset[int] = field(default=frozenset(), kw_only=True)  # keyword-only: subclasses add fields

    def masks(self, seeds: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Selection vectors of a and b. seeds: [S] -> (mask_a [S, I], mask_b [S, I]), entries 0 or 1."""
        n = self.input_size
        s = seeds.shape[0]
        idx = torch.arange(n, device=seeds.device)[None, :]  # [1, I]
        if self.mode == "pair":
            start_a = torch.zeros(s, 1, dtype=torch.int64, device=seeds.device)
            start_b = start_a + 1
            size = 1
        else:
            size = max(1, round(n * self.subset_ratio))
            overlap = round(size * self.overlap_ratio)
            span = 2 * size - overlap
            bits = rng.random_bits(seeds, rng.STREAM_SUBSET, 0, 1).to(torch.int64) & 0xFFFFFFFF  # [S, 1]
            start_a = bits % (n - span + 1)  # [S, 1]
            start_b = start_a + size - overlap
        mask_a = ((idx >= start_a) & (idx < start_a + size)).to(dtype)  # [S, I]
        mask_b = ((idx >= start_b) & (idx < start_b + size)).to(dtype)  # [S, I]
        return mask_a, mask_b

    def sample_inputs(
        self, seeds: torch.Tensor, stream: int, step: int, batch: int, ranges: Ranges, dtype: torch.dtype
    ) -> torch.Tensor:
        """Inputs drawn uniformly from the union of ``ranges``. -> x [S, B, I]."""
        return self._draw_inputs(seeds, stream, step, batch, ranges, dtype, None)

    @property
    def draws_into_buffer(self) -> bool:
        """Whether ``batch`` can draw into a reusable buffer: tasks that draw their own way (recurrent
        sequences, digit images) override ``sample_inputs`` and leave ``out`` unused."""
        return type(self).sample_inputs is Task.sample_inputs

    def _draw_inputs(
        self,
        seeds: torch.Tensor,
        stream: int,
        step: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
        out: torch.Tensor | None,
        ahead: int | None = None,
    ) -> torch.Tensor:
        """``sample_inputs``; ``out``: a buffer of S·B·I values that large draws may write into
        (``rng.uniform``), the result then a view of it, valid until the buffer's next use. ``ahead``: the
        inputs of that many steps from ``step`` on, [ahead, S, B, I] (``rng.uniform_ahead``)."""
        shape = (batch, self.input_size)
        compiled = stream in self.compiled_streams

        def uniform(affine: rng.Affine | None, out: torch.Tensor | None) -> torch.Tensor:
            if ahead is not None:
                return rng.uniform_ahead(seeds, stream, step, ahead, shape, dtype, affine)  # [K, S, B, I]
            return rng.uniform(seeds, stream, step, shape, dtype, affine, compiled, out)  # [S, B, I]

        if len(ranges) == 1:  # u * (hi - lo) + lo, applied while the generator's values are in cache
            lo, hi = ranges[0]
            return uniform((hi - lo, lo), out)  # [(K,) S, B, I]
        u = uniform(None, None)  # [(K,) S, B, I]
        total = float(torch.tensor([hi - lo for lo, hi in ranges], dtype=torch.float64).sum())
        # Map u onto the concatenated intervals, so each is hit in proportion to its length.
        t = u.to(torch.float64) * total  # [S, B, I]
        x = torch.empty_like(t)
        start = 0.0
        for i, (lo, hi) in enumerate(ranges):
            end = total if i == len(ranges) - 1 else start + (hi - lo)
            inside = (t >= start) & (t < end) if i < len(ranges) - 1 else t >= start
            x = torch.where(inside, lo + (t - start), x)
            start = end
        return x.clamp(ranges[0][0], ranges[-1][1]).to(dtype)

    def operands(self, x: torch.Tensor, masks: Masks) -> tuple[torch.Tensor, torch.Tensor]:
        """a, b from inputs. x: [S, B, I], masks [S, I] (or ``selection(masks)``) -> a, b [S, B, 1].

        ``selection(masks)`` holds 0/1 entries, so in pair mode a and b are x0 and x1 themselves (the product
        with the selection gives the same floats). The static task's subset sums are the product
        selection [S, 2, I] @ x^T: 2-4x faster than x @ selection^T for two columns, and a seed's sums are the
        same floats whatever the batch of seeds (tests/unit/tasks/test_tasks.py); they are summed in another order than
        before 2026-11-30 (README, "Reproducibility and speed")."""
        if isinstance(masks, torch.Tensor):
            selection = masks  # [S, 2, I], entries 0 or 1
            if self.mode == "pair":
                return x[..., 0:1], x[..., 1:2]
        else:
            selection = self.selection(masks, x.dtype)  # [S, 2, I]
        if self.mode == "static":
            ab = torch.bmm(selection, x.transpose(1, 2))  # [S, 2, B]
            return ab[:, 0, :, None], ab[:, 1, :, None]
        ab = torch.bmm(x, selection.transpose(1, 2).contiguous())  # [S, B, 2]
        return ab[..., 0:1], ab[..., 1:2]

    @staticmethod
    def selection(masks: tuple[torch.Tensor, torch.Tensor], dtype: torch.dtype) -> torch.Tensor:
        """Both masks as one matrix (a trainer computes it once instead of every step): [S, 2, I]."""
        return torch.stack(masks, dim=1).to(dtype)

    def target(self, x: torch.Tensor, masks: Masks) -> torch.Tensor:
        """op(a, b), or the expression of x. x: [S, B, I] -> y [S, B, 1]."""
        if self.op.expression is not None:
            return self.op.expression.evaluate(x)
        a, b = self.operands(x, masks)
        return self.op.fn(a, b)

    @property
    def operands_are_products(self) -> bool:
        """Whether a and b are ``selection @ x`` (the static task's subset sums): a trainer may then compute them
        in its first linear layer's product (``ArithmeticModel.forward_with_riders``) and call ``target_of``."""
        return self.mode == "static" and self.op.expression is None

    def target_of(self, ab: torch.Tensor) -> torch.Tensor:
        """op(a, b) from the operands side by side: ab [S, B, 2] -> y [S, B, 1]."""
        return self.op.fn(ab[..., 0:1], ab[..., 1:2])

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
        """MSE, MAE, relative error and solved flag per seed on ``samples`` inputs from ``ranges``, drawn in
        chunks of ``EVAL_CHUNK``; ``model(x)`` [S, n, 1]. ``threshold`` [S]: the near-perfect MSE of an earlier
        call with the same arguments (it depends on the data alone), or None to compute it. Call under
        ``torch.no_grad`` (``training.evaluate.evaluate_range``)."""
        masks = self.masks(seeds, dtype)
        s = seeds.shape[0]
        sq = torch.zeros(s, dtype=torch.float64, device=seeds.device)
        ab = torch.zeros_like(sq)
        rel = torch.zeros_like(sq)
        thr = torch.zeros_like(sq)
        done = 0
        chunk_index = 0
        while done < samples:
            n = min(EVAL_CHUNK, samples - done)
            x = self.sample_inputs(seeds, stream, chunk_index, EVAL_CHUNK, ranges, dtype)[:, :n]  # [S, n, I]
            y = self.target(x, masks).to(torch.float64)  # [S, n, 1]
            pred = model(x).to(torch.float64)  # [S, n, 1]
            err = pred - y
            sq += (err * err).sum(dim=(1, 2))
            ab += err.abs().sum(dim=(1, 2))
            rel += (err.abs() / y.abs().clamp(min=1e-12)).sum(dim=(1, 2))
            if threshold is None:
                thr += self.near_perfect_mse(x, masks, solved_eps) * n
            done += n
            chunk_index += 1
        mse, mae, rel_err = sq / samples, ab / samples, rel / samples
        if threshold is None:
            threshold = thr / samples
        solved = torch.isfinite(mse) & (mse < threshold)
        return RangeMetrics(ranges, mse, mae, rel_err, threshold, solved)

    @property
    def kind(self) -> Kind:
        """The kind this task is (``tasks/registry.py``)."""
        return PAIR if self.mode == "pair" else STATIC

    def batch(
        self,
        seeds: torch.Tensor,
        stream: int,
        step: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
        masks: Masks | None = None,
        out: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch per seed: (x [S, B, I], y [S, B, 1]); ``out`` as in ``draw``."""
        if masks is None:
            masks = self.masks(seeds, dtype)
        x = self.draw(seeds, stream, step, batch, ranges, dtype, out)
        return x, self.target(x, masks)

    def batches_ahead(
        self,
        seeds: torch.Tensor,
        stream: int,
        first_step: int,
        steps: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The batches of ``steps`` consecutive steps in one call, for a task that draws uniform inputs
        (``draws_into_buffer``): x [K, S, B, I], entry k equal to ``draw`` at step first_step + k bit for bit,
        and their targets [K, S, B, 1] where a target is a function of its own row alone (pair mode: op(x0, x1),
        correctly rounded elementwise whatever the array's shape), else None (``target`` per step then: the
        subset sums are products whose rounding may depend on the batch's shape)."""
        x = self._draw_inputs(seeds, stream, first_step, batch, ranges, dtype, None, ahead=steps)  # [K, S, B, I]
        if self.mode == "pair" and self.op.expression is None:
            return x, self.target_of(x[..., 0:2])  # a, b = x0, x1: [K, S, B, 1]
        return x, None

    def draw(
        self,
        seeds: torch.Tensor,
        stream: int,
        step: int,
        batch: int,
        ranges: Ranges,
        dtype: torch.dtype,
        out: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``sample_inputs``, written into ``out`` (a reusable buffer of S·B·I values) where the task draws
        uniform inputs; the result is then a view of it, valid until the buffer's next use. -> x [S, B, I]."""
        if out is not None and self.draws_into_buffer:
            return self._draw_inputs(seeds, stream, step, batch, ranges, dtype, out)
        return self.sample_inputs(seeds, stream, step, batch, ranges, dtype)  # a task that draws its own way

    def near_perfect_mse(self, x: torch.Tensor, masks: tuple[torch.Tensor, torch.Tensor], eps: float) -> torch.Tensor:
        """MSE of a nearly perfect model (SPEC section 4), per seed: [S].

        The exact two-layer solution selects a and b with weights 1 on their subset and 0 elsewhere,
        then applies the op to them with output weights 1. The nearly perfect model moves every one of
        those weights by ``eps`` toward the wrong value: selection weights to 1 - eps and eps, output
        weights to 1 - eps, giving op((1 - eps) a_eps, (1 - eps) b_eps). Computed in float64 so the
        threshold itself is not rounding noise.
        """
        x64 = x.to(torch.float64)
        if self.op.expression is not None:  # the same construction over the expression's tree (expr.py)
            y_exact = self.op.expression.evaluate(x64)  # [S, B, 1]
            y_near = self.op.expression.near_perfect(x64, eps)  # [S, B, 1]
            return ((y_exact - y_near) ** 2).mean(dim=(1, 2))  # [S]
        mask_a, mask_b = (m.to(torch.float64) for m in masks)
        a, b = self.operands(x64, (mask_a, mask_b))
        a_eps, b_eps = self.operands(
            x64, (mask_a * (1 - eps) + (1 - mask_a) * eps, mask_b * (1 - eps) + (1 - mask_b) * eps)
        )
        y = self.op.fn(a, b)  # [S, B, 1]
        y_eps = self.op.fn(a_eps * (1 - eps), b_eps * (1 - eps))  # [S, B, 1]
        return ((y - y_eps) ** 2).mean(dim=(1, 2))  # [S]


def checked_op(kind: Kind, name: str, interpolation: Ranges, extrapolation: Ranges) -> Op:
    """The op ``name`` if it is defined on both ranges for ``kind``; ``ConfigError`` lists every problem."""
    try:
        op = lookup_op(name)
    except ValueError as err:
        raise ConfigError([str(err)]) from None
    problems = kind.check_domain(op, tuple(interpolation), "task.interpolation")
    problems += kind.check_domain(op, tuple(extrapolation), "task.extrapolation")
    if problems:
        raise ConfigError(problems)
    return op


def common_problems(config: Any) -> list[str]:
    """Settings that belong to another kind: ``task.count_digit`` (digits), a baseline cell (sequences)."""
    from nalu_cli.names import BASELINE_CELLS

    if config.task.count_digit is not None:
        return ["task.count_digit counts digit images: use it with task.mode digits"]
    baselines = [u for u in config.model.units() if u in BASELINE_CELLS]
    if baselines:
        return [f"model.unit: {baselines[0]} is a recurrent cell; use it with task.mode recurrent or digits"]
    return []


class StaticKind(Kind):
    """Trask's static task as Madsen & Johansen made it precise: a and b are sums of two overlapping subsets
    of ``input_size`` inputs."""

    name = "static"
    summary = "sums of subsets of x"

    def problems(self, config: Any) -> list[str]:
        t = config.task
        fit = subset_problem(
            "task: two subsets of {size} need {span} inputs but input_size is {total}",
            t.input_size, t.subset_ratio, t.overlap_ratio,
        )  # fmt: skip
        return fit + common_problems(config)

    def task(self, config: Any) -> Task:
        t = config.task
        op = checked_op(self, t.op, t.interpolation, t.extrapolation)
        return Task(
            op=op,
            mode=self.name,
            input_size=self.model_inputs(op, t.input_size),
            subset_ratio=t.subset_ratio,
            overlap_ratio=t.overlap_ratio,
            interpolation=tuple(t.interpolation),
            extrapolation=tuple(t.extrapolation),
        )


class PairKind(StaticKind):
    """Two inputs (x0, x1) and a = x0, b = x1; or an expression over as many inputs as it names."""

    name = "pair"
    summary = "x0, x1"
    takes_expressions = True
    sums_inputs = False

    def problems(self, config: Any) -> list[str]:
        return common_problems(config)

    def model_inputs(self, op: Op, input_size: int) -> int:
        return op.expression.n_inputs if op.expression is not None else 2

    def draw_numbers(self, config: Any) -> int | None:
        return 2

    def target_expression(self, op: Op) -> Expression | None:
        return named_expression(op)


PAIR = PairKind()
STATIC = StaticKind()
