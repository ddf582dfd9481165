"""The affine readout (a last mlp layer) read back with its constants: ``y = 1.8 * x0 + 32``."""

from __future__ import annotations

import torch

from nalu_cli import rng
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.readouts.formula import formula_fields, read_formula
from nalu_cli.tasks.expressions import parse_expression
from nalu_cli.units.base import UnitOptions


def _model(units: list[str], hidden: list[int], n_in: int) -> ArithmeticModel:
    return ArithmeticModel(torch.tensor([0]), n_in, units, hidden, UnitOptions())


def _probe(n: int) -> torch.Tensor:
    return 1 + 9 * rng.uniform(torch.tensor([0]), rng.STREAM_PROBE, 0, (32, n), torch.float32)


def _affine(n_in: int, w: list[float], b: float, units: list[str] | None = None) -> ArithmeticModel:
    units = units or ["mlp"]
    m = _model(units, [len(w)] if len(units) > 1 else [], n_in)
    with torch.no_grad():
        m.layers[-1].W.copy_(torch.tensor([[w]]))
        m.layers[-1].b.copy_(torch.tensor([[b]]))
    return m


def test_affine_function_reads_its_constants() -> None:
    m = _affine(2, [1.80001, 0.0002], 31.9996)
    readout = read_formula(m, 0, _probe(2))
    assert readout.formula == "y = 1.8 * x0 + 32"
    assert abs(readout.deviation - 4e-4) < 1e-5 and "b[0]" in (readout.deviation_at or "")
    fields = formula_fields(readout, solved=True, target=parse_expression("1.8*x0 + 32"))
    assert fields["formula_exact"] and fields["recovered"]


def test_scaled_products_read_half_pi_and_signs() -> None:
    m = _affine(2, [0.50001], 0.0, ["nmu", "mlp"])
    with torch.no_grad():
        m.layers[0].W.copy_(torch.tensor([[[1.0, 1.0]]]))
    formula = read_formula(m, 0, _probe(2)).formula
    assert formula == "y = 0.5 * x0 * x1"
    with torch.no_grad():
        m.layers[-1].W.copy_(torch.tensor([[[-3.14159]]]))
        m.layers[-1].b.copy_(torch.tensor([[2.5]]))
    formula = read_formula(m, 0, _probe(2)).formula
    assert formula == "y = -pi * x0 * x1 + 2.5"
    assert formula_fields(read_formula(m, 0, _probe(2)), True, parse_expression("2.5 - pi*x0*x1"))["recovered"]
    with torch.no_grad():
        m.layers[-1].W.copy_(torch.tensor([[[1 / 3]]]))
        m.layers[-1].b.zero_()
    assert read_formula(m, 0, _probe(2)).formula == "y = x0 * x1 / 3"


def test_a_constant_no_simple_form_supports_is_a_decimal() -> None:
    m = _affine(1, [8.31446], 18.27841)  # 18.2784 is within 1e-4 of 64*pi/11: a coincidence, not a reading
    assert read_formula(m, 0, _probe(1)).formula == "y = 8.314 * x0 + 18.28"


def test_a_term_negligible_against_the_output_is_zero() -> None:
    """pi * x0 * x1 is ~300 on the probe: a bias of 0.002 is below 1e-4 of it, 0.5 is not."""
    m = _affine(2, [3.14159], -0.002, ["nmu", "mlp"])
    with torch.no_grad():
        m.layers[0].W.copy_(torch.tensor([[[1.0, 1.0]]]))
    assert read_formula(m, 0, _probe(2)).formula == "y = pi * x0 * x1"
    with torch.no_grad():
        m.layers[-1].b.fill_(-0.5)
    assert read_formula(m, 0, _probe(2)).formula == "y = pi * x0 * x1 - 0.5"


def test_an_mlp_before_the_last_layer_is_still_no_formula() -> None:
    m = _model(["mlp", "mlp"], [2], 2)
    readout = read_formula(m, 0, _probe(2))
    assert not readout.discrete and "MLP layer" in (readout.reason or "")


def test_a_diverged_readout_is_no_formula() -> None:
    m = _affine(1, [float("nan")], 1.0)
    readout = read_formula(m, 0, _probe(1))
    assert readout.formula is None and "not finite" in (readout.reason or "")
