"""The model each task kind trains, registered once (the kinds themselves are in ``tasks/registry.py``).

A builder takes the run's config (a ``config.schema.Config``; ``models`` never imports ``config``), the
member seeds [M] that initialise it, the model's input count (``Kind.model_inputs``) and the units' options.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from nalu_cli import names
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.models.digits import DigitsModel
from nalu_cli.models.recurrent import RecurrentModel
from nalu_cli.models.text import text_model
from nalu_cli.units.base import UnitOptions

Builder = Callable[[Any, torch.Tensor, int, UnitOptions], nn.Module]


def _feed_forward(config: Any, seeds: torch.Tensor, in_features: int, opts: UnitOptions) -> nn.Module:
    return ArithmeticModel(seeds, in_features, config.model.units(), config.model.hidden, opts)


def _recurrent(config: Any, seeds: torch.Tensor, in_features: int, opts: UnitOptions) -> nn.Module:
    m = config.model
    hidden = m.hidden[0] if m.hidden else 2
    return RecurrentModel(seeds, config.task.vector_size, m.units(), hidden, opts, m.initial_state, m.recurrent_init)


def _digits(config: Any, seeds: torch.Tensor, in_features: int, opts: UnitOptions) -> nn.Module:
    m = config.model
    values = torch.tensor(names.digit_values(config.task.count_digit), dtype=torch.float64)  # [10]
    return DigitsModel(
        seeds, m.units(), m.hidden[0] if m.hidden else 1, m.image_hidden, values, opts, m.initial_state,
        m.recurrent_init, m.image_channels, m.image_weight_decay,
    )  # fmt: skip


# One builder per task kind (tests/unit/tasks/test_kinds.py checks these are tasks.registry.KINDS).
BUILDERS: dict[str, Builder] = {
    "pair": _feed_forward,
    "static": _feed_forward,
    "recurrent": _recurrent,
    "digits": _digits,
    "words": text_model,  # in_features: the kind's vocabulary (Kind.model_inputs)
    "program": text_model,
}


def build(config: Any, seeds: torch.Tensor, in_features: int, opts: UnitOptions) -> nn.Module:
    """The seed-batched model of ``config``'s task kind, initialised from ``seeds`` [M]."""
    return BUILDERS[config.task.mode](config, seeds, in_features, opts)
