"""Mistry et al. (2022): the NMRU, an NMU over the inputs and their reciprocals, with sign retrieval.

For inputs x [S, B, I] the unit reads x̃ = [x, 1/x] [S, B, 2I] and computes, per output o,

    magnitude_o = Π_i (W_oi |x̃_i| + 1 - W_oi)          (the NMU product over |x̃|)
    sign_o      = cos(π Σ_i W_oi [x̃_i < 0])             (Real NPU's sign retrieval)
    z_o         = sign_o · magnitude_o

with W [S, O, 2I] clamped to [0, 1] after each step, initialised U[0.25, 0.75] (the NMU's), and the NMU's
sparsity regulariser mean(min(W, 1 - W)). With W binary the unit is exactly Π x_i^(W_oi - W_o,I+i): a product
of powers -1, 0 or 1, so one NMRU after an NAU computes a ratio of two subset sums a / b exactly (weights
[1, 0 | 0, 1]), and a product a · b ([1, 1 | 0, 0]). Mistry et al. train it with gradient-norm clipping
(the recipe book sets ``train.clip_grad``).

Read from their code (``ConcatReciprocalNMULayer`` and its sign-retrieval variant in the nalm-robustness
repository), with one deliberate difference: they add float32's machine ε to x before the reciprocal while
training and take the exact reciprocal when evaluating; this unit has no train/eval mode, so it takes
1/max(|x|, ε) always, which is the exact reciprocal wherever |x| ≥ ε = 1.19·10⁻⁷ (every range a division
task accepts keeps away from 0).
"""

from __future__ import annotations

import math

import torch

from nalu_cli.units.base import Unit, UnitOptions

RECIPROCAL_EPS = 1.1920928955078125e-07  # float32's machine ε: the smallest |x| whose reciprocal is taken as is


class NMRU(Unit):
    """NMRU: z = cos(π W k) · Π (W |[x, 1/x]| + 1 - W), k = [x < 0, 1/x < 0]; W [S, O, 2I] in [0, 1]."""

    kind = "mul"  # read back as a product of powers (``effective_weights``: W = W_x - W_1/x)

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        self.W = self._uniform((out_features, 2 * in_features), 0.25, 0.75)  # [S, O, 2I]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.W.to(x.dtype).unsqueeze(1)  # [S, 1, O, 2I]
        size = x.abs()  # [S, B, I]
        both = torch.cat([size, 1.0 / size.clamp(min=RECIPROCAL_EPS)], dim=-1)  # [S, B, 2I]: |x̃|
        magnitude = (w * both.unsqueeze(2) + (1.0 - w)).prod(dim=-1)  # [S, B, O]: exact for w in {0, 1}
        negative = (x < 0).to(x.dtype)  # [S, B, I]: 1/x has the sign of x
        if not bool(negative.any()):
            return magnitude  # cos(0) = 1 exactly: positive inputs skip the sign term
        k = torch.cat([negative, negative], dim=-1) * math.pi  # [S, B, 2I]
        sign = torch.cos(torch.bmm(k, w.squeeze(1).transpose(1, 2)))  # [S, B, O]
        return sign * magnitude

    def regularizer(self) -> torch.Tensor:
        return torch.minimum(self.W, 1.0 - self.W).mean(dim=(1, 2))  # [S]

    def post_step(self) -> None:
        self.W.detach().clamp_(0.0, 1.0)  # in place on the weights' memory

    def effective_weights(self) -> dict[str, torch.Tensor]:
        """The power of each input (``W``: W_x - W_1/x, [S, O, I], read back as a product of powers) and
        the two halves as trained (``W_x``, ``W_recip``: the sparsity error counts them, not their difference)."""
        w = self.W.detach()
        n = self.in_features
        return {"W": w[..., :n] - w[..., n:], "W_x": w[..., :n], "W_recip": w[..., n:]}
