"""Lazy package exports (PEP 562): names resolve to their module on first use.

Packages whose modules import heavy libraries (wfdb, pandas, scipy, torch, Lightning) export their
public names through :func:`lazy_exports`, so ``import ecglab.io`` or the CLI's start-up does not
pay for what a command never uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, namespace: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` on demand.

    Parameters
    ----------
    package
        The package's ``__name__`` (for error messages).
    namespace
        The package's ``globals()``: a resolved name is cached there.
    exports
        Public name → module defining it.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
