"""Unit names: the class behind each name a config or the command line may use, and the aliases they accept."""

from __future__ import annotations

from nalu_cli import names
from nalu_cli.units.base import Unit
from nalu_cli.units.madsen import NAU, NMU
from nalu_cli.units.mlp import MLPLayer
from nalu_cli.units.nac import INALU, NALU, NACAdd, NACMul
from nalu_cli.units.nmru import NMRU
from nalu_cli.units.npu import NPU, RealNPU

UNITS: dict[str, type[Unit]] = {
    "nac_add": NACAdd,
    "nac_mul": NACMul,
    "nalu": NALU,
    "nau": NAU,
    "nmu": NMU,
    "inalu": INALU,
    "npu": NPU,
    "realnpu": RealNPU,
    "nmru": NMRU,
    "mlp": MLPLayer,
}
if tuple(UNITS) != names.UNITS:
    raise ImportError(f"units.registry registers {tuple(UNITS)}, but names.UNITS lists {names.UNITS}")
