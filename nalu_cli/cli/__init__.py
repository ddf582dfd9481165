"""The command line: a thin typer layer over the library.

One module per command family, each with its own ``typer.Typer`` joined to the root app here (``add_typer``
without a name merges a family's commands into ``nalu``): ``train``; ``evaluate`` (eval, extrapolate,
inspect-weights); ``fit``; ``runs`` (runs, compare, plot, export-tb); ``sweep`` (benchmark, sweep).
``core`` holds what they share: the root app, consoles, error mapping, interrupts and option parsing.
"""

from nalu_cli.cli import evaluate, fit, runs, sweep, train
from nalu_cli.cli.core import app, main

for _family in (train, evaluate, fit, runs, sweep):
    app.add_typer(_family.app)

__all__ = ["app", "main"]
