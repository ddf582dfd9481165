"""Expressions with constants (issue 22): which carry constants, their derived stacks with an affine readout,
and the near-perfect threshold that perturbs the constants like weights."""

from __future__ import annotations

import pytest
import torch

from nalu_cli import rng
from nalu_cli.config.derive import derive_stack
from nalu_cli.config.resolve import resolve
from nalu_cli.tasks.expressions import parse_expression
from nalu_cli.tasks.registry import make_task


@pytest.mark.parametrize(
    ("text", "carries"),
    [
        ("1.8*x0 + 32", True),
        ("x0*x1/2", True),
        ("pi*x0*x1", True),
        ("x0 + 0.5", True),
        ("x0/x1*3.5", True),
        ("x0 * x1", False),
        ("x0 / x1", False),
        ("2*x0*x1 + 1", False),  # integer coefficients: repeated terms, as before
        ("(2*x0 + 4*x1)/2", False),  # = x0 + 2*x1
        ("x0**2 + x1", False),
    ],
)
def test_carries_constants(text: str, carries: bool) -> None:
    assert parse_expression(text).carries_constants is carries


@pytest.mark.parametrize(
    ("text", "units", "hidden"),
    [
        ("1.8*x0 + 32", ["mlp"], []),
        ("0.5*x0 - x2 + 3", ["mlp"], []),
        ("x0*x1/2", ["nmu", "mlp"], [1]),
        ("pi*x0*x1", ["nmu", "mlp"], [1]),
        ("-x0/x1/3", ["nac_mul", "mlp"], [1]),
        ("pi*x0**2", ["nau", "nmu", "mlp"], [2, 1]),
        ("(x0 + x1)*x2/2", ["nau", "nmu", "mlp"], [2, 1]),
        ("x0*x1/2 + x2 + 0.25", ["nmu", "mlp"], [2]),
        ("x0/x1 + 1.5*x2", ["nac_mul", "mlp"], [2]),
    ],
)
def test_constant_carrying_stacks_end_in_an_affine_readout(text: str, units: list[str], hidden: list[int]) -> None:
    stack = derive_stack(parse_expression(text))
    assert (stack.units, stack.hidden) == (units, hidden)
    config = resolve(None, {"task.op": text})
    assert config.model.units() == units and config.model.hidden == hidden


def _x(n_inputs: int) -> torch.Tensor:
    return 10 + 90 * rng.uniform(torch.tensor([0, 1]), rng.STREAM_TEST, 0, (64, n_inputs), torch.float64)


def test_near_perfect_moves_the_constants_by_eps() -> None:
    eps = 1e-5
    x = _x(1)
    near = parse_expression("1.8*x0 + 32").near_perfect(x, eps)
    # Add(Mult(1.8, x0), 32): the leaf x0 read as (1 - eps) x0, every operand scaled by 1 - eps (as before:
    # x0 and 1.8 in Mult, the product and 32 in Add), and each constant by 1 - eps once more.
    expected = 1.8 * (1 - eps) ** 5 * x + 32 * (1 - eps) ** 2
    assert torch.allclose(near, expected, rtol=1e-15, atol=0)


def test_threshold_is_meaningful_for_constants() -> None:
    """A model whose constant is off by far less than eps passes; one off by 10 eps fails."""
    seeds = torch.tensor([0, 1])
    task = make_task("x0*x1/2", "pair", 100, 0.25, 0.5, [(1.0, 10.0)], [(10.0, 100.0)])
    x = task.sample_inputs(seeds, rng.STREAM_TEST, 0, 256, task.extrapolation, torch.float32)
    masks = task.masks(seeds, torch.float32)
    threshold = task.near_perfect_mse(x, masks, 1e-5)  # [S]
    assert bool((threshold > 0).all())
    x64 = x.to(torch.float64)
    y = x64[..., :1] * x64[..., 1:2] / 2
    for rel, passes in ((1e-7, True), (1e-4, False)):
        mse = ((y * (1 + rel) - y) ** 2).mean(dim=(1, 2))
        assert bool((mse < threshold).all()) is passes, rel


def test_expressions_without_constants_keep_the_threshold() -> None:
    """No constant: the construction is the one before (numbers in integer terms are not perturbed)."""
    from nalu_cli.tasks.expressions import _eval

    x = _x(2)
    total = x.sum(dim=-1, keepdim=True)

    def leaf(i: int) -> torch.Tensor:
        return x[..., i : i + 1] * (1 - 1e-5) + (total - x[..., i : i + 1]) * 1e-5

    for text in ("2*x0*x1 + 1", "x0 / x1 + x0", "(x0 + x1) * x1"):
        e = parse_expression(text)
        assert not e.carries_constants
        assert torch.equal(e.near_perfect(x, 1e-5), _eval(e.tree, leaf, 1 - 1e-5)), text
