"""Reading a fitted constant back as the simplest number the data cannot tell apart from it.

The reader lives in ``nalu_cli/readouts/constants.py`` (the formula readout of a trained model, a layer
below ``fit``, reads its constants with it too); re-exported here for ``fit``'s closed-form searches.
"""

from __future__ import annotations

from nalu_cli.readouts.constants import (
    CHANCE,
    FLOOR,
    MAX_DENOMINATOR,
    PI_POWERS,
    PINNED,
    TOL_SIGMAS,
    Constant,
    read_constant,
)

__all__ = ["CHANCE", "FLOOR", "MAX_DENOMINATOR", "PINNED", "PI_POWERS", "TOL_SIGMAS", "Constant", "read_constant"]
