"""Resolving a config: presets, the recipe book and derived stacks layered under the user's settings."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from nalu_cli import names
from nalu_cli.config import kinds, recipes
from nalu_cli.config.loading import _coerce_yaml_numbers, deep_merge, set_path
from nalu_cli.config.schema import (
    Config,
    EvalConfig,
    ModelConfig,
    RegularizerConfig,
    ReinitConfig,
    TaskConfig,
    TrainConfig,
    did_you_mean,
)
from nalu_cli.errors import ConfigError
from nalu_cli.names import UNIT_ALIASES
from nalu_cli.tasks.ops import OPS
from nalu_cli.tasks.registry import KINDS

# Published setups (SPEC section 3): the task and the model's shape. A preset names the task *and* the
# model stack: the stack per op and the training recipe come from the recipe book (``nalu_cli.config.recipes``),
# so `train` and `benchmark` build the same config. The papers' own optimiser settings are in
# ``PUBLISHED_SETTINGS`` (``nalu benchmark --published-settings``).
PRESETS: dict[str, dict[str, Any]] = {
    "madsen2020": {
        "task": {
            "mode": "static",
            "input_size": 100,
            "subset_ratio": 0.25,
            "overlap_ratio": 0.5,
            "interpolation": [1, 2],
            "extrapolation": [2, 6],
        },
        "model": {"hidden": [2]},
        "train": {"batch_size": 128},
    },
    "trask2018": {
        "task": {
            "mode": "static",
            "input_size": 100,
            "subset_ratio": 0.25,
            "overlap_ratio": 0.5,
            "interpolation": [0, 1],
            "extrapolation": [1, 5],
        },
        "model": {"hidden": [2]},
        "train": {"batch_size": 128},
    },
    # Trask et al.'s Figure 1: learn the identity on [-5, 5], test on [-20, 20] (an MLP per activation;
    # the recipe book's default stack is three hidden layers of 8).
    "trask2018_fig1": {
        "task": {"op": "identity", "mode": "pair", "interpolation": [-5, 5], "extrapolation": "-20,-5;5,20"},
    },
}
if tuple(PRESETS) != names.PRESETS:
    raise ImportError(f"config.resolve defines presets {tuple(PRESETS)}, but names.PRESETS lists {names.PRESETS}")

PUBLISHED_SETTINGS: dict[str, dict[str, Any]] = {
    "madsen2020": {"train": {"lr": 1e-3, "schedule": "constant", "beta2": 0.999, "precondition": False}},
    "trask2018": {"train": {"lr": 1e-3, "schedule": "constant", "beta2": 0.999, "precondition": False}},
}


def resolve(
    file_data: dict[str, Any] | None = None,
    overrides: dict[str, Any] | None = None,
    preset: str | None = None,
) -> Config:
    """Build a validated ``Config``: recipe < preset < file < overrides (dotted keys).

    The recipe is the recipe book's entry for (task, op, unit stack), where the task is the preset or the
    input mode, and the stack is the units asked for (file or overrides) or, when none are, the task's
    default stack for the op. With a preset, a single unit name means its benchmark column (``nmu`` is
    NAU -> NMU). The recipe's regulariser window is stored as fractions of the steps and placed here for
    the final ``train.steps``; a start or end given in the file or overrides is kept as given.
    """
    file_data = file_data or {}
    overrides = overrides or {}
    if preset is not None and preset not in PRESETS:
        raise ConfigError(
            f"unknown preset {preset!r}{did_you_mean(preset, tuple(PRESETS))} (choose from {', '.join(PRESETS)})"
        )
    user = deep_merge({}, file_data)
    for key, value in overrides.items():
        set_path(user, key, value)
    preset_data = PRESETS[preset] if preset is not None else {}
    task_data = _mapping(preset_data.get("task")) | _mapping(user.get("task"))
    op = task_data.get("op", "mul")
    op = op if isinstance(op, str) and op in OPS else "mul"  # an unknown op is reported by validate
    mode = task_data.get("mode", "pair")
    kind_data = kinds.kind_defaults(mode, op) if isinstance(mode, str) else None
    if kind_data is not None:  # a sequence kind starts from its own defaults (recipe book), not the recipes
        merged = deep_merge(deep_merge(kind_data, preset_data), user)
        unit = _mapping(merged.get("model")).get("unit")
        stack = kinds.sequence_stack(mode, _canonical_unit(unit)) if isinstance(unit, str) else None
        if stack is not None:  # one name: a [CELL, OUTPUT] model (``--unit nmu``, a benchmark column)
            merged["model"]["unit"] = list(stack)
        return validate(merged)
    derived = _derived(task_data.get("op", "mul"), mode)
    if derived is not None:  # an expression: the stack derived from its structure, unless the user names one
        stack_data, derived_recipe = derived
        model_data = _mapping(user.get("model"))
        derived_model = {} if ("unit" in model_data or "hidden" in model_data) else {"model": stack_data}
        layered = deep_merge(deep_merge(deep_merge(derived_model, derived_recipe.config_data()), preset_data), user)
        _place_window(layered, _mapping(_mapping(user.get("train")).get("regularizer")), derived_recipe)
        return validate(layered)
    mode = recipes.recipe_mode(mode)
    task = recipes.task_key(preset, mode)

    model_data = _mapping(user.get("model"))
    stack, user_unit = _requested_stack(task, mode, op, model_data)
    base: dict[str, Any] = {"model": {"unit": stack[0] if len(stack) == 1 else list(stack)}}
    if len(stack) > 1:
        base["model"]["hidden"] = recipes.hidden_sizes(task, stack)
    _, recipe = recipes.lookup(task, op, stack)
    layered = deep_merge(base, recipe.config_data())
    layered = deep_merge(layered, preset_data)
    layered = deep_merge(layered, user)
    if user_unit is not None:
        layered["model"]["unit"] = user_unit
    _place_window(layered, _mapping(_mapping(user.get("train")).get("regularizer")), recipe)
    return validate(layered)


def recipe_for(config: Config, preset: str | None = None) -> recipes.Recipe:
    """The recipe-book entry a resolved config was built from (by its task, op and units)."""
    task = recipes.task_key(preset, config.task.mode)
    return recipes.lookup(task, config.task.op, tuple(config.model.units()))[1]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _canonical_unit(name: Any) -> Any:
    return UNIT_ALIASES.get(name.lower(), name.lower()) if isinstance(name, str) else name


def _requested_stack(task: str, mode: str, op: str, model_data: dict[str, Any]) -> tuple[tuple[str, ...], Any]:
    """(the stack the recipe is looked up by, the model.unit value to use or None to keep the user's).

    A single unit name in a static task without explicit hidden sizes is its benchmark column."""
    unit = model_data.get("unit")
    if unit is None:
        return recipes.default_stack(task, op), None
    if isinstance(unit, list) and all(isinstance(u, str) for u in unit) and unit:
        return tuple(_canonical_unit(u) for u in unit), None
    if not isinstance(unit, str):
        return recipes.default_stack(task, op), None  # validate reports the bad value
    name = _canonical_unit(unit)
    hidden = model_data.get("hidden")
    if isinstance(hidden, list):
        return (name,) * (len(hidden) + 1), None
    stack = recipes.expand_unit(mode, name)
    return stack, (list(stack) if len(stack) > 1 else None)


def _place_window(layered: dict[str, Any], user_regularizer: dict[str, Any], recipe: recipes.Recipe) -> None:
    """The recipe's regulariser window for the final step count, unless the user set start or end."""
    try:
        steps = int(float(layered["train"]["steps"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return  # validate reports it
    if steps < 1:
        return  # validate reports it
    window = recipe.window(steps)
    if window is None:
        return
    regularizer = layered["train"].setdefault("regularizer", {})
    if not isinstance(regularizer, dict):
        return
    for key, value in zip(("start", "end"), window, strict=True):
        if key not in user_regularizer:
            regularizer[key] = value


def _derived(op: Any, mode: Any) -> tuple[dict[str, Any], recipes.Recipe] | None:
    """The model stack and recipe derived from an expression op's structure (``derive.py``), its window as
    fractions of the steps like every recipe; None for a named op, another mode, or what validate refuses."""
    kind = KINDS.get(mode) if isinstance(mode, str) else None
    if not isinstance(op, str) or op in OPS or kind is None or not kind.takes_expressions:
        return None
    from nalu_cli.config.derive import derived_defaults
    from nalu_cli.tasks.expressions import ExpressionError, looks_like_expression, parse_expression

    if not looks_like_expression(op):
        return None
    try:
        defaults = derived_defaults(parse_expression(op))
    except ExpressionError:
        return None  # validate reports it
    if not defaults:
        return None
    train = defaults["train"]
    steps = int(train["steps"])
    reg = train.get("regularizer")
    recipe = recipes.Recipe(
        steps=steps,
        lr=train["lr"],
        schedule=train.get("schedule", "cosine"),
        beta2=train.get("beta2", 0.999),
        restarts=train.get("restarts", 1),
        regularizer=None if reg is None else (reg["scale"], reg["start"] / steps, reg["end"] / steps),
    )
    return defaults["model"], recipe


def validate(data: dict[str, Any]) -> Config:
    """Validate a plain dict; ``ConfigError`` lists every problem with its key."""
    try:
        return Config.model_validate(_coerce_yaml_numbers(data))
    except ValidationError as err:
        raise ConfigError([_describe(e) for e in err.errors()]) from None


def _describe(error: Any) -> str:
    loc = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
    kind = error["type"]
    msg = error["msg"]
    if kind == "extra_forbidden":
        section, _, key = loc.rpartition(".")
        known = _known_keys(section)
        return f"unknown key {loc!r}{did_you_mean(key, known)}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, ") :]
    return f"{loc}: {msg}" if loc else msg


def _known_keys(section: str) -> tuple[str, ...]:
    models: dict[str, type[BaseModel]] = {
        "": Config,
        "task": TaskConfig,
        "model": ModelConfig,
        "train": TrainConfig,
        "eval": EvalConfig,
        "train.regularizer": RegularizerConfig,
        "train.reinit": ReinitConfig,
    }
    model = models.get(section)
    return tuple(model.model_fields) if model else ()


def dump_yaml(config: Config) -> str:
    """The resolved config as YAML text, as a run stores it (``config.yaml``): ``train.seeds`` as its compact
    spec (``schema.stored_form``), so 100,000 seeds take a few bytes.

    What nalu writes, nalu must read: ``ConfigError`` when the text is over the bounds ``config.yaml`` is read
    back with (``limits.MAX_YAML_BYTES``, the YAML node bounds), so a run is refused before it starts rather
    than written and then unreadable by ``eval``, ``runs`` and ``--resume``.
    """
    from nalu_cli.config import limits
    from nalu_cli.config.loading import YamlBoundsError, safe_load_bounded
    from nalu_cli.config.schema import stored_form

    text = yaml.safe_dump(stored_form(config.to_dict()), sort_keys=False)
    size = len(text.encode("utf-8"))
    if size > limits.MAX_YAML_BYTES:
        raise ConfigError(
            f"the run's config.yaml would be {size:,} bytes, over the {limits.MAX_YAML_BYTES:,}-byte limit it is"
            " read back with (a long irregular train.seeds list? give the seeds as a range such as 0-999)"
        )
    try:
        safe_load_bounded(text)
    except YamlBoundsError as err:
        raise ConfigError(f"the run's config.yaml would be refused when read back: {err}") from None
    return text
