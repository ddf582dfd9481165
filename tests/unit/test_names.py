"""One place for names (nalu_cli/names.py): the registries hold exactly those names, and help shows them."""

from __future__ import annotations

from nalu_cli import names
from nalu_cli.config.resolve import PRESETS
from nalu_cli.tasks.ops import OPS
from nalu_cli.units.registry import UNITS
from tests.conftest import run_nalu


def test_registries_hold_exactly_the_names() -> None:
    assert tuple(OPS) == names.OPS
    assert tuple(UNITS) == names.UNITS
    assert tuple(PRESETS) == names.PRESETS
    assert set(names.UNIT_ALIASES.values()) <= set(names.UNITS)


def test_help_lists_the_names() -> None:
    done = run_nalu("train", "--help")
    flat = " ".join(done.stdout.split())
    assert done.returncode == 0
    for name in (*names.OPS, *names.PRESETS):
        assert name in flat, name
