"""Stacks of units built from the model config, batched over seeds.

``hidden: []`` is one layer (inputs -> 1 output); ``hidden: [2]`` is the paper's two-layer model
(inputs -> 2 -> 1). ``unit`` names one unit for every layer or a list with one unit per layer, e.g.
``[nau, nmu]`` (an NAU selects sums, an NMU multiplies them).
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from nalu_cli.units.base import Unit, UnitOptions, activation, linear_with_riders
from nalu_cli.units.registry import UNITS


class ArithmeticModel(nn.Module):
    """Layers of units mapping x [S, B, I] to y [S, B, 1]; S independent models in one module."""

    def __init__(
        self,
        seeds: torch.Tensor,
        in_features: int,
        units: list[str],
        hidden: list[int],
        opts: UnitOptions,
    ) -> None:
        super().__init__()
        sizes = [in_features, *hidden, 1]
        if len(units) != len(sizes) - 1:
            raise ValueError(f"{len(units)} units given for {len(sizes) - 1} layers")
        self.unit_names = list(units)
        self.layers = nn.ModuleList(UNITS[name](seeds, i, sizes[i], sizes[i + 1], opts) for i, name in enumerate(units))
        # MLP layers get the activation between them; the output layer stays linear.
        self.activations = nn.ModuleList(
            activation(opts.mlp_activation, seeds.shape[0]) if name == "mlp" and i < len(units) - 1
            else nn.Identity()
            for i, name in enumerate(units)
        )  # fmt: skip

    @property
    def units(self) -> list[Unit]:
        return [layer for layer in self.layers if isinstance(layer, Unit)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, act in self._steps:
            x = layer(x) if act is None else act(layer(x))  # [S, B, O_layer]
        return x  # [S, B, 1]

    def first_layer_is_linear(self) -> bool:
        """Whether ``forward_with_riders`` computes the riders in the first layer's product."""
        first, act = self._steps[0]
        with torch.no_grad():
            return act is None and isinstance(first, Unit) and first.linear_weight() is not None

    def forward_with_riders(self, x: torch.Tensor, riders: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output [S, B, 1] and x riders^T [S, B, R] (riders [S, R, I], constant), computed in the first
        layer's product when that layer is linear (``Unit.linear_weight``): the batch is read once."""
        (first, act), *rest = self._steps
        w = first.linear_weight() if act is None and isinstance(first, Unit) else None
        if w is None:
            return self(x), torch.bmm(x, riders.transpose(1, 2))
        h, r = linear_with_riders(x, w, riders)  # [S, B, O], [S, B, R]
        for layer, act in rest:
            h = layer(h) if act is None else act(layer(h))  # [S, B, O_layer]
        return h, r

    @functools.cached_property
    def _steps(self) -> tuple[tuple[nn.Module, nn.Module | None], ...]:
        """(layer, activation or None for the identity): a module call less per layer in every step."""
        return tuple(
            (layer, None if isinstance(act, nn.Identity) else act)
            for layer, act in zip(self.layers, self.activations, strict=True)
        )

    def forward_with_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The input of every layer and the final output: [x, h1, ..., y]."""
        values = [x]
        for layer, act in zip(self.layers, self.activations, strict=True):
            x = act(layer(x))
            values.append(x)
        return values

    def regularizer(self) -> torch.Tensor:
        """Sum of the layers' sparsity regularisers per seed: [S]."""
        return torch.stack([unit.regularizer() for unit in self.units]).sum(dim=0)

    def post_step(self) -> None:
        """Each unit's post-step (NAU/NMU clamps); the units that have none are skipped."""
        for unit in self._post_step_units:
            unit.post_step()

    @functools.cached_property
    def _post_step_units(self) -> tuple[Unit, ...]:
        return tuple(u for u in self.units if type(u).post_step is not Unit.post_step)
