"""Trask et al. 2018: the additive NAC, its multiplicative twin NAC•, the NALU that gates between them, and Schlör et al.'s iNALU."""

from __future__ import annotations

import torch

from nalu_cli.units.base import Unit, UnitOptions, _linear


class NACAdd(Unit):
    """NAC+: a = W x with W = tanh(Ŵ) ⊙ σ(M̂), pushing W towards {-1, 0, 1}."""

    kind = "add"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        r = opts.init_range
        self.W_hat = self._uniform((out_features, in_features), -r, r)  # [S, O, I]
        self.M_hat = self._uniform((out_features, in_features), -r, r)  # [S, O, I]

    def weight(self) -> torch.Tensor:
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)  # [S, O, I]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, self.weight())  # [S, B, O]

    def linear_weight(self) -> torch.Tensor | None:
        return self.weight()  # [S, O, I]

    def effective_weights(self) -> dict[str, torch.Tensor]:
        return {"W": self.weight().detach()}


class NACMul(NACAdd):
    """NAC•: m = exp(W log(|x| + ε)); multiplies and divides positive magnitudes."""

    kind = "mul"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_x = torch.log(torch.abs(x) + self.opts.eps)  # [S, B, I]
        return torch.exp(_linear(log_x, self.weight()))  # [S, B, O]

    def linear_weight(self) -> torch.Tensor | None:
        return None  # a product in log space


class NALU(Unit):
    """NALU: y = g ⊙ a + (1 - g) ⊙ m with an input-dependent gate g = σ(G x).

    ``shared_weights`` uses one W for a and m (Trask 2018); otherwise m has its own W (the seed article).
    """

    kind = "gated"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        r = opts.init_range
        shape = (out_features, in_features)
        self.W_hat = self._uniform(shape, -r, r)  # [S, O, I]
        self.M_hat = self._uniform(shape, -r, r)  # [S, O, I]
        if not opts.shared_weights:
            self.W_hat_m = self._uniform(shape, -r, r)  # [S, O, I]
            self.M_hat_m = self._uniform(shape, -r, r)  # [S, O, I]
        self.G = self._normal(shape, 1.0)  # [S, O, I]

    def weight_add(self) -> torch.Tensor:
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)  # [S, O, I]

    def weight_mul(self) -> torch.Tensor:
        if self.opts.shared_weights:
            return self.weight_add()
        return torch.tanh(self.W_hat_m) * torch.sigmoid(self.M_hat_m)  # [S, O, I]

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(_linear(x, self.G))  # [S, B, O]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = _linear(x, self.weight_add())  # [S, B, O]
        log_x = torch.log(torch.abs(x) + self.opts.eps)  # [S, B, I]
        m = torch.exp(_linear(log_x, self.weight_mul()))  # [S, B, O]
        g = self.gate(x)  # [S, B, O]
        return g * a + (1.0 - g) * m

    def effective_weights(self) -> dict[str, torch.Tensor]:
        weights = {"W": self.weight_add().detach()}
        if not self.opts.shared_weights:
            weights["W_m"] = self.weight_mul().detach()
        weights["G"] = self.G.detach()
        return weights


class INALU(Unit):
    """iNALU (Schlör et al. 2020): separate weights, an input-independent gate g = σ(G),
    a clipped multiplicative path and an explicit sign correction for negative inputs."""

    kind = "gated"

    def __init__(self, seeds: torch.Tensor, layer: int, in_features: int, out_features: int, opts: UnitOptions):
        super().__init__(seeds, layer, in_features, out_features, opts)
        r = opts.init_range
        shape = (out_features, in_features)
        self.W_hat = self._uniform(shape, -r, r)  # [S, O, I]
        self.M_hat = self._uniform(shape, -r, r)  # [S, O, I]
        self.W_hat_m = self._uniform(shape, -r, r)  # [S, O, I]
        self.M_hat_m = self._uniform(shape, -r, r)  # [S, O, I]
        self.G = self._normal((out_features,), 1.0)  # [S, O]

    def weight_add(self) -> torch.Tensor:
        return torch.tanh(self.W_hat) * torch.sigmoid(self.M_hat)  # [S, O, I]

    def weight_mul(self) -> torch.Tensor:
        return torch.tanh(self.W_hat_m) * torch.sigmoid(self.M_hat_m)  # [S, O, I]

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.G)[:, None, :]  # [S, 1, O]
        return g.expand(x.shape[0], x.shape[1], self.out_features)  # [S, B, O]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = _linear(x, self.weight_add())  # [S, B, O]
        w_m = self.weight_mul()  # [S, O, I]
        log_x = torch.log(torch.clamp(torch.abs(x), min=self.opts.eps))  # [S, B, I]
        m = torch.exp(torch.clamp(_linear(log_x, w_m), max=20.0))  # [S, B, O]
        w_abs = w_m.abs()[:, None, :, :]  # [S, 1, O, I]
        sign = torch.sign(x)[:, :, None, :]  # [S, B, 1, I]
        s = (sign * w_abs + 1.0 - w_abs).prod(dim=-1)  # [S, B, O]
        g = self.gate(x)  # [S, B, O]
        return g * a + (1.0 - g) * m * s

    def effective_weights(self) -> dict[str, torch.Tensor]:
        return {"W": self.weight_add().detach(), "W_m": self.weight_mul().detach(), "G": self.G.detach()}
