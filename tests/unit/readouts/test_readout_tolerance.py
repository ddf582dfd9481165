"""The formula readout's tolerance: a weight within 0.05 of a discrete value is read as it, one further away
is named as the reason there is no formula."""

from __future__ import annotations

import torch

from nalu_cli import rng
from nalu_cli.models.arithmetic import ArithmeticModel
from nalu_cli.readouts.formula import read_formula
from nalu_cli.units.base import UnitOptions


def test_readout_snaps_within_the_tolerance_only() -> None:
    seeds = torch.tensor([0])
    probe = 1 + 9 * rng.uniform(seeds, rng.STREAM_PROBE, 0, (32, 2), torch.float32)
    m = ArithmeticModel(seeds, 2, ["nau"], [], UnitOptions())
    for w, formula in (([0.96, -1.0], "y = x0 - x1"), ([1.0, -0.04], "y = x0"), ([0.94, -1.0], None)):
        with torch.no_grad():
            m.units[0].W.copy_(torch.tensor([[w]]))
        readout = read_formula(m, 0, probe)
        assert readout.formula == formula, (w, readout)
    assert "0.940" in (readout.reason or "")
