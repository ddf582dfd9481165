"""Benchmark cells: a grid of ops × units × range pairs, each cell many seeds trained as one batched model.

This module builds and summarises the cells; `nalu benchmark` and `nalu sweep` both run them through the one
grid driver (``sweeps.driver``, ``sweeps.job``), with the grid defaults of the recipe book
(``config.recipes.GRID_DEFAULTS``, ``DEFAULT_GRID``, ``RANGE_SETS``; ``config.kinds.KIND_GRIDS``).

Per cell it reports what Madsen & Johansen (2020) report (SPEC section 4): the success rate with its 95%
Wilson interval, the median "solved at" step over the solved seeds, and the median sparsity error over the
solved seeds. Diverged (NaN/Inf) seeds count as failures. Model selection inside a cell (restarts) uses
interpolation validation error only. For ``trask2018`` it also reports Trask et al.'s (2018) measure: the
error as a percentage of the same model's error at its random initialisation. Every cell's config comes
from ``config.resolve`` and the recipe book, exactly as `nalu train --preset P --op OP --unit COLUMN`.

In digits mode (overrides with ``task.mode: digits``) the same cell builder makes op × digits column cells
(``config.kinds.DIGITS_COLUMNS``) without a preset or value ranges, exactly as `nalu train --mode digits --op OP` with
the column's model; a seed is solved by the digits rule and the cell also reports the median accuracy at
the extrapolation length.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nalu_cli.config import kinds, recipes
from nalu_cli.config import resolve as config_resolve
from nalu_cli.config import schema as cfgmod
from nalu_cli.errors import ConfigError
from nalu_cli.names import BASELINE_CELLS
from nalu_cli.tasks import published as published_criterion
from nalu_cli.tasks.ops import format_ranges, parse_ranges
from nalu_cli.tasks.registry import kind_of
from nalu_cli.training.evaluate import wilson_interval

# The network a benchmark column names: the unit under test and the layer that feeds it (the recipe book's
# columns; `nalu train --preset P --unit COLUMN` builds the same stack).
# Trask et al.'s (2018) baselines are MLPs with a given activation: column -> activation.
MLP_COLUMNS: dict[str, str] = {"mlp_relu6": "relu6", "mlp_none": "none"}
STACKS: dict[str, list[str]] = {name: list(stack) for name, stack in recipes.COLUMNS.items()} | {
    name: ["mlp", "mlp"] for name in MLP_COLUMNS
}


def mode_of(extra: dict[str, Any] | None) -> str | None:
    """The task mode a benchmark's ``--set`` overrides (or a sweep grid's ``set:``) ask for, if any."""
    mode = (extra or {}).get("task.mode")
    return mode if isinstance(mode, str) else None


def grid_policy(extra: dict[str, Any] | None) -> dict[str, Any]:
    """How a grid reads in the task kind the overrides ask for (``config.kinds.KIND_GRIDS``; {}: the
    static task's unit columns under a preset)."""
    return kinds.KIND_GRIDS.get(mode_of(extra) or "", {})


def column_table(extra: dict[str, Any] | None) -> dict[str, dict[str, Any] | None] | None:
    """The kind's named columns (model overrides per column), or None where columns are unit stacks."""
    chosen = grid_policy(extra).get("columns", "units")
    return chosen if isinstance(chosen, dict) else None


def columns(extra: dict[str, Any] | None) -> tuple[str, ...]:
    """The unit column names a benchmark in this mode accepts."""
    chosen = grid_policy(extra).get("columns", "units")
    if isinstance(chosen, dict):
        return tuple(chosen)
    return tuple(STACKS) + (BASELINE_CELLS if chosen == "units+cells" else ())


def presets_refused(extra: dict[str, Any] | None) -> bool:
    """Whether the kind refuses presets (they pose value-range tasks; digit images have none)."""
    return bool(grid_policy(extra).get("preset") == "none")


def preset_for(preset: str | None, extra: dict[str, Any] | None) -> str | None:
    """The preset a benchmark or sweep runs under: ``preset``, else madsen2020; a kind with defaults of its
    own (recurrent) runs under them unless a preset is named (the cells are then what ``nalu train --mode
    recurrent`` builds); a kind without value ranges (digits) takes none (a preset's ranges and sizes mean
    nothing for images)."""
    policy = grid_policy(extra)
    rule = policy.get("preset", "default")
    if rule == "optional":
        return preset
    if rule == "default":
        return preset or str(recipes.GRID_DEFAULTS["preset"])
    if preset is not None:
        raise ConfigError(
            f"preset {preset}: presets pose value-range tasks; {mode_of(extra)} mode has its own defaults"
            f" ({policy['docs']}): leave the preset out"
        )
    return None


def default_grid(preset: str | None, extra: dict[str, Any] | None = None) -> tuple[list[str], list[str]]:
    """(ops, unit columns) of ``nalu benchmark --preset PRESET`` (or in digits mode) without --ops and --units:
    the recipe book's grid defaults."""
    policy = grid_policy(extra)
    if "grid" in policy and (policy["preset"] == "none" or preset is None):
        ops, units = policy["grid"]
    else:
        ops, units = recipes.DEFAULT_GRID.get(preset or "", recipes.DEFAULT_GRID[recipes.GRID_DEFAULTS["preset"]])
    return list(ops), list(units)


# Presets whose benchmark also reports Trask et al.'s measure: error as a percentage of a randomly
# initialised model's error (0 = perfect, 100 = no better than the untrained model).
RELATIVE_TO_RANDOM = {"trask2018"}


def recipe(op: str, unit: str, preset: str | None = "madsen2020") -> recipes.Recipe:
    """The recipe-book entry a benchmark cell of ``preset`` trains with."""
    task = recipes.task_key(preset, "static" if preset is not None else "pair")
    stack = tuple(STACKS[unit]) if preset is not None else (unit,)
    return recipes.lookup(task, op, stack)[1]


# Success rates over 100 seeds published by Madsen & Johansen (2020), input 100, U[1,2] -> U[2,6].
PUBLISHED_MADSEN2020: dict[str, dict[str, float]] = {
    "mul": {"nac_mul": 0.31, "nalu": 0.0, "nau": 0.0, "nmu": 0.98, "nac_add": 0.0, "mlp": 0.0},
    "add": {"nac_mul": 0.0, "nalu": 0.14, "nau": 1.0, "nmu": 0.0, "nac_add": 1.0, "mlp": 1.0},
    "sub": {"nac_mul": 0.0, "nalu": 0.14, "nau": 1.0, "nmu": 0.56, "nac_add": 1.0, "mlp": 0.07},
    "div": {"nac_mul": 0.0, "nalu": 0.0, "nau": 0.0, "nmu": 0.0, "nac_add": 0.0, "mlp": 0.0},
}


@dataclass
class Cell:
    op: str
    unit: str
    interpolation: str
    extrapolation: str


def grid(
    ops: list[str], units: list[str], ranges: list[tuple[str, str]] | None, extra: dict[str, Any] | None = None
) -> list[Cell]:
    """The cells op × unit column (× range pair); ``extra`` (the overrides) decides the mode's columns."""
    names = columns(extra)
    table = column_table(extra) is not None
    what = f"{mode_of(extra)} column" if table else "unit column"
    problems = [
        f"unknown {what} {u!r}{cfgmod.did_you_mean(u, names)} (choose from {', '.join(names)})"
        for u in units
        if u not in names
    ]
    if table and ranges:
        problems.append(
            "ranges: digit images have no value ranges; a digits cell trains at task.length and is tested at"
            " task.extrapolation_length (set those instead)"
        )
    if problems:
        raise ConfigError(problems)
    pairs = ranges or [("", "")]
    return [Cell(op, unit, i, e) for op in ops for unit in units for i, e in pairs]


def cell_config(
    cell: Cell,
    preset: str | None,
    seeds: int | Sequence[int],
    steps: int | None,
    restarts: int | None,
    tuned: bool,
    extra: dict[str, Any],
) -> cfgmod.Config:
    """The run config of one cell: exactly what ``nalu train --preset PRESET --op OP --unit COLUMN`` builds
    (the preset's task, the column's stack, the recipe book's recipe), with the cell's seeds. ``tuned``
    False trains with the preset's published optimiser settings instead of the recipe's. ``seeds`` is a
    count (seeds 0..N-1) or the seeds themselves; ``steps`` and ``restarts`` None take the recipe's.
    With ``task.mode: digits`` in ``extra`` the cell is ``nalu train --mode digits --op OP`` with the digits
    column's model (``kind_column``): no preset, no published settings, no ranges."""
    table = column_table(extra)
    overrides: dict[str, Any] = {
        "task.op": cell.op,
        "train.seeds": list(range(seeds)) if isinstance(seeds, int) else list(seeds),
    }
    if table is not None:
        if not tuned:
            raise ConfigError(
                "published settings (--published-settings, tuned: false): no optimiser settings are published"
                f" for {mode_of(extra)} mode; its defaults are measured in the {grid_policy(extra)['docs']}"
            )
        overrides |= kind_column(mode_of(extra) or "", table, cell.op, cell.unit)
        preset = None  # the kind has its own defaults, not a preset's task
    else:
        overrides["model.unit"] = "mlp" if cell.unit in MLP_COLUMNS else cell.unit
    if cell.unit in MLP_COLUMNS and table is None:
        overrides["model.activation"] = MLP_COLUMNS[cell.unit]
    if steps is not None:
        overrides["train.steps"] = steps
    if restarts is not None:
        overrides["train.restarts"] = restarts
    if cell.interpolation:
        overrides["task.interpolation"] = cell.interpolation
        overrides["task.extrapolation"] = cell.extrapolation
    overrides.update(extra)
    published = config_resolve.PUBLISHED_SETTINGS.get(preset or "", {}) if not tuned else {}
    return config_resolve.resolve(published, overrides, preset)


def kind_column(mode: str, table: dict[str, dict[str, Any] | None], op: str, column: str) -> dict[str, Any]:
    """The model overrides of a named column (``table``, e.g. the recipe book's ``DIGITS_COLUMNS``) for ``op``:
    the column's own, or (None) the model of the kind's defaults for the op."""
    chosen = table[column]
    if chosen is not None:
        return dict(chosen)
    defaults = kinds.kind_defaults(mode, op)
    model = defaults["model"] if defaults is not None else {}
    return {"model.unit": list(model["unit"]), "model.hidden": list(model["hidden"])}


def range_text(cfg: cfgmod.Config) -> tuple[str, str]:
    """What a cell trains on and is tested on, as the table's range column shows it: the value ranges, or
    in digits mode the sequence lengths (``images, T=10`` -> ``T=1000``)."""
    if not kind_of(cfg.task.mode).value_ranges:  # images: the sequence lengths
        return f"images, T={cfg.task.length}", f"T={cfg.task.extrapolation_length}"
    return format_ranges(cfg.task.interpolation), format_ranges(cfg.task.extrapolation)


MADSEN2020_TASK: dict[str, Any] = config_resolve.PRESETS["madsen2020"]["task"]  # the preset's task section


def is_madsen2020_task(cfg: cfgmod.Config) -> bool:
    """Whether ``cfg`` poses the task whose success rates Madsen & Johansen (2020) published."""
    return cfg.task.mode == MADSEN2020_TASK["mode"] and published_criterion.poses_madsen2020(cfg.task)


def published_fields(cfg: cfgmod.Config, seeds: list[dict[str, Any]]) -> dict[str, Any]:
    """The cell judged by Madsen & Johansen's own criterion (``tasks/published.py``) where they published a
    rate for its task: their threshold, the count and rate solved by it with its 95% Wilson interval. Every
    cell also keeps each seed's extrapolation MSE (``extrapolation_mse``, ordered like the seeds), so a cell
    can be judged again by another criterion without training it again."""
    if not all("mse" in s.get("extrapolation", {}) for s in seeds):
        return {}  # records without their metrics (a summary of counts alone) cannot be judged again
    mse = [float(s["extrapolation"]["mse"]) for s in seeds]
    fields: dict[str, Any] = {"extrapolation_mse": mse}
    limit = published_criterion.threshold_for(cfg.task)
    if limit is None:
        return fields
    flags = published_criterion.judge(limit, mse, [s["diverged_at"] is not None for s in seeds])
    n = len(flags)
    lo, hi = wilson_interval(sum(flags), n)
    return fields | {
        "published_threshold": limit,
        "solved_published": sum(flags),
        "success_rate_published": sum(flags) / n if n else 0.0,
        "ci_low_published": lo,
        "ci_high_published": hi,
    }


def random_init_mse(cfg: cfgmod.Config) -> tuple[list[float], list[float]]:
    """Interpolation and extrapolation MSE per seed of the cell's model at its initialisation (step 0): the
    "randomly initialised model" Trask et al. (2018) scale their errors by. Same seeds, same test data."""
    from nalu_cli.training.trainer import Trainer

    trainer = Trainer(cfg)
    k = trainer.members.restarts
    first = slice(0, None, k)  # restart 0 of every seed
    interp = trainer.evaluate("interpolation", cfg.eval.samples).mse[first]
    extrap = trainer.evaluate("extrapolation", cfg.eval.samples).mse[first]
    return [float(v) for v in interp], [float(v) for v in extrap]


def percent_of_random(trained: list[float], random: list[float]) -> float:
    """100 × median trained MSE / median random-init MSE over the seeds; a non-finite MSE counts as +inf."""
    finite = [v if math.isfinite(v) else math.inf for v in trained]
    base = statistics.median([v if math.isfinite(v) else math.inf for v in random])
    if not math.isfinite(base) or base <= 0:
        return math.nan
    return 100.0 * statistics.median(finite) / base


def summarise(
    cell: Cell,
    cfg: cfgmod.Config,
    seeds: list[dict[str, Any]],
    elapsed: float,
    random_mse: tuple[list[float], list[float]] | None = None,
) -> dict[str, Any]:
    n = len(seeds)
    solved = [s for s in seeds if s["solved"]]
    lo, hi = wilson_interval(len(solved), n)
    solved_at = [s["solved_at"] for s in solved if s["solved_at"] is not None]
    # float(): a sweep's records spell NaN as "nan" (an LSTM has no sparsity error)
    sparsity = [float(s["sparsity_error"]) for s in solved]
    published = PUBLISHED_MADSEN2020.get(cell.op, {}).get(cell.unit) if is_madsen2020_task(cfg) else None
    interpolation, extrapolation = range_text(cfg)
    by_accuracy = kind_of(cfg.task.mode).solved_by_accuracy  # digit images, texts: solved by the rounded output
    accuracy = [float(s["extrapolation"]["accuracy"]) for s in seeds] if by_accuracy else []
    return {
        "op": cell.op,
        "unit": cell.unit,
        "layers": cfg.model.units(),
        "interpolation": interpolation,
        "extrapolation": extrapolation,
        "seeds": n,
        "restarts": cfg.train.restarts,
        "steps": cfg.train.steps,
        "solved": len(solved),
        "success_rate": len(solved) / n if n else 0.0,
        "ci_low": lo,
        "ci_high": hi,
        "solved_at_median": statistics.median(solved_at) if solved_at else None,
        "sparsity_error_median": statistics.median(sparsity) if sparsity else None,
        # digits mode: median over all seeds of the accuracy at the extrapolation length (a NaN output is never
        # right, so every seed has one); None in the other modes
        "accuracy_median": statistics.median(accuracy) if accuracy else None,
        "diverged": sum(1 for s in seeds if s["diverged_at"] is not None),
        "failed_seeds": [s["seed"] for s in seeds if not s["solved"]],  # to rerun or inspect one by one
        "seconds": elapsed,
        "published": published,
        **(published_fields(cfg, seeds) if not by_accuracy else {}),
    } | (
        {}
        if random_mse is None
        else {
            "interp_percent_of_random": percent_of_random(
                [float(s["interpolation"]["mse"]) for s in seeds], random_mse[0]
            ),
            "extrap_percent_of_random": percent_of_random(
                [float(s["extrapolation"]["mse"]) for s in seeds], random_mse[1]
            ),
        }
    )


def union_of_blocks(blocks: Sequence[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The per-seed results of a cell's seed blocks as one list ordered by seed, ready for ``summarise``.

    Blocks may arrive in any order (a sweep finishes them wherever and whenever); a seed reported by two
    blocks is an error, never silently counted twice.
    """
    merged = sorted((s for block in blocks for s in block), key=lambda s: s["seed"])
    counts = Counter(s["seed"] for s in merged)
    twice = sorted(seed for seed, n in counts.items() if n > 1)
    if twice:
        raise ValueError(f"seeds {twice} are reported by more than one block")
    return merged


def parse_range_sets(values: list[str] | None) -> list[tuple[str, str]] | None:
    """``mistry2021`` or explicit pairs ``'1,2:2,6'`` (interpolation:extrapolation)."""
    if not values:
        return None
    pairs: list[tuple[str, str]] = []
    for v in values:
        if v in recipes.RANGE_SETS:
            pairs += recipes.RANGE_SETS[v]
            continue
        if ":" not in v:
            raise ConfigError(
                f"--ranges {v!r} must be a set ({', '.join(recipes.RANGE_SETS)}) or INTERP:EXTRAP such as 1,2:2,6"
            )
        interp, extrap = v.split(":", 1)
        for part in (interp, extrap):
            try:
                parse_ranges(part)
            except ValueError as err:
                raise ConfigError(f"--ranges {v!r}: {err}") from None
        pairs.append((interp, extrap))
    return pairs


CSV_FIELDS = [
    "op", "unit", "interpolation", "extrapolation", "seeds", "restarts", "steps", "solved", "success_rate",
    "ci_low", "ci_high", "solved_at_median", "sparsity_error_median", "accuracy_median", "diverged", "seconds",
    "published",
    "interp_percent_of_random", "extrap_percent_of_random",
    "published_threshold", "solved_published", "success_rate_published", "ci_low_published", "ci_high_published",
]  # fmt: skip


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    return out.getvalue()
