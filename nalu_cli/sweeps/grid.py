"""Grid files: the YAML a sweep reads, validated with every problem reported at once."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nalu_cli.config import budget, limits, loading
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as cfgmod
from nalu_cli.config.kinds import column_names
from nalu_cli.config.recipes import GRID_DEFAULTS, RANGE_SETS
from nalu_cli.errors import ConfigError
from nalu_cli.names import BASELINE_CELLS
from nalu_cli.sweeps.benchmark import (
    RELATIVE_TO_RANDOM,
    STACKS,
    Cell,
    cell_config,
    columns,
    default_grid,
    parse_range_sets,
    preset_for,
    presets_refused,
    range_text,
)
from nalu_cli.sweeps.benchmark import grid as cells_of
from nalu_cli.tasks.ops import OPS, parse_ranges

TASK_FORMAT = "nalu-sweep-task"
TASK_VERSION = 1  # part of every task key: bump it when a task's results would change for the same config

# The defaults of a grid's keys are the recipe book's (config.recipes.GRID_DEFAULTS), shared with `nalu benchmark`.
GRID_KEYS = (
    "preset", "ops", "units", "ranges", "seeds", "seed_block", "steps", "restarts", "tuned", "set", "max_tasks",
)  # fmt: skip
# Keys the grid itself decides in every task; `set:` may not change them.
GRID_OWNED = {
    "task.op": "ops",
    "model.unit": "units",
    "model.hidden": "units",
    "train.steps": "steps",
    "train.seed": "seeds",
    "train.seeds": "seeds",
    "train.restarts": "restarts",
    "task.interpolation": "ranges",
    "task.extrapolation": "ranges",
}


# -- the grid ------------------------------------------------------------------------------------------


def _default(key: str) -> Any:
    return field(default_factory=lambda: GRID_DEFAULTS[key])


@dataclass(frozen=True)
class Grid:
    """A validated grid, of a sweep or of ``nalu benchmark``. ``ranges`` None means the preset's own range
    pair; ``steps`` and ``restarts`` None, each cell's recipe's. Defaults: the recipe book's grid defaults."""

    ops: list[str]
    units: list[str]
    preset: str | None = _default("preset")
    ranges: list[tuple[str, str]] | None = None
    seeds: int = _default("seeds")
    seed_block: int = _default("seed_block")
    steps: int | None = _default("steps")
    restarts: int | None = _default("restarts")
    tuned: bool = _default("tuned")
    overrides: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data in the YAML file's own keys."""
        return {
            "preset": self.preset,
            "ops": list(self.ops),
            "units": list(self.units),
            "ranges": None if self.ranges is None else [list(p) for p in self.ranges],
            "seeds": self.seeds,
            "seed_block": self.seed_block,
            "steps": self.steps,
            "restarts": self.restarts,
            "tuned": self.tuned,
            "set": dict(self.overrides),
        }

    def blocks(self) -> list[list[int]]:
        """Seeds 0..seeds-1 cut into blocks of ``seed_block`` (the last one may be shorter)."""
        return [list(range(s, min(s + self.seed_block, self.seeds))) for s in range(0, self.seeds, self.seed_block)]

    def describe(self) -> str:
        """One line: the grid's size and training length."""
        steps = "each cell's recipe steps" if self.steps is None else f"{self.steps} steps"
        return (
            f"{len(self.ops)} ops × {len(self.units)} units × {len(self.ranges or [None])} range pairs,"
            f" {self.seeds} seeds in blocks of {self.seed_block}, {steps}"
        )


def benchmark_grid(
    ops: list[str] | None = None,
    units: list[str] | None = None,
    preset: str | None = None,
    seeds: int | None = None,
    steps: int | None = None,
    restarts: int | None = None,
    ranges: list[str] | None = None,
    tuned: bool | None = None,
    overrides: dict[str, Any] | None = None,
) -> Grid:
    """The grid of ``nalu benchmark`` with these options: each None is the recipe book's default (the same
    table a grid file's missing keys come from), and every cell's seeds are one block, trained as one model.
    ``ranges`` are the option's values (set names or ``INTERP:EXTRAP``). Cells are checked by ``plan``."""
    extra = dict(overrides or {})
    chosen = preset_for(preset, extra)
    default_ops, default_units = default_grid(chosen, extra)
    count = GRID_DEFAULTS["seeds"] if seeds is None else seeds
    pairs = parse_range_sets(ranges)
    # as in a grid file, a cell is listed once (two of them would be one cell's seeds reported twice)
    twice = [
        f"--{name} lists {', '.join(sorted({v for v in values if values.count(v) > 1}))} twice"
        for name, values in (
            ("ops", list(ops or [])),
            ("units", list(units or [])),
            ("ranges", [f"{i}:{e}" for i, e in pairs or []]),
        )
        if len(set(values)) != len(values)
    ]
    if twice:
        raise ConfigError(twice)
    return Grid(
        ops=default_ops if ops is None else list(ops),
        units=default_units if units is None else list(units),
        preset=chosen,
        ranges=pairs,
        seeds=count,
        seed_block=count,
        steps=GRID_DEFAULTS["steps"] if steps is None else steps,
        restarts=GRID_DEFAULTS["restarts"] if restarts is None else restarts,
        tuned=GRID_DEFAULTS["tuned"] if tuned is None else tuned,
        overrides=extra,
    )


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid YAML file (``ConfigError`` listing every problem)."""
    p = Path(path)
    data = loading.load_yaml_file(p, "grid file")  # size, depth and alias bounds (budget)
    if data is None:
        raise ConfigError(f"grid file {str(p)!r} is empty")
    if not isinstance(data, dict):
        raise ConfigError(f"grid file {str(p)!r} must be a mapping with keys such as ops, units, seeds")
    return validate_grid(data)


def _whole(value: Any, low: int, high: int) -> int:
    """A whole number in [low, high]; YAML strings such as '2e4' are accepted when integral."""
    number: float | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, (float, str)) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or not float(number).is_integer():
        raise ValueError(f"must be a whole number, not {value!r}")
    if not low <= number <= high:
        raise ValueError(f"must be between {low} and {high}, not {int(number)}")
    return int(number)


def _names(value: Any, key: str, choices: tuple[str, ...]) -> list[str]:
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise ValueError(f"must be a non-empty list of names from {', '.join(choices)}")
    problems = [
        f"unknown {key[:-1]} {name!r}{cfgmod.did_you_mean(name, choices)} (choose from {', '.join(choices)})"
        for name in items
        if name not in choices
    ]
    if len(set(items)) != len(items):
        problems.append(f"{sorted({n for n in items if items.count(n) > 1})} listed twice")
    if problems:
        raise ValueError(_SEP.join(problems))
    return list(items)


def _range_text(value: Any) -> str:
    """One side of a range pair as the string syntax ``LO,HI`` or ``A,B;C,D`` (``ValueError`` if invalid)."""
    ranges = parse_ranges(value)

    def num(x: float) -> str:
        return str(int(x)) if x.is_integer() else repr(x)

    return ";".join(f"{num(lo)},{num(hi)}" for lo, hi in ranges)


def _range_pairs(value: Any) -> list[tuple[str, str]] | None:
    """``mistry2021``, ``'1,2:2,6'`` or a list of those and of ``[interp, extrap]`` pairs."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("empty; leave it out to use the preset's ranges")
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for item in items:
        if isinstance(item, str):
            try:
                pairs += parse_range_sets([item]) or []
            except ConfigError as err:
                problems += [p.removeprefix("--ranges ") for p in err.problems]
            continue
        if isinstance(item, (list, tuple)) and len(item) == 2:
            try:
                pairs.append((_range_text(item[0]), _range_text(item[1])))
            except ValueError as err:
                problems.append(f"{item!r}: {err}")
            continue
        problems.append(
            f"{item!r} must be a set ({', '.join(RANGE_SETS)}), 'INTERP:EXTRAP' such as '1,2:2,6',"
            " or a pair [INTERP, EXTRAP] such as ['1,2', '2,6']"
        )
    if len(set(pairs)) != len(pairs):
        problems.append("a range pair is listed twice")
    if problems:
        raise ValueError(_SEP.join(problems))
    return pairs


def _flatten(value: dict[Any, Any], prefix: str, out: dict[str, Any], problems: list[str]) -> None:
    """``{train: {lr: 0.01}}`` and ``{train.lr: 0.01}`` both become ``{'train.lr': 0.01}``."""
    for key, item in value.items():
        name = f"{prefix}{key}"
        if not isinstance(key, str) or not key or any(not part for part in key.split(".")):
            problems.append(f"{name!r} is not a config key such as train.lr")
        elif isinstance(item, dict) and item:
            _flatten(item, f"{name}.", out, problems)
        else:
            out[name] = item


_SEP = "\n"  # several problems found by one field validator, one per line


class GridFile(BaseModel):
    """The grid file's schema: every key checked in one pass, every problem reported (``validate_grid``)."""

    model_config = ConfigDict(extra="forbid")

    # A key left out takes the recipe book's grid default (read when a file is validated); ``preset`` left
    # out is ``preset_for``'s choice for the mode, ``preset: null`` each op's own defaults.
    preset: str | None = None
    ops: list[str]
    units: list[str]
    ranges: list[tuple[str, str]] | None = None
    seeds: int = Field(default_factory=lambda: GRID_DEFAULTS["seeds"])
    seed_block: int | None = None  # default: min(seeds, GRID_DEFAULTS["seed_block"])
    steps: int | None = Field(default_factory=lambda: GRID_DEFAULTS["steps"])  # None: each cell's recipe's
    restarts: int | None = Field(default_factory=lambda: GRID_DEFAULTS["restarts"])  # None: the recipe's
    tuned: bool = Field(default_factory=lambda: GRID_DEFAULTS["tuned"])
    set: dict[str, Any] = Field(default_factory=dict)
    max_tasks: int = limits.MAX_GRID_TASKS

    @field_validator("preset", mode="before")
    @classmethod
    def _preset(cls, v: Any) -> Any:
        if v is not None and v not in config_resolve.PRESETS:
            choices = tuple(config_resolve.PRESETS)
            raise ValueError(
                f"unknown preset {v!r}{cfgmod.did_you_mean(str(v), choices)} (choose from {', '.join(choices)}, or null)"
            )
        return v

    @field_validator("ops", mode="before")
    @classmethod
    def _ops(cls, v: Any) -> list[str]:
        return _names(v, "ops", tuple(OPS))

    @field_validator("units", mode="before")
    @classmethod
    def _units(cls, v: Any) -> list[str]:
        # static columns, recurrent baselines and digits columns; ``plan`` checks them against the mode
        return _names(v, "units", tuple(dict.fromkeys((*STACKS, *BASELINE_CELLS, *column_names()))))

    @field_validator("ranges", mode="before")
    @classmethod
    def _ranges(cls, v: Any) -> list[tuple[str, str]] | None:
        return _range_pairs(v)

    @field_validator("seeds", "seed_block", "restarts", mode="before")
    @classmethod
    def _counts(cls, v: Any) -> int | None:
        return None if v is None else _whole(v, 1, 100_000)

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, v: Any) -> int | None:
        return None if v is None else _whole(v, 1, 10**9)

    @field_validator("max_tasks", mode="before")
    @classmethod
    def _max_tasks(cls, v: Any) -> int:
        return _whole(v, 1, 10**7)

    @field_validator("tuned", mode="before")
    @classmethod
    def _tuned(cls, v: Any) -> bool:
        if not isinstance(v, bool):
            raise ValueError(f"must be true or false, not {v!r}")
        return v

    @field_validator("set", mode="before")
    @classmethod
    def _set(cls, v: Any) -> dict[str, Any]:
        if v is None:
            return {}
        if not isinstance(v, dict):
            raise ValueError("must be a mapping of config keys to values, such as {train.lr: 0.01}")
        out: dict[str, Any] = {}
        problems: list[str] = []
        _flatten(v, "", out, problems)
        problems += [f"{key} is decided by the grid's {GRID_OWNED[key]!r} key" for key in out if key in GRID_OWNED]
        if problems:
            raise ValueError(_SEP.join(problems))
        return out

    @model_validator(mode="after")
    def _size(self) -> GridFile:
        block = min(self.seed_block or GRID_DEFAULTS["seed_block"], self.seeds)
        cells = len(self.ops) * len(self.units) * len(self.ranges or [None])
        blocks = -(-self.seeds // block)
        if cells * blocks > self.max_tasks:
            raise ValueError(
                f"the grid makes {cells * blocks:,} tasks ({cells} cells × {blocks:,} seed blocks), more than"
                f" max_tasks ({self.max_tasks:,}); use larger seed_block or fewer seeds, or raise max_tasks"
            )
        return self


def _grid_problems(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown key {loc!r}{cfgmod.did_you_mean(loc, GRID_KEYS)} (grid keys: {', '.join(GRID_KEYS)})"
            problems.append(msg)
        elif e["type"] == "missing":
            choices = tuple(OPS) if loc == "ops" else tuple(STACKS)
            problems.append(f"{loc}: missing; give a list such as [{', '.join(choices[:2])}]")
        else:
            problems += [f"{loc}: {m}" if loc else m for m in msg.split(_SEP)]
    return problems


def validate_grid(data: dict[str, Any]) -> Grid:
    """A ``Grid`` from plain data; ``ConfigError`` lists every problem, including each cell's config problems."""
    try:
        spec = GridFile.model_validate(data)
    except ValidationError as err:
        problems = _grid_problems(err)
        # Also every problem of the cells' configs (`set:` keys, ranges for an op) in this same pass, using the
        # parts of the grid that are valid: a wrong top-level key must not hide a wrong key under `set:`.
        raw_set: dict[Any, Any] = data["set"] if isinstance(data.get("set"), dict) else {}
        overrides: dict[str, Any] = {}
        _flatten(raw_set, "", overrides, [])
        ops, units = data.get("ops"), data.get("units")
        names = columns(overrides)
        refused = presets_refused(overrides)
        preset = data["preset"] if "preset" in data else preset_for(None, overrides)
        provisional = Grid(
            ops=[o for o in (ops if isinstance(ops, list) else []) if o in OPS] or ["add"],
            units=[u for u in (units if isinstance(units, list) else []) if u in names] or [names[0]],
            preset=preset if preset in config_resolve.PRESETS and not refused else None,
            seeds=1,
            seed_block=1,
            steps=1,
            overrides={k: v for k, v in overrides.items() if k not in GRID_OWNED and isinstance(k, str)},
        )
        try:
            plan(provisional)
        except ConfigError as cell_err:
            problems += [p for p in cell_err.problems if p not in problems]
        raise ConfigError(problems) from None
    seed_block = spec.seed_block if spec.seed_block is not None else min(spec.seeds, GRID_DEFAULTS["seed_block"])
    # The preset a file leaves out is the benchmark's rule for the mode (static: the default preset; recurrent
    # and digits: none); ``preset: null`` is each op's defaults; in digits mode any named preset is an error.
    named = "preset" in spec.model_fields_set
    preset = spec.preset if named else preset_for(None, spec.set)
    if named and presets_refused(spec.set):
        preset = preset_for(spec.preset, spec.set)
    grid = Grid(
        ops=spec.ops,
        units=spec.units,
        preset=preset,
        ranges=spec.ranges,
        seeds=spec.seeds,
        seed_block=min(seed_block, spec.seeds),
        steps=spec.steps,
        restarts=spec.restarts,
        tuned=spec.tuned,
        overrides=spec.set,
    )
    plan(grid)  # every cell's config must resolve too (and fit the memory budget)
    return grid


# -- tasks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """One cell × one block of seeds, with its resolved config (plain data) and the key it is stored under."""

    key: str
    cell: Cell
    seeds: list[int]
    config: dict[str, Any]
    cell_label: str  # op · unit · ranges
    random_init: bool = False  # also measure the model at its initialisation (Trask et al.'s % of random)

    @property
    def label(self) -> str:
        return f"{self.cell_label} · {_seed_span(self.seeds)}"

    def payload(self) -> dict[str, Any]:
        """What an executor ships to a worker: plain, picklable data."""
        return {
            "key": self.key,
            "cell": asdict(self.cell),
            "seeds": list(self.seeds),
            "config": self.config,
            "random_init": self.random_init,
        }


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def task_key(cell: Cell, config: dict[str, Any], random_init: bool = False) -> str:
    """``OP-UNIT-sFIRST-LAST-HASH``: readable, and the hash covers the cell, the whole resolved config and
    whether the task also measures the model at its initialisation."""
    hashed = {"format": TASK_FORMAT, "version": TASK_VERSION, "cell": asdict(cell), "config": config}
    if random_init:  # only then, so the keys of every other task stay what they were
        hashed["random_init"] = True
    digest = hashlib.sha256(canonical_json(hashed).encode()).hexdigest()
    seeds = config["train"]["seeds"]
    return f"{cell.op}-{cell.unit}-s{seeds[0]}-{seeds[-1]}-{digest[:20]}"


def _seed_span(seeds: list[int]) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"


def plan(grid: Grid) -> list[TaskSpec]:
    """Every task of the grid, cell by cell, block by block (``ConfigError`` listing every cell problem)."""
    cells = cells_of(grid.ops, grid.units, grid.ranges, grid.overrides)
    random_init = grid.preset in RELATIVE_TO_RANDOM
    specs: list[TaskSpec] = []
    problems: dict[str, list[str]] = {}  # problem -> cells that have it
    for cell in cells:
        name = f"{cell.op} · {cell.unit}" + (
            f" · {cell.interpolation} → {cell.extrapolation}" if cell.interpolation else ""
        )
        for seeds in grid.blocks():
            try:
                cfg = cell_config(cell, grid.preset, seeds, grid.steps, grid.restarts, grid.tuned, grid.overrides)
                budget.check_memory(cfg, "a task")  # the first block is the largest
            except ConfigError as err:
                for problem in err.problems:
                    problems.setdefault(problem, []).append(name)
                break  # the other blocks of this cell differ only in their seeds
            config = cfg.to_dict()
            ranges = " → ".join(range_text(cfg))
            label = f"{cell.op} · {cell.unit} · {ranges}"
            specs.append(TaskSpec(task_key(cell, config, random_init), cell, seeds, config, label, random_init))
    if problems:
        lines = []
        for problem, names in problems.items():
            if len(names) == len(cells):
                lines.append(problem)
            else:
                more = f" (and {len(names) - 1} more cells)" if len(names) > 1 else ""
                lines.append(f"cell {names[0]}{more}: {problem}")
        raise ConfigError(lines)
    return specs
