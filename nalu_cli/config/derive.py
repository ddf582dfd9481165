"""A model stack derived from an expression's structure, and the training recipe for it.

The shapes the units represent exactly, and the stack each gets (I inputs, widths in brackets):
- a signed sum of inputs, coefficients ±1:                 NAU
- a product of distinct inputs (x0 * x1 * x2):             NMU
- a product/ratio of inputs, powers in {-1, 1} or sqrt:    NAC•
- a product with repeated inputs (x0**2 * x1):             NAU [copies] → NMU
- a product of signed sums ((x0 + x1) * x2):               NAU [factors] → NMU   (ratios of sums: → NAC•)
- a sum of products or of ratios (x0 * x1 - x2, x0/x1 + x2): NMU or NAC• [terms] → NAU
- a sum of products with repeated inputs:                  NAU [copies] → NMU [terms] → NAU
Integer coefficients become repeated terms (2 * x0 * x1 = x0 * x1 + x0 * x1); an integer constant term
c is |c| NMU units that select nothing (an empty product is 1).

An expression that carries other constants (``Expression.carries_constants``: 1.8*x0 + 32, x0*x1/2,
pi*x0*x1) ends in an affine readout instead, an ``mlp`` layer (linear with a bias, no activation on the
output layer) whose weights hold a scale per term and whose bias holds the constant term:
- an affine function of inputs (1.8*x0 + 32):               MLP
- scaled products, ratios or products of sums:              the stack above [terms] → MLP
(terms: the distinct products, each with coefficient 1; the NAU summing them is the MLP).

``derived_defaults(expr)`` returns the config layers (``model`` and ``train``); the ``train`` layer is the
recipe book's ``recipes.derived_recipe`` for the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nalu_cli.config import recipes
from nalu_cli.tasks.expressions import Expression


class NotDerivable(ValueError):
    """The expression has no stack in the shapes above; the message says why."""


@dataclass(frozen=True)
class Stack:
    """Units per layer and hidden widths; ``shape`` names the structure for reports."""

    units: list[str]
    hidden: list[int]
    shape: str


def _monomial(term: Any, sympy: Any) -> tuple[int | Any, dict[str, Any]]:
    """``c * x0**a * x1**b`` -> (c, {x0: a, x1: b}); exponents as sympy Rationals."""
    coeff, rest = term.as_coeff_Mul()
    powers: dict[str, Any] = {}
    if rest == 1:
        return coeff, powers
    for factor in sympy.Mul.make_args(rest):
        base, exp = factor.as_base_exp()
        if not isinstance(base, sympy.Symbol):
            raise NotDerivable(f"the factor {factor} is not a power of an input")
        powers[base.name] = powers.get(base.name, 0) + exp
    return coeff, powers


def _integer(value: Any, what: str) -> int:
    if not value.is_integer:
        raise NotDerivable(f"the {what} {value} has no exact representation in units without a readout")
    return int(value)


def derive_stack(expression: Expression) -> Stack:
    """The stack for ``expression`` (``NotDerivable`` when it fits none of the module's shapes)."""
    if expression.carries_constants:
        return _affine_stack(expression)
    return _integer_stack(expression)


def _affine_stack(expression: Expression) -> Stack:
    """The stack of the constant-free structure, with an affine readout (``mlp``) holding the constants."""
    import sympy

    f = expression.sympy()
    symbols = sorted(f.free_symbols, key=str)
    coeff, rest = f.as_independent(*symbols, as_Add=False)
    if f.is_Mul and rest != 1 and not rest.is_Add:  # c * (a structure with no constant): its stack → MLP [1]
        inner = _structure(rest, expression)
        if inner is not None:
            return Stack([*inner.units, "mlp"], [*inner.hidden, 1], f"scaled {inner.shape}")
    terms: list[Any] = []
    for term in sympy.Add.make_args(sympy.expand(f)):
        _, product = term.as_independent(*symbols, as_Add=False)
        if product != 1 and product not in terms:
            terms.append(product)
    if not terms:
        raise NotDerivable("the expression does not depend on its inputs")
    if all(isinstance(t, sympy.Symbol) for t in terms):
        return Stack(["mlp"], [], "affine")
    body = _structure(sympy.Add(*terms, evaluate=False), expression) if len(terms) > 1 else None
    if body is not None and body.units[-1] == "nau" and len(body.units) > 1:  # [terms] → NAU: the MLP sums
        return Stack([*body.units[:-1], "mlp"], list(body.hidden), f"scaled {body.shape}")
    if len(terms) == 1:
        inner = _structure(terms[0], expression)
        if inner is not None:
            return Stack([*inner.units, "mlp"], [*inner.hidden, 1], f"scaled {inner.shape}")
    raise NotDerivable(f"no derived stack holds the terms of {expression.text} with their constants")


def _structure(f: Any, expression: Expression) -> Stack | None:
    """The integer stack of a constant-free sympy expression ``f`` (None when it has none)."""
    from nalu_cli.tasks.expressions import ExpressionError, parse_expression

    try:
        return _integer_stack(parse_expression(str(f)), f)
    except (ExpressionError, NotDerivable):
        return None


def _integer_stack(expression: Expression, f: Any = None) -> Stack:
    """The stack of an expression whose coefficients are integers (module docstring)."""
    import sympy

    if f is None:
        f = expression.sympy()
    # A product of sums (before expansion): NAU [factors] → NMU / NAC•.
    coeff, rest = f.as_coeff_Mul()
    factors = sympy.Mul.make_args(rest)
    if (
        (f.is_Mul or f.is_Pow)
        and coeff in (1, -1)
        and any(isinstance(fac.as_base_exp()[0], sympy.Add) for fac in factors)
    ):
        width, ratio = 0, False
        for fac in factors:
            base, exp = fac.as_base_exp()
            if isinstance(base, sympy.Add):
                for t in sympy.Add.make_args(base):
                    c, p = _monomial(t, sympy)
                    if abs(c) != 1 or len(p) != 1 or list(p.values())[0] != 1:
                        raise NotDerivable(f"the factor {base} is not a signed sum of inputs")
            if exp.is_integer and exp > 0:
                width += int(exp)
            elif exp in (-1, sympy.Rational(1, 2), sympy.Rational(-1, 2)):
                width, ratio = width + 1, True
            else:
                raise NotDerivable(f"the power {exp} of {base} has no exact representation")
        if coeff == -1:
            raise NotDerivable("a negated product of sums needs one more layer; write the sign into a factor")
        return Stack(["nau", "nac_mul" if ratio else "nmu"], [width], "product of sums")

    terms = sympy.Add.make_args(sympy.expand(f))
    monomials = [_monomial(t, sympy) for t in terms]
    if len(monomials) == 1:
        c, powers = monomials[0]
        exps = list(powers.values())
        if c == 1 and len(exps) == 1 and exps[0] == 1:
            return Stack(["nau"], [], "input")
        if c == 1 and exps and all(e == 1 for e in exps):
            return Stack(["nmu"], [], "product")
        if c == 1 and exps and all(e in (-1, 1, sympy.Rational(1, 2), sympy.Rational(-1, 2)) for e in exps):
            return Stack(["nac_mul"], [], "ratio")
        if c == 1 and exps and all(e.is_integer and e > 0 for e in exps):
            return Stack(["nau", "nmu"], [int(sum(exps))], "product with repeated inputs")
    # A sum of terms: [terms] → NAU, with integer coefficients as repeated terms.
    count = 0
    linear = True
    ratio = repeated = False
    copies: dict[str, int] = {}
    for c, powers in monomials:
        count += abs(_integer(c, "coefficient"))
        exps = list(powers.values())
        if not (len(exps) == 1 and exps[0] == 1 and abs(c) == 1):
            linear = False
        for name, e in powers.items():
            if e.is_integer and e > 0:
                copies[name] = max(copies.get(name, 0), int(e))
                repeated |= e > 1
            elif e in (-1, sympy.Rational(1, 2), sympy.Rational(-1, 2)):
                ratio = True
            else:
                raise NotDerivable(f"the power {e} of {name} has no exact representation")
    if linear:
        return Stack(["nau"], [], "sum")
    if ratio and repeated:
        raise NotDerivable("ratios and repeated inputs in one sum need a deeper stack than is derived")
    if ratio:
        if any(not p for _, p in monomials):
            raise NotDerivable("a constant term beside ratios has no exact representation")
        return Stack(["nac_mul", "nau"], [count], "sum of ratios")
    if repeated:
        return Stack(["nau", "nmu", "nau"], [sum(copies.values()), count], "sum of products with repeated inputs")
    return Stack(["nmu", "nau"], [count], "sum of products")


def derived_defaults(expression: Expression) -> dict[str, Any]:
    """Config layers for an expression op: ``{"model": {...}, "train": {...}}`` (empty when not derivable)."""
    try:
        stack = derive_stack(expression)
    except NotDerivable:
        return {}
    return {
        "model": {"unit": list(stack.units), "hidden": list(stack.hidden)},
        "train": recipes.derived_recipe(stack.units, stack.hidden[-1] if stack.hidden else 1),
    }
