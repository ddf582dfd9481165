"""Adam for parameters batched over seeds, with per-seed masking: the one Adam of the package.

Written out with plain elementwise tensor operations (no fused kernels), so each seed's update is
bit-identical whatever other seeds share the tensors: a fused multiply-add in a vectorised kernel could
round differently from its scalar tail. All parameters live in one flat buffer, so an update is a handful of
operations. A seed whose gradient or new weights are not finite keeps its old weights and optimiser state
and is reported dead; no other seed is touched.

Two ways to step: ``step`` (training: propose, check, commit the seeds that stay finite) and ``step_fused``
(``nalu fit``: six in-place operations, every member updated, the finite ones reported), where a step is so
small that the optimiser's per-operation overhead is a good part of it.
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


def finite(t: torch.Tensor) -> torch.Tensor:
    """``isfinite`` in two operations: x * 0 is 0 for finite x and NaN for ±inf and NaN. Any shape -> bool."""
    return t * 0.0 == 0.0


def _seed_view(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A [S] mask shaped to broadcast against ``like`` [S, ...]."""
    return mask.reshape(-1, *([1] * (like.dim() - 1)))


def flatten_(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Move the parameters into one buffer [S, P] (P: the parameter count of one seed) and make each parameter
    a view of its columns, so elementwise updates run as one operation over all of them. Returns the buffer."""
    s = params[0].shape[0]
    flat = torch.empty(s, sum(p[0].numel() for p in params), dtype=params[0].dtype, device=params[0].device)
    offset = 0
    for p in params:
        n = p[0].numel()
        flat[:, offset : offset + n] = p.detach().reshape(s, n)
        p.data = flat[:, offset : offset + n].view(p.shape)  # [S, ...], columns offset..offset+n-1 of flat
        offset += n
    return flat


CORRECTION_BLOCK = 1024  # steps per table of Adam's bias corrections


class BatchedAdam:
    """Adam (Kingma & Ba 2015) over parameters whose first dimension is the seed.

    The parameters are moved into one flat buffer [S, P] (``flatten_``) and both moments kept in one
    [2, S, P] buffer, so a step is about a dozen operations whatever the number of parameter tensors. The
    arithmetic per element is the textbook update, one rounding per operation (m * β1 + g * (1 - β1);
    v * β2 + g² * (1 - β2); p - (m / c1) / (sqrt(v / c2) + ε) * lr), so it does not depend on the layout."""

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
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.flat = flatten_(self.params)  # [S, P]
        self._mv = torch.zeros(2, *self.flat.shape, dtype=self.flat.dtype, device=self.flat.device)  # [2, S, P]
        dtype, device = self.flat.dtype, self.flat.device
        self._betas = torch.tensor([self.beta1, self.beta2], dtype=dtype, device=device)[:, None, None]  # [2, 1, 1]
        self._one_minus_betas = torch.tensor([1.0 - self.beta1, 1.0 - self.beta2], dtype=dtype, device=device)[
            :, None, None
        ]
        self._table = torch.empty(0)  # bias corrections of CORRECTION_BLOCK steps (``_corrections``)
        self._table_block = -1
        self.all_updated = False  # the last step updated every seed (known on the CPU only)
        self.lr_scale: torch.Tensor | None = None  # [1, P] learning-rate multipliers, None: all 1
        if lr_scales is not None and any(scale is not None for scale in lr_scales):
            parts = [
                (torch.ones_like(p[:1]) if scale is None else scale.expand_as(p[:1]).to(p)).reshape(1, -1)
                for p, scale in zip(self.params, lr_scales, strict=True)
            ]
            self.lr_scale = torch.cat(parts, dim=1)  # [1, P]

    def _views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """``flat`` [S, P] cut into tensors shaped like the parameters (views, not copies)."""
        out, offset = [], 0
        for p in self.params:
            n = p[0].numel()
            out.append(flat[:, offset : offset + n].view(p.shape))
            offset += n
        return out

    @property
    def m(self) -> list[torch.Tensor]:
        """First moments, one view per parameter."""
        return self._views(self._mv[0])

    @property
    def v(self) -> list[torch.Tensor]:
        """Second moments, one view per parameter."""
        return self._views(self._mv[1])

    def flat_grad(self, grads: Sequence[torch.Tensor]) -> torch.Tensor:
        """Gradients, one per parameter, as one [S, P] tensor."""
        s = self.flat.shape[0]
        if len(grads) == 1:
            return grads[0].reshape(s, -1)
        return torch.cat([g.reshape(s, -1) for g in grads], dim=1)  # [S, P]

    def propose(self, grads: Sequence[torch.Tensor], lr: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The next weights and moments if every seed is updated: (p_next [S, P], mv_next [2, S, P]).
        Nothing is changed until ``commit``. (No autograd here: the flat buffer and gradients need none.)"""
        t = self.t + 1
        g = self.flat_grad(grads)  # [S, P]
        g_g2 = torch.stack([g, g * g])  # [2, S, P]
        mv_next = self._mv * self._betas + g_g2 * self._one_minus_betas  # [2, S, P]: m, v
        mv_hat = mv_next / self._corrections(t)  # [2, S, P]
        m_hat, v_hat = mv_hat.unbind(0)  # [S, P] each
        denom = torch.sqrt(v_hat) + self.eps
        update = m_hat / denom * lr  # [S, P]
        if self.lr_scale is not None:
            update = update * self.lr_scale  # [S, P]
        return self.flat - update, mv_next

    def _corrections(self, t: int) -> torch.Tensor:
        """Adam's bias corrections (1 - β1^t, 1 - β2^t) for step t: [2, 1, 1], a view into a table made for
        ``CORRECTION_BLOCK`` steps at a time (a tensor made every step costs more than the update's arithmetic)."""
        block = (t - 1) // CORRECTION_BLOCK
        if self._table_block != block:
            first = block * CORRECTION_BLOCK + 1
            values = [[1.0 - self.beta1**k, 1.0 - self.beta2**k] for k in range(first, first + CORRECTION_BLOCK)]
            table = torch.tensor(values, dtype=self.flat.dtype)  # [CORRECTION_BLOCK, 2]
            self._table = table.to(self.flat.device)[:, :, None, None]  # [CORRECTION_BLOCK, 2, 1, 1]
            self._table_block = block
        return self._table[(t - 1) % CORRECTION_BLOCK]  # [2, 1, 1]

    def commit(self, p_next: torch.Tensor, mv_next: torch.Tensor, ok: torch.Tensor | None) -> None:
        """Take the proposed step for the seeds where ``ok`` [S] is True (every seed when ``ok`` is None);
        the others keep their weights and moments."""
        self.t += 1
        self.all_updated = ok is None
        if ok is None:
            self.flat.copy_(p_next)
            self._mv = mv_next
        else:
            keep = ok[:, None]  # [S, 1]
            self.flat.copy_(torch.where(keep, p_next, self.flat))
            self._mv = torch.where(keep, mv_next, self._mv)

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor], lr: float, ok: torch.Tensor) -> torch.Tensor:
        """Apply one update to the seeds where ``ok`` [S] is True and whose new weights are all finite;
        returns the seeds updated.

        A non-finite gradient entry always makes its new weight non-finite (NaN, or ±inf through m and
        then inf / inf), so this one check also catches non-finite gradients."""
        p_next, mv_next = self.propose(grads, lr)
        ok = ok & finite(p_next).all(dim=1)  # [S]
        self.commit(p_next, mv_next, ok)
        return ok

    @torch.no_grad()
    def step_fused(self, grads: Sequence[torch.Tensor], lr: float) -> torch.Tensor:
        """Update every seed in place with the textbook update in six in-place operations; returns which
        seeds have finite weights afterwards [S] bool (a seed that went non-finite keeps its non-finite weights:
        the caller treats it as dead from then on, e.g. by masking its loss to 0).

        The lean step of ``nalu fit``, whose steps are so small that ``step``'s extra operations (proposal,
        check, commit) are a good part of a step. Its roundings differ from ``step``'s: the bias corrections
        are folded into the step size (lr / (1 - β1^t)) and the moment updates are fused (add with alpha,
        addcmul). Per-parameter learning-rate scales are not applied here."""
        if self.lr_scale is not None:
            raise ValueError("step_fused does not apply per-parameter learning-rate scales; use step")
        self.t += 1
        self.all_updated = True
        g = self.flat_grad(grads)  # [S, P]
        m, v = self._mv[0], self._mv[1]  # [S, P] each, views: updated in place
        m.mul_(self.beta1).add_(g, alpha=1.0 - self.beta1)
        v.mul_(self.beta2).addcmul_(g, g, value=1.0 - self.beta2)
        step = lr / (1.0 - self.beta1**self.t)
        denom = (v / (1.0 - self.beta2**self.t)).sqrt_().add_(self.eps)  # [S, P]
        self.flat.addcdiv_(m, denom, value=-step)
        return finite(self.flat).all(dim=1)  # [S]

    def reset(self, members: torch.Tensor) -> None:
        """Zero the moments of ``members`` [S] bool (a re-initialised seed starts a fresh Adam)."""
        self._mv = torch.where(members[:, None], 0.0, self._mv)

    def state_dict(self) -> dict[str, object]:
        def copy(t: torch.Tensor) -> torch.Tensor:  # compact CPU copies: a view would save the whole buffer
            return t.detach().cpu().clone(memory_format=torch.contiguous_format)

        return {"t": self.t, "m": [copy(m) for m in self.m], "v": [copy(v) for v in self.v]}

    def load_state_dict(self, state: dict[str, object]) -> None:
        m_list = state["m"]
        v_list = state["v"]
        assert isinstance(m_list, list) and isinstance(v_list, list)
        m_views, v_views = self.m, self.v
        if len(m_list) != len(m_views) or len(v_list) != len(v_views):
            raise ValueError("optimiser state does not match the model's parameters")
        for dst, src in zip(m_views + v_views, m_list + v_list, strict=True):
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
