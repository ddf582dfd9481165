"""Reading the formula a trained model encodes out of its weights.

Each layer output is read as an expression over the layer's inputs when its weights are near-discrete:
additive units (NAC+, NAU) as signed sums, multiplicative ones (NAC•, NPU, RealNPU) as products of powers,
the NMU as a product of selected inputs, and gated units (NALU, iNALU) as whichever path their gate
chooses on a probe batch. Expressions compose layer by layer into ``y = (x0 + x1) / x2``. When a weight
(or gate) is not within ``tol`` of a discrete value, the readout says so and names it. Otherwise the
readout records the largest distance of any weight from the value it was read as (``deviation``): the
caller marks the formula exact only when the run is also solved. Signs are simplified: a product of
negated terms is written with one sign in front (``x0 * x0``, never ``(-x0) * (-x0)``).

An ``mlp`` layer as the *last* layer (no activation: the affine readout of an expression with constants,
config/derive.py) is read as ``c1 * t1 + c2 * t2 + b``: each weight and the bias read back with
``readouts/constants.py`` as the simplest number within ``CONSTANT_TOL`` (relative) of it — an integer, a
small rational, a rational multiple of π — else as a decimal with the digits that tolerance supports; a
term (or the bias) whose size on the probe batch is below ``CONSTANT_TOL`` of the output's is read as 0. Written ``y = 1.8 * x0 + 32``, ``y = x0 * x1 / 2``, ``y = pi * x0 * x1``.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch

from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.readouts.constants import TOL_SIGMAS, read_constant
from nalu_cli.tasks.expressions import Expression, symbolically_equal
from nalu_cli.units.base import Unit
from nalu_cli.units.npu import NPU

ATOM, PRODUCT, SUM = 3, 2, 1  # precedence of an expression's top-level operator
CONSTANT_TOL = 1e-4  # an affine readout's weight is read as a simple number within this relative distance


@dataclass(frozen=True)
class Expr:
    text: str
    prec: int
    negated: Expr | None = None  # for "-e": e itself, so products can pull the sign out

    def wrapped(self, min_prec: int) -> str:
        return self.text if self.prec >= min_prec else f"({self.text})"


@dataclass
class Readout:
    """The formula, or why there is none."""

    discrete: bool
    formula: str | None
    layers: list[list[str | None]]
    reason: str | None = None
    deviation: float = 0.0  # largest |weight - value it was read as|
    deviation_at: str | None = None  # where, e.g. "layer 1 (NMU) W[0,1]"


class _Deviation:
    """The largest distance of a read weight from its discrete value, and where it is."""

    def __init__(self) -> None:
        self.value = 0.0
        self.at: str | None = None

    def note(self, raw: float, snapped: float | None, where: str) -> None:
        if snapped is not None and abs(raw - snapped) > self.value:
            self.value, self.at = abs(raw - snapped), where


# The tracker of the read_formula call in progress (a context variable: safe across threads).
_DEV: ContextVar[_Deviation] = ContextVar("formula_deviation")


def _snap(value: float, allowed: tuple[float, ...], tol: float, where: str | None = None) -> float | None:
    best = min(allowed, key=lambda a: abs(a - value))
    snapped = best if abs(best - value) <= tol else None
    if where is not None:
        _DEV.get().note(value, snapped, where)
    return snapped


def _sum_expr(coeffs: list[float], inputs: list[Expr]) -> Expr:
    if not any(coeffs):
        return Expr("0", ATOM)
    # Condense runs of consecutive +1 inputs x_i ... x_j (the static task's subsets) into sum(x_i..x_j).
    parts: list[tuple[int, str]] = []
    i = 0
    while i < len(coeffs):
        c = coeffs[i]
        if c == 0:
            i += 1
            continue
        j = i
        while j + 1 < len(coeffs) and coeffs[j + 1] == c and inputs[j + 1].prec == ATOM:
            j += 1
        if j - i >= 3 and inputs[i].prec == ATOM:
            parts.append((1 if c > 0 else -1, f"sum({inputs[i].text}..{inputs[j].text})"))
        else:
            for k in range(i, j + 1):
                parts.append((1 if c > 0 else -1, _scaled(abs(coeffs[k]), inputs[k])))
        i = j + 1
    nonzero = [(c, e) for c, e in zip(coeffs, inputs, strict=True) if c != 0]
    if len(nonzero) == 1 and nonzero[0][0] == 1:
        return nonzero[0][1]
    text = ""
    for n, (sign, term) in enumerate(parts):
        if n == 0:
            text = term if sign > 0 else f"-{term}"
        else:
            text += f" + {term}" if sign > 0 else f" - {term}"
    if len(parts) == 1 and parts[0][0] > 0:
        return Expr(text, ATOM if text.startswith("sum(") else PRODUCT)
    if all(sign < 0 for sign, _ in parts):  # -a - b: keep a + b at hand so a product can pull the sign out
        return Expr(text, SUM, negated=_sum_expr([-c for c in coeffs], inputs))
    return Expr(text, SUM)


def _scaled(c: float, e: Expr) -> str:
    if c == 1:
        return e.wrapped(SUM + 1) if e.prec == SUM else e.text
    return f"{c:g} * {e.wrapped(PRODUCT)}"


def _power(e: Expr, p: float) -> str:
    if p == 1:
        return e.wrapped(PRODUCT)
    if p == 0.5:
        return f"sqrt({e.text})"
    return f"{e.wrapped(ATOM)}^{p:g}"


def _product_expr(powers: list[float], inputs: list[Expr]) -> Expr:
    factors = [(p, e) for p, e in zip(powers, inputs, strict=True) if p != 0]
    if not factors:
        return Expr("1", ATOM)
    if len(factors) == 1 and factors[0][0] == 1:
        return factors[0][1]
    # (-a) * (-b) = a * b: pull the signs of negated factors with integer powers out front.
    negative = False
    for k, (p, e) in enumerate(factors):
        if e.negated is not None and float(p).is_integer():
            negative ^= int(p) % 2 == 1
            factors[k] = (p, e.negated)
    if negative:
        inner = _product_expr([p for p, _ in factors], [e for _, e in factors])
        return Expr(f"-{inner.wrapped(PRODUCT)}", SUM, negated=inner)
    num = [_power(e, p) for p, e in factors if p > 0]
    den = [_power(e, -p) for p, e in factors if p < 0]
    top = " * ".join(num) if num else "1"
    if not den:
        return Expr(top, ATOM if len(num) == 1 and top.startswith("sqrt(") else PRODUCT)
    bottom = den[0] if len(den) == 1 else "(" + " * ".join(den) + ")"
    return Expr(f"{top} / {bottom}", PRODUCT)


def _weights(unit: Unit, member: int) -> dict[str, torch.Tensor]:
    return {k: v[member].to(torch.float64).cpu() for k, v in unit.effective_weights().items()}


def _read_add(w: torch.Tensor, inputs: list[Expr], tol: float, where: str) -> tuple[list[Expr | None], str | None]:
    out: list[Expr | None] = []
    for j in range(w.shape[0]):
        coeffs = [_snap(float(v), (-1.0, 0.0, 1.0), tol, f"{where} W[{j},{i}]") for i, v in enumerate(w[j])]
        if any(c is None for c in coeffs):
            bad = next(i for i, c in enumerate(coeffs) if c is None)
            return out, f"{where} weight [{j},{bad}] = {float(w[j, bad]):.3f} is not near -1, 0 or 1"
        out.append(_sum_expr([float(c) for c in coeffs if c is not None], inputs))
    return out, None


def _read_mul(
    w: torch.Tensor,
    inputs: list[Expr],
    tol: float,
    where: str,
    allowed: tuple[float, ...],
    gate: torch.Tensor | None = None,
) -> tuple[list[Expr | None], str | None]:
    out: list[Expr | None] = []
    for j in range(w.shape[0]):
        powers: list[float] = []
        for i in range(w.shape[1]):
            if gate is not None:
                g = _snap(float(gate[i]), (0.0, 1.0), tol, f"{where} g[{i}]")
                if g is None:
                    return out, f"{where} relevance gate g[{i}] = {float(gate[i]):.3f} is not near 0 or 1"
                if g == 0.0:
                    powers.append(0.0)
                    continue
            p = _snap(float(w[j, i]), allowed, tol, f"{where} W[{j},{i}]")
            if p is None:
                return out, f"{where} weight [{j},{i}] = {float(w[j, i]):.3f} is not near a simple power"
            powers.append(p)
        out.append(_product_expr(powers, inputs))
    return out, None


def _read_nmu(w: torch.Tensor, inputs: list[Expr], tol: float, where: str) -> tuple[list[Expr | None], str | None]:
    out: list[Expr | None] = []
    for j in range(w.shape[0]):
        sel = [_snap(float(v), (0.0, 1.0), tol, f"{where} W[{j},{i}]") for i, v in enumerate(w[j])]
        if any(s is None for s in sel):
            bad = next(i for i, s in enumerate(sel) if s is None)
            return out, f"{where} weight [{j},{bad}] = {float(w[j, bad]):.3f} is not near 0 or 1"
        out.append(_product_expr([float(s) for s in sel if s is not None], inputs))
    return out, None


def _constant(value: float, where: str, zero: float) -> tuple[float, str]:
    """A readout weight as (the number it is read as, its text); 0 when ``|value| <= zero``."""
    if abs(value) <= zero:
        _DEV.get().note(value, 0.0, where)
        return 0.0, "0"
    tol = CONSTANT_TOL * abs(value)
    const = read_constant(value, tol / TOL_SIGMAS)
    decimal = next((f"{value:.{d}g}" for d in range(1, 18) if abs(float(f"{value:.{d}g}") - value) <= tol), "e")
    if "e" not in decimal and len(decimal) < len(const.text):  # a form longer than its digits: a coincidence
        _DEV.get().note(value, float(decimal), where)
        return float(decimal), decimal
    _DEV.get().note(value, const.value, where)
    return const.value, const.text


def _scaled_term(c: float, text: str, e: Expr) -> tuple[int, str]:
    """(sign, ``|c| * e``) with the sign pulled out: ``x0 * x1 / 2``, ``1.8 * x0``, ``pi * x0``."""
    sign = -1 if c < 0 else 1
    text = text[1:] if text.startswith("-") else text
    if text == "1":
        return sign, e.wrapped(SUM + 1) if e.prec == SUM else e.text
    if text.startswith("1/") and text[2:].isdigit():  # 1/2 -> e / 2
        return sign, f"{e.wrapped(PRODUCT)} / {text[2:]}"
    if "/" in text or "(" in text:
        text = f"({text})"
    return sign, f"{text} * {e.wrapped(PRODUCT)}"


def _read_affine(w: torch.Tensor, b: torch.Tensor, h: torch.Tensor, inputs: list[Expr], where: str) -> Expr:
    """The affine readout ``sum_k w_k e_k + b`` (one output) with its constants read back; ``h`` [B, K] are
    the layer's inputs on the probe batch (a term smaller than ``CONSTANT_TOL`` of the output is 0)."""
    size = h.abs().amax(dim=0)  # [K]
    scale = float((h @ w[0] + b[0]).abs().max())
    parts: list[tuple[int, str]] = []
    for k, e in enumerate(inputs):
        zero = CONSTANT_TOL * scale / max(float(size[k]), 1e-300)
        c, text = _constant(float(w[0, k]), f"{where} W[0,{k}]", zero)
        if c != 0:
            parts.append(_scaled_term(c, text, e))
    c, text = _constant(float(b[0]), f"{where} b[0]", CONSTANT_TOL * scale)
    if c != 0:
        parts.append((-1 if c < 0 else 1, text.lstrip("-")))
    if not parts:
        return Expr("0", ATOM)
    out = ""
    for n, (sign, term) in enumerate(parts):
        out = (term if sign > 0 else f"-{term}") if n == 0 else out + (f" + {term}" if sign > 0 else f" - {term}")
    return Expr(out, SUM if len(parts) > 1 or parts[0][0] < 0 else PRODUCT)


@torch.no_grad()
def read_formula(
    model: ArithmeticModel,
    member: int,
    probe: torch.Tensor,
    tol: float = 0.05,
    layer_inputs: list[torch.Tensor] | None = None,
) -> Readout:
    """The formula of member ``member``; ``probe`` [M, B, I] feeds the gates of gated units.

    ``layer_inputs`` (``model.forward_with_inputs(probe)``) may be given by a caller that reads many members:
    the forward pass covers every member, so computing it once keeps reading M members O(M), not O(M²).
    Without it, it is computed here, and only when the model has a gated unit.
    """
    token = _DEV.set(_Deviation())
    try:
        return _read(model, member, probe, tol, layer_inputs)
    finally:
        _DEV.reset(token)


def gate_inputs(model: ArithmeticModel, probe: torch.Tensor) -> list[torch.Tensor] | None:
    """Every layer's input on ``probe`` [M, B, I] when a gated unit or an affine readout (a last mlp layer)
    needs it, else None (nothing computed)."""
    if any(unit.kind == "gated" for unit in model.units) or (model.units and model.units[-1].kind == "mlp"):
        return model.forward_with_inputs(probe)
    return None


def _read(
    model: ArithmeticModel, member: int, probe: torch.Tensor, tol: float, layer_inputs: list[torch.Tensor] | None
) -> Readout:
    n_inputs = probe.shape[-1]
    inputs = [Expr(f"x{i}", ATOM) for i in range(n_inputs)]
    if layer_inputs is None:
        layer_inputs = gate_inputs(model, probe)
    layers: list[list[str | None]] = []
    last = len(model.units) - 1
    for index, unit in enumerate(model.units):
        where = f"layer {index + 1} ({type(unit).__name__})"
        w = _weights(unit, member)
        kind = unit.kind
        if kind == "gated":
            assert layer_inputs is not None
            gate = unit.gate(layer_inputs[index])
            assert gate is not None
            g_mean = gate[member].mean(dim=0).to(torch.float64).cpu()  # [O]
            outputs: list[Expr | None] = []
            for j in range(unit.out_features):
                g = _snap(float(g_mean[j]), (0.0, 1.0), tol, f"{where} gate[{j}]")
                if g is None:
                    return Readout(
                        False, None, layers, f"{where} gate {j} is {float(g_mean[j]):.3f} on average, mixing + and ×"
                    )
                if g == 1.0:
                    exprs, reason = _read_add(w["W"][j : j + 1], inputs, tol, where)
                else:
                    exprs, reason = _read_mul(w.get("W_m", w["W"])[j : j + 1], inputs, tol, where, (-1.0, 0.0, 1.0))
                if reason:
                    return Readout(False, None, layers, reason)
                outputs += exprs
        elif kind == "add":
            outputs, reason = _read_add(w["W"], inputs, tol, where)
        elif kind == "nmu":
            outputs, reason = _read_nmu(w["W"], inputs, tol, where)
        elif kind == "mul":
            if isinstance(unit, NPU):
                if "W_im" in w and any(_snap(float(v), (0.0,), tol) is None for v in w["W_im"].flatten()):
                    return Readout(False, None, layers, f"{where} has imaginary weights away from 0")
                outputs, reason = _read_mul(w["W"], inputs, tol, where, (-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0), w["g"])
            else:  # NAC•: W = tanh(Ŵ)σ(M̂) lies in (-1, 1), so ±0.5 (square roots) are the other simple powers
                # It multiplies |inputs| (exp of W log |x|): an input read as -(a + b) enters as a + b.
                positive = [e.negated if e.negated is not None else e for e in inputs]
                outputs, reason = _read_mul(w["W"], positive, tol, where, (-1.0, -0.5, 0.0, 0.5, 1.0))
        elif index == last and unit.out_features == 1:
            if not (bool(torch.isfinite(w["W"]).all()) and bool(torch.isfinite(w["b"]).all())):
                return Readout(False, None, layers, f"{where} has weights that are not finite")
            if layer_inputs is None:
                layer_inputs = model.forward_with_inputs(probe)
            h = layer_inputs[index][member].to(torch.float64).cpu()  # [B, K]
            outputs, reason = [_read_affine(w["W"], w["b"], h, inputs, where)], None  # the affine readout
        else:
            return Readout(False, None, layers, f"{where} is an MLP layer, which encodes no formula")
        if reason:
            return Readout(False, None, layers, reason)
        layers.append([e.text if e else None for e in outputs])
        inputs = [e for e in outputs if e is not None]
    return Readout(True, f"y = {inputs[0].text}", layers, deviation=_DEV.get().value, deviation_at=_DEV.get().at)


def formula_fields(readout: Any, solved: bool, target: Expression | None) -> dict[str, Any]:
    """What results and reports say about a formula: the text, whether it is exact (read *and* solved), the
    largest weight deviation and where, and ``recovered`` (symbolically equal to ``target``; None without one).
    """
    exact = readout.discrete and solved
    formula = readout.formula
    if formula is not None and not exact:
        formula = formula.replace("y = ", "y ≈ ", 1)
    deviation = getattr(readout, "deviation", None)  # a recurrent readout (seqformula) has none
    return {
        "formula": formula,
        "formula_exact": exact,
        "formula_deviation": deviation if readout.discrete else None,
        "formula_deviation_at": getattr(readout, "deviation_at", None) if readout.discrete else None,
        "recovered": _recovered(readout.formula, target) if target is not None else None,
    }


def _recovered(formula: str | None, target: Expression) -> bool:
    if formula is None:
        return False
    key = (formula, target.text)
    if key not in _RECOVERED:
        _RECOVERED[key] = symbolically_equal(formula, target)
    return _RECOVERED[key]


_RECOVERED: dict[tuple[str, str], bool] = {}
