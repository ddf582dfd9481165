"""Heim et al. 2020: the neural power unit (NPU) and its real-valued variant (RealNPU)."""

from __future__ import annotations

import math

import torch
from torch import nn

from nalu_cli.units.base import Unit, UnitOptions, _linear


class NPU(Unit):
    """NPU (Heim et al. 2020): z = exp(W_re log r - π W_im k) ⊙ cos(W_im log r + π W_re k),
    r = ĝ|x| + (1 - ĝ) with a relevance gate ĝ in [0, 1], k = 1 where x < 0."""

    kind = "mul"
    real = False

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        r = math.sqrt(6.0 / (in_features + out_features))
        self.W_re = self._uniform((out_features, in_features), -r, r)  # [S, O, I]
        if not self.real:
            # Zero, as in Heim et al.'s reference implementation (NeuralArithmetic.jl: initIm=zeros): the
            # NPU starts as a RealNPU. A Glorot W_im puts a cos(W_im log r) oscillation into the start
            # that the NPU almost never escapes on positive inputs (0/200 seeds solve div, sqrt or square).
            self.W_im = nn.Parameter(torch.zeros(self.num_seeds, out_features, in_features))  # [S, O, I]
        self.g = nn.Parameter(torch.full((self.num_seeds, in_features), 0.5))  # [S, I]; half relevant

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.g[:, None, :]  # [S, 1, I]
        r = g * torch.abs(x) + (1 - g)  # [S, B, I]
        log_r = torch.log(torch.clamp(r, min=self.opts.eps))  # [S, B, I]
        k = (x < 0).to(x.dtype)  # [S, B, I]
        magnitude = _linear(log_r, self.W_re)  # [S, B, O]
        angle = math.pi * _linear(k, self.W_re)  # [S, B, O]
        if not self.real:
            magnitude = magnitude - math.pi * _linear(k, self.W_im)
            angle = angle + _linear(log_r, self.W_im)
        return torch.exp(magnitude) * torch.cos(angle)  # [S, B, O]

    def post_step(self) -> None:
        self.g.detach().clamp_(0.0, 1.0)  # in place on the gate's memory (cheaper than a no_grad block)

    def effective_weights(self) -> dict[str, torch.Tensor]:
        weights = {"W": self.W_re.detach()}
        if not self.real:
            weights["W_im"] = self.W_im.detach()
        weights["g"] = self.g.detach()
        return weights


class RealNPU(NPU):
    """RealNPU: the NPU with W_im = 0."""

    real = True
