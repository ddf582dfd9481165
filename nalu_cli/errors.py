"""Exceptions raised by the library, with messages written for the person at the terminal.

The CLI turns ``ConfigError`` into exit code 2 and every other ``NaluError`` into exit code 1.
"""

from __future__ import annotations


def install_hint(extra: str) -> str:
    """How to install an optional extra, for an installed package and for a source checkout."""
    return f"pip install 'nalu[{extra}]' (from a source checkout: pip install -e '.[{extra}]')"


class NaluError(Exception):
    """Base class: a failure the user can act on (the message says what and how)."""


class ConfigError(NaluError):
    """The configuration or the command-line arguments are invalid (exit code 2).

    ``problems`` lists every problem found, so the user can fix them all at once.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(message)


class CheckpointError(NaluError):
    """A checkpoint or run directory is missing, truncated, corrupt, foreign or from the future."""


class DivergenceError(NaluError):
    """Training produced NaN or Inf; the message names the step."""
