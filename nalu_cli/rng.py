"""A counter-based random number generator: random numbers as a pure function of (seed, stream, step).

Training S seeds as one batched model needs each seed's data to be independent of which other seeds are in
the batch, identical on CPU and CUDA, and reproducible after a resume without saving generator state.
A stateful generator gives none of these for free; hashing a counter gives all three. Every value is
``hash(seed, stream, step, index)`` computed with 64-bit integer tensor arithmetic kept below 2**63
(so no overflow), then turned into a float in [0, 1).

The hash is a bijective 32-bit integer mixer applied in rounds; its quality is ample for sampling inputs.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable

import numpy as np
import torch

_M32 = 0xFFFFFFFF
_MULT = 0x45D9F3B  # < 2**31, so a 32-bit value times it stays below 2**63
_GOLDEN = 0x9E3779B9

# Named streams keep the data of different purposes apart.
STREAM_TRAIN = 1
STREAM_VALID = 2
STREAM_TEST = 3
STREAM_INIT = 4
STREAM_SUBSET = 5
STREAM_PROBE = 6
STREAM_ROWS = 7  # nalu fit's minibatch rows


def _mix(x: torch.Tensor) -> torch.Tensor:
    """One round of a bijective mixer on int64 tensors holding 32-bit values."""
    x = x ^ (x >> 16)
    x = (x * _MULT) & _M32
    x = x ^ (x >> 16)
    x = (x * _MULT) & _M32
    return x ^ (x >> 16)


def _key(seeds: torch.Tensor, stream: int, step: int) -> torch.Tensor:
    """Per-seed 32-bit keys for one (stream, step). seeds: [S] int64 -> [S] int64."""
    h = _mix((seeds & _M32) ^ _GOLDEN)
    h = _mix(h ^ ((seeds >> 32) & _M32))
    h = _mix(h ^ (stream & _M32))
    h = _mix(h ^ (step & _M32))
    return _mix(h ^ ((step >> 32) & _M32))


def _mix32_(x: torch.Tensor) -> torch.Tensor:
    """``_mix`` on int32 tensors, in place: multiplication wraps modulo 2**32 (vectorised, ~4× faster
    than int64); masks after each shift undo the sign extension. The device path (CUDA); equal to ``_mix``
    bit for bit (tests check this against a pure-Python reference)."""
    shift = torch.bitwise_right_shift  # the function is several times faster than the >> operator
    x.bitwise_xor_(shift(x, 16).bitwise_and_(0xFFFF))
    x.mul_(_MULT)
    x.bitwise_xor_(shift(x, 16).bitwise_and_(0xFFFF))
    x.mul_(_MULT)
    return x.bitwise_xor_(shift(x, 16).bitwise_and_(0xFFFF))


def _mix_np_(x: np.ndarray) -> np.ndarray:
    """``_mix`` on a uint32 array, in place: the CPU path. numpy has unsigned 32-bit integers (logical
    shifts, multiplication wrapping modulo 2**32), so a round is 8 passes instead of 11, and a call costs
    about a microsecond instead of several: 2-6× faster than the torch path on this machine."""
    x ^= x >> 16
    x *= _MULT_U32
    x ^= x >> 16
    x *= _MULT_U32
    x ^= x >> 16
    return x


_MULT_U32 = np.uint32(_MULT)


def _mix_int(x: int) -> int:
    """``_mix`` on one Python integer (32-bit value)."""
    x ^= x >> 16
    x = (x * _MULT) & _M32
    x ^= x >> 16
    x = (x * _MULT) & _M32
    return x ^ (x >> 16)


@functools.lru_cache(maxsize=4096)
def _seed_stream_int(seed: int, stream: int) -> int:
    """The first three rounds of ``_key`` (they do not depend on the step), cached."""
    h = _mix_int((seed & _M32) ^ _GOLDEN)
    h = _mix_int(h ^ ((seed >> 32) & _M32))
    return _mix_int(h ^ (stream & _M32))


def _key_int(seed: int, stream: int, step: int) -> int:
    """``_key`` for one seed in Python integers: cheaper than fifty tensor operations for a few seeds."""
    h = _mix_int(_seed_stream_int(seed, stream) ^ (step & _M32))
    return _mix_int(h ^ ((step >> 32) & _M32))


# Up to this many seeds on the CPU, keys are hashed in Python integers instead of tensor operations.
PYTHON_KEYS_MAX = 64


def _keys_np(seeds: torch.Tensor, stream: int, step: int, steps: int = 1) -> np.ndarray:
    """Per-seed keys for the CPU path, for the steps step .. step + steps - 1: [S] int64 tensor ->
    [steps * S] uint32 array, step-major."""
    if seeds.shape[0] <= PYTHON_KEYS_MAX:
        listed = seeds.tolist()
        return np.array([_key_int(s, stream, k) for k in range(step, step + steps) for s in listed], dtype=np.uint32)
    return np.concatenate([_key(seeds.cpu(), stream, k).numpy().astype(np.uint32) for k in range(step, step + steps)])


def keys32(seeds: torch.Tensor, stream: int, step: int) -> torch.Tensor:
    """Per-seed keys as int32 bit patterns (two's complement), on the seeds' device: [S] int64 -> [S, 1] int32."""
    if seeds.device.type == "cpu":
        return torch.from_numpy(_keys_np(seeds, stream, step).view(np.int32))[:, None]
    key = _key(seeds, stream, step)  # [S] int64 in [0, 2**32)
    return torch.where(key >= 2**31, key - 2**32, key).to(torch.int32)[:, None]  # [S, 1]


@functools.lru_cache(maxsize=64)
def _indices_np(offset: int, n: int) -> np.ndarray:
    """The indices offset..offset+n-1 as a read-only uint32 row [1, n] (made once per shape, not every step)."""
    idx = np.arange(offset, offset + n, dtype=np.uint32)[None, :]
    idx.flags.writeable = False
    return idx


def _bits_np(seeds: torch.Tensor, stream: int, step: int, n: int, offset: int) -> np.ndarray:
    """[S, n] uint32 patterns for indices offset..offset+n-1 (CPU)."""
    x = _indices_np(offset, n) ^ _keys_np(seeds, stream, step)[:, None]
    return _mix_np_(x)  # [S, n]


def random_bits(seeds: torch.Tensor, stream: int, step: int, n: int, offset: int = 0) -> torch.Tensor:
    """Uniform 32-bit patterns for indices offset..offset+n-1. seeds: [S] int64 -> [S, n] int32
    (read as unsigned: two's complement)."""
    if seeds.device.type == "cpu":
        return torch.from_numpy(_bits_np(seeds, stream, step, n, offset).view(np.int32))
    idx = torch.arange(offset, offset + n, dtype=torch.int32, device=seeds.device)[None, :]  # [1, n]
    return _mix32_(keys32(seeds, stream, step) ^ idx)  # [S, n]


def _unit_scale(dtype: torch.dtype, scale: float) -> float | None:
    """``scale / 2**24`` (float32: of scale rounded to float32) or ``scale / 2**32`` (float64), or None when
    that would leave the normal range. Multiplying the integer k by it rounds exactly as ``u * scale`` does:
    ``u = k / 2**bits`` is exact and scaling by a power of two is exact, so both round k·scale/2**bits once."""
    if dtype == torch.float64:
        folded = scale * (1.0 / 2**32)
    else:
        folded = struct.unpack("f", struct.pack("f", scale))[0] * (1.0 / 2**24)
    return folded if folded == 0.0 or 2.0**-120 < abs(folded) < 2.0**100 else None


def _to_unit(bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """32-bit patterns -> floats in [0, 1): 24 bits are exact in float32, float64 gets all 32."""
    if dtype == torch.float64:
        return (bits.to(torch.int64) & _M32).to(torch.float64) * (1.0 / 2**32)
    return torch.bitwise_right_shift(bits, 8).bitwise_and_(0xFFFFFF).to(dtype).mul_(1.0 / 2**24)


def _draw(
    seeds: torch.Tensor, stream: int, step: int, n: int, offset: int, dtype: torch.dtype, affine: Affine | None
) -> torch.Tensor:
    """Uniform [S, n] in one pass, mapped through ``affine``: u * scale + shift, one rounding each."""
    scale, shift = affine if affine is not None else (1.0, 0.0)
    folded = _numpy_scale(seeds, dtype, scale)
    if folded is None:
        u = _to_unit(random_bits(seeds, stream, step, n, offset), dtype)
        return u.mul_(scale).add_(shift) if affine is not None else u
    return _floats_np(_bits_np(seeds, stream, step, n, offset), dtype, folded, affine)


def _numpy_scale(seeds: torch.Tensor, dtype: torch.dtype, scale: float) -> float | None:
    """The folded scale (``_unit_scale``) when a draw takes the numpy path (CPU seeds, float32/64, the folded
    scale in the normal range), else None: the torch path."""
    if seeds.device.type != "cpu" or dtype not in (torch.float32, torch.float64):
        return None
    return _unit_scale(dtype, scale)


def _floats_np(x: np.ndarray, dtype: torch.dtype, folded: float, affine: Affine | None) -> torch.Tensor:
    """uint32 patterns [..., n] (overwritten) -> floats k / 2**bits * scale (+ shift), as ``_draw`` maps them."""
    shift = affine[1] if affine is not None else 0.0
    if dtype == torch.float64:
        v = x.astype(np.float64)
        v *= folded  # == (k / 2**32) * scale, see _unit_scale
        if affine is not None:
            v += shift
    else:
        x >>= 8  # k < 2**24: exact in float32
        v = np.multiply(x, np.float32(folded), dtype=np.float32)  # == (k / 2**24) * float32(scale), see _unit_scale
        if affine is not None:
            v += np.float32(shift)  # torch adds a Python float to a float32 tensor as float32(shift) too
    return torch.from_numpy(v)


def uniform_ahead(
    seeds: torch.Tensor, stream: int, first_step: int, steps: int, shape: tuple[int, ...], dtype: torch.dtype,
    affine: Affine | None = None,
) -> torch.Tensor:  # fmt: skip
    """``uniform`` for the steps first_step .. first_step + steps - 1 in one call: [steps, S, *shape], entry k
    equal bit for bit to ``uniform(seeds, stream, first_step + k, shape, dtype, affine)`` (every value is a
    function of (seed, stream, step, index) alone, and each float step is one rounding, elementwise).

    For small draws on the CPU, where a call's fixed cost (a dozen numpy passes, keys, conversion) is most of
    its time: a trainer drawing 128 numbers a step spends a few microseconds per step instead of 15-25."""
    n = math.prod(shape)
    s = seeds.shape[0]
    scale = affine[0] if affine is not None else 1.0
    folded = _numpy_scale(seeds, dtype, scale)
    if folded is None:
        return torch.stack([uniform(seeds, stream, first_step + k, shape, dtype, affine) for k in range(steps)])
    keys = _keys_np(seeds, stream, first_step, steps)  # [steps * S]
    x = _mix_np_(_indices_np(0, n) ^ keys[:, None])  # [steps * S, n]
    return _floats_np(x, dtype, folded, affine).view(steps, s, *shape)


Affine = tuple[float, float]  # (scale, shift): values u * scale + shift, rounded after each operation

# Elements generated per pass on the CPU: the mixer makes about a dozen passes over its array, which stay
# in cache at this size (about 2.4x faster than one pass over a [1000, 12800] batch). Values do not depend
# on the chunking: every element is a function of (seed, stream, step, index) alone.
CPU_CHUNK = 1 << 17


def uniform(
    seeds: torch.Tensor,
    stream: int,
    step: int,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    affine: Affine | None = None,
    compiled: bool = False,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Uniform floats in [0, 1), or ``u * scale + shift`` for ``affine=(scale, shift)``.
    seeds: [S] -> [S, *shape], the same values on every device and with ``compiled`` on or off.

    ``compiled`` uses one fused loop made by torch.compile (no intermediate arrays, no chunks); use
    ``check_compiled`` first to know whether it works on this platform. ``out`` (contiguous, S·n values of
    ``dtype`` on the seeds' device) is a buffer the large draws (compiled, or chunked on the CPU) write into
    and return a view of, instead of a fresh array: a trainer that draws a batch of the same shape every step
    reuses memory that is already mapped (a fresh 51 MB batch costs as much in page faults as generating it)."""
    n = 1
    for d in shape:
        n *= d
    s = seeds.shape[0]
    if out is not None and (out.numel() != s * n or out.dtype != dtype or not out.is_contiguous()):
        raise ValueError("out does not fit the draw")
    if compiled and dtype in (torch.float32, torch.float64):
        scale, shift = affine if affine is not None else (1.0, 0.0)
        buffer = torch.empty(s, n, dtype=dtype, device=seeds.device) if out is None else out.view(s, n)
        _compiled_kernel(dtype)(buffer, keys32(seeds, stream, step), n, scale, shift, affine is not None)
        return buffer.view(s, *shape)
    if seeds.device.type != "cpu" or s * n <= CPU_CHUNK:
        return _draw(seeds, stream, step, n, 0, dtype, affine).view(s, *shape)
    out = torch.empty(s, n, dtype=dtype, device=seeds.device) if out is None else out.view(s, n)  # [S, n]
    if n >= CPU_CHUNK:  # long rows: chunk along each seed's indices
        for i in range(s):
            for start in range(0, n, CPU_CHUNK):
                m = min(CPU_CHUNK, n - start)
                out[i : i + 1, start : start + m] = _draw(seeds[i : i + 1], stream, step, m, start, dtype, affine)
    else:  # short rows: chunk over seeds
        per = CPU_CHUNK // n
        for i in range(0, s, per):
            out[i : i + per] = _draw(seeds[i : i + per], stream, step, n, 0, dtype, affine)
    return out.reshape(s, *shape)


# -- the compiled generator ---------------------------------------------------------------------------
def _fused_uniform(
    key32: torch.Tensor, n: int, scale: float, shift: float, apply: bool, float64: bool, folded: float | None
) -> torch.Tensor:
    """The whole generator as one expression for torch.compile: key32 [S, 1] int32 -> [S, n] floats.

    The same integer operations as ``_mix32_`` and ``_to_unit`` (int32 multiplication wraps in the
    vectorised kernels), so the bits are identical; the float steps are the eager ones, one rounding each
    (inductor does not contract multiply-adds: ``cpp.enable_floating_point_contract_flag`` is off)."""
    x = key32 ^ torch.arange(n, dtype=torch.int32, device=key32.device)[None, :]  # [S, n]
    x = x ^ (torch.bitwise_right_shift(x, 16) & 0xFFFF)
    x = x * _MULT
    x = x ^ (torch.bitwise_right_shift(x, 16) & 0xFFFF)
    x = x * _MULT
    x = x ^ (torch.bitwise_right_shift(x, 16) & 0xFFFF)
    if float64:
        k = (x.to(torch.int64) & _M32).to(torch.float64)
    else:
        k = (torch.bitwise_right_shift(x, 8) & 0xFFFFFF).to(torch.float32)
    if folded is not None:
        u = k * folded
    else:
        u = k * (1.0 / 2**32 if float64 else 1.0 / 2**24) * scale
    if apply:
        u = u + shift
    return u


def _fused_uniform_into(
    out: torch.Tensor, key32: torch.Tensor, n: int, scale: float, shift: float, apply: bool, float64: bool,
    folded: float | None,
) -> None:  # fmt: skip
    """``_fused_uniform`` written into ``out`` [S, n] (inductor stores straight into it: one pass, no copy)."""
    out.copy_(_fused_uniform(key32, n, scale, shift, apply, float64, folded))


_KERNELS: dict[torch.dtype, Callable[..., None]] = {}


def _compiled_kernel(dtype: torch.dtype) -> Callable[..., None]:
    kernel = _KERNELS.get(dtype)
    if kernel is None:
        compiled = torch.compile(_fused_uniform_into, fullgraph=True, dynamic=False)
        float64 = dtype == torch.float64

        def kernel(out: torch.Tensor, key32: torch.Tensor, n: int, scale: float, shift: float, apply: bool) -> None:
            compiled(out, key32, n, scale, shift, apply, float64, _unit_scale(dtype, scale))

        _KERNELS[dtype] = kernel
    return kernel


def check_compiled(compiled: Callable[[], torch.Tensor], eager: Callable[[], torch.Tensor]) -> str | None:
    """Run a draw with the compiled generator (compiling it) and the same draw eagerly; compare bit for bit.

    Returns None when the compiled generator can be used, else why not (no C++ compiler, an unsupported
    platform or Python version, values that differ); the caller then stays with the eager generator."""
    try:
        got = compiled()
    except Exception as err:  # torch.compile raises many kinds (BackendCompilerFailed, RuntimeError, ...)
        _KERNELS.clear()
        text = str(err).strip()
        first = text.splitlines()[0][:160] if text else ""
        return f"torch.compile failed ({type(err).__name__}{': ' + first if first else ''})"
    if not torch.equal(got, eager()):
        _KERNELS.clear()
        return "the compiled generator did not reproduce the eager one bit for bit"
    return None


def seed_tensor(seeds: list[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """The seeds of a batched run as an int64 tensor [S]."""
    return torch.tensor(seeds, dtype=torch.int64, device=device)
