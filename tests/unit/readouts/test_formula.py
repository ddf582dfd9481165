"""Formula readout from pinned weights."""

from __future__ import annotations

import torch

from nalu_cli import rng
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.readouts.formula import read_formula
from nalu_cli.units.base import UnitOptions

SEEDS = torch.tensor([0])


def probe(n: int = 2) -> torch.Tensor:
    return 1 + 9 * rng.uniform(SEEDS, rng.STREAM_PROBE, 0, (32, n), torch.float32)


def model(units: list[str], hidden: list[int], n_in: int = 2) -> ArithmeticModel:
    return ArithmeticModel(SEEDS, n_in, units, hidden, UnitOptions())


def set_(param: torch.nn.Parameter, value: list) -> None:
    with torch.no_grad():
        param.copy_(torch.tensor([value], dtype=param.dtype))


def test_single_layer_formulas() -> None:
    m = model(["nau"], [])
    set_(m.layers[0].W, [[1.0, -1.0]])
    assert read_formula(m, 0, probe()).formula == "y = x0 - x1"
    m = model(["nmu"], [])
    set_(m.layers[0].W, [[1.0, 1.0]])
    assert read_formula(m, 0, probe()).formula == "y = x0 * x1"
    m = model(["realnpu"], [])
    set_(m.layers[0].W_re, [[1.0, -1.0]])
    set_(m.layers[0].g, [1.0, 1.0])
    assert read_formula(m, 0, probe()).formula == "y = x0 / x1"
    set_(m.layers[0].W_re, [[0.5, 0.0]])
    assert read_formula(m, 0, probe()).formula == "y = sqrt(x0)"


def test_two_layer_formula_composes_with_parentheses() -> None:
    m = model(["nau", "realnpu"], [2], n_in=3)
    set_(m.layers[0].W, [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    set_(m.layers[1].W_re, [[1.0, -1.0]])
    set_(m.layers[1].g, [1.0, 1.0])
    assert read_formula(m, 0, probe(3)).formula == "y = (x0 + x1) / x2"


def test_nalu_reads_the_path_its_gate_chooses() -> None:
    m = model(["nalu"], [])
    unit = m.layers[0]
    set_(unit.W_hat, [[20.0, 20.0]])
    set_(unit.M_hat, [[40.0, 40.0]])
    set_(unit.G, [[-30.0, -30.0]])
    assert read_formula(m, 0, probe()).formula == "y = x0 * x1"
    set_(unit.G, [[30.0, 30.0]])
    assert read_formula(m, 0, probe()).formula == "y = x0 + x1"
    set_(unit.G, [[0.0, 0.0]])
    readout = read_formula(m, 0, probe())
    assert not readout.discrete and "gate" in (readout.reason or "")


def test_not_discrete_names_the_weight() -> None:
    m = model(["nau"], [])
    set_(m.layers[0].W, [[0.7, 1.0]])
    readout = read_formula(m, 0, probe())
    assert readout.formula is None and "0.700" in (readout.reason or "")
    # An MLP before the last layer encodes no formula (a last, linear MLP layer is an affine readout since
    # issue 22: tests/unit/readouts/test_affine_readout.py).
    assert read_formula(model(["mlp", "mlp"], [2]), 0, probe()).formula is None


def test_static_sums_are_condensed() -> None:
    m = model(["nau", "nmu"], [2], n_in=10)
    w = torch.zeros(2, 10)
    w[0, 0:5] = 1
    w[1, 3:8] = 1
    with torch.no_grad():
        m.layers[0].W.copy_(w[None])
    set_(m.layers[1].W, [[1.0, 1.0]])
    assert read_formula(m, 0, probe(10)).formula == "y = sum(x0..x4) * sum(x3..x7)"


def test_nac_mul_reads_square_roots() -> None:
    m = model(["nac_mul"], [])
    set_(m.layers[0].W_hat, [[0.5493, 0.0]])  # tanh(0.5493) = 0.5
    set_(m.layers[0].M_hat, [[40.0, -40.0]])
    assert read_formula(m, 0, probe()).formula == "y = sqrt(x0)"
