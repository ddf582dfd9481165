"""The README's madsen2020 recipes on held-out seeds (100-115; the README's table used 0-99).

Measured on 2026-11-25, and again on 2026-12-01 with the closed-form preconditioner and the subset sums from
the first layer's product: add NAU 14/16 (16/16 with 2 restarts), sub NAU 16/16, mul NMU 16/16. Training is
deterministic, but another CPU or torch version may round differently, so each check allows one seed less
than measured. Slow (about 6 minutes on one core): ``python -m pytest -m slow tests/unit/sweeps/test_benchmark_slow.py``.
"""

from __future__ import annotations

import pytest

from nalu_cli.sweeps import benchmark

HELD_OUT = list(range(100, 116))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("op", "unit", "restarts", "at_least"),
    [("add", "nau", 1, 13), ("add", "nau", 2, 15), ("sub", "nau", 1, 15), ("mul", "nmu", 1, 15)],
)
def test_recipes_solve_held_out_seeds(op: str, unit: str, restarts: int, at_least: int) -> None:
    cell = benchmark.Cell(op, unit, "", "")
    cfg = benchmark.cell_config(cell, "madsen2020", HELD_OUT, None, restarts, True, {})
    from nalu_cli.training.loop import train

    result = train(cfg, stop_on_divergence=False)
    row = benchmark.summarise(cell, cfg, result.seeds, result.elapsed)
    assert row["solved"] >= at_least, row
    assert row["published"] is not None  # this is Madsen & Johansen's task, so the row carries their rate
