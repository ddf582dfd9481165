"""The text model (number words, small programs): a token embedding, a recurrent cell over the embeddings and
an output unit on the last state.

x [S, B, L] holds token ids (in the run's float dtype; 0 is padding, the tasks' convention in
``tasks/text.py``). Each seed has its own embedding E [S, V, H] (V tokens, H the state size), drawn from the
counter-based generator as U(-1, 1), its own cell (an LSTM, batched over seeds, or any unit) over
[h_{t-1}, E[x_t]] and its own output unit on h_L (``linear``/``mlp`` for the baseline, NALU,
NAU, …). On a padding token the state is kept as it is (``torch.where``), so a text's output is the same
whatever the padded length, and a seed's numbers are those it has alone.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nalu_cli import rng
from nalu_cli.names import IDENTITY_INIT_CELLS
from nalu_cli.units.base import Unit, UnitOptions
from nalu_cli.units.registry import UNITS

State = Any  # h [S, B, H], or (h, c) for the LSTM

EMBED_INIT_STEP = 700_000  # generator step of the embedding's initial values (away from the units' and cells')
LSTM_INIT_STEP = 700_100  # the LSTM's weights


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a [S, N, K] @ b [S, K, M] per seed, the same floats whatever the batch of seeds: one seed is computed as
    a batch of two copies (stride 0, no copy), which takes MKL's batched path (as ``units.base._matmul_wt``)."""
    if a.shape[0] == 1:
        return torch.bmm(a.expand(2, -1, -1), b.expand(2, -1, -1))[:1]
    return torch.bmm(a, b)


def _keep(pad: torch.Tensor, old: State, new: State) -> State:
    """``old`` where the token is padding (pad [S, B, 1] bool), ``new`` elsewhere; states may be (h, c) pairs."""
    if isinstance(new, tuple):
        return tuple(torch.where(pad, o, n) for o, n in zip(old, new, strict=True))
    return torch.where(pad, old, new)


class BatchedLSTM(nn.Module):
    """An LSTM cell with one parameter set per seed, run for all seeds at once by batched products (torch's own
    ``LSTMCell`` equations and gate order i, f, g, o; U(-1/√H, 1/√H) initialisation from the generator)."""

    def __init__(self, seeds: torch.Tensor, in_features: int, hidden: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(hidden)

        def uniform(i: int, shape: tuple[int, int]) -> nn.Parameter:
            u = rng.uniform(seeds, rng.STREAM_INIT, LSTM_INIT_STEP + i, shape, torch.float32)
            return nn.Parameter(u * (2 * bound) - bound)  # [S, *shape]

        self.W_ih = uniform(0, (in_features, 4 * hidden))  # [S, I, 4H]
        self.W_hh = uniform(1, (hidden, 4 * hidden))  # [S, H, 4H]
        self.b = uniform(2, (1, 4 * hidden))  # [S, 1, 4H]: torch's two biases as one
        self.hidden = hidden

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """x [S, B, I], state (h, c) [S, B, H] each -> the next (h, c)."""
        h, c = state
        gates = _bmm(x, self.W_ih) + self.b + _bmm(h, self.W_hh)  # [S, B, 4H]
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class TextModel(nn.Module):
    """Embedding [S, V, H] → cell over time (padding skipped) → output unit on the last state: y [S, B, 1].

    The cell is ``lstm`` (``BatchedLSTM``) or a unit over [h_{t-1}, e_t] (its h block starting as the
    identity for NAU and linear cells, as ``recurrent.RecurrentModel``)."""

    def __init__(
        self,
        seeds: torch.Tensor,
        vocabulary: int,
        units: list[str],
        hidden: int,
        opts: UnitOptions,
        recurrent_init: str = "identity",
    ) -> None:
        super().__init__()
        if len(units) != 2:
            raise ValueError(f"a text model names two units (cell, output), not {len(units)}")
        u = rng.uniform(seeds, rng.STREAM_INIT, EMBED_INIT_STEP, (vocabulary, hidden), torch.float32)
        self.embedding = nn.Parameter(u * 2.0 - 1.0)  # [S, V, H]
        self.hidden = hidden
        self.cell: nn.Module
        if units[0] == "lstm":
            self.cell = BatchedLSTM(seeds, hidden, hidden)
        else:
            self.cell = UNITS[units[0]](seeds, 0, 2 * hidden, hidden, opts)
            w = getattr(self.cell, "W", None)
            if recurrent_init == "identity" and isinstance(w, nn.Parameter) and units[0] in IDENTITY_INIT_CELLS:
                with torch.no_grad():
                    w[:, :, :hidden] = torch.eye(hidden)
        self.output = UNITS[units[1]](seeds, 1, hidden, 1, opts)

    @property
    def units(self) -> list[Unit]:
        return [m for m in (self.cell, self.output) if isinstance(m, Unit)]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids x [S, B, L] -> embeddings [S, B, L, H], as one-hot rows times E: a batched product, whose
        gradient is one too (a gather's scatter-add backward sums in an order that depends on the batch of seeds)."""
        s, b, length = x.shape
        one_hot = torch.nn.functional.one_hot(x.to(torch.int64), self.embedding.shape[1])  # [S, B, L, V]
        e = _bmm(one_hot.reshape(s, b * length, -1).to(self.embedding.dtype), self.embedding)  # [S, B·L, H]
        return e.reshape(s, b, length, self.hidden).to(x.dtype)

    def step(self, state: State, e_t: torch.Tensor) -> State:
        """One token: e_t [S, B, H] -> the next state ((h, c) for the LSTM, h [S, B, H] for a unit cell)."""
        if isinstance(self.cell, BatchedLSTM):
            return self.cell(e_t, state)
        return self.cell(torch.cat([state, e_t], dim=-1))

    def last_state(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The hidden state after the last token and the embeddings: (h [S, B, H], e [S, B, L, H])."""
        e = self.embed(x)
        pad = (x == 0)[..., None]  # [S, B, L, 1]
        h = torch.zeros(x.shape[0], x.shape[1], self.hidden, dtype=e.dtype, device=e.device)  # [S, B, H]
        state: State = (h, torch.zeros_like(h)) if isinstance(self.cell, BatchedLSTM) else h
        for t in range(x.shape[2]):
            state = _keep(pad[:, :, t], state, self.step(state, e[:, :, t]))
        return (state[0] if isinstance(state, tuple) else state), e

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [S, B, L] token ids -> y [S, B, 1]."""
        return self.output(self.last_state(x)[0])  # type: ignore[no-any-return]

    def forward_with_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each unit's input at the last token and the output (feeds gate readouts): [[h, e], h_L, y] with a
        unit cell, [h_L, y] with the LSTM (its only unit is the output)."""
        h, e = self.last_state(x)
        y = self.output(h)
        if len(self.units) == 2:
            return [torch.cat([h, e[:, :, -1]], dim=-1), h, y]
        return [h, y]

    def regularizer(self) -> torch.Tensor:
        """The units' sparsity regularisers per seed: [S]."""
        total = torch.zeros(self.embedding.shape[0], dtype=self.embedding.dtype, device=self.embedding.device)
        for unit in self.units:
            total = total + unit.regularizer()
        return total

    @torch.no_grad()
    def post_step(self) -> None:
        for unit in self.units:
            unit.post_step()

    def formula_reason(self) -> str | None:
        """Why no formula is read back: a text model's cell reads embeddings, not numbers."""
        return "a text model's cell reads token embeddings; its output unit's weights are the readout"


def text_model(config: Any, seeds: torch.Tensor, vocabulary: int, opts: UnitOptions) -> nn.Module:
    """The text model of a words or program config (``vocabulary``: the kind's ``model_inputs``)."""
    m = config.model
    return TextModel(seeds, vocabulary, m.units(), m.hidden[0] if m.hidden else 16, opts, m.recurrent_init)
