"""Reading a fitted constant back as the simplest number the data cannot tell apart from it.

``read_constant(0.50000000001, 1e-11)`` is ``0.5`` and ``read_constant(0.3333333333, 1e-10)`` is ``1/3``; ``read_constant(0.0795774715, 1e-10)`` is ``1/(4*pi)``;
``read_constant(8.3141, 0.009)`` is ``8.31`` (a decimal with only the digits the data supports, flagged as not
pinned down). A constant's tolerance is ``TOL_SIGMAS`` standard errors of its least-squares estimate.

The simple forms tried, simplest first: integers, small rationals p/q (q ≤ ``MAX_DENOMINATOR``; written as a
decimal when it is a finite one, 1.8 rather than 9/5), and those times π, π², 1/π or 1/π². A form is accepted only when the tolerance is also narrow against the spacing of
such numbers (``CHANCE``): on noisy data many rationals lie within a wide tolerance, and one of them would be
a coincidence, not a reading (8.314 ± 0.02 is not 25/3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_DENOMINATOR = 12
PI_POWERS = (0, 1, -1, 2, -2)  # π^k tried, in this order
TOL_SIGMAS = 3.0  # a constant's tolerance: this many standard errors
CHANCE = 0.01  # a form p/q·π^k counts only if its tolerance is below CHANCE × its spacing (π^k / q)
FLOOR = 1e-9  # relative tolerance at least (a table's numbers are printed with 10-12 digits)
PINNED = 1e-6  # a decimal whose relative tolerance is wider than this is flagged as not pinned down


@dataclass(frozen=True)
class Constant:
    """A constant as read back: ``text`` (``1/2``, ``3*pi``, ``8.31``), its ``value`` (the exact value of a
    simple form, else the decimal printed), whether it is a simple exact form, and whether the data pins it
    down (False: printed with the digits it supports, and the fit warns)."""

    text: str
    value: float
    exact: bool
    pinned: bool


def _pi_text(p: int, q: int, k: int) -> str:
    """p/q·π^k as text that ``parse_expression`` reads: ``3/2``, ``2*pi``, ``1/(4*pi)``, ``pi**2/6``."""
    sign = "-" if p < 0 else ""
    p = abs(p)
    if k == 0:
        return f"{sign}{p}" if q == 1 else f"{sign}{p}/{q}"
    pi = "pi" if abs(k) == 1 else f"pi**{abs(k)}"
    if k > 0:
        num = pi if p == 1 else f"{p}*{pi}"
        return f"{sign}{num}" if q == 1 else f"{sign}{num}/{q}"
    den = pi if q == 1 else f"({q}*{pi})"
    return f"{sign}{p}/{den}"


def read_constant(value: float, stderr: float) -> Constant:
    """The simplest reading of ``value`` within ``TOL_SIGMAS * stderr`` (at least ``FLOOR`` relative)."""
    tol = max(TOL_SIGMAS * abs(stderr), FLOOR * abs(value), 1e-300)
    if not math.isfinite(value):
        return Constant(repr(value), value, False, False)
    if abs(value) <= tol:
        return Constant("0", 0.0, True, True)
    best: tuple[int, int, int, int] | None = None  # (complexity, p, q, k)
    for k in PI_POWERS:
        unit = math.pi**k
        for q in range(1, MAX_DENOMINATOR + 1):
            if tol > CHANCE * unit / q:
                continue
            p = round(value * q / unit)
            if p == 0 or math.gcd(p, q) != 1 or abs(p) > 10**6:
                continue
            if abs(p * unit / q - value) <= tol:
                complexity = len(str(abs(p))) + (len(str(q)) if q > 1 else 0) + 2 * abs(k)
                if best is None or complexity < best[0]:
                    best = (complexity, p, q, k)
    if best is not None:
        _, p, q, k = best
        exact = p * math.pi**k / q
        if k == 0 and q > 1 and 10**6 % q == 0:  # a finite decimal: 1.8, 0.5, 0.125 rather than 9/5, 1/2, 1/8
            return Constant(repr(exact), exact, True, True)
        return Constant(_pi_text(p, q, k), exact, True, True)
    for digits in range(1, 18):
        text = f"{value:.{digits}g}"
        if abs(float(text) - value) <= tol:
            break
    if "e" in text and 1e-4 <= abs(value) < 1e15:  # 9e+01 -> 90
        text = f"{float(text):f}".rstrip("0").rstrip(".")
    if "e" in text:
        text = f"({text})"
    return Constant(text, float(text.strip("()")), False, tol <= PINNED * abs(value))
