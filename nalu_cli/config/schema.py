"""Validated run configuration: recipes, presets, YAML files, command-line overrides.

Precedence, lowest first: the recipe book's entry for the task, op and units (``nalu_cli.config.recipes``), a
preset, the YAML file, then command-line overrides. Every problem is collected into one ``ConfigError`` so a user fixes them all
at once. YAML 1.1 pitfalls (``lr: 1e-3`` loads as a string, ``no`` as False) are handled by explicit
coercion: numbers written as strings are accepted, booleans are never taken for strings or numbers.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from nalu_cli.errors import ConfigError
from nalu_cli.names import ACTIVATIONS, BASELINE_CELLS, OPS, UNIT_ALIASES, UNITS
from nalu_cli.tasks.ops import Ranges, lookup_op, parse_ranges
from nalu_cli.tasks.recurrent import MAX_LENGTH
from nalu_cli.tasks.registry import KINDS, kind_of

MAX_SEED = 2**31 - 1


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'mul'?)`` when a close match exists, else an empty string."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


_NUMBER_TYPES = (int, float, int | None, float | None, list[int], list[int] | None, list[float])


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic would read ``steps: true`` as 1; a boolean where a number belongs is a mistake."""
        annotation = cls.model_fields[info.field_name].annotation if info.field_name else None
        if annotation in _NUMBER_TYPES and (
            isinstance(value, bool) or (isinstance(value, list) and any(isinstance(v, bool) for v in value))
        ):
            raise ValueError(f"expected a number, not {str(value).lower()}")
        return value


def _ranges(value: Any) -> Ranges:
    if isinstance(value, tuple) and all(isinstance(v, tuple) for v in value):
        return value
    return parse_ranges(value)


class TaskConfig(_Section):
    """What to learn: the op, the input mode and the ranges."""

    op: str = "mul"
    mode: str = "pair"  # a task kind (tasks/registry.py)
    # digits mode: count the images showing this digit (op add over indicators) instead of summing the digits
    count_digit: int | None = Field(None, ge=0, le=9)
    # program mode: the family of programs (tasks/program.py); unset, plain and conditional programs alike
    program: Literal["plain", "conditional"] | None = None
    input_size: int = Field(100, ge=4, le=100_000)
    # recurrent mode: vectors of vector_size entries, train on sequences of `length`, test on extrapolation_length
    vector_size: int = Field(10, ge=1, le=100_000)
    length: int = Field(10, ge=1, le=MAX_LENGTH)
    extrapolation_length: int = Field(1000, ge=1, le=MAX_LENGTH)
    subset_ratio: float = Field(0.25, gt=0.0, le=0.5, allow_inf_nan=False)
    overlap_ratio: float = Field(0.5, ge=0.0, lt=1.0, allow_inf_nan=False)
    interpolation: Ranges = ((1.0, 10.0),)
    extrapolation: Ranges = ((10.0, 100.0),)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode(cls, v: Any) -> str:
        if not isinstance(v, str) or v not in KINDS:
            *rest, last = (repr(name) for name in KINDS)
            raise ValueError(f"Input should be {', '.join(rest)} or {last}")
        return v

    @field_validator("op", mode="before")
    @classmethod
    def _op_is_text(cls, v: Any) -> Any:
        """A number or a YAML boolean (``op: no``) is not an op: say what an op is."""
        if isinstance(v, str):
            return v
        what = f"the boolean {str(v).lower()} (YAML reads yes/no/on/off so; quote it)" if isinstance(v, bool) else v
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            what = f"the number {v!r}"
        raise ValueError(
            f"op is {what}; an op is a name ({', '.join(OPS)}) or an expression in x0, x1, … such as x0 * x1"
        )

    @field_validator("op")
    @classmethod
    def _op(cls, v: str) -> str:
        return lookup_op(v).name  # a named op, or an expression (normalised text); ValueError names the problem

    @field_validator("interpolation", "extrapolation", mode="before")
    @classmethod
    def _parse_ranges(cls, v: Any) -> Ranges:
        return _ranges(v)

    @model_validator(mode="after")
    def _domain(self) -> TaskConfig:
        op, kind = lookup_op(self.op), kind_of(self.mode)
        problems = kind.check_domain(op, self.interpolation, "interpolation")
        problems += kind.check_domain(op, self.extrapolation, "extrapolation")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class RegularizerConfig(_Section):
    """Sparsity regulariser λ = scale · clip((t - start) / (end - start), 0, 1) (NAU, NMU)."""

    scale: float = Field(0.0, ge=0.0, le=1e6, allow_inf_nan=False)
    start: int = Field(0, ge=0)
    end: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _order(self) -> RegularizerConfig:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be before start ({self.start})")
        return self

    def weight(self, step: int) -> float:
        if self.scale == 0.0:
            return 0.0
        if self.end == self.start:
            return self.scale if step >= self.start else 0.0
        return self.scale * min(max((step - self.start) / (self.end - self.start), 0.0), 1.0)


class ReinitConfig(_Section):
    """Re-initialise a seed whose validation error stagnates (iNALU, Schlör et al. 2020); off when patience is 0.

    Checked at every logging step: a seed whose interpolation validation MSE is above ``threshold`` and has not
    improved on its best by ``min_improvement`` (relative) for ``patience`` checks gets fresh weights and a
    fresh optimiser state. Only interpolation data is used.
    """

    patience: int = Field(0, ge=0, le=1_000_000)
    threshold: float = Field(1.0, ge=0.0, allow_inf_nan=False)
    min_improvement: float = Field(0.01, ge=0.0, lt=1.0, allow_inf_nan=False)
    until: float = Field(0.8, gt=0.0, le=1.0, allow_inf_nan=False)  # fraction of steps after which no reinit


class ModelConfig(_Section):
    """The network: which unit in each layer and the hidden sizes."""

    unit: str | list[str] = "nmu"
    hidden: list[int] = Field(default_factory=list)
    activation: str = "relu"
    shared_weights: bool = True
    eps: float = Field(1e-7, gt=0.0, le=1.0, allow_inf_nan=False)
    init_range: float = Field(2.0, gt=0.0, le=100.0, allow_inf_nan=False)
    initial_state: Literal["zero", "one", "learned"] = "zero"  # recurrent/digits mode: h_0 (one: products)
    recurrent_init: Literal["identity", "random"] = "identity"  # recurrent mode: the cell's h_{t-1} block
    # recurrent mode: learning-rate multiplier of the cell's h_{t-1} -> h_t block; None: 1 / task.length
    recurrent_lr_scale: float | None = Field(None, gt=0.0, le=1.0, allow_inf_nan=False)
    # digits mode: the image network (an MLP 64 -> image_hidden -> 10, or with image_channels > 0 a tiny CNN)
    image_hidden: int = Field(64, ge=1, le=4096)
    image_channels: int = Field(0, ge=0, le=256)
    image_weight_decay: float = Field(0.0, ge=0.0, le=1.0, allow_inf_nan=False)  # added to the regulariser

    @field_validator("unit")
    @classmethod
    def _unit(cls, v: str | list[str]) -> str | list[str]:
        names = [v] if isinstance(v, str) else v
        if not names:
            raise ValueError("give at least one unit")
        problems = []
        for name in names:
            canonical = UNIT_ALIASES.get(name.lower(), name.lower())
            if canonical not in UNITS and canonical not in BASELINE_CELLS:
                problems.append(
                    f"unknown unit {name!r}{did_you_mean(name.lower(), tuple(UNITS))} (choose from {', '.join(UNITS)})"
                )
        if problems:
            raise ValueError("; ".join(problems))
        canon = [UNIT_ALIASES.get(n.lower(), n.lower()) for n in names]
        return canon[0] if isinstance(v, str) else canon

    @field_validator("hidden")
    @classmethod
    def _hidden(cls, v: list[int]) -> list[int]:
        if any(h < 1 or h > 100_000 for h in v):
            raise ValueError("hidden sizes must be between 1 and 100000")
        if len(v) > 16:
            raise ValueError("at most 16 hidden layers")
        return v

    @field_validator("activation")
    @classmethod
    def _activation(cls, v: str) -> str:
        if v not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {v!r}{did_you_mean(v, ACTIVATIONS)} (choose from {', '.join(ACTIVATIONS)})"
            )
        return v

    @model_validator(mode="after")
    def _layers(self) -> ModelConfig:
        if isinstance(self.unit, list) and len(self.unit) != len(self.hidden) + 1:
            raise ValueError(
                f"unit lists {len(self.unit)} units but hidden {self.hidden} makes {len(self.hidden) + 1} layers"
            )
        return self

    def units(self) -> list[str]:
        """One unit name per layer."""
        if isinstance(self.unit, list):
            return list(self.unit)
        return [self.unit] * (len(self.hidden) + 1)


class TrainConfig(_Section):
    """How to train: steps, optimiser, seeds, device."""

    steps: int = Field(3000, ge=1, le=10**9)
    lr: float = Field(1e-2, gt=0.0, le=100.0, allow_inf_nan=False)
    schedule: Literal["constant", "cosine"] = "cosine"
    batch_size: int = Field(64, ge=1, le=1_000_000)
    beta1: float = Field(0.9, ge=0.0, lt=1.0, allow_inf_nan=False)
    beta2: float = Field(0.999, ge=0.0, lt=1.0, allow_inf_nan=False)
    clip_grad: float | None = Field(None, gt=0.0, allow_inf_nan=False)
    # "target": divide each seed's batch MSE by its mean squared target (relative MSE; see Trainer.train_step)
    loss_scale: Literal["none", "target"] = "none"
    # Whiten the first NAU layer's gradient by the training inputs' second moments (see Trainer).
    precondition: bool = False
    precondition_damping: float = Field(0.3, gt=0.0, le=1e3, allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    seeds: list[int] | None = None
    restarts: int = Field(1, ge=1, le=100_000)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:[0-9]+)?)$")  # availability is checked at run time
    # Memory budget in GB for this run (budget.check_memory); None: $NALU_MAX_MEMORY_GB or the default.
    max_memory_gb: float | None = Field(None, gt=0.0, le=1e6, allow_inf_nan=False)
    dtype: Literal["float32", "float64"] = "float32"
    # Compile the training data generator with torch.compile: auto compiles when the run draws enough random
    # numbers to repay the compilation (see train.COMPILE_AUTO_NUMBERS); the values are bit-identical either way.
    compile: Literal["auto", "on", "off"] = "auto"
    log_every: int = Field(100, ge=1)
    valid_samples: int = Field(1000, ge=1, le=10**7)
    regularizer: RegularizerConfig = Field(default_factory=RegularizerConfig)
    reinit: ReinitConfig = Field(default_factory=ReinitConfig)
    # recurrent mode: refuse a training step whose activations (all T steps, all seeds) would exceed this
    memory_budget_mb: float = Field(4096.0, gt=0.0, allow_inf_nan=False)

    @field_validator("compile", mode="before")
    @classmethod
    def _compile(cls, v: Any) -> Any:
        """YAML 1.1 reads ``on``/``off`` as booleans; take them back as the words."""
        if isinstance(v, bool):
            return "on" if v else "off"
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        if v is None or isinstance(v, list):
            return v
        if isinstance(v, bool):
            raise ValueError("seeds must be a list of integers or a range such as 0-9")
        if isinstance(v, str):
            return parse_seeds(v)
        return v

    @field_validator("seeds")
    @classmethod
    def _seed_values(cls, v: list[int] | None) -> list[int] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("seeds must not be empty")
        if len(v) > 100_000:
            raise ValueError("at most 100000 seeds")
        if any(s < 0 or s > MAX_SEED for s in v):
            raise ValueError(f"seeds must be between 0 and {MAX_SEED}")
        if len(set(v)) != len(v):
            raise ValueError("seeds must not repeat")
        return v

    def seed_list(self) -> list[int]:
        """The seeds this run reports on."""
        return list(self.seeds) if self.seeds is not None else [self.seed]


class EvalConfig(_Section):
    """How runs are evaluated and what counts as solved."""

    samples: int = Field(10_000, ge=1, le=10**7)
    solved_eps: float = Field(1e-5, gt=0.0, lt=1.0, allow_inf_nan=False)
    ladder: list[float] = Field(default_factory=lambda: [1.0, 10.0, 100.0, 1000.0])
    lengths: list[int] = Field(default_factory=lambda: [10, 100, 1000])  # recurrent mode: the length ladder

    @field_validator("lengths")
    @classmethod
    def _lengths(cls, v: list[int]) -> list[int]:
        if not v or any(n < 1 or n > MAX_LENGTH for n in v):
            raise ValueError(f"lengths must be between 1 and {MAX_LENGTH}")
        return v

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, v: list[float]) -> list[float]:
        if not v or any(not math.isfinite(f) or f <= 0 for f in v):
            raise ValueError("ladder factors must be positive finite numbers")
        return v


class Config(_Section):
    """A whole run configuration (what ``config.yaml`` in a run directory holds)."""

    task: TaskConfig = Field(default_factory=TaskConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)

    @model_validator(mode="after")
    def _cross(self) -> Config:
        problems = kind_of(self.task.mode).problems(self)  # the task kind's own rules (tasks/registry.py)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data (ranges as lists), suitable for YAML, JSON and checkpoints."""
        data = self.model_dump(mode="python")
        if data["train"]["max_memory_gb"] is None:
            del data["train"]["max_memory_gb"]  # unset: the same config text (and sweep task keys) as before
        if data["task"]["program"] is None:
            del data["task"]["program"]  # unset (every mode but program): the same config text as before
        for key in ("interpolation", "extrapolation"):
            data["task"][key] = [list(iv) for iv in data["task"][key]]
        return data

    def describe(self) -> str:
        """The line under a command's title: op, kind, units, and the train → test split."""
        return kind_of(self.task.mode).describe(self)


def seeds_option(text: str, start: int = 0) -> list[int]:
    """``--seeds``: ``N`` (N seeds from ``start``), ``A-B`` or ``a,b,c``; the count is checked before any list
    is built, so ``--seeds 1000000000`` or ``99999999999999999999`` fails at once (``ConfigError``)."""
    from nalu_cli.config import limits

    text = text.strip()
    if text.isdigit():
        count = int(text)
        if count < 1:
            raise ConfigError("--seeds must be at least 1")
        if count > limits.MAX_SEEDS:
            raise ConfigError(f"--seeds {text}: at most {limits.MAX_SEEDS} seeds in one run")
        if start + count - 1 > MAX_SEED:
            raise ConfigError(f"--seeds {text} from seed {start}: seeds must be between 0 and {MAX_SEED}")
        return list(range(start, start + count))
    if len(text) > 20 * limits.MAX_SEEDS:
        raise ConfigError(f"--seeds: at most {limits.MAX_SEEDS} seeds in one run")
    try:
        return parse_seeds(text)
    except ValueError as err:
        raise ConfigError(f"--seeds: {err}") from None


def hidden_option(text: str) -> list[int]:
    """``--hidden``: ``2`` or ``4,4`` (empty: no hidden layer); sizes are bounded by the model config."""
    if len(text) > 1000:
        raise ConfigError("--hidden: at most 16 hidden layers")
    try:
        return [int(h) for h in text.split(",") if h.strip()]
    except ValueError:
        raise ConfigError(f"--hidden {text!r} must be integers separated by commas, such as 2 or 4,4") from None


def parse_seeds(text: str) -> list[int]:
    """``"5"`` -> [5]; ``"0-9"`` -> 0..9; ``"1,3,7"`` -> [1, 3, 7]; ``"0-2,7,9-10"`` -> [0, 1, 2, 7, 9, 10].

    Seeds are non-negative, in the order written. The count is checked before any list is built, so a spec
    of more than ``limits.MAX_SEEDS`` seeds fails at once however few characters it has (``ValueError``)."""
    from nalu_cli.config import limits

    text = text.strip()
    try:
        bounds = [_seed_part(part) for part in text.split(",") if part.strip()] if "," in text else [_seed_part(text)]
    except ValueError as err:
        if "seed" in str(err):
            raise
        raise ValueError(f"seeds {text!r} must be N, A-B or a,b,c (non-negative integers)") from None
    if sum(hi - lo + 1 for lo, hi in bounds) > limits.MAX_SEEDS:
        raise ValueError(f"at most {limits.MAX_SEEDS} seeds")
    return [seed for lo, hi in bounds for seed in range(lo, hi + 1)]


SHORT_SEED_LIST = 16  # at most this many seeds are stored as a YAML list; more as a spec string (seeds_spec)


def _seed_part(part: str) -> tuple[int, int]:
    """``"7"`` -> (7, 7); ``"0-9"`` -> (0, 9) (``ValueError``: not a number or a range, or a backwards range)."""
    part = part.strip()
    if "-" not in part:
        seed = int(part)
        return seed, seed
    lo, hi = (int(p) for p in part.split("-", 1))
    if hi < lo:
        raise ValueError(f"seed range {part!r} runs backwards")
    return lo, hi


def seeds_spec(seeds: list[int]) -> list[int] | str:
    """The shortest exact spelling of a seed list as stored (``config.yaml``, a checkpoint's config).

    At most ``SHORT_SEED_LIST`` seeds stay a list (the spelling nalu always wrote); more are a string that
    ``parse_seeds`` reads back to the same list in the same order: one ascending run of consecutive seeds
    is ``"A-B"`` (``--seeds 100000`` is ``"0-99999"``), anything else its runs joined by commas, a run of
    three or more seeds as ``A-B`` (``"0-9,20,30-39"``). So 100,000 seeds take a few bytes, never 1 MB.
    """
    if len(seeds) <= SHORT_SEED_LIST:
        return list(seeds)
    parts: list[str] = []
    start = 0
    for i in range(1, len(seeds) + 1):
        if i < len(seeds) and seeds[i] == seeds[i - 1] + 1:
            continue
        lo, hi = seeds[start], seeds[i - 1]
        if i - start >= 3:
            parts.append(f"{lo}-{hi}")
        else:
            parts.extend(str(s) for s in seeds[start:i])
        start = i
    return ",".join(parts)


def stored_form(data: dict[str, Any]) -> dict[str, Any]:
    """A config's plain data (``Config.to_dict``) as a run stores it: ``train.seeds`` spelt by ``seeds_spec``.

    ``Config.to_dict`` keeps the expanded list (sweep task keys and JSON are built from it); only what is
    written to disk takes the compact spelling. Data that is not a config with a seed list is returned as is.
    """
    train = data.get("train")
    if not isinstance(train, dict) or not isinstance(train.get("seeds"), list):
        return data
    seeds = train["seeds"]
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        return data
    return {**data, "train": {**train, "seeds": seeds_spec(seeds)}}
