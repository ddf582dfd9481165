"""Closed-form answers for ``nalu fit``: formulas with constants found by least squares, no training.

Searches, simplest first, each giving a formula over x0, x1, … with its constants read back
(``nalu_cli.fit.constants``):

- ``product``: log-space least squares, log |y| = log |c| + Σ a_i log x_i (positive inputs, a target of one
  sign); exponents are read as integers or halves when the data says so, then c is fitted in closed form
  (``0.5 * x0 * x1**2``, ``sqrt(x0) * sqrt(x1) / sqrt(x2)``), c from the mean of log |y| - log Π x^a.
- ``linear``, ``quadratic``: least squares on every input and a constant, then on every monomial of degree
  ≤ 2; terms whose constants the data cannot tell from 0 drop out (``1.8 * x0 + 32``, ``x0 * x1 + x0 * x2``).
- ``sum``: y as a sparse sum of monomials with constants (``1.8 * x0 + 32``, ``x0 * x1 + x2``,
  ``1/2 * x0 * x1**2 + 1/2 * x0 * x2**2``), by forward selection (orthogonal least squares: each step adds
  the monomial of the library that lowers the residual most) over a library of monomials with up to
  three inputs and powers up to 2 (negative powers for positive inputs; up to four inputs with powers ±1),
  keeping the ``BEAM`` best sets of each size.
- ``ratio``: y = N(x) / D(x), both sparse sums: y · D(x) = N(x) is linear in the constants, so with one term
  of D fixed (an anchor: 1, x_i or x_i**2) forward selection finds the others (``(x0*x2 + x1*x3)/(x0 + x1)``,
  ``1/2 * x0 / (1 + x1)``).

Each search proposes formulas; the caller (``fit.driver``) judges them on validation rows like any candidate.
Structure is searched on at most ``SEARCH_ROWS`` training rows and the constants are fitted on at most
``FIT_ROWS``, so a table of a million rows costs what a few thousand do.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from nalu_cli.fit.constants import Constant, read_constant

SEARCH_ROWS = 2000  # training rows the structure searches see
FIT_ROWS = 200_000  # training rows the constants of a found structure are fitted on
BEAM = 4  # sets of each size that forward selection keeps growing (greedy: 1) ...
BEAM_CELLS = 4_000_000  # ... when the library has at most this many cells (rows × monomials)
MAX_TERMS = 6  # forward-selection steps: a sum (or a ratio's two sums together) has at most this many terms
RATIO_TERMS = 3  # terms of a ratio besides its anchor
RATIO_ROWS = 500  # rows the ratio search sees
MAX_SUBSETS = 100_000  # subsets of one size tried per anchor at most (larger sizes are skipped)
NEGLIGIBLE = 1e-9  # a term of a fitted sum whose part of y is below this (relative) is dropped
MAX_LIBRARY = 6000  # monomials at most (inputs beyond what this allows get only the smaller monomials)

Exps = tuple[float, ...]


@dataclass(frozen=True)
class Proposal:
    """A closed-form formula: ``method`` (``product``, ``sum``, ``ratio``), the ``formula`` (``y = …`` over
    x0, x1, …), its constants as read back, and how many terms it has (its complexity for ties)."""

    method: str
    formula: str
    constants: tuple[Constant, ...]
    terms: int
    num: tuple[tuple[Constant, Exps], ...] = ()
    den: tuple[tuple[Constant, Exps], ...] = ()  # empty: no denominator

    @property
    def degree(self) -> float:
        """Σ |powers| over every term: of two formulas with as many terms, the lower degree is simpler."""
        return sum(abs(e) for _, exps in self.num + self.den for e in exps)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The formula's value on rows x [N, I] -> [N]."""
        top = evaluate_terms(list(self.num), x)
        if not self.den:
            return top
        with np.errstate(all="ignore"):
            return np.asarray(top / evaluate_terms(list(self.den), x))


def monomial_text(exps: Exps) -> tuple[str, str]:
    """(numerator, denominator) texts of Π x_i^e_i: ``x0 * x1**2``, ``sqrt(x2)``; "" for an empty side."""
    num: list[str] = []
    den: list[str] = []
    for i, e in enumerate(exps):
        if e == 0:
            continue
        side = num if e > 0 else den
        whole, half = divmod(abs(e), 1.0)
        if whole:
            side.append(f"x{i}" if whole == 1 else f"x{i}**{int(whole)}")
        if half:
            side.append(f"sqrt(x{i})")
    return " * ".join(num), " * ".join(den)


def _scaled(c: Constant, exps: Exps) -> str:
    """One term c · Π x^e as text (``1/2 * x0**2``, ``-x1 / x2``, ``32``), with its sign in front."""
    num, den = monomial_text(exps)
    text = c.text
    neg = text.startswith("-")
    mag = text[1:] if neg else text
    if num or den:
        if mag == "1":
            body = num or "1"
        else:
            wrapped = f"({mag})" if ("/" in mag or "+" in mag) and not mag.startswith("(") else mag
            body = f"{wrapped} * {num}" if num else wrapped
        if den:
            body += f" / {den}" if " * " not in den else f" / ({den})"
    else:
        body = mag
    return ("-" if neg else "") + body


def _order(exps: Exps) -> tuple[bool, list[float]]:
    """Terms in reading order: by their inputs (x0 before x1, higher powers first), the constant last."""
    return (not any(exps), [-abs(e) if e else 1.0 for e in exps])


def sum_text(terms: list[tuple[Constant, Exps]]) -> str:
    """A sum of scaled monomials: ``x0 * x1 - 2 * x2 + 32`` (``0`` when empty)."""
    out = ""
    for c, exps in sorted(terms, key=lambda t: _order(t[1])):
        t = _scaled(c, exps)
        if not out:
            out = t
        else:
            out += f" - {t[1:]}" if t.startswith("-") else f" + {t}"
    return out or "0"


def evaluate_terms(terms: list[tuple[Constant, Exps]], x: np.ndarray) -> np.ndarray:
    """Σ c · Π x^e on rows x [N, I] -> [N]."""
    out = np.zeros(x.shape[0])
    with np.errstate(all="ignore"):
        for c, exps in terms:
            out = out + c.value * monomial(x, exps)
    return out


def monomial(x: np.ndarray, exps: Exps) -> np.ndarray:
    """Π x_i^e_i on rows x [N, I] -> [N] (1 for the empty monomial)."""
    out = np.ones(x.shape[0])
    with np.errstate(all="ignore"):
        for i, e in enumerate(exps):
            if e == 1:
                out = out * x[:, i]
            elif e:
                out = out * np.power(x[:, i], e)
    return out


def library(n_inputs: int, positive: bool) -> list[Exps]:
    """Monomials, smallest first: 1; up to three inputs with powers in ±{1, 2} (only positive powers when
    an input may be 0 or negative); four inputs with powers ±1. Cut at ``MAX_LIBRARY``."""
    powers = (1.0, 2.0, -1.0, -2.0) if positive else (1.0, 2.0)
    unit_powers = (1.0, -1.0) if positive else (1.0,)
    out: list[Exps] = [(0.0,) * n_inputs]
    for k, choices in ((1, powers), (2, powers), (3, powers), (4, unit_powers)):
        for idx in itertools.combinations(range(n_inputs), k):
            for ps in itertools.product(choices, repeat=k):
                e = [0.0] * n_inputs
                for i, p in zip(idx, ps, strict=True):
                    e[i] = p
                out.append(tuple(e))
                if len(out) >= MAX_LIBRARY:
                    return out
    return out


def _rows(n: int, limit: int, seed: int) -> np.ndarray:
    return np.arange(n) if n <= limit else np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def _lstsq(a: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of t [N] on a [N, K]: (coefficients [K], their standard errors [K])."""
    coef, *_ = np.linalg.lstsq(a, t, rcond=None)
    n, k = a.shape
    rest = t - a @ coef
    sigma2 = float(rest @ rest) / max(n - k, 1)
    try:
        cov = np.linalg.pinv(a.T @ a) * sigma2
        se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    except np.linalg.LinAlgError:
        se = np.full(k, math.inf)
    return coef, se


def forward_select(
    columns: np.ndarray, target: np.ndarray, max_terms: int, beam: int = 1, start: int | None = None
) -> Iterator[list[int]]:
    """Orthogonal least squares with a beam: yields chosen column indices, ``beam`` sets per size (1, 2, … terms).

    columns [N, K]; a set grows by the column whose part orthogonal to the set explains most of the remaining
    residual; the ``beam`` best sets of each size (by residual) grow on (greedy when ``beam`` is 1). ``start``:
    a column every set holds from the outset (the constant: selection then works on centred columns, and does
    not spend its first step on the mean of a positive target)."""
    with np.errstate(all="ignore"):
        norms = np.linalg.norm(columns, axis=0)
    ok = np.isfinite(norms) & (norms > 0)
    c = np.nan_to_num(np.where(ok, columns / np.where(ok, norms, 1.0), 0.0), nan=0.0, posinf=0.0, neginf=0.0)
    states: list[tuple[float, list[int], np.ndarray]] = [(float(target @ target), [], np.zeros((len(target), 0)))]
    if start is not None and ok[start]:
        first = c[:, start : start + 1]
        states = [(float(target @ target) - float(first[:, 0] @ target) ** 2, [start], first)]
        yield [start]
    for _ in range(max_terms):
        grown: dict[tuple[int, ...], tuple[float, list[int], np.ndarray]] = {}
        for rss, chosen, basis in states:
            residual = target - basis @ (basis.T @ target)
            proj = basis.T @ c  # [S, K]
            energy = 1.0 - np.einsum("sk,sk->k", proj, proj)
            gain = np.where(energy > 1e-10, (c.T @ residual) ** 2 / np.maximum(energy, 1e-300), -1.0)
            gain[chosen] = -1.0
            gain[~ok] = -1.0
            for j in np.argsort(-gain)[:beam]:
                if gain[j] <= 0:
                    break
                key = tuple(sorted([*chosen, int(j)]))
                if key in grown:
                    continue
                v = c[:, j] - basis @ proj[:, j]
                v = v / math.sqrt(max(float(v @ v), 1e-300))
                grown[key] = (rss - float(gain[j]), [*chosen, int(j)], np.hstack([basis, v[:, None]]))
        if not grown:
            return
        states = sorted(grown.values(), key=lambda t: t[0])[:beam]
        for _, chosen, _ in states:
            yield list(chosen)


def _read(coef: np.ndarray, se: np.ndarray) -> list[Constant]:
    return [read_constant(float(c), float(s)) for c, s in zip(coef, se, strict=True)]


def product_proposal(x: np.ndarray, y: np.ndarray) -> Proposal | None:
    """c · Π x_i^a_i by least squares of log |y| on log x (positive inputs, y of one sign)."""
    if not (np.all(x > 0) and (np.all(y > 0) or np.all(y < 0))):
        return None
    n, i_count = x.shape
    a = np.hstack([np.log(x), np.ones((n, 1))])
    coef, se = _lstsq(a, np.log(np.abs(y)))
    exps: list[float] = []
    for e, s in zip(coef[:-1], se[:-1], strict=True):
        tol = max(3.0 * s, 1e-9)
        whole, half = round(e), round(2 * e) / 2
        if abs(e - whole) <= tol:
            exps.append(float(whole))
        elif abs(e - half) <= tol:
            exps.append(float(half))
        else:
            return None
        if abs(exps[-1]) > 8:
            return None
    m = monomial(x, tuple(exps))
    # c in log space too: relative (multiplicative) noise is even there, and a linear fit would weight the
    # largest rows most and understate c's error.
    r = np.log(np.abs(y)) - np.log(m)
    scale = float(np.exp(r.mean())) * (1.0 if y[0] > 0 else -1.0)
    (c,) = _read(np.array([scale]), np.array([abs(scale) * float(r.std()) / math.sqrt(max(n - i_count - 1, 1))]))
    if c.value == 0.0:
        return None
    terms = [(c, tuple(exps))]
    return Proposal("product", "y = " + sum_text(terms), (c,), 1, tuple(terms))


def fitted_sum(method: str, exps: list[Exps], fit_x: np.ndarray, fit_y: np.ndarray) -> Proposal | None:
    """y as Σ c_k · monomial_k by least squares; constants the data cannot tell from 0 drop out (then the
    others are fitted again without them)."""
    for _ in range(2):
        a = np.stack([monomial(fit_x, e) for e in exps], axis=1)
        if not np.all(np.isfinite(a)):
            return None
        coef, se = _lstsq(a, fit_y)
        # a term whose part of y is below NEGLIGIBLE of y's RMS is 0, whatever its standard error says
        size = np.abs(coef) * np.sqrt(np.mean(a**2, axis=0))
        coef = np.where(size < NEGLIGIBLE * math.sqrt(float(np.mean(fit_y**2))), 0.0, coef)
        consts = _read(coef, se)
        terms = [(c, e) for c, e in zip(consts, exps, strict=True) if c.value != 0.0]
        if not terms:
            return None
        if len(terms) == len(exps):
            break
        exps = [e for _, e in terms]
    text = "y = " + sum_text(terms)
    return Proposal(method, text, tuple(c for c, _ in terms), len(terms), tuple(terms))


def polynomial_proposals(fit_x: np.ndarray, fit_y: np.ndarray) -> Iterator[Proposal]:
    """Full least squares on every input plus a constant (the linear baseline), then on every monomial of
    degree ≤ 2 (``a * b + a * c + b * c``): sums whose terms are alike, where forward selection goes astray."""
    n = fit_x.shape[1]
    linear = [(0.0,) * n] + [tuple(1.0 if k == i else 0.0 for k in range(n)) for i in range(n)]
    prop = fitted_sum("linear", linear, fit_x, fit_y)
    if prop is not None:
        yield prop
    quadratic = linear + [tuple(float((k == i) + (k == j)) for k in range(n)) for i in range(n) for j in range(i, n)]
    if len(quadratic) * 3 < len(fit_y):
        prop = fitted_sum("quadratic", quadratic, fit_x, fit_y)
        if prop is not None:
            yield prop


def sum_proposals(
    x: np.ndarray, y: np.ndarray, lib: list[Exps], fit_x: np.ndarray, fit_y: np.ndarray
) -> Iterator[Proposal]:
    """Sparse sums of 1..``MAX_TERMS`` monomials of ``lib`` (structure from x, y; constants from fit_x, fit_y)."""
    cols = np.stack([monomial(x, e) for e in lib], axis=1)  # [N, K]
    for chosen in forward_select(cols, y, MAX_TERMS, BEAM if cols.size <= BEAM_CELLS else 1, start=0):
        prop = fitted_sum("sum", [lib[j] for j in chosen], fit_x, fit_y)
        if prop is not None:
            yield prop


def ratio_library(n_inputs: int) -> list[Exps]:
    """The monomials of a ratio's numerator and denominator: 1, x_i, x_i**2, x_i * x_j, x_i**2 * x_j."""
    out: list[Exps] = [(0.0,) * n_inputs]
    for i in range(n_inputs):
        for p in (1.0, 2.0):
            out.append(tuple(p if k == i else 0.0 for k in range(n_inputs)))
    for i, j in itertools.combinations(range(n_inputs), 2):
        for pi, pj in ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0)):
            out.append(tuple(pi if k == i else pj if k == j else 0.0 for k in range(n_inputs)))
    return out


def _best_subsets(
    gram: np.ndarray, g: np.ndarray, tt: float, size: int, keep: int
) -> list[tuple[float, tuple[int, ...]]]:
    """The ``keep`` subsets of ``size`` columns with the least residual (normal equations: Gram matrix ``gram``
    [K, K] of unit-norm columns, ``g`` [K] their products with the target, ``tt`` the target's energy)."""
    subsets = np.array(list(itertools.combinations(range(len(g)), size)), dtype=np.int64)  # [M, size]
    if not len(subsets):
        return []
    gs = gram[subsets[:, :, None], subsets[:, None, :]]  # [M, size, size]
    bs = g[subsets]  # [M, size]
    gs = gs + 1e-12 * np.eye(size)[None]
    try:
        sol = np.linalg.solve(gs, bs[..., None])[..., 0]  # [M, size]
    except np.linalg.LinAlgError:
        return []
    rss = tt - np.einsum("ms,ms->m", bs, sol)
    order = np.argsort(rss)[:keep]
    return [(float(rss[m]), tuple(int(v) for v in subsets[m])) for m in order]


def ratio_proposals(x: np.ndarray, y: np.ndarray, fit_x: np.ndarray, fit_y: np.ndarray) -> list[Proposal]:
    """y = N(x) / D(x), N and D sums of ``ratio_library`` monomials, at most ``RATIO_TERMS`` terms besides one
    term of D (the anchor, coefficient 1): y · anchor = Σ a_k n_k(x) - Σ b_j y d_j(x) is linear in the
    constants, and every small subset of terms is tried (normal equations, batched)."""
    lib = ratio_library(x.shape[1])
    cols = np.hstack(
        [np.stack([monomial(x, e) for e in lib], axis=1), np.stack([y * monomial(x, e) for e in lib], axis=1)]
    )  # [N, 2L]: numerator terms, then y times denominator terms
    with np.errstate(all="ignore"):
        norms = np.linalg.norm(cols, axis=0)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        return []
    unit = cols / norms
    out: list[Proposal] = []
    n_lib = len(lib)
    for a in range(1 + 2 * x.shape[1]):  # anchors: 1, x_i, x_i**2 (the first entries of the library)
        anchor = n_lib + a
        others = [k for k in range(2 * n_lib) if k != anchor]
        t = unit[:, anchor]
        sub = unit[:, others]
        gram, g = sub.T @ sub, sub.T @ t
        for size in range(2, RATIO_TERMS + 1):
            if math.comb(len(others), size) > MAX_SUBSETS:
                break
            for _, picked in _best_subsets(gram, g, 1.0, size, 2):
                chosen = [others[k] for k in picked]
                nums = [lib[k] for k in chosen if k < n_lib]
                dens = [lib[k - n_lib] for k in chosen if k >= n_lib]
                if not nums or not dens:
                    continue
                prop = _ratio(lib[a], nums, dens, fit_x, fit_y)
                if prop is not None:
                    out.append(prop)
    return out


def _ratio(anchor: Exps, nums: list[Exps], dens: list[Exps], fit_x: np.ndarray, fit_y: np.ndarray) -> Proposal | None:
    a = np.hstack(
        [
            np.stack([monomial(fit_x, e) for e in nums], axis=1),
            -np.stack([fit_y * monomial(fit_x, e) for e in dens], axis=1),
        ]
    )
    if not np.all(np.isfinite(a)):
        return None
    consts = _read(*_lstsq(a, fit_y * monomial(fit_x, anchor)))
    num_terms = [(c, e) for c, e in zip(consts[: len(nums)], nums, strict=True) if c.value != 0.0]
    den_terms = [(read_constant(1.0, 0.0), anchor)] + [
        (c, e) for c, e in zip(consts[len(nums) :], dens, strict=True) if c.value != 0.0
    ]
    if not num_terms or len(den_terms) < 2:
        return None
    text = f"y = ({sum_text(num_terms)}) / ({sum_text(den_terms)})"
    used = tuple(c for c, _ in num_terms + den_terms[1:])
    return Proposal("ratio", text, used, len(num_terms) + len(den_terms), tuple(num_terms), tuple(den_terms))


def proposals(x: np.ndarray, y: np.ndarray, seed: int = 0, ratios: bool = True) -> Iterator[Proposal]:
    """Every closed-form formula for y [N] from x [N, I], simplest first (product, sums by terms, ratios);
    lazily, so a caller that stops at the first good one pays for no more searches."""
    search = _rows(len(y), SEARCH_ROWS, seed)
    fitted = _rows(len(y), FIT_ROWS, seed + 1)
    xs, ys, xf, yf = x[search], y[search], x[fitted], y[fitted]
    prod = product_proposal(xf, yf)
    if prod is not None:
        yield prod
    yield from polynomial_proposals(xf, yf)
    yield from sum_proposals(xs, ys, library(x.shape[1], bool(np.all(x > 0))), xf, yf)
    if ratios and np.all(np.isfinite(y)):
        yield from sorted(ratio_proposals(xs[:RATIO_ROWS], ys[:RATIO_ROWS], xf, yf), key=lambda p: (p.terms, p.degree))
