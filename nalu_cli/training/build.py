"""Building what a run trains: the device, the task, and the seed-batched model with its members (seeds x restarts)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nalu_cli import rng
from nalu_cli.config.schema import Config
from nalu_cli.errors import ConfigError
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.models.recurrent import RecurrentModel
from nalu_cli.tasks.arithmetic import Task
from nalu_cli.tasks.ops import input_count, lookup_op
from nalu_cli.tasks.registry import make_task
from nalu_cli.units.base import UnitOptions

PROBE_SAMPLES = 256  # inputs from the interpolation range that feed gates for the formula readout
RESTART_STRIDE = 2**32  # member seed = seed + restart · 2**32; restart 0 is the seed itself
GENERATION_STRIDE = 2**52  # re-initialisation g of a member draws from member seed + g · 2**52

# train.compile = auto compiles the training-data generator when a run draws at least this many random numbers
# (steps × members × batch × inputs). Measured on the shared 2-core CPU (README, "Speed"): compiling takes
# 12-20 s (inductor's on-disk cache warm; ~50 s in a fresh environment) and saves 5-10 ns per number
# (eager 7-12 ns, compiled ~2.5 ns), so it repays itself after 2-4·10^9 numbers, a fresh compile after ~10^10.
COMPILE_AUTO_NUMBERS = 5 * 10**9


def resolve_device(name: str) -> torch.device:
    """The torch device for ``train.device``: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when available).

    A CUDA device that is not there is a ``ConfigError`` (never a silent fall-back to the CPU, which a script
    asking for a GPU would not notice).
    """
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r} must be auto, cpu, cuda or cuda:N") from None
    if device.type != "cuda":
        raise ConfigError(f"device {name!r} must be auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} is not available: this machine has no CUDA GPU that torch can use")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ConfigError(
            f"device {name!r} is not available: this machine has {count} CUDA device{'s' if count != 1 else ''}"
            f" (cuda:0{f'..cuda:{count - 1}' if count > 1 else ''})"
        )
    return device


def device_note(name: str, device: torch.device | str) -> str:
    """One line saying which device ``name`` chose, and why when it was ``auto``."""
    if name != "auto":
        return f"device: {device}"
    why = "a CUDA GPU is available" if str(device).startswith("cuda") else "no CUDA GPU is available"
    return f"device: {device} (auto: {why})"


def compile_wanted(config: Config, members: int) -> bool:
    """``train.compile``: on, off, or auto (on when the run draws at least ``COMPILE_AUTO_NUMBERS`` numbers)."""
    mode = config.train.compile
    if mode != "auto":
        return mode == "on"
    t = config.train
    if config.task.mode == "digits":
        return False  # digits mode picks images from a table: there is no generator worth compiling
    inputs = 2 if config.task.mode == "pair" else config.task.input_size
    return t.steps * members * t.batch_size * inputs >= COMPILE_AUTO_NUMBERS


def build_task(config: Config) -> Task:
    t = config.task
    if t.mode == "digits":
        from nalu_cli.tasks.digits import make_digits_task

        return make_digits_task(t.op, t.length, t.extrapolation_length, t.count_digit)
    if t.mode == "recurrent":
        return make_task(
            t.op, t.mode, t.vector_size, t.subset_ratio, t.overlap_ratio, t.interpolation, t.extrapolation,
            length=t.length, extrapolation_length=t.extrapolation_length,
        )  # fmt: skip
    return make_task(t.op, t.mode, t.input_size, t.subset_ratio, t.overlap_ratio, t.interpolation, t.extrapolation)


@dataclass
class Members:
    """The layout of a batched run: N seeds × K restarts."""

    seeds: list[int]
    restarts: int

    @property
    def count(self) -> int:
        return len(self.seeds) * self.restarts

    def task_seeds(self, device: torch.device) -> torch.Tensor:
        """Seed of the task each member learns: [M] int64."""
        return rng.seed_tensor([s for s in self.seeds for _ in range(self.restarts)], device)

    def member_seeds(self, device: torch.device) -> torch.Tensor:
        """Seed of each member's initialisation and batches: [M] int64."""
        return rng.seed_tensor([s + k * RESTART_STRIDE for s in self.seeds for k in range(self.restarts)], device)


def build_model(
    config: Config, members: Members, device: torch.device, member_seeds: torch.Tensor | None = None
) -> ArithmeticModel | RecurrentModel:
    """The batched model of ``members`` (or of explicit ``member_seeds`` [M]), initialised from the seeds."""
    m = config.model
    opts = UnitOptions(eps=m.eps, shared_weights=m.shared_weights, init_range=m.init_range, mlp_activation=m.activation)
    in_features = input_count(lookup_op(config.task.op), config.task.mode, config.task.input_size)
    seeds = members.member_seeds(torch.device("cpu")) if member_seeds is None else member_seeds
    model: ArithmeticModel | RecurrentModel
    if config.task.mode == "digits":
        from nalu_cli.models.digits import DigitsModel
        from nalu_cli.tasks.digits import class_values

        model = DigitsModel(  # type: ignore[assignment]
            seeds, m.units(), m.hidden[0] if m.hidden else 1, m.image_hidden,
            class_values(config.task.count_digit), opts, m.initial_state, m.recurrent_init, m.image_channels,
            m.image_weight_decay,
        )  # fmt: skip
    elif config.task.mode == "recurrent":
        hidden = m.hidden[0] if m.hidden else 2
        model = RecurrentModel(
            seeds, config.task.vector_size, m.units(), hidden, opts, m.initial_state, m.recurrent_init
        )
    else:
        model = ArithmeticModel(seeds, in_features, m.units(), m.hidden, opts)
    dtype = torch.float64 if config.train.dtype == "float64" else torch.float32
    return model.to(device=device, dtype=dtype)
