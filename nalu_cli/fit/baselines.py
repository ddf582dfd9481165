"""Baselines for nalu fit: least squares and a small MLP."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nalu_cli.fit.candidates import _mse, _rel
from nalu_cli.training.schedule import cosine


def linear_baseline(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients [I + 1] (the last is the intercept)."""
    a = np.hstack([x, np.ones((x.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return np.asarray(coef)


def _linear_text(target: str, names: list[str], coef: np.ndarray) -> str:
    """``y = 2.1 * a - 0.3 * b + 4`` (4 significant digits)."""
    text = ""
    for c, name in [*zip(coef[:-1], names, strict=True), (coef[-1], "")]:
        term = f"{abs(c):.4g}" + (f" * {name}" if name else "")
        text += (f"-{term}" if c < 0 else term) if not text else (f" - {term}" if c < 0 else f" + {term}")
    return f"{target} = {text}"


def linear_predict(coef: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(x @ coef[:-1] + coef[-1])


MLP_STEPS, MLP_LR = 300, 0.03  # the MLP baseline's full-batch Adam steps and peak learning rate


def mlp_baseline(x: np.ndarray, y: np.ndarray, seed: int, steps: int = MLP_STEPS) -> Any:
    """A small MLP (I → 32 → 32 → 1, ReLU) on standardised inputs and target; returns a predict function.

    Trained full batch with Adam (peak lr ``MLP_LR``, cosine decay) for ``steps`` steps, written out in numpy: at this
    size each step is a few microseconds of arithmetic, which PyTorch's per-operation overhead would
    multiply several times. Initialised like ``torch.nn.Linear`` (U(±1/√fan_in) for weights and biases).
    """
    rs = np.random.default_rng(seed)
    mu, sd = x.mean(0), x.std(0) + 1e-12
    ym, ys = float(y.mean()), float(y.std()) or 1.0
    xs = (x - mu) / sd  # [N, I]
    ys_t = ((y - ym) / ys)[:, None]  # [N, 1]
    sizes = [x.shape[1], 32, 32, 1]
    params: list[np.ndarray] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / math.sqrt(fan_in)
        params += [rs.uniform(-bound, bound, (fan_in, fan_out)), rs.uniform(-bound, bound, fan_out)]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    n = xs.shape[0]
    for t in range(1, steps + 1):
        w1, b1, w2, b2, w3, b3 = params
        z1 = xs @ w1 + b1  # [N, 32]
        h1 = np.maximum(z1, 0.0)
        z2 = h1 @ w2 + b2  # [N, 32]
        h2 = np.maximum(z2, 0.0)
        g = 2.0 * (h2 @ w3 + b3 - ys_t) / n  # [N, 1]: d(mean squared error)/d(output)
        g2 = (g @ w3.T) * (z2 > 0)  # [N, 32]
        g1 = (g2 @ w2.T) * (z1 > 0)  # [N, 32]
        grads = [xs.T @ g1, g1.sum(0), h1.T @ g2, g2.sum(0), h2.T @ g, g.sum(0)]
        lr = cosine(MLP_LR, t - 1, steps)  # t counts from 1, the schedule's steps from 0
        c1, c2 = 1.0 - 0.9**t, 1.0 - 0.999**t
        for p, gr, a, b in zip(params, grads, m1, m2, strict=True):
            a *= 0.9
            a += 0.1 * gr
            b *= 0.999
            b += 0.001 * gr * gr
            p -= lr * (a / c1) / (np.sqrt(b / c2) + 1e-8)

    def predict(xn: np.ndarray) -> np.ndarray:
        w1, b1, w2, b2, w3, b3 = params
        h = np.maximum(np.maximum(((xn - mu) / sd) @ w1 + b1, 0.0) @ w2 + b2, 0.0)  # [N, 32]
        return np.asarray((h @ w3 + b3)[:, 0] * ys + ym)

    return predict


def _err(pred: np.ndarray | None, y: np.ndarray) -> dict[str, float] | None:
    """MSE and relative error of ``pred`` against ``y`` (None when there is no prediction)."""
    if pred is None:
        return None
    mse = _mse(pred, y)
    return {"mse": mse, "rel_err": _rel(mse, y)}
