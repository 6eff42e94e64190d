"""PEP 562 lazy re-exports for the numeric subpackages (``allocation``, ``risk``).

Reading config imports ``strategies.*.config``; without this, the packages' ``__init__``
would import pypfopt, cvxpy and arch first (over a second for ``tradingd status``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: dict[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports each name from its home module on first use."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return __getattr__
