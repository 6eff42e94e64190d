"""Shared fixtures: every test gets fresh logging. Helpers live in ``testkit.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from daemon import logs


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    yield
    logs.reset()
