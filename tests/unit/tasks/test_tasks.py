"""Tasks: ops, ranges, seeded sampling, static subsets and the near-perfect threshold."""

from __future__ import annotations

import pytest
import torch

from nalu_cli import rng
from nalu_cli.errors import ConfigError
from nalu_cli.tasks.ops import OPS, format_ranges, parse_ranges, scale_ranges
from nalu_cli.tasks.registry import make_task


def task(op: str = "mul", mode: str = "pair", interp: object = "1,10", extrap: object = "10,100"):
    return make_task(op, mode, 100, 0.25, 0.5, parse_ranges(interp), parse_ranges(extrap))


def test_parse_ranges_forms() -> None:
    assert parse_ranges("1,2") == ((1.0, 2.0),)
    assert parse_ranges("2,6;-6,-2") == ((-6.0, -2.0), (2.0, 6.0))
    assert parse_ranges([1, 2]) == ((1.0, 2.0),)
    assert parse_ranges([[-6, -2], [2, 6]]) == ((-6.0, -2.0), (2.0, 6.0))
    assert format_ranges(parse_ranges("-6,-2;2,6")) == "U[-6,-2] ∪ U[2,6]"
    assert scale_ranges(((1.0, 2.0),), 10) == ((10.0, 20.0),)


@pytest.mark.parametrize("bad", ["2,1", "1,1", "1", "a,b", "", [1], [[1, 2], [1.5, 3]], "1,inf", True, None])
def test_parse_ranges_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_ranges(bad)


def test_ops_compute_reference_values() -> None:
    a, b = torch.tensor([6.0]), torch.tensor([3.0])
    expected = {"add": 9, "sub": 3, "mul": 18, "div": 2, "square": 36, "sqrt": 6**0.5, "identity": 6}
    assert set(expected) == set(OPS)
    for name, value in expected.items():
        assert float(OPS[name].fn(a, b)) == pytest.approx(value)


@pytest.mark.parametrize(
    ("op", "mode", "interp", "message"),
    [
        ("sqrt", "pair", "-1,1", "sqrt needs non-negative"),
        ("div", "pair", "-1,1", "0 outside the range"),
        ("div", "static", "-2,-1;1,2", "one sign"),
        ("mull", "pair", "1,2", "unknown op"),
    ],
)
def test_impossible_tasks_are_config_errors(op: str, mode: str, interp: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        task(op, mode, interp, "2,3")


def test_same_seed_same_batches_and_seeds_independent() -> None:
    t = task()
    seeds = rng.seed_tensor([3, 7, 11])
    x1, y1 = t.batch(seeds, rng.STREAM_TRAIN, 5, 32, t.interpolation, torch.float32)
    x2, y2 = t.batch(seeds, rng.STREAM_TRAIN, 5, 32, t.interpolation, torch.float32)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    alone, _ = t.batch(rng.seed_tensor([7]), rng.STREAM_TRAIN, 5, 32, t.interpolation, torch.float32)
    assert torch.equal(alone[0], x1[1])  # seed 7's data does not depend on its neighbours
    other_step, _ = t.batch(seeds, rng.STREAM_TRAIN, 6, 32, t.interpolation, torch.float32)
    assert not torch.equal(other_step, x1)
    assert not torch.equal(x1[0], x1[1])
    assert torch.equal(y1[..., 0], x1[..., 0] * x1[..., 1])


def test_union_sampling_stays_inside_and_is_proportional() -> None:
    t = task("add", "pair", "-6,-2;2,10", "20,30")
    x = t.sample_inputs(rng.seed_tensor([0]), rng.STREAM_TRAIN, 0, 20000, t.interpolation, torch.float32)
    inside = ((x >= -6) & (x < -2)) | ((x >= 2) & (x < 10))
    assert bool(inside.all())
    frac_neg = float((x < 0).float().mean())
    assert frac_neg == pytest.approx(4 / 12, abs=0.02)  # lengths 4 and 8
    u = rng.uniform(rng.seed_tensor([0, 1]), rng.STREAM_TRAIN, 0, (100000,), torch.float32)
    assert float(u.min()) >= 0 and float(u.max()) < 1
    assert float(u.mean()) == pytest.approx(0.5, abs=0.01)
    assert float(u.var()) == pytest.approx(1 / 12, abs=0.002)


def test_static_mode_subsets() -> None:
    t = task("add", "static", "1,2", "2,6")
    seeds = rng.seed_tensor([0, 1, 2, 3])
    mask_a, mask_b = t.masks(seeds, torch.float32)
    assert mask_a.shape == (4, 100)
    assert torch.equal(mask_a.sum(1), torch.full((4,), 25.0))
    assert torch.equal(mask_b.sum(1), torch.full((4,), 25.0))
    overlap = (mask_a * mask_b).sum(1)
    assert torch.equal(overlap, torch.full((4,), 12.0))  # round(25 * 0.5)
    x, y = t.batch(seeds, rng.STREAM_TRAIN, 0, 8, t.interpolation, torch.float32)
    a = (x * mask_a[:, None]).sum(-1)
    b = (x * mask_b[:, None]).sum(-1)
    assert torch.allclose(y[..., 0], a + b)


@pytest.mark.parametrize("mode", ["static", "pair"])
def test_targets_of_a_seed_are_the_same_floats_in_any_batch(mode: str) -> None:
    """The subset sums (static: selection @ x^T; pair: x0, x1 themselves) do not depend on the other seeds."""
    t = task("mul", mode, "1,2", "2,6")
    seeds = rng.seed_tensor(list(range(40, 57)))  # 17 seeds
    selection = t.selection(t.masks(seeds, torch.float32), torch.float32)  # [S, 2, I]
    x, y = t.batch(seeds, rng.STREAM_TRAIN, 3, 128, t.interpolation, torch.float32, selection)
    for start, count in [(0, 1), (8, 1), (16, 1), (3, 2), (5, 9)]:
        part = slice(start, start + count)
        _, y_part = t.batch(seeds[part], rng.STREAM_TRAIN, 3, 128, t.interpolation, torch.float32, selection[part])
        assert torch.equal(y_part, y[part]), (start, count)
    a, b = t.operands(x, t.masks(seeds, torch.float32))  # the mask pair gives what the precomputed selection gives
    assert torch.equal(t.op.fn(a, b), y)
    if mode == "pair":
        assert torch.equal(y, x[..., 0:1] * x[..., 1:2])


@pytest.mark.parametrize(
    ("op", "mode", "interp", "ahead_targets"),
    [("mul", "pair", "1,2", True), ("div", "pair", "-6,-2;2,10", True), ("mul", "static", "1,2", False)],
)
def test_batches_ahead_equal_a_batch_per_step(op: str, mode: str, interp: str, ahead_targets: bool) -> None:
    """A block of steps' inputs (and, in pair mode, targets) is each step's own batch, bit for bit."""
    t = task(op, mode, interp, "20,30")
    seeds = rng.seed_tensor([5, 0, 9])
    selection = t.selection(t.masks(seeds, torch.float32), torch.float32)
    x_ahead, y_ahead = t.batches_ahead(seeds, rng.STREAM_TRAIN, 40, 5, 16, t.interpolation, torch.float32)
    assert x_ahead.shape == (5, 3, 16, t.input_size) and (y_ahead is not None) is ahead_targets
    for k in range(5):
        x, y = t.batch(seeds, rng.STREAM_TRAIN, 40 + k, 16, t.interpolation, torch.float32, selection)
        assert torch.equal(x_ahead[k], x)
        assert torch.equal(y_ahead[k] if y_ahead is not None else t.target(x_ahead[k], selection), y)


def test_near_perfect_threshold_is_positive_and_scales() -> None:
    for op in ("add", "sub", "mul", "div", "square", "sqrt", "identity"):
        t = task(op)
        seeds = rng.seed_tensor([0])
        masks = t.masks(seeds, torch.float32)
        x_small = t.sample_inputs(seeds, rng.STREAM_TEST, 0, 1000, t.interpolation, torch.float32)
        x_big = t.sample_inputs(seeds, rng.STREAM_TEST, 0, 1000, t.extrapolation, torch.float32)
        small = float(t.near_perfect_mse(x_small, masks, 1e-5)[0])
        big = float(t.near_perfect_mse(x_big, masks, 1e-5)[0])
        assert 0 < small < big, op


def _mix_reference(x: int) -> int:
    """The generator's mixer in plain Python integers (mod 2**32), independent of torch."""
    m = 0x45D9F3B
    x ^= x >> 16
    x = (x * m) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * m) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_int32_generator_matches_pure_python_reference() -> None:
    """The fast int32 path relies on wrapping multiplication; check it bit for bit, tails included."""
    seeds = rng.seed_tensor([0, 1, 2**31 - 1, 123456789])
    for n in (1, 7, 33, 1000):
        bits = rng.random_bits(seeds, rng.STREAM_TRAIN, 17, n).to(torch.int64) & 0xFFFFFFFF
        keys = rng._key(seeds, rng.STREAM_TRAIN, 17).tolist()
        for s, key in enumerate(keys):
            expected = [_mix_reference(key ^ i) for i in range(n)]
            assert bits[s].tolist() == expected


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_generation_equals_one_pass(monkeypatch: pytest.MonkeyPatch, dtype: torch.dtype) -> None:
    """The CPU generator works in cache-sized chunks (over seeds, or along long rows); the values must be
    those of one pass, so batching and resuming never depend on the chunking."""
    seeds = rng.seed_tensor(list(range(37)))
    whole = {shape: rng.uniform(seeds, rng.STREAM_TRAIN, 5, shape, dtype) for shape in [(8, 10), (1000,), (3, 333)]}
    for chunk in (64, 100, 999):
        monkeypatch.setattr(rng, "CPU_CHUNK", chunk)
        for shape, want in whole.items():
            assert torch.equal(rng.uniform(seeds, rng.STREAM_TRAIN, 5, shape, dtype), want), (chunk, shape)
        for shape, want in whole.items():  # written into a caller's buffer: the same values, in that buffer
            buffer = torch.full((37 * want[0].numel(),), -1.0, dtype=dtype)
            got = rng.uniform(seeds, rng.STREAM_TRAIN, 5, shape, dtype, out=buffer)
            assert torch.equal(got, want) and got.data_ptr() == buffer.data_ptr(), (chunk, shape)
    with pytest.raises(ValueError, match="out"):
        rng.uniform(seeds, rng.STREAM_TRAIN, 5, (8, 10), dtype, out=torch.empty(5, dtype=dtype))
    # and offsets address the same stream: the second half of a row is the row's second half
    full = rng.random_bits(seeds, rng.STREAM_TRAIN, 9, 50)
    assert torch.equal(rng.random_bits(seeds, rng.STREAM_TRAIN, 9, 20, offset=30), full[:, 30:])
