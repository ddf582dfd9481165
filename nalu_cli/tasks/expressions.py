"""Arithmetic expressions over inputs x0, x1, … as ops: a safe parser, evaluation, domain checks.

``parse_expression("(x0 + x1) * x2")`` reads the text with Python's ``ast`` module and accepts only a
whitelist of nodes — numbers, ``pi``, names ``x0``…``x99``, ``+ - * /``, unary minus, integer powers ``**``
and ``sqrt(...)`` — so nothing is ever evaluated as Python. The raw text is checked first: only ASCII (Python's
parser would read a fullwidth ``ｘ0`` or a bold ``𝐱0`` as ``x0``) and no ``#`` (a comment would be dropped); so
every column in a message counts characters. An expression that does not depend on its inputs (``x0 - x0``,
``0 * x0``, ``x0 ** 0``) is refused. A refused expression raises ``ExpressionError``
whose message names the offending token and its column.

The nearly perfect model of an expression (SPEC section 4, generalised): its exact solution as a stack of
units — a selection layer that picks each input, then one unit per operator — with every weight moved by
ε toward the wrong value. A leaf x_i becomes (1 - ε) x_i + ε Σ_{j≠i} x_j (selection weights 1 → 1 - ε,
0 → ε); every operator applies to its operands scaled by (1 - ε) (the weights feeding it, 1 → 1 - ε);
a bare input is read through one such weight. For the seven named ops this is exactly today's threshold
``op((1 - ε) a_ε, (1 - ε) b_ε)`` (tests/unit/tasks/test_expr.py checks the equality).

An expression that *carries constants* (``Expression.carries_constants``: after expansion a coefficient or
constant term that is not an integer, e.g. ``1.8*x0 + 32``, ``x0*x1/2``, ``pi*x0*x1``) is learned with an
affine readout whose weights hold the constants (config/derive.py); its nearly perfect model moves those
weights by ε too: every number (and ``pi``) in the tree is read as ``(1 - ε) c``. Expressions without such
constants keep the construction above bit for bit.
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nalu_cli.lazy import lazy_import

if TYPE_CHECKING:
    import torch
else:  # torch on first use (nalu_cli/lazy.py): config imports tasks without torch
    torch = lazy_import("torch", globals())


MAX_LENGTH = 500  # characters of expression text
MAX_INPUTS = 100  # x0 .. x99
MAX_POWER = 8  # |k| in x ** k
MAX_NODES = 200
_NAME = re.compile(r"x(0|[1-9][0-9]?)$")

Interval = tuple[float, float]


class ExpressionError(ValueError):
    """A refused expression; the message says which token and where."""


def _at(text: str, node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    end = getattr(node, "end_col_offset", None)
    if col is None:
        return ""
    token = text[col:end] if end is not None and end > col else text[col : col + 1]
    return f" {token!r} at column {col + 1}"


@dataclass(frozen=True)
class Expression:
    """A validated expression; ``n_inputs`` = highest input index + 1."""

    text: str
    tree: ast.expr = field(compare=False)
    n_inputs: int

    # -- evaluation --------------------------------------------------------------------------------
    def evaluate(self, x: torch.Tensor) -> torch.Tensor:
        """The target. x: [..., I] with I >= n_inputs -> y [..., 1]."""
        return _eval(self.tree, lambda i: x[..., i : i + 1], 1.0)

    def near_perfect(self, x: torch.Tensor, eps: float) -> torch.Tensor:
        """The nearly perfect model's output (see module docstring). x: [..., I] -> [..., 1]."""
        total = x.sum(dim=-1, keepdim=True)  # [..., 1]

        def leaf(i: int) -> torch.Tensor:
            xi = x[..., i : i + 1]
            return xi * (1 - eps) + (total - xi) * eps

        constant = 1 - eps if self.carries_constants else 1.0  # a constant is a weight, moved by ε
        if isinstance(self.tree, (ast.Name, ast.Constant)):
            return _eval(self.tree, leaf, 1.0, constant) * (1 - eps)
        return _eval(self.tree, leaf, 1 - eps, constant)

    @functools.cached_property
    def carries_constants(self) -> bool:
        """Whether the expanded expression has a coefficient or constant term that is not an integer (``pi``,
        ``1.8``, ``/2``): one that no unit holds, so the derived model learns it in an affine readout."""
        nodes = list(ast.walk(self.tree))
        powers = {id(n.right) for n in nodes if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow)}
        if not any(
            (isinstance(n, ast.Constant) and id(n) not in powers)
            or (isinstance(n, ast.Name) and n.id == "pi")
            or (isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div))
            for n in nodes
        ):
            return False  # no number, no pi, no division: only integer coefficients (fast path, no sympy)
        import sympy

        f = sympy.expand(self.sympy())
        symbols = sorted(f.free_symbols, key=str)
        for term in sympy.Add.make_args(f):
            coeff, _ = term.as_independent(*symbols, as_Add=False)
            if not coeff.is_integer:
                return True
        return False

    # -- symbolic ----------------------------------------------------------------------------------
    def sympy(self) -> Any:
        """The expression as a sympy expression over symbols x0..x{n-1} (sympy imported lazily)."""
        import sympy

        return _to_sympy(self.tree, sympy)

    # -- domain ------------------------------------------------------------------------------------
    def domain_problems(self, ranges: tuple[Interval, ...], name: str) -> list[str]:
        """Divisions by a value whose range contains 0, square roots of a range reaching below 0.

        Every input is drawn from ``ranges`` (a union); each combination of intervals is checked with
        interval arithmetic (conservative: a problem reported here may be a loose bound, never a miss).
        """
        problems: list[str] = []
        combos = itertools.product(ranges, repeat=self.n_inputs) if len(ranges) ** self.n_inputs <= 4096 else None
        boxes = (
            list(combos)
            if combos is not None
            else [((min(r[0] for r in ranges), max(r[1] for r in ranges)),) * self.n_inputs]
        )
        for box in boxes:
            _interval(self.tree, box, self.text, name, problems)
            if problems:
                break
        return problems


def _eval(node: ast.expr, leaf: Any, scale: float, constant: float = 1.0) -> torch.Tensor:
    """Evaluate ``node`` on tensors (``leaf(i)`` is input x_i); operands of every operator are multiplied by
    ``scale`` (1 for the plain target), numbers and ``pi`` by ``constant`` (1: as written)."""

    def sqrt(v: Any) -> Any:
        return torch.sqrt(v) if isinstance(v, torch.Tensor) else math.sqrt(v)

    if constant == 1.0:
        return _fold(node, lambda name: math.pi if name == "pi" else leaf(int(name[1:])), float, sqrt, scale)
    return _fold(
        node,
        lambda name: math.pi * constant if name == "pi" else leaf(int(name[1:])),
        lambda v: float(v) * constant,
        sqrt,
        scale,
    )


def _to_sympy(node: ast.expr, sympy: Any) -> Any:
    return _fold(node, lambda n: sympy.pi if n == "pi" else sympy.Symbol(n), sympy.nsimplify, sympy.sqrt, 1.0)


def _fold(node: ast.expr, name: Any, constant: Any, sqrt: Any, scale: float) -> Any:
    """The one interpreter of a parsed (whitelisted) expression: ``name``, ``constant`` and ``sqrt`` say what
    a variable, a number and sqrt(...) become (tensors or sympy objects); ``scale`` multiplies every operand."""

    def sub(n: ast.expr) -> Any:
        v = _fold(n, name, constant, sqrt, scale)
        return v * scale if scale != 1.0 else v

    if isinstance(node, ast.Name):
        return name(node.id)
    if isinstance(node, ast.Constant):
        return constant(node.value)
    if isinstance(node, ast.UnaryOp):
        v = sub(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            return sub(node.left) ** int(node.right.value)  # type: ignore[attr-defined]
        a, b = sub(node.left), sub(node.right)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            return a * b
        return a / b
    assert isinstance(node, ast.Call)
    return sqrt(sub(node.args[0]))


def _interval(node: ast.expr, box: tuple[Interval, ...], text: str, name: str, problems: list[str]) -> Interval:
    if isinstance(node, ast.Name):
        return (math.pi, math.pi) if node.id == "pi" else box[int(node.id[1:])]
    if isinstance(node, ast.Constant):
        v = float(node.value)  # type: ignore[arg-type]
        return (v, v)
    if isinstance(node, ast.UnaryOp):
        lo, hi = _interval(node.operand, box, text, name, problems)
        return (-hi, -lo) if isinstance(node.op, ast.USub) else (lo, hi)
    if isinstance(node, ast.Call):
        lo, hi = _interval(node.args[0], box, text, name, problems)
        if lo < 0:
            problems.append(
                f"{name}: sqrt needs a non-negative argument, but {_at(text, node.args[0]).strip()} reaches {lo:g}"
            )
            return (0.0, math.sqrt(max(hi, 0.0)))
        return (math.sqrt(lo), math.sqrt(hi))
    assert isinstance(node, ast.BinOp)
    a = _interval(node.left, box, text, name, problems)
    if isinstance(node.op, ast.Pow):
        k = int(node.right.value)  # type: ignore[attr-defined]
        if k < 0 and a[0] <= 0 <= a[1]:
            problems.append(f"{name}: a negative power divides by{_at(text, node.left)}, whose range contains 0")
            return (-math.inf, math.inf)
        ends = [a[0] ** k, a[1] ** k] + ([0.0] if a[0] < 0 < a[1] and k > 0 else [])
        return (min(ends), max(ends))
    b = _interval(node.right, box, text, name, problems)
    if isinstance(node.op, ast.Add):
        return (a[0] + b[0], a[1] + b[1])
    if isinstance(node.op, ast.Sub):
        return (a[0] - b[1], a[1] - b[0])
    if isinstance(node.op, ast.Div):
        if b[0] <= 0 <= b[1]:
            problems.append(f"{name}: division needs 0 outside the range of the divisor{_at(text, node.right)}")
            return (-math.inf, math.inf)
        b = (1 / b[1], 1 / b[0])
    ends = [a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]]
    ends = [e for e in ends if not math.isnan(e)] or [0.0]
    return (min(ends), max(ends))


_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)


def parse_expression(text: str) -> Expression:
    """Validate ``text`` against the whitelist; ``ExpressionError`` names the offending token."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("empty expression; write one over x0, x1, … such as (x0 + x1) * x2")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text)} characters long; at most {MAX_LENGTH}")
    source = text.strip()
    _check_characters(source)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as err:
        col = err.offset or 0
        reason = err.msg if err.msg and err.msg != "invalid syntax" else "invalid syntax"
        if 0 < col <= len(source):
            token = source[col - 1 :].split()[0] if source[col - 1 :].split() else source[col - 1]
            where = f"at column {col} ({token!r})"
        else:
            where = "at the end (something is missing)"
        raise ExpressionError(f"expression {source!r}: {reason} {where}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"expression {source!r} is nested too deeply") from None
    nodes = list(ast.walk(tree.body))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"expression has {len(nodes)} parts; at most {MAX_NODES}")
    highest = -1
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    for node in nodes:
        where = _at(source, node)
        if isinstance(node, (ast.operator, ast.unaryop, ast.expr_context)):
            continue
        if isinstance(node, ast.Name) and id(node) in called:
            continue  # the function name of a call, checked below
        if isinstance(node, ast.Name):
            if node.id == "pi":
                continue
            if node.id == "sqrt":
                raise ExpressionError(f"expression {source!r}: sqrt is a function; write sqrt(...){where}")
            if not _NAME.match(node.id):
                raise ExpressionError(
                    f"expression {source!r}: unknown name{where}; inputs are x0, x1, … (up to x{MAX_INPUTS - 1})"
                )
            highest = max(highest, int(node.id[1:]))
        elif isinstance(node, ast.Constant):
            if (
                isinstance(node.value, bool)
                or not isinstance(node.value, (int, float))
                or not math.isfinite(node.value)
            ):
                raise ExpressionError(
                    f"expression {source!r}: only finite numbers are allowed as constants, not{where}"
                )
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise ExpressionError(f"expression {source!r}: operator not allowed{where}; use + - * / ** sqrt()")
        elif isinstance(node, ast.BinOp):
            if not isinstance(node.op, _BINOPS):
                raise ExpressionError(
                    f"expression {source!r}: operator not allowed{_operator_at(source, node)}; use + - * / ** sqrt()"
                )
            if isinstance(node.op, ast.Pow):
                k = _integer_constant(node.right)
                if k is None or abs(k) > MAX_POWER:
                    raise ExpressionError(
                        f"expression {source!r}: powers must be integer constants between -{MAX_POWER} and "
                        f"{MAX_POWER}, not{_at(source, node.right)} (square roots: sqrt(...))"
                    )
                node.right = ast.copy_location(ast.Constant(k), node.right)
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id == "sqrt"):
                raise ExpressionError(
                    f"expression {source!r}: only sqrt(...) may be called, not{_at(source, node.func)}"
                )
            if len(node.args) != 1 or node.keywords:
                raise ExpressionError(f"expression {source!r}: sqrt takes exactly one argument{where}")
        else:
            raise ExpressionError(
                f"expression {source!r}: not allowed{where}; use numbers, x0, x1, …, + - * / ** sqrt()"
            )
    if highest < 0:
        raise ExpressionError(f"expression {source!r} uses no input; write it over x0, x1, …")
    value = _constant_value(tree.body, highest + 1)
    if value is not None:
        raise ExpressionError(
            f"expression {source!r} is constant (it equals {value:g} whatever the inputs); write one whose value"
            " depends on x0, x1, …"
        )
    return Expression(source, tree.body, highest + 1)


def _check_characters(source: str) -> None:
    """Only printable ASCII, and no ``#`` (Python would read the rest of the line as a comment)."""
    for col, char in enumerate(source, start=1):
        if char == "#":
            raise ExpressionError(
                f"expression {source!r}: '#' at column {col} is not allowed (it would start a comment)"
            )
        if not (char.isascii() and (char.isprintable() or char in " \t")):
            raise ExpressionError(
                f"expression {source!r}: {char!r} at column {col} is not an ASCII character; write inputs as"
                " x0, x1, … and operators as + - * / **"
            )


def _constant_value(tree: ast.expr, n_inputs: int) -> float | None:
    """The expression's value when it is the same at a few generic points (so does not depend on its inputs)."""
    values: list[float] = []
    for k in range(3):
        point = [1.37 + 0.61 * ((7 * i + 3 * k) % 11) + 0.13 * k for i in range(n_inputs)]
        try:
            v = float(_fold(tree, lambda n, p=point: math.pi if n == "pi" else p[int(n[1:])], float, math.sqrt, 1.0))
        except (ArithmeticError, ValueError):
            return None
        if not math.isfinite(v):
            return None
        values.append(v)
    first = values[0]
    if all(abs(v - first) <= 1e-12 * max(1.0, abs(first)) for v in values):
        return first
    return None


def _operator_at(text: str, node: ast.BinOp) -> str:
    """`` '@' at column 4``: the operator token between a binary node's operands."""
    start, end = node.left.end_col_offset, node.right.col_offset
    if start is None or end is None:
        return _at(text, node)
    gap = text[start:end]
    stripped = gap.strip().strip("()").strip()
    if not stripped:
        return _at(text, node)
    col = start + gap.index(stripped)
    return f" {stripped!r} at column {col + 1}"


def _integer_constant(node: ast.expr) -> int | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _integer_constant(node.operand)
        return -inner if inner is not None else None
    value = node.value if isinstance(node, ast.Constant) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
        return int(value)
    return None


def looks_like_expression(text: str) -> bool:
    """True when ``text`` is more than a bare word (an op name or a typo of one)."""
    return not re.fullmatch(r"[A-Za-z_]+", text.strip()) or bool(_NAME.match(text.strip()))


def readout_expression(formula: str) -> Expression | None:
    """A formula read back from weights (``y = x0 * x1``, ``x0^2``, ``sum(x3..x7)``) as an Expression."""
    text = formula.split("=", 1)[1] if "=" in formula else formula
    text = text.replace("≈", "").replace("^", "**")
    text = re.sub(
        r"sum\(x(\d+)\.\.x(\d+)\)",
        lambda m: "(" + " + ".join(f"x{i}" for i in range(int(m.group(1)), int(m.group(2)) + 1)) + ")",
        text,
    )
    try:
        return parse_expression(text)
    except ExpressionError:
        return None


def symbolically_equal(formula: str, expression: Expression) -> bool:
    """Is a formula read back from weights equal to ``expression`` (sympy)?"""
    import sympy

    read = readout_expression(formula)
    if read is None:
        return False
    return bool(sympy.simplify(read.sympy() - expression.sympy()) == 0)
