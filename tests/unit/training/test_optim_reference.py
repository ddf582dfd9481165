"""The batched Adam (both its steps: training's and nalu fit's fused one) against torch.optim.Adam (an
independent implementation), seed by seed."""

from __future__ import annotations

import pytest
import torch

from nalu_cli.training.optim import BatchedAdam, clip_per_seed


def test_batched_adam_matches_torch_adam() -> None:
    g = torch.Generator().manual_seed(0)
    start = torch.randn(3, 4, 5, generator=g, dtype=torch.float64)  # [S, O, I]
    grads = [torch.randn(3, 4, 5, generator=g, dtype=torch.float64) * (10.0**s) for s in range(6)]
    ours = start.clone()
    adam = BatchedAdam([ours], betas=(0.9, 0.999), eps=1e-8)
    theirs = [start[s].clone().requires_grad_(True) for s in range(3)]
    refs = [torch.optim.Adam([p], lr=0.01, betas=(0.9, 0.999), eps=1e-8) for p in theirs]
    for step_grad in grads:
        adam.step([step_grad], 0.01, torch.ones(3, dtype=torch.bool))
        for s in range(3):
            theirs[s].grad = step_grad[s].clone()
            refs[s].step()
        for s in range(3):
            torch.testing.assert_close(ours[s], theirs[s].detach(), rtol=1e-10, atol=1e-12)


def test_masked_seed_keeps_weights_and_state() -> None:
    p = torch.zeros(2, 3)
    adam = BatchedAdam([p])
    adam.step([torch.ones(2, 3)], 0.1, torch.tensor([True, False]))
    assert bool((p[0] != 0).all()) and torch.equal(p[1], torch.zeros(3))
    assert torch.equal(adam.m[0][1], torch.zeros(3)) and torch.equal(adam.v[0][1], torch.zeros(3))
    # a non-finite update is refused for that seed only
    adam.step([torch.tensor([[1.0, 1.0, 1.0], [float("nan"), 1.0, 1.0]])], 0.1, torch.tensor([True, True]))
    assert torch.equal(p[1], torch.zeros(3))


def test_clipping_is_per_seed() -> None:
    grads = [torch.tensor([[3.0, 4.0], [0.3, 0.4]])]  # seed norms 5 and 0.5
    clipped = clip_per_seed(grads, 1.0)[0]
    torch.testing.assert_close(clipped[0], torch.tensor([0.6, 0.8]), rtol=1e-5, atol=1e-6)
    assert torch.equal(clipped[1], grads[0][1])  # under the limit: untouched, whatever its neighbour does


@pytest.mark.parametrize("foreach", [False, True])
def test_fused_step_matches_torch_adam(foreach: bool) -> None:
    """``step_fused`` (nalu fit's lean step) against torch.optim.Adam, member by member: two parameter tensors
    (so the flat buffer joins them), gradients over six orders of magnitude, a decaying learning rate."""
    g = torch.Generator().manual_seed(1)
    starts = [
        torch.randn(4, 2, 3, generator=g, dtype=torch.float64),
        torch.randn(4, 5, generator=g, dtype=torch.float64),
    ]
    steps = [
        [torch.randn(*p.shape, generator=g, dtype=torch.float64) * (10.0 ** (k - 3)) for p in starts] for k in range(8)
    ]
    ours = [p.clone() for p in starts]
    adam = BatchedAdam(ours, betas=(0.9, 0.99), eps=1e-8)
    theirs = [[p[s].clone().requires_grad_(True) for p in starts] for s in range(4)]
    refs = [torch.optim.Adam(ps, lr=0.05, betas=(0.9, 0.99), eps=1e-8, foreach=foreach) for ps in theirs]
    for k, grads in enumerate(steps):
        lr = 0.05 * (1.0 - k / 10)
        alive = adam.step_fused(grads, lr)
        assert alive.dtype == torch.bool and bool(alive.all())
        for s in range(4):
            for ref_p, grad in zip(theirs[s], grads, strict=True):
                ref_p.grad = grad[s].clone()
            refs[s].param_groups[0]["lr"] = lr
            refs[s].step()
        for s in range(4):
            for mine, ref_p in zip(ours, theirs[s], strict=True):
                torch.testing.assert_close(mine[s], ref_p.detach(), rtol=1e-10, atol=1e-12)
    assert adam.t == len(steps)


def test_fused_step_reports_non_finite_members_only() -> None:
    p = torch.zeros(3, 2, dtype=torch.float64)
    adam = BatchedAdam([p])
    before = p.clone()
    grad = torch.tensor([[1.0, -1.0], [float("nan"), 1.0], [float("inf"), 0.0]], dtype=torch.float64)
    alive = adam.step_fused([grad], 0.1)
    assert alive.tolist() == [True, False, False]
    # member 0 took the textbook first step (-lr * sign(g)), whatever its neighbours' gradients were
    torch.testing.assert_close(p[0], before[0] - 0.1 * torch.tensor([1.0, -1.0], dtype=torch.float64))


def test_fused_step_refuses_learning_rate_scales() -> None:
    p = torch.zeros(2, 3)
    adam = BatchedAdam([p], lr_scales=[torch.full((3,), 0.5)])
    with pytest.raises(ValueError, match="learning-rate scales"):
        adam.step_fused([torch.ones(2, 3)], 0.1)
