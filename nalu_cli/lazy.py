"""Lazy imports for the torch-free layers: a module name bound to a stand-in that imports on first use.

``tasks/`` sits below ``config/``, and ``config`` must import without torch (the CLI's help, completion and
config checks stay instant). A task module therefore binds ``torch`` (and ``nalu_cli.rng``) with
``lazy_import``: the first attribute read imports the real module and rebinds the name in the module's
globals, so every later use is the plain module, with no cost per call. Type checkers see the real import
(``if TYPE_CHECKING:``). Nothing at a lazy module's import time may touch the stand-in (no ``@torch...``
decorators, default arguments or aliases that read it); ``tests/unit/test_architecture.py`` checks that
importing config, and validating a config of every task kind, leaves torch unimported.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _StandIn:
    """Imports ``name`` when an attribute is first read, then puts the module itself in ``namespace``."""

    def __init__(self, name: str, namespace: dict[str, Any], alias: str) -> None:
        self._name, self._namespace, self._alias = name, namespace, alias

    def __getattr__(self, attribute: str) -> Any:
        module = importlib.import_module(self._name)
        self._namespace[self._alias] = module  # later reads of the name find the module: no stand-in, no cost
        return getattr(module, attribute)

    def __repr__(self) -> str:
        return f"<lazy import of {self._name}>"


def lazy_import(name: str, namespace: dict[str, Any], alias: str | None = None) -> Any:
    """The module ``name`` if it is already imported, else a stand-in that imports it on first use and then
    rebinds ``alias`` (default: the last part of ``name``) in ``namespace`` (the caller's ``globals()``)."""
    if name in sys.modules:
        return sys.modules[name]
    return _StandIn(name, namespace, alias or name.rsplit(".", 1)[-1])


def torch_no_grad(fn: F) -> F:
    """``@torch.no_grad()`` for a module that imports torch lazily: the context is entered at call time."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        import torch

        with torch.no_grad():
            return fn(*args, **kwargs)

    return call  # type: ignore[return-value]
