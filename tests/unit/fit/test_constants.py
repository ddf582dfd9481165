"""Constants read back as the simplest number the data cannot tell apart, else with only the digits it supports."""

from __future__ import annotations

import math

import pytest

from nalu_cli.fit.constants import read_constant


@pytest.mark.parametrize(
    ("value", "stderr", "text", "pinned"),
    [
        (0.5 + 3e-13, 1e-13, "0.5", True),
        (1.8, 1e-13, "1.8", True),  # a finite decimal is written as one, not 9/5
        (1 / 3 + 1e-13, 1e-13, "1/3", True),
        (1 / (4 * math.pi), 1e-13, "1/(4*pi)", True),
        (4 * math.pi / 3, 1e-13, "4*pi/3", True),
        (-1 / 8, 1e-13, "-0.125", True),
        (2 * math.pi, 1e-12, "2*pi", True),
        (8.314, 1e-12, "8.314", True),  # clean data: every digit it has
        (8.3141, 0.003, "8.31", False),  # noisy data: the digits the data supports, flagged
        (8.3141, 0.03, "8.3", False),  # 25/3 = 8.333 is within 0.09, but a coincidence at that width
        (1e-14, 1e-13, "0", True),
    ],
)
def test_read_constant(value: float, stderr: float, text: str, pinned: bool) -> None:
    c = read_constant(value, stderr)
    assert (c.text, c.pinned) == (text, pinned)
    assert abs(c.value - value) <= max(3 * stderr, 1e-9 * abs(value))


def test_a_wide_constant_is_never_an_exact_rational_it_merely_rounds_to() -> None:
    """0.52 ± 0.05: 1/2 lies inside, but so would many numbers; it is printed as a decimal and not pinned."""
    c = read_constant(0.52, 0.05)
    assert not c.exact and not c.pinned and c.text in ("0.5", "0.52")
