"""The recipe book's page per task kind: the defaults of the kinds that do not take the feed-forward recipes.

A kind with defaults of its own (recurrent, digits) starts its config from ``kind_defaults(mode, op)`` instead of
the unit × op recipes of ``config.recipes``, and reads a benchmark or sweep grid by its ``KIND_GRIDS`` entry
(default ops and columns, what a column means, whether a preset applies). Adding a kind with defaults of its own
is one entry in ``KIND_DEFAULTS`` and, if it has a grid of its own, one in ``KIND_GRIDS``; nothing else in the
config layer names a kind.
"""

from __future__ import annotations

import copy
from typing import Any

from nalu_cli.config.recipes import COLUMNS
from nalu_cli.names import BASELINE_CELLS


# --- The sequence kinds' own defaults (recurrent and digits tasks); measured in docs/guide/sequences.md and
# docs/guide/digits.md. A sequence kind's config starts from these instead of the feed-forward recipes.
def _recurrent_defaults(output: str, steps: int = 4000, lr: float = 0.05, restarts: int = 1) -> dict[str, Any]:
    # A short Adam second-moment memory (beta2 = 0.9) and a sparsity regulariser ramped in over the last
    # third snap the cell's weights to the accumulator. The loss is the relative MSE (train.loss_scale
    # target): targets are sums over the sequence (hundreds), and with the plain MSE the loss's gradient
    # noise swamps the regulariser under Adam's normalisation. The recurrent block learns at 1/T of the
    # rate (model.recurrent_lr_scale unset). Measured in the README ("Recurrent mode").
    regularizer = {"scale": 1.0, "start": steps * 5 // 8, "end": steps * 7 // 8}
    train = {"steps": steps, "lr": lr, "beta2": 0.9, "regularizer": regularizer, "loss_scale": "target"}
    if restarts > 1:  # each seed trains `restarts` members and keeps the one with the lowest validation error
        train["restarts"] = restarts
    # log_every 500: each check evaluates the extrapolation length (1000 steps per sequence)
    return {"model": {"unit": ["nau", output], "hidden": [2]}, "train": {**train, "log_every": 500}}


# Defaults per op in recurrent mode (they replace the static mode's op defaults), measured in the README.
RECURRENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "add": _recurrent_defaults("nau"),
    "sub": _recurrent_defaults("nau"),
    "identity": _recurrent_defaults("nau"),
    "mul": _recurrent_defaults("nmu", restarts=2),  # 8/10 and 7/10 held-out with one member; 10/10 and 9/10 with two
    "square": _recurrent_defaults("nmu"),
    "div": _recurrent_defaults("nac_mul"),
    "sqrt": _recurrent_defaults("nac_mul"),
}


def _digits_defaults(cell: str, length: int, lengths: list[int], initial_state: str) -> dict[str, Any]:
    # The accumulator starts as the exact one (model.recurrent_init identity) and the NAU/NMU regulariser
    # holds it there from the first step; the relative MSE (train.loss_scale target) keeps that pull from
    # drowning in the loss's gradient (Adam is blind to the loss's scale, so the image network learns as
    # with the plain MSE). model.image_weight_decay stays 0: 1e-6 gained nothing measurable, 1e-5 lost (README).
    # log_every 1000 and valid_samples 200: each check runs the extrapolation length.
    return {
        "task": {"length": length, "extrapolation_length": max(lengths)},
        "model": {"unit": [cell, "nau"], "hidden": [1], "initial_state": initial_state},
        "train": {
            "steps": 6000,
            "lr": 0.01,
            "batch_size": 64,
            "loss_scale": "target",
            "regularizer": {"scale": 1.0, "start": 0, "end": 0},
            "log_every": 1000,
            "valid_samples": 200,
        },
        "eval": {"lengths": lengths, "samples": 1000},
    }


# Defaults per op in digits mode, measured in the README ("Digit images").
DIGITS_DEFAULTS: dict[str, dict[str, Any]] = {
    "add": _digits_defaults("nau", 10, [1, 10, 100, 1000], "zero"),
    "mul": _digits_defaults("nmu", 2, [1, 2, 5, 10, 20], "one"),
}


def _text_defaults(
    interpolation: list[int], extrapolation: list[int], hidden: int, steps: int, stable: bool = False
) -> dict[str, Any]:
    # Token embedding -> LSTM (state and embedding size H) -> NALU on the last state, as Trask et al. 2018
    # (sections 4.3, 4.4); the baseline swaps the NALU for a linear layer (KIND_GRIDS' lstm_linear column). The
    # op is the identity: the target is the integer the text denotes. Plain MSE: Adam does not see the
    # targets' scale; lr 0.03: at 0.01 the linear baseline's
    # output weights (tens, on LSTM states in (-1, 1)) had not grown in 800 steps. log_every 250, valid_samples 500: each check runs an LSTM over every token.
    # Measured in docs/guide/words.md and docs/guide/programs.md (benchmarks/words_table.py, program_table.py).
    # stable (number words): the per-seed gradient norm clipped to 1 (train.clip_grad) and the NALU's log
    # path at eps 0.1 (model.eps). Without them LSTM -> NALU's output stays near 0 (test MAE ~510 on 0-999):
    # the LSTM's states lie in (-1, 1) and the NALU's weights in [-1, 1], so only its multiplicative path
    # reaches hundreds, through log|h| of states near 0, whose gradients (1/|h|) blow the first steps apart.
    # Clipping alone: MAE 15.4; eps 0.1 alone: 20.7; both: 10.4 (seeds 0-2, 2000 steps,
    # benchmarks/words_nalu_probe.py, docs/guide/words.md); the other columns train with them too.
    model: dict[str, Any] = {"unit": ["lstm", "nalu"], "hidden": [hidden]}
    train: dict[str, Any] = {"steps": steps, "lr": 0.03, "batch_size": 64, "log_every": 250, "valid_samples": 500}
    if stable:
        model["eps"] = 0.1
        train["clip_grad"] = 1.0
    return {
        "task": {"op": "identity", "interpolation": [interpolation], "extrapolation": [extrapolation]},
        "model": model,
        "train": train,
        "eval": {"samples": 1000, "ladder": [1.0, 10.0, 100.0, 1000.0]},
    }


# Number words: train on the training part of 0-999, test on 1,000-999,999 (tasks/words.py).
WORDS_DEFAULTS: dict[str, dict[str, Any]] = {
    "identity": _text_defaults([0, 999], [1000, 999_999], 32, 2000, stable=True)
}
# Programs: operands below 10^3 for training, of 4 and 5 digits for the test (tasks/program.py).
PROGRAM_DEFAULTS: dict[str, dict[str, Any]] = {"identity": _text_defaults([0, 999], [1000, 99_999], 64, 2000)}


# The kinds with defaults of their own: kind -> (defaults per op, the op whose defaults an unknown op borrows).
KIND_DEFAULTS: dict[str, tuple[dict[str, dict[str, Any]], str]] = {
    "recurrent": (RECURRENT_DEFAULTS, "mul"),
    "digits": (DIGITS_DEFAULTS, "add"),
    "words": (WORDS_DEFAULTS, "identity"),
    "program": (PROGRAM_DEFAULTS, "identity"),
}


def kind_defaults(mode: str, op: str) -> dict[str, Any] | None:
    """A sequence kind's defaults for ``op`` (a copy), or None for a kind that takes the recipe book's."""
    if mode not in KIND_DEFAULTS:
        return None
    table, fallback = KIND_DEFAULTS[mode]
    return copy.deepcopy(table.get(op, table[fallback]))


def sequence_stack(mode: str, unit: str) -> tuple[str, ...] | None:
    """One unit name as a sequence kind's [CELL, OUTPUT] (``--unit nmu``, a benchmark column), or None where
    the kind keeps the name as it is. Recurrent: the unit's static-task column (``nmu``: NAU cell → NMU
    output; ``nac_mul``: NAC+ cell → NAC• output; ``nau``: NAU → NAU); a baseline cell reads out through a NAU."""
    if mode != "recurrent":
        return None
    if unit in BASELINE_CELLS:
        return (unit, "nau")
    return COLUMNS.get(unit, (unit, unit))


# == Grids of the kinds with defaults of their own (`nalu benchmark`, `nalu sweep`) ====================
# Recurrent mode without a preset: the ops of the README's recurrent table, the default cells and the baseline.
RECURRENT_GRID: tuple[list[str], list[str]] = (["add", "sub", "mul"], ["nau", "nmu", "lstm"])
# Digits mode: sum and product; a product trains at T = 2, so its cells cost a fraction of the sum's (README).
DIGITS_GRID: tuple[list[str], list[str]] = (["add", "mul"], ["accumulator", "lstm"])
# Digits columns: a cell is an op × one of these (no value ranges). ``accumulator`` is the op's own default
# model (DIGITS_DEFAULTS: NAU cell -> NAU output for sums and counts, NMU cell -> NAU output for products);
# ``lstm`` the baseline, torch's LSTM (hidden 16) -> MLP output. Column -> model overrides (None: the op's own).
DIGITS_COLUMNS: dict[str, dict[str, Any] | None] = {
    "accumulator": None,
    "lstm": {"model.unit": ["lstm", "mlp"], "model.hidden": [16]},
}
# Text kinds (words, program): the one op (identity) × three models: the kind's defaults (LSTM -> NALU, column
# lstm_nalu), the baseline (lstm_linear: LSTM -> linear layer, Trask et al.'s "LSTM + linear") and the NAU
# accumulator over the embeddings (nau_accumulator: NAU cell -> NAU output, state size H as the defaults').
TEXT_GRID: tuple[list[str], list[str]] = (["identity"], ["lstm_nalu", "lstm_linear", "nau_accumulator"])
TEXT_COLUMNS: dict[str, dict[str, Any] | None] = {
    "lstm_nalu": None,
    "lstm_linear": {"model.unit": ["lstm", "mlp"]},
    "nau_accumulator": {"model.unit": ["nau", "nau"]},
}
# How a grid reads in a task kind with defaults of its own (other kinds: the recipe book's unit columns under
# a preset, madsen2020 unless named). columns: "units" or "units+cells" (and the baseline cells), or a table
# of named model overrides; preset: "optional" (the kind's own defaults unless one is named) or "none"
# (refused: presets pose value-range tasks); docs: where the kind's defaults are measured.
KIND_GRIDS: dict[str, dict[str, Any]] = {
    "recurrent": {"grid": RECURRENT_GRID, "columns": "units+cells", "preset": "optional"},
    "digits": {"grid": DIGITS_GRID, "columns": DIGITS_COLUMNS, "preset": "none", "docs": "README, 'Digit images'"},
    "words": {"grid": TEXT_GRID, "columns": TEXT_COLUMNS, "preset": "none", "docs": "docs/guide/words.md"},
    "program": {"grid": TEXT_GRID, "columns": TEXT_COLUMNS, "preset": "none", "docs": "docs/guide/programs.md"},
}


def column_names() -> tuple[str, ...]:
    """Every named column of a kind's grid (``accumulator``, ``lstm``, ...): names a grid's ``units`` may hold."""
    names: dict[str, None] = {}
    for entry in KIND_GRIDS.values():
        if isinstance(entry["columns"], dict):
            names |= dict.fromkeys(entry["columns"])
    return tuple(names)
