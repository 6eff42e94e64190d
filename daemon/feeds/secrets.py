"""Credentials for the data sources, from environment variables or a secrets file.

Names (environment variable = secrets file key):

- ``TRADINGD_FRED_API_KEY``          FRED / ALFRED
- ``TRADINGD_FMP_API_KEY``           Financial Modeling Prep
- ``TRADINGD_NEWSAPI_KEY``           NewsAPI
- ``TRADINGD_REDDIT_CLIENT_ID``, ``TRADINGD_REDDIT_CLIENT_SECRET``, ``TRADINGD_REDDIT_USER_AGENT``

``TRADINGD_SECRETS_FILE`` points at a file of ``NAME=value`` lines (``#`` comments, optional
quotes); the environment wins over the file. Values never reach config, logs, reprs or
exception texts: ``Secrets.redact`` masks them in any text, and ``redact_processor`` does
the same for structlog event fields.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import structlog
from pydantic import SecretStr

__all__ = ["SECRET_NAMES", "SECRETS_FILE_ENV", "Secrets", "SecretsError", "load_secrets", "redact_processor"]

log = structlog.get_logger(component="feeds.secrets")

SECRETS_FILE_ENV = "TRADINGD_SECRETS_FILE"
SECRET_NAMES = (
    "TRADINGD_FRED_API_KEY",
    "TRADINGD_FMP_API_KEY",
    "TRADINGD_NEWSAPI_KEY",
    "TRADINGD_REDDIT_CLIENT_ID",
    "TRADINGD_REDDIT_CLIENT_SECRET",
    "TRADINGD_REDDIT_USER_AGENT",
)
_MASK = "***"
# The user agent is not secret and is often a short common word: never mask it in text.
_NOT_MASKED = {"TRADINGD_REDDIT_USER_AGENT"}


class SecretsError(ValueError):
    """A secrets file that cannot be used; names the file and line, never a value."""


class Secrets:
    """The credentials that are present. ``repr`` shows names only."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = {name: SecretStr(value) for name, value in (values or {}).items() if value}

    def get(self, name: str) -> str | None:
        """The value of ``name`` (one of SECRET_NAMES), or None when absent."""
        if name not in SECRET_NAMES:
            raise KeyError(f"unknown secret name {name!r}")
        value = self._values.get(name)
        return value.get_secret_value() if value else None

    def present(self) -> list[str]:
        return sorted(self._values)

    def missing(self, *names: str) -> list[str]:
        return [name for name in names if name not in self._values]

    def redact(self, text: str) -> str:
        """``text`` with every secret value (raw or URL-encoded) replaced by ``***``."""
        for name, secret in self._values.items():
            value = secret.get_secret_value()
            if name in _NOT_MASKED or len(value) < 4:
                continue
            for form in {value, quote(value, safe=""), quote_plus(value)}:
                text = text.replace(form, _MASK)
        return text

    def __repr__(self) -> str:
        return f"Secrets(present={self.present()})"


def _read_file(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretsError(f"secrets file {path}: cannot read: {type(exc).__name__}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("secrets_file_permissive", path=str(path), mode=oct(mode & 0o777), hint="chmod 600")
    values: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not sep:
            raise SecretsError(f"secrets file {path} line {number}: expected NAME=value")
        if name not in SECRET_NAMES:
            raise SecretsError(
                f"secrets file {path} line {number}: unknown name {name!r} (known: {', '.join(SECRET_NAMES)})"
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


def load_secrets(environ: Mapping[str, str] | None = None, path: str | Path | None = None) -> Secrets:
    """Credentials from ``path`` (or ``$TRADINGD_SECRETS_FILE``), overridden by ``environ``."""
    environ = os.environ if environ is None else environ
    file = path or environ.get(SECRETS_FILE_ENV)
    values = _read_file(Path(file)) if file else {}
    values.update({name: environ[name] for name in SECRET_NAMES if environ.get(name)})
    return Secrets(values)


def redact_processor(secrets: Secrets) -> Any:
    """A structlog processor that masks secret values in every string field of an event."""

    def processor(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        return {k: secrets.redact(v) if isinstance(v, str) else v for k, v in event_dict.items()}

    return processor
