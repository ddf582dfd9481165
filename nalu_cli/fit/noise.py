"""Is what a formula leaves unexplained only noise? The test that lets ``nalu fit`` stop its ladder early.

A formula read from a candidate's weights has no free parameters. If its residuals ``y - f(x)`` still
depend on the inputs, a richer candidate can explain that part; if they do not, every richer candidate
can only win by fitting noise. ``explains_nothing`` regresses the residuals on a small library of
simple functions of the inputs (each input, each pairwise product, and for positive inputs each
reciprocal and pairwise ratio; standardised, with an intercept) and compares the fraction of the
residuals' sum of squares the library explains (R², about 0, not about the residuals' mean) with what
pure noise would give by chance: with k regressors and n rows R² of Gaussian noise is Beta(k/2,
(n-k)/2), mean k/n; the residuals count as noise when R² stays below that mean plus ``SIGMAS`` standard
deviations. A missing term of a formula (``price * qty`` for ``price * qty - discount``) is one of the
library's columns or close to a combination of them, and is found; 1% noise is not.
"""

from __future__ import annotations

import math

import numpy as np

SIGMAS = 4.0  # how far above the chance level of R² the residuals must be to count as structure
MIN_ROWS = 20  # with fewer rows the test never says "noise"
MAX_SHARE = 3  # at most n / MAX_SHARE regressors (too many would explain anything)


def library(x: np.ndarray) -> np.ndarray:
    """Simple functions of the inputs x [N, I], standardised: [N, K] (K depends on I and on positivity)."""
    n, i_count = x.shape
    columns = [x[:, i] for i in range(i_count)]
    columns += [x[:, i] * x[:, j] for i in range(i_count) for j in range(i, i_count)]
    if np.all(x > 0):
        columns += [1.0 / x[:, i] for i in range(i_count)]
        columns += [x[:, i] / x[:, j] for i in range(i_count) for j in range(i_count) if i != j]
    limit = max(1, n // MAX_SHARE - 1)
    if len(columns) > limit:  # many inputs: the linear and reciprocal columns first, then products
        order = list(range(i_count))
        if np.all(x > 0):
            first_recip = i_count + i_count * (i_count + 1) // 2
            order += list(range(first_recip, first_recip + i_count))
        order += [k for k in range(len(columns)) if k not in order]
        columns = [columns[k] for k in order[:limit]]
    f = np.stack(columns, axis=1)  # [N, K]
    sd = f.std(axis=0)
    return (f - f.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def explained(residual: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """(R² of the residuals [N] on the library of x [N, I] plus an intercept, its chance threshold)."""
    n = residual.shape[0]
    a = np.hstack([np.ones((n, 1)), library(x)])  # [N, K]
    k = a.shape[1]
    total = float(residual @ residual)
    if n < MIN_ROWS or n <= k + 2 or not math.isfinite(total):
        return 1.0, 0.0  # too few rows to tell: never counts as noise
    if total == 0.0:
        return 0.0, 1.0
    coef, *_ = np.linalg.lstsq(a, residual, rcond=None)
    rest = residual - a @ coef
    r2 = 1.0 - float(rest @ rest) / total
    mean = k / n
    sd = math.sqrt(2.0 * k * (n - k) / (n * n * (n + 2)))
    return r2, mean + SIGMAS * sd


def explains_nothing(residual: np.ndarray, x: np.ndarray) -> bool:
    """True when the library explains no more of ``residual`` than it would of pure noise."""
    r2, threshold = explained(residual, x)
    return r2 < threshold
