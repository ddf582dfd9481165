"""The MLP baseline layer: a seed-batched linear layer with an activation (Trask et al.'s Figure 1)."""

from __future__ import annotations

import math

import torch

from nalu_cli.units.base import Unit, UnitOptions, _linear


class MLPLayer(Unit):
    """A linear layer with bias (the activation is applied by the model between layers)."""

    kind = "mlp"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        bound = 1.0 / math.sqrt(in_features)
        self.W = self._uniform((out_features, in_features), -bound, bound)  # [S, O, I]
        self.b = self._uniform((out_features,), -bound, bound)  # [S, O]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, self.W) + self.b[:, None, :]  # [S, B, O]
