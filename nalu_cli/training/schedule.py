"""The learning-rate schedule: one cosine decay, shared by training, ``nalu fit`` and fit's MLP baseline.

A plain Python float computation (no torch), so the numpy MLP baseline calls the same function.
"""

from __future__ import annotations

import math


def cosine(lr: float, step: int, steps: int) -> float:
    """The learning rate at ``step`` (0-based) of ``steps``: ``lr`` at step 0, decaying along half a cosine
    to 0 at step ``steps`` (the last step taken, ``steps - 1``, still has a small positive rate).

    The float expression is fixed (each operation rounds once, in this order): changing it would change
    every trained weight."""
    return lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
