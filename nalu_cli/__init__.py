"""nalu: neural arithmetic units (NAC, NALU, NAU, NMU, ...) that learn arithmetic and extrapolate.

The package is an importable library; ``nalu_cli.cli`` is a thin command-line layer over it.
Heavy imports (torch) happen in the submodules, so ``import nalu_cli`` stays instant.
"""

__version__ = "0.1.0"
