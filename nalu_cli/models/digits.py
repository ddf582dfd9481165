"""The digit-image model: a small image network per 8x8 digit, fed to a recurrent unit cell over the sequence."""

from __future__ import annotations

import math

import torch
from torch import nn

from nalu_cli import rng
from nalu_cli.models.recurrent import RecurrentModel, State
from nalu_cli.names import CLASSES, IMAGE_INIT_STEP, PIXELS
from nalu_cli.units.base import Unit, UnitOptions


def _patch_index() -> torch.Tensor:
    """Pixel index of each 3×3 patch of an 8×8 image, valid positions only: [36, 9] int64."""
    rows = []
    for r in range(6):
        for c in range(6):
            rows.append([(r + i) * 8 + (c + j) for i in range(3) for j in range(3)])
    return torch.tensor(rows, dtype=torch.int64)


class ImageNet(nn.Module):
    """A tiny CNN per seed: 3×3 convolution (C channels, ReLU) → 2×2 max-pool → 10 (softmax) → the
    probability-weighted class value. The convolution is a batched matmul over the image's 36 patches, so
    S networks run as one and each seed's numbers are those it has alone. ``channels`` 0: an MLP instead,
    64 → H (ReLU) → 10."""

    def __init__(self, seeds: torch.Tensor, hidden: int, values: torch.Tensor, channels: int = 0) -> None:
        super().__init__()
        self.seeds: torch.Tensor  # [S] int64 (buffers: they move with .to(device) and are not saved)
        self.values: torch.Tensor  # [10, 1]
        self.patches: torch.Tensor  # [36, 9]
        self.register_buffer("seeds", seeds.clone(), persistent=False)
        self.register_buffer("values", values.to(torch.float32)[:, None], persistent=False)  # [10, 1]
        self.register_buffer("patches", _patch_index(), persistent=False)  # [36, 9]
        self.channels = channels
        # torch.nn's initialisation, U(-1/√fan_in, 1/√fan_in), from the counter-based generator
        if channels:
            self.W1 = self._uniform(0, (9, channels), 1.0 / 3.0)  # [S, 9, C]
            self.b1 = self._uniform(1, (1, channels), 1.0 / 3.0)  # [S, 1, C]
            fan = 9 * channels
        else:
            self.W1 = self._uniform(0, (PIXELS, hidden), 1.0 / math.sqrt(PIXELS))  # [S, 64, H]
            self.b1 = self._uniform(1, (1, hidden), 1.0 / math.sqrt(PIXELS))  # [S, 1, H]
            fan = hidden
        self.W2 = self._uniform(2, (fan, CLASSES), 1.0 / math.sqrt(fan))  # [S, F, 10]
        self.b2 = self._uniform(3, (1, CLASSES), 1.0 / math.sqrt(fan))  # [S, 1, 10]

    def _uniform(self, index: int, shape: tuple[int, ...], bound: float) -> nn.Parameter:
        u = rng.uniform(self.seeds, rng.STREAM_INIT, IMAGE_INIT_STEP + index, shape, torch.float32)
        return nn.Parameter(u * (2 * bound) - bound)  # [S, *shape]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """images [S, N, 64] -> [S, N, F]."""
        if not self.channels:
            return torch.relu(torch.baddbmm(self.b1, images, self.W1))  # [S, N, H]
        s, n, _ = images.shape
        patches = images[:, :, self.patches].reshape(s, n * 36, 9)  # [S, N·36, 9]
        maps = torch.relu(torch.baddbmm(self.b1, patches, self.W1))  # [S, N·36, C]
        maps = maps.reshape(s, n, 3, 2, 3, 2, self.channels)  # [S, N, 3, 2, 3, 2, C]: 6×6 as 3×2 by 3×2
        return maps.amax(dim=(3, 5)).reshape(s, n, 9 * self.channels)  # [S, N, 9·C]

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """images [S, N, 64] -> class probabilities [S, N, 10]."""
        return torch.softmax(torch.baddbmm(self.b2, self.features(images), self.W2), dim=-1)  # [S, N, 10]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [S, N, 64] -> the number each shows, d [S, N, 1]."""
        p = self.probabilities(images)  # [S, N, 10]
        return torch.matmul(p, self.values.to(p.dtype))  # [S, N, 1]


class DigitsModel(nn.Module):
    """Image network on each image, then ``RecurrentModel`` (vector size 1) over the numbers it reads.

    ``recurrent_init`` "identity" starts the accumulator as the exact one, h_t = h_{t-1} + d_t (NAU cell) or
    h_t = h_{t-1} · d_t (NMU cell) and y = h_T[0]; its weights then train with the image network. "random":
    the units' own initialisation. Measured in the README: from a random start the sum's NAU and the image
    network settle on a scaled solution (weights ~0.5-0.8) that the softmax head cannot undo.
    """

    def __init__(
        self,
        seeds: torch.Tensor,
        units: list[str],
        hidden: int,
        image_hidden: int,
        values: torch.Tensor,
        opts: UnitOptions,
        initial_state: str,
        recurrent_init: str = "identity",
        channels: int = 0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.image = ImageNet(seeds, image_hidden, values, channels)
        self.weight_decay = weight_decay
        self.accumulator = RecurrentModel(seeds, 1, units, hidden, opts, initial_state, recurrent_init)
        w_cell = getattr(self.accumulator.cell, "W", None)
        w_out = getattr(self.accumulator.output, "W", None)
        if recurrent_init == "identity" and units[0] in ("nau", "nmu") and isinstance(w_cell, torch.Tensor):
            with torch.no_grad():
                w_cell.zero_()
                w_cell[:, :, :hidden] = torch.eye(hidden)  # h_{t-1}[j] -> h_t[j]
                w_cell[:, 0, hidden] = 1.0  # d_t -> h_t[0]
                if units[1] in ("nau", "nmu", "mlp") and isinstance(w_out, torch.Tensor):
                    w_out.zero_()  # NAU: no other input; NMU: weight 0 is a factor 1
                    w_out[:, 0, 0] = 1.0  # y = h_T[0]
                    bias = getattr(self.accumulator.output, "b", None)
                    if isinstance(bias, torch.Tensor):
                        bias.zero_()

    @property
    def units(self) -> list[Unit]:
        return self.accumulator.units

    def digit_values(self, x: torch.Tensor) -> torch.Tensor:
        """x [S, B, T, 64] -> d [S, B, T, 1]."""
        s, b, t, _ = x.shape
        return self.image(x.reshape(s, b * t, PIXELS)).reshape(s, b, t, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [S, B, T, 64] -> y [S, B, 1]."""
        return self.accumulator(self.digit_values(x))

    def forward_with_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The accumulator's unit inputs at the last step and its output (feeds gate readouts)."""
        return self.accumulator.forward_with_inputs(self.digit_values(x))

    def initial_state(self, batch: int, like: torch.Tensor) -> State:
        return self.accumulator.initial_state(batch, like)

    def step(self, state: State, images: torch.Tensor) -> State:
        """One image per sequence: images [S, B, 64] -> the next state."""
        return self.accumulator.step(state, self.image(images))

    def readout(self, state: State) -> torch.Tensor:
        return self.accumulator.readout(state)  # [S, B, 1]

    def lr_scales(self, recurrent: float) -> list[torch.Tensor | None]:
        """Per parameter: None for the image network, the accumulator's own scales after it."""
        return [None for _ in self.image.parameters()] + self.accumulator.lr_scales(recurrent)

    def regularizer(self) -> torch.Tensor:
        """The accumulator's sparsity regulariser plus ``weight_decay`` · the image network's squared weights: [S]."""
        total = self.accumulator.regularizer()
        if self.weight_decay:
            for w in (self.image.W1, self.image.W2):
                total = total + self.weight_decay * (w * w).sum(dim=(1, 2))
        return total

    @torch.no_grad()
    def post_step(self) -> None:
        self.accumulator.post_step()
