"""Recurrent models: a cell of any unit applied over time, then an output unit (Trask 2018's recurrent task)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nalu_cli import rng
from nalu_cli.names import BASELINE_CELLS, IDENTITY_INIT_CELLS
from nalu_cli.units.base import Unit, UnitOptions
from nalu_cli.units.registry import UNITS

State = Any  # a tensor [S, B, H], or (h, c) for the LSTM


class TorchCell(nn.Module):
    """torch's ``LSTMCell``/``RNNCell`` with one parameter set per seed (leading dim S), via ``functional_call``.

    Parameters are drawn from the counter-based generator, U(-1/√H, 1/√H) as torch's own initialisation,
    so a seed starts from the same weights whichever seeds share the batch.
    """

    def __init__(self, kind: str, seeds: torch.Tensor, in_features: int, hidden: int) -> None:
        super().__init__()
        self.kind = kind
        template = nn.LSTMCell(in_features, hidden) if kind == "lstm" else nn.RNNCell(in_features, hidden)
        self.template = [template.to("meta")]  # a list, so it is not registered as a submodule
        bound = 1.0 / math.sqrt(hidden)
        for i, (name, p) in enumerate(template.named_parameters()):
            u = rng.uniform(seeds, rng.STREAM_INIT, 900_000 + i, tuple(p.shape), torch.float32)
            setattr(self, name, nn.Parameter(u * (2 * bound) - bound))  # [S, *shape]
        self.names = [name for name, _ in template.named_parameters()]

    def forward(self, x: torch.Tensor, state: State) -> State:
        """x: [S, B, I], state [S, B, H] (or a pair) -> the next state. One call per seed: torch's fused
        cells have no batching rule for ``vmap``; the baseline is not what runs need to be fast."""
        from torch.func import functional_call

        module = self.template[0]
        outs = []
        for i in range(x.shape[0]):
            params = {name: getattr(self, name)[i] for name in self.names}
            s_i = tuple(s[i] for s in state) if isinstance(state, tuple) else state[i]
            outs.append(functional_call(module, params, (x[i], s_i)))
        if isinstance(outs[0], tuple):
            return tuple(torch.stack(parts) for parts in zip(*outs, strict=True))
        return torch.stack(outs)


class RecurrentModel(nn.Module):
    """cell over [h_{t-1}, x_t] (hidden size H) -> output unit on h_T; S independent models in one module."""

    def __init__(
        self,
        seeds: torch.Tensor,
        vector_size: int,
        units: list[str],
        hidden: int,
        opts: UnitOptions,
        initial_state: str = "zero",
        recurrent_init: str = "identity",
    ) -> None:
        super().__init__()
        if len(units) != 2:
            raise ValueError(f"a recurrent model names two units (cell, output), not {len(units)}")
        self.unit_names = list(units)
        self.hidden = hidden
        self.vector_size = vector_size
        cell_name, out_name = units
        self.cell: nn.Module
        if cell_name in BASELINE_CELLS:
            self.cell = TorchCell(cell_name, seeds, vector_size, hidden)
        else:
            self.cell = UNITS[cell_name](seeds, 0, hidden + vector_size, hidden, opts)
            w = getattr(self.cell, "W", None)
            if recurrent_init == "identity" and isinstance(w, nn.Parameter) and cell_name in IDENTITY_INIT_CELLS:
                # IRNN (Le et al. 2015): the h_{t-1} -> h_t block starts as the identity, so the cell starts
                # as an accumulator instead of a decaying average (a local minimum a random start falls into).
                with torch.no_grad():
                    w[:, :, :hidden] = torch.eye(hidden)
        self.output = UNITS[out_name](seeds, 1, hidden, 1, opts)
        self.h0: nn.Parameter | None = None
        self.initial_value = initial_state
        if initial_state == "learned":
            self.h0 = nn.Parameter(torch.zeros(seeds.shape[0], hidden))  # [S, H]

    def lr_scales(self, recurrent: float) -> list[torch.Tensor | None]:
        """Per parameter (in ``parameters()`` order), a learning-rate multiplier or None: ``recurrent`` on the
        cell's h_{t-1} -> h_t block. A change of that block moves h_T about T/2 times as much as the same
        change of an input weight (it acts on the state summed so far at every step), and Adam steps every
        entry by about the learning rate whatever its gradient's size, so the block gets a smaller rate."""
        w = getattr(self.cell, "W", None)
        scales: list[torch.Tensor | None] = []
        for p in self.parameters():
            if w is not None and p is w:
                scale = torch.ones(1, *p.shape[1:], dtype=p.dtype, device=p.device)  # [1, H, H + V]
                scale[:, :, : self.hidden] = recurrent
                scales.append(scale)
            else:
                scales.append(None)
        return scales

    @property
    def units(self) -> list[Unit]:
        return [m for m in (self.cell, self.output) if isinstance(m, Unit)]

    def initial_state(self, batch: int, like: torch.Tensor) -> State:
        s = like.shape[0]
        if self.h0 is not None:
            h = self.h0[:, None, :].to(like.dtype).expand(s, batch, self.hidden)  # [S, B, H]
        else:  # "zero", or "one": the neutral start of a product (digits mode's NMU cell)
            fill = 1.0 if self.initial_value == "one" else 0.0
            h = torch.full((s, batch, self.hidden), fill, dtype=like.dtype, device=like.device)  # [S, B, H]
        if isinstance(self.cell, TorchCell) and self.cell.kind == "lstm":
            return (h, torch.zeros_like(h))
        return h

    def step(self, state: State, x_t: torch.Tensor) -> State:
        """One time step. x_t: [S, B, V] -> the next state."""
        if isinstance(self.cell, TorchCell):
            return self.cell(x_t, state)
        return self.cell(torch.cat([state, x_t], dim=-1))  # [S, B, H]

    def hidden_of(self, state: State) -> torch.Tensor:
        return state[0] if isinstance(state, tuple) else state  # [S, B, H]

    def readout(self, state: State) -> torch.Tensor:
        return self.output(self.hidden_of(state))  # [S, B, 1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [S, B, T, V] -> y [S, B, 1]."""
        state = self.initial_state(x.shape[1], x)
        for t in range(x.shape[2]):
            state = self.step(state, x[:, :, t])
        return self.readout(state)

    def forward_with_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each unit's input at the last step and the output: [[h_{T-1}, x_T], h_T, y] (feeds gate readouts)."""
        state = self.initial_state(x.shape[1], x)
        for t in range(x.shape[2] - 1):
            state = self.step(state, x[:, :, t])
        cell_in = torch.cat([self.hidden_of(state), x[:, :, -1]], dim=-1)  # [S, B, H + V]
        state = self.step(state, x[:, :, -1])
        h = self.hidden_of(state)
        return [cell_in, h, self.output(h)]

    def regularizer(self) -> torch.Tensor:
        """Sum of the units' sparsity regularisers per seed: [S]."""
        p = next(self.parameters())
        total = torch.zeros(p.shape[0], dtype=p.dtype, device=p.device)
        for unit in self.units:
            total = total + unit.regularizer()
        return total

    @torch.no_grad()
    def post_step(self) -> None:
        for unit in self.units:
            unit.post_step()
