"""The installed tradingd version (cheap to import: the CLI's --version needs nothing else)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["tradingd_version"]


def tradingd_version() -> str:
    try:
        return version("tradingd")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"
