"""When is a formula *the* answer of ``nalu fit``? The one test every formula passes, whoever found it.

A formula is the answer only when it fits to the noise level on validation rows: it reproduces them exactly
(relative RMS error below ``EXACT``), or its validation MSE is within ``EQUAL_ERROR`` of the MLP baseline's
(an MLP interpolates at least as well as any smooth model, so a formula worse than it leaves structure) and its
residuals on every kept row are only noise (``nalu_cli.fit.noise``). Otherwise ``nalu fit`` says that no
formula was found and shows the closest one as such.

Large tables: the noise test sees at most ``NOISE_ROWS`` kept rows (a fixed sample).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from nalu_cli.fit.candidates import EQUAL_ERROR, EXACT, NOISE_ROWS, _mse, _only_noise, _rel

Predict = Callable[[np.ndarray], np.ndarray | None]


class Judge:
    """Judges formulas against one split: validation rows, every kept row (sampled), the MLP's yardstick."""

    def __init__(
        self, x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray, yardstick: float, seed: int
    ) -> None:
        x_all, y_all = np.vstack([x_tr, x_va]), np.concatenate([y_tr, y_va])
        if len(y_all) > NOISE_ROWS:
            keep = np.sort(np.random.default_rng(seed + 7).choice(len(y_all), NOISE_ROWS, replace=False))
            x_all, y_all = x_all[keep], y_all[keep]
        self.x_va, self.y_va, self.x_all, self.y_all = x_va, y_va, x_all, y_all
        self.yardstick = yardstick

    def valid_rel(self, predict: Predict) -> float:
        """The formula's relative RMS error on the validation rows (inf when it cannot be evaluated)."""
        pred = predict(self.x_va)
        return math.inf if pred is None else _rel(_mse(pred, self.y_va), self.y_va)

    def verdict(self, predict: Predict) -> str | None:
        """``exact``, ``noise`` (fits to the noise level) or None (not an answer)."""
        pred = predict(self.x_va)
        if pred is None:
            return None
        mse = _mse(pred, self.y_va)
        if not math.isfinite(mse):
            return None
        if _rel(mse, self.y_va) < EXACT:
            return "exact"
        if math.isfinite(self.yardstick) and mse > self.yardstick * EQUAL_ERROR:
            return None
        pred_all = predict(self.x_all)
        if pred_all is None or not np.all(np.isfinite(pred_all)):
            return None
        return "noise" if _only_noise(self.y_all - pred_all, pred_all, self.x_all) else None
