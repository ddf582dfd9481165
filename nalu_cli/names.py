"""Names and small facts every layer may read, with no torch import: units, ops, modes, cells, presets.

This is the one place these names are written. The CLI's help and shell completion, the config schema and the
registries that map a name to its class all read them from here (``units.registry`` checks that it registers
exactly these units; ``config.resolve`` that its presets are these).
"""

from __future__ import annotations

UNITS = ("nac_add", "nac_mul", "nalu", "nau", "nmu", "inalu", "npu", "realnpu", "nmru", "mlp")
# Names users may type for the same unit.
UNIT_ALIASES = {"nac": "nac_add", "nac+": "nac_add", "nac*": "nac_mul", "nac•": "nac_mul", "linear": "mlp"}
ACTIVATIONS = (
    "relu", "relu6", "tanh", "sigmoid", "elu", "selu", "prelu", "softplus", "leaky_relu", "none",
)  # fmt: skip

OPS = ("add", "sub", "mul", "div", "square", "sqrt", "identity")

# Recurrent cells that are no arithmetic unit, and cells whose recurrent block can start as the identity.
BASELINE_CELLS = ("lstm", "rnn")
IDENTITY_INIT_CELLS = ("nau", "mlp")

PRESETS = ("madsen2020", "trask2018", "trask2018_fig1")
SORT_KEYS = ("name", "date", "op", "unit", "steps", "interp", "extrap", "solved")  # nalu runs --sort
EXECUTORS = ("local", "ray")  # nalu sweep --executor

# Digit images (scikit-learn's 8x8 digits): what the task draws and the model reads.
PIXELS = 64  # 8 × 8
CLASSES = 10
IMAGE_INIT_STEP = 800_000  # generator steps of the image network's initial weights (away from the units')


def digit_values(count_digit: int | None) -> list[float]:
    """The number each digit class stands for: 0..9, or the indicator of ``count_digit`` (counting)."""
    return [float(c == count_digit) if count_digit is not None else float(c) for c in range(CLASSES)]


def listing(names: tuple[str, ...] | dict[str, str]) -> str:
    """``a, b, c``: names as a help text lists them."""
    return ", ".join(names)
