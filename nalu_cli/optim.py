"""Adam for parameters batched over seeds, with per-seed masking.

Written out with plain elementwise tensor operations (no fused kernels), so each seed's update is
bit-identical whatever other seeds share the tensors: a fused multiply-add in a vectorised kernel could
round differently from its scalar tail. A seed whose gradient or new weights are not finite keeps its old
weights and optimiser state and is reported dead; no other seed is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def per_seed_all_finite(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """True for seed s when every entry of every tensor's slice s is finite. Each [S, ...] -> [S] bool."""
    ok = torch.ones(tensors[0].shape[0], dtype=torch.bool, device=tensors[0].device)
    for t in tensors:
        ok = ok & torch.isfinite(t).reshape(t.shape[0], -1).all(dim=1)
    return ok


def _seed_view(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A [S] mask shaped to broadcast against ``like`` [S, ...]."""
    return mask.reshape(-1, *([1] * (like.dim() - 1)))


class BatchedAdam:
    """Adam (Kingma & Ba 2015) over parameters whose first dimension is the seed."""

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        lr_scales: Sequence[torch.Tensor | None] | None = None,
    ):
        """``lr_scales``: per parameter, None or a tensor broadcast against it that multiplies the learning
        rate entry by entry (a per-block learning rate, e.g. the recurrent block of a recurrent cell)."""
        self.params = list(params)
        self.lr_scales = list(lr_scales) if lr_scales is not None else [None] * len(self.params)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: float, ok: torch.Tensor) -> torch.Tensor:
        """Apply one update to the seeds where ``ok`` [S] is True; returns the seeds updated (finite)."""
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        correction1 = 1.0 - b1**self.t
        correction2 = 1.0 - b2**self.t
        new_m, new_v, new_p = [], [], []
        for p, g, m, v, scale in zip(self.params, grads, self.m, self.v, self.lr_scales, strict=True):
            m_next = m * b1 + g * (1.0 - b1)
            v_next = v * b2 + (g * g) * (1.0 - b2)
            denom = torch.sqrt(v_next / correction2) + self.eps
            p_step = (m_next / correction1) / denom * lr
            p_next = p - (p_step if scale is None else p_step * scale)
            new_m.append(m_next)
            new_v.append(v_next)
            new_p.append(p_next)
        ok = ok & per_seed_all_finite(new_p)
        for p, m, v, p_next, m_next, v_next in zip(self.params, self.m, self.v, new_p, new_m, new_v, strict=True):
            keep = _seed_view(ok, p)
            p.copy_(torch.where(keep, p_next, p))
            m.copy_(torch.where(keep, m_next, m))
            v.copy_(torch.where(keep, v_next, v))
        return ok

    def state_dict(self) -> dict[str, object]:
        return {"t": self.t, "m": [m.detach().cpu() for m in self.m], "v": [v.detach().cpu() for v in self.v]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        m_list = state["m"]
        v_list = state["v"]
        assert isinstance(m_list, list) and isinstance(v_list, list)
        if len(m_list) != len(self.m) or len(v_list) != len(self.v):
            raise ValueError("optimiser state does not match the model's parameters")
        for dst, src in zip(self.m + self.v, m_list + v_list, strict=True):
            if not isinstance(src, torch.Tensor) or src.shape != dst.shape:
                raise ValueError("optimiser state does not match the model's parameters")
            dst.copy_(src)
        t = state["t"]
        if not isinstance(t, int) or t < 0:
            raise ValueError("optimiser step count is invalid")
        self.t = t


def clip_per_seed(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """Scale each seed's gradient so its global L2 norm is at most ``max_norm``."""
    sq = torch.stack([(g * g).reshape(g.shape[0], -1).sum(dim=1) for g in grads]).sum(dim=0)  # [S]
    factor = torch.clamp(max_norm / (torch.sqrt(sq) + 1e-6), max=1.0)  # [S]
    return [g * _seed_view(factor, g) for g in grads]
