"""The counter-based generator's fast paths give the reference values: the numpy CPU path, the torch (device)
path, the folded scale, and the torch.compile'd generator — each against a pure-Python reference or the
plain formula. The compiled-training guarantees are in tests/unit/training/test_compile.py."""

from __future__ import annotations

import pytest
import torch

from nalu_cli import rng
from tests.unit.tasks.test_tasks import _mix_reference

SEEDS = [0, 1, 2**31 - 1, 123456789, 7]


def _reference_bits(seeds: list[int], stream: int, step: int, n: int, offset: int = 0) -> list[list[int]]:
    """Every element's 32-bit pattern from Python integers only (key from rng._key_int, checked below)."""
    return [[_mix_reference(rng._key_int(s, stream, step) ^ (offset + i)) for i in range(n)] for s in seeds]


def test_python_keys_equal_tensor_keys() -> None:
    seeds = rng.seed_tensor(SEEDS + [2**40 + 3])
    for stream, step in [(1, 0), (3, 17), (6, 2**33 + 5)]:
        want = rng._key(seeds, stream, step).tolist()
        assert [rng._key_int(s, stream, step) for s in seeds.tolist()] == want


@pytest.mark.parametrize(("n", "offset"), [(1, 0), (33, 0), (1000, 5), (5000, 2**20)])
def test_numpy_and_torch_paths_equal_the_reference(n: int, offset: int) -> None:
    seeds = rng.seed_tensor(SEEDS)
    want = _reference_bits(SEEDS, rng.STREAM_TRAIN, 9, n, offset)
    numpy_bits = rng.random_bits(seeds, rng.STREAM_TRAIN, 9, n, offset)  # the CPU path (numpy uint32)
    assert (numpy_bits.to(torch.int64) & 0xFFFFFFFF).tolist() == want
    # the device path (int32 tensors with wrapping multiplication), run here on the CPU
    idx = torch.arange(offset, offset + n, dtype=torch.int32)[None, :]
    torch_bits = rng._mix32_(rng.keys32(seeds, rng.STREAM_TRAIN, 9) ^ idx)
    assert torch.equal(torch_bits, numpy_bits)


def test_many_seeds_take_the_tensor_key_path() -> None:
    seeds = rng.seed_tensor(list(range(rng.PYTHON_KEYS_MAX + 5)))
    got = rng.keys32(seeds, rng.STREAM_VALID, 3)[:, 0].to(torch.int64) & 0xFFFFFFFF
    assert got.tolist() == [rng._key_int(s, rng.STREAM_VALID, 3) for s in seeds.tolist()]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("affine", [None, (1.0, 0.0), (9.0, 1.0), (0.1, -0.3), (1 / 3, 2.5), (1e-3, 1e4)])
def test_folded_scale_rounds_like_the_plain_formula(dtype: torch.dtype, affine: tuple[float, float] | None) -> None:
    """uniform(..., affine) multiplies the integer by scale / 2**bits in one go; it must equal
    (k / 2**bits) * scale + shift computed step by step with torch, the formula before the speed-up."""
    seeds = rng.seed_tensor(SEEDS)
    bits = rng.random_bits(seeds, rng.STREAM_TEST, 4, 777)
    if dtype == torch.float64:
        u = (bits.to(torch.int64) & 0xFFFFFFFF).to(torch.float64) * (1.0 / 2**32)
    else:
        u = torch.bitwise_right_shift(bits, 8).bitwise_and(0xFFFFFF).to(dtype) * (1.0 / 2**24)
    want = u if affine is None else u * affine[0] + affine[1]
    assert torch.equal(rng.uniform(seeds, rng.STREAM_TEST, 4, (777,), dtype, affine), want)


def test_compiled_generator_equals_eager_and_reference() -> None:
    """torch.compile of the whole generator (one fused loop): the same bits and floats, tails included.
    Compiles two small kernels (a few seconds with inductor's cache warm)."""
    seeds = rng.seed_tensor(SEEDS)
    shape = (7, 5)  # 35 per seed: not a multiple of any vector width
    for dtype, affine in [(torch.float32, (9.0, 1.0)), (torch.float64, None)]:
        reason = rng.check_compiled(
            lambda dtype=dtype, affine=affine: rng.uniform(seeds, 1, 3, shape, dtype, affine, compiled=True),
            lambda dtype=dtype, affine=affine: rng.uniform(seeds, 1, 3, shape, dtype, affine),
        )
        if reason is not None and "torch.compile failed" in reason:
            pytest.skip(reason)  # no C++ compiler here: the fallback is tested in test_compile.py
        assert reason is None
        got = rng.uniform(seeds, 1, 3, shape, dtype, affine, compiled=True)
        bits = _reference_bits(SEEDS, 1, 3, 35)
        if dtype == torch.float64:
            want = torch.tensor(bits, dtype=torch.float64) * (1.0 / 2**32)
        else:
            want = torch.tensor([[b >> 8 for b in row] for row in bits], dtype=torch.float32) * (9.0 / 2**24) + 1.0
        assert torch.equal(got.reshape(len(SEEDS), 35), want)
        buffer = torch.full((len(SEEDS) * 35,), -1.0, dtype=dtype)  # written into a caller's buffer (trainer)
        into = rng.uniform(seeds, 1, 3, shape, dtype, affine, compiled=True, out=buffer)
        assert torch.equal(into, got) and into.data_ptr() == buffer.data_ptr()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_generator_equals_cpu(dtype: torch.dtype) -> None:
    cpu = rng.seed_tensor(SEEDS + list(range(100, 200)))
    gpu = cpu.to("cuda")
    for n, affine in [(1, None), (1000, (9.0, 1.0)), (12800, (1.0, 1.0))]:
        assert torch.equal(rng.random_bits(gpu, 1, 5, n).cpu(), rng.random_bits(cpu, 1, 5, n))
        want = rng.uniform(cpu, 1, 5, (n,), dtype, affine)
        assert torch.equal(rng.uniform(gpu, 1, 5, (n,), dtype, affine).cpu(), want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("affine", [None, (4.0, -2.0), (0.1, 1.0), (1e30, 0.0)])
@pytest.mark.parametrize("count", [1, 3, rng.PYTHON_KEYS_MAX + 3])
def test_drawing_ahead_equals_a_draw_per_step(
    dtype: torch.dtype, affine: tuple[float, float] | None, count: int
) -> None:
    """uniform_ahead's block of steps is each step's own draw, bit for bit (Python and tensor keys; the folded
    scale and, for a scale outside its range, the torch path)."""
    seeds = rng.seed_tensor([3 * i + 1 for i in range(count)])
    for shape in [(64, 2), (7, 3)]:
        block = rng.uniform_ahead(seeds, rng.STREAM_TRAIN, 2**32 - 3, 6, shape, dtype, affine)  # step crosses 2**32
        assert block.shape == (6, count, *shape) and block.dtype == dtype
        for k in range(6):
            assert torch.equal(block[k], rng.uniform(seeds, rng.STREAM_TRAIN, 2**32 - 3 + k, shape, dtype, affine))
