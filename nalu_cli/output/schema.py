"""The shape of every command's ``--json`` document, in one place: what docs/json.md shows and tests check.

A schema is plain data. A type name: ``str``, ``int``, ``bool``, ``number`` (an int or float, or one of the
strings ``"nan"``, ``"inf"``, ``"-inf"``: JSON has no NaN), ``null``, ``any``; alternatives joined by ``|``
(``int|null``), or a tuple of schemas (``("null", ["number"])``: null or a list of numbers). ``[S]`` is a list of S. ``{"key": S}`` is an object with exactly those keys (a key ending in
``?`` may be absent); ``{"*": S}`` is an object with any keys, each value an S. The same key always has the
same type: a value that can be missing is ``null``, never a different type.
"""

from __future__ import annotations

from typing import Any

NON_FINITE = ("nan", "inf", "-inf")

RANGE_METRICS: dict[str, Any] = {
    "range": "str",
    "mse": "number",
    "mae": "number",
    "rel_err": "number",
    "threshold": "number",
    "solved": "bool",
    "accuracy?": "number",  # digits mode: the share of outputs that round to the exact target
}

TRAIN_SEED: dict[str, Any] = {
    "seed": "int",
    "member": "int",
    "restart": "int",
    "interpolation": RANGE_METRICS,
    "extrapolation": RANGE_METRICS,
    "solved": "bool",
    "solved_at": "int|null",
    "diverged_at": "int|null",
    "sparsity_error": "number",
    "restarts_solved": "int|null",
    "formula": "str|null",
    "formula_reason": "str|null",
    "formula_exact": "bool",
    "formula_deviation": "number|null",
    "formula_deviation_at": "str|null",
    "recovered": "bool|null",
}

EVAL_SEEDS: list[Any] = [
    {"seed": "int", "restart": "int", "ranges": [RANGE_METRICS | {"name": "str", "length?": "int"}]}
]

BENCHMARK_CELL: dict[str, Any] = {
    "op": "str",
    "unit": "str",
    "layers": ["str"],
    "interpolation": "str",
    "extrapolation": "str",
    "seeds": "int",
    "restarts": "int",
    "steps": "int",
    "solved": "int",
    "success_rate": "number",
    "ci_low": "number",
    "ci_high": "number",
    "solved_at_median": "number|null",
    "sparsity_error_median": "number|null",
    "accuracy_median": "number|null",
    "diverged": "int",
    "failed_seeds": ["int"],
    "seconds": "number",
    "published": "number|null",
    # value-range cells: each seed's extrapolation MSE, ordered like the seeds (to judge a cell again)
    "extrapolation_mse?": ["number"],
    # the madsen2020 task: solved by Madsen & Johansen's own criterion (tasks/published.py)
    "published_threshold?": "number",
    "solved_published?": "int",
    "success_rate_published?": "number",
    "ci_low_published?": "number",
    "ci_high_published?": "number",
}

# `nalu fit`: errors of a model or formula on the three row sets (RMS error / RMS of the target).
FIT_ERRORS: dict[str, Any] = {"mse": "number", "rel_err": "number"}
FIT_SETS: dict[str, Any] = {"train": FIT_ERRORS, "valid": FIT_ERRORS, "heldout": FIT_ERRORS}
FIT_CANDIDATE: dict[str, Any] = {
    "stack": "str",
    "units": ["str"],
    "hidden": ["int"],
    "formula": "str|null",
    "formula_x": "str|null",
    "rejected_formula?": "str",
    "reason": "str|null",
    "deviation": "number|null",
    "model": ("null", FIT_SETS),
    "formula_errors": {name: ("null", FIT_ERRORS) for name in FIT_SETS},  # null: no formula read
    "members_valid_mse": ["number"],
    "steps": "int",
    "stop": "str",
    "seconds": "number",
}
FIT_BASELINE: dict[str, Any] = {"formula": "str|null", **FIT_SETS}

# The opening keys of every report on one run (eval, extrapolate, inspect-weights).
RUN_HEADER: dict[str, Any] = {"command": "str", "run": "str", "describe": "str", "step": "int"}

SKIPPED: list[Any] = [{"run": "str", "error": "str"}]  # runs that could not be read, each with why

SCHEMAS: dict[str, dict[str, Any]] = {
    "train": {
        "command": "str",
        "describe": "str",
        "op": "str",
        "units": ["str"],
        "interpolation": "str",
        "extrapolation": "str",
        "steps": "int",
        "restarts": "int",
        "interrupted": "bool",
        "device": "str",
        "elapsed": "number",
        "seed_steps_per_second": "number|null",
        "compiled": "bool",
        "run_dir": "str|null",
        "solved": "int",
        "total": "int",
        "published_threshold?": "number",  # the madsen2020 task: Madsen & Johansen's own criterion
        "solved_published?": "int",
        "seeds": [TRAIN_SEED],
        "warnings": ["str"],
    },
    "eval": RUN_HEADER
    | {
        "samples": "int",
        "device": "str",
        "seeds": EVAL_SEEDS,
    },
    "extrapolate": RUN_HEADER
    | {
        "samples": "int",
        "device": "str",
        "seeds": [
            {"seed": "int", "restart": "int", "ranges": [RANGE_METRICS | {"factor": "number", "length?": "int"}]}
        ],
    },
    "inspect-weights": RUN_HEADER
    | {
        "interpolation": "str",
        "extrapolation": "str",
        "seeds": [
            {
                "seed": "int",
                "restart": "int",
                "layers": [
                    {
                        "index": "int",
                        "unit": "str",
                        "in": "int",
                        "out": "int",
                        "weights": {"*": ["any"]},
                        "raw?": {"*": ["any"]},
                        "gate_mean": ("null", ["number"]),
                        "gate_mean_extrapolation": ("null", ["number"]),
                    }
                ],
                "solved": "bool",
                "formula": "str|null",
                "reason": "str|null",
                "exact": "bool",
                "formula_exact": "bool",
                "formula_deviation": "number|null",
                "formula_deviation_at": "str|null",
                "recovered": "bool|null",
                "recurrent?": "any",
                "tokens?": [{"token": "str", "id": "int", "alone": "number", "last": "number|null"}],
                "places?": [
                    {"text": "str", "of": "str", "value": "number", "value_of": "number", "ratio": "number|null"}
                ],
            }
        ],
    },
    "runs": {
        "command": "str",
        "directory": "str",
        "sort": "str",
        "reverse": "bool",
        "broken": "int",
        "runs": [
            {
                "name": "str",
                "path": "str",
                "status": "str",
                "error": "str|null",
                "op": "str|null",
                "mode": "str|null",
                "units": ["str"],
                "seeds": ["int"],
                "restarts": "int|null",
                "steps": "int|null",
                "total_steps": "int|null",
                "interp_mse": "number",
                "extrap_mse": "number",
                "solved": "int|null",
                "total": "int|null",
                "solved_at": "number|null",
                "formula": "str|null",
                "formula_count?": "int",
                "date": "str|null",
            }
        ],
    },
    "compare": {
        "command": "str",
        "differences": {"*": ["any"]},
        "runs": [
            {
                "run": "str",
                "name": "str",
                "describe": "str",
                "steps": "int",
                "finished": "bool",
                "seeds": ["int"],
                "interp_mse": "number",
                "extrap_mse": "number",
                "solved": "int",
                "total": "int",
                "solved_at": "number|null",
                "formula": "str|null",
                "formula_count": "int",
            }
        ],
        "skipped": SKIPPED,
    },
    "plot": {
        "command": "str",
        "metric": "str",
        "out": "str",
        "runs": [
            {
                "run": "str",
                "label": "str",
                "describe": "str",
                "step": "int",
                "solved": "int",
                "total": "int",
                "seeds": "int",
                "samples": "int",
                "interpolation": [["number"]],
                "train_magnitude": "number",
                "x_axis?": "str",
                "history": [
                    {
                        "step": "int",
                        "loss_median": "number|null",
                        "valid_mse_median": "number|null",
                        "extrap_mse_median": "number|null",
                        "loss_min?": "number|null",
                        "loss_max?": "number|null",
                    }
                ],
                "ladder": [
                    {
                        "factor": "number",
                        "magnitude": "number",
                        "median": "number",
                        "min": "number",
                        "max": "number",
                        "threshold": "number|null",
                        "solved": "int",
                    }
                ],
            }
        ],
        "skipped": SKIPPED,
    },
    "export-tb": {
        "command": "str",
        "exports": [
            {"run": "str", "out": "str", "steps": "int", "files": [{"curve": "str", "path": "str", "points": "int"}]}
        ],
        "skipped": SKIPPED,
    },
    "benchmark": {"command": "str", "preset": "str|null", "cells": [BENCHMARK_CELL]},
    "fit": {
        "command": "str",
        "data": "str",
        "test": "str|null",
        "target": "str",
        "inputs": ["str"],
        "rows": {"train": "int", "valid": "int", "heldout": "int"},
        "heldout": "str",
        "candidates": [FIT_CANDIDATE],
        "chosen": "int",
        "formula": "str|null",
        "closest": ("null", {"formula": "str", "found_by": "str", "valid_rel_err": "number"}),
        "baselines": {"linear": FIT_BASELINE, "mlp": FIT_BASELINE},
        "warnings": ["str"],
        "elapsed": "number",
        "run_dir": "str|null",
    },
}

# What the keys mean, where the name alone does not say it (shown in docs/json.md).
NOTES: dict[str, str] = {
    "train": (
        "`seeds` has one entry per reported seed (the selected restart when `restarts` > 1); `solved` is the"
        " count of solved seeds out of `total`; `elapsed` is seconds; `run_dir` is where the run was saved."
    ),
    "eval": (
        "`seeds[].ranges[].name` is `interpolation`, `extrapolation`, or `custom` for a `--range`. Digits runs"
        " (`task.mode: digits`) add each row's `accuracy`: the share of test sequences whose rounded output is"
        " the exact sum, product or count (in `train`, `extrapolate` and `plot` too); their `threshold` is"
        ' `"nan"` (solved means an accuracy of at least 50%). Words and program runs (`task.mode: words`,'
        " `program`) add `accuracy` too: the share of test samples whose rounded output is the integer the text"
        ' denotes; their `threshold` is `"nan"` and solved means an accuracy of at least 90%.'
    ),
    "extrapolate": (
        "`factor` scales the training range: the range of `factor` 10 is the training range × 10. Recurrent"
        " runs also give each row's sequence `length` (in `eval` too)."
    ),
    "inspect-weights": (
        "`weights` maps a matrix name (`W`, `G`, `g`, ...) to its full matrix, a list of rows (a list for"
        " a vector); `raw` (with `--raw`) the raw parameters likewise. `gate_mean` and"
        " `gate_mean_extrapolation` are the mean gate per output on a probe batch from the training and the"
        " extrapolation range, `null` for an ungated unit. `reason` says why `formula` is `null`. Words and"
        " program runs add `tokens`: per token (`id`, as the text writes it), its output read alone (`alone`)"
        " and, when the cell and the output unit are linear, the exact amount it adds to the output when read"
        ' last (`last`, else `null`); and `places`: the outputs on a `text` and on the text it is `of` ("five'
        ' hundred" of "five") and their `ratio`, a learned place value (100) or `null`.'
    ),
    "runs": (
        "`status` is `finished`, `unfinished`, `interrupted` or `broken` (then `error` says why and the other"
        " fields may be `null`). Errors are medians over seeds; `solved` counts solved seeds of `total`. A run"
        " of `nalu fit` has `mode` `fit`, `op` `fit TARGET`, the chosen stack's `units` and `formula`, the"
        " chosen formula's MSE on the validation rows (`interp_mse`) and held-out rows (`extrap_mse`), and"
        " empty `seeds`, `null` `solved` and `total`."
    ),
    "compare": (
        "`differences` maps each dotted config key whose values differ to one value per run, in the order of"
        ' the runs; a key a run\'s config lacks has the value `"(unset)"`. `model.unit` is always a list with'
        " one unit per layer."
    ),
    "plot": (
        "`ladder` is the error curve: `magnitude` is the largest |input| at that `factor`; `median`, `min`,"
        " `max` are over seeds; `threshold` is `null` unless `metric` is `mse`; `solved` counts seeds solved"
        " there. Top-level `solved`/`total` are the counts stored when training finished."
    ),
    "export-tb": (
        "One entry per run: the directory written (`out`) and one file per curve. In `compare`, `plot` and"
        " `export-tb`, `skipped` lists the runs that could not be read (`run`, `error`); the others are reported."
    ),
    "fit": (
        "`candidates` are the closed-form searches and the unit stacks tried, in order; `chosen` indexes the"
        " one shown first. `formula` is the answer, or `null` when no formula fits the validation rows to their"
        " noise level: then `closest` is the nearest formula (`found_by`: the search or stack; `valid_rel_err`:"
        " its error there) and the chosen candidate keeps its withdrawn formula as `rejected_formula`. Errors"
        " are on the train, validation and held-out rows (`heldout` says which rows those are)."
    ),
    "benchmark": (
        "One cell per op × unit (× range pair); `success_rate`, `ci_low`, `ci_high` are fractions (0–1);"
        " `published` is the paper's rate or `null`. On the madsen2020 task a cell is also judged by Madsen &"
        " Johansen's own criterion: `published_threshold` (their MSE threshold for the op), `solved_published`,"
        " `success_rate_published`, `ci_low_published`, `ci_high_published`; `extrapolation_mse` lists each"
        " seed's extrapolation MSE (value-range cells). Digits cells (`--set task.mode=digits`) have `unit`"
        " `accumulator` or `lstm`, `interpolation` `images, T=LENGTH` and `extrapolation` `T=LENGTH` (the"
        " training and the test sequence length), `preset` `null`, and `accuracy_median`: the median over"
        " seeds of the accuracy at the extrapolation length (a fraction; `null` in the other modes). Words and"
        " program cells have `op` `identity`, `unit` `lstm_nalu` or `lstm_linear`, value ranges, and"
        " `accuracy_median` on the extrapolation range."
    ),
}


def _type_ok(value: Any, name: str) -> bool:
    if name == "any":
        return True
    if name == "null":
        return value is None
    if name == "str":
        return isinstance(value, str)
    if name == "bool":
        return isinstance(value, bool)
    if name == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in NON_FINITE
    raise ValueError(f"unknown schema type {name!r}")


def check(value: Any, schema: Any, path: str = "$") -> list[str]:
    """Every place where ``value`` does not match ``schema``, as ``path: problem`` lines (empty when it matches)."""
    if isinstance(schema, tuple):
        tries = [check(value, alternative, path) for alternative in schema]
        return [] if any(not t for t in tries) else min(tries, key=len)
    if isinstance(schema, str):
        if any(_type_ok(value, t) for t in schema.split("|")):
            return []
        return [f"{path}: expected {schema}, got {type(value).__name__} {value!r:.60}"]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{path}: expected a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in check(item, schema[0], f"{path}[{i}]")]
    if not isinstance(value, dict):
        return [f"{path}: expected an object, got {type(value).__name__}"]
    if "*" in schema:
        return [p for k, v in value.items() for p in check(v, schema["*"], f"{path}.{k}")]
    problems = []
    keys = {k.rstrip("?"): k.endswith("?") for k in schema}
    for key, optional in keys.items():
        if key not in value:
            if not optional:
                problems.append(f"{path}: missing key {key!r}")
            continue
        problems += check(value[key], schema[key + "?" if optional else key], f"{path}.{key}")
    problems += [f"{path}: key {k!r} is not in the documented schema" for k in value if k not in keys]
    return problems


def _outline(schema: Any, indent: int) -> list[str]:
    pad = "  " * indent
    if isinstance(schema, str):
        return [schema]
    if isinstance(schema, tuple):
        return ["|".join(_outline(alternative, indent)[0] for alternative in schema)]
    if isinstance(schema, list):
        inner = _outline(schema[0], indent)
        return ["[" + inner[0], *inner[1:-1], inner[-1] + "]"] if len(inner) > 1 else [f"[{inner[0]}]"]
    lines = ["{"]
    for key, sub in schema.items():
        inner = _outline(sub, indent + 1)
        name = "<name>" if key == "*" else key
        lines.append(f'{pad}  "{name}": {inner[0]}')
        lines += inner[1:]
        lines[-1] += ","
    lines[-1] = lines[-1].rstrip(",")
    lines.append(pad + "}")
    return lines


def markdown() -> str:
    """docs/json.md: every command's JSON document as an outline of key: type, with notes."""
    out = [
        "# The `--json` documents",
        "",
        "<!-- generated by `python docs/make_readme.py` from nalu_cli/schema.py; tests/unit/output/test_json_schema.py checks"
        " each command's real output against it -->",
        "",
        "Every command with `--json` prints one JSON document on stdout. Types: `str`, `int`, `bool`, `number`"
        ' (an int or a float; NaN and infinity, which JSON lacks, are the strings `"nan"`, `"inf"`,'
        ' `"-inf"`), `null`, `any`; `a|b` is either; `[T]` a list of T; a key ending in `?` may be absent.'
        " A key always has the same type: a value that can be missing is `null`, never another type.",
        "",
    ]
    for command, schema in SCHEMAS.items():
        out += [f"## `nalu {command} --json`", "", "```text", *_outline(schema, 0), "```", ""]
        if command in NOTES:
            out += [NOTES[command], ""]
    out += [
        "`nalu sweep --json` prints the sweep's merged report (`results.json`); its cells have the"
        " `benchmark` cell keys above.",
        "",
    ]
    return "\n".join(out)
