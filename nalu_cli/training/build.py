"""Building what a run trains: the device, the task, and the seed-batched model with its members (seeds x restarts)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nalu_cli import rng
from nalu_cli.config.schema import Config
from nalu_cli.errors import ConfigError
from nalu_cli.models import registry as models
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.models.recurrent import RecurrentModel
from nalu_cli.tasks.arithmetic import Task
from nalu_cli.tasks.ops import lookup_op
from nalu_cli.tasks.registry import kind_of
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
    inputs = kind_of(config.task.mode).draw_numbers(config)
    if inputs is None:
        return False  # the kind draws no numbers worth compiling (digit images come from a table)
    return t.steps * members * t.batch_size * inputs >= COMPILE_AUTO_NUMBERS


def build_task(config: Config) -> Task:
    """The task ``config`` trains (its kind builds it: ``tasks/registry.py``)."""
    return kind_of(config.task.mode).task(config)  # type: ignore[no-any-return]


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
    in_features = kind_of(config.task.mode).model_inputs(lookup_op(config.task.op), config.task.input_size)
    seeds = members.member_seeds(torch.device("cpu")) if member_seeds is None else member_seeds
    model = models.build(config, seeds, in_features, opts)
    dtype = torch.float64 if config.train.dtype == "float64" else torch.float32
    return model.to(device=device, dtype=dtype)  # type: ignore[return-value]
