"""Text hygiene before scoring: decode, strip HTML, collapse whitespace, hash the content.

Pure functions; no model, no I/O.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata

__all__ = ["clean_text", "content_hash"]

_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]{0,2000}>", re.IGNORECASE | re.DOTALL)
_SPACE = re.compile(r"\s+")
# NewsAPI cuts `content` at 200 characters and appends "[+1234 chars]".
_TRUNCATION_MARK = re.compile(r"\s*(?:\.\.\.|…)?\s*\[\+\d+ chars\]\s*$")


def clean_text(value: str | bytes | None) -> str:
    """Readable text: bytes decoded as UTF-8 (bad bytes become U+FFFD), tags and entities
    removed, control characters dropped, whitespace collapsed. ``None`` (or a missing NaN) -> "".
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    elif not isinstance(value, str):
        return "" if value is None or value != value else str(value)  # NaN != NaN
    text = html.unescape(_TAG.sub(" ", value))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cc" or ch in "\t\n\r")
    text = _TRUNCATION_MARK.sub("", text)
    return _SPACE.sub(" ", text).strip()


def content_hash(*parts: str) -> str:
    """sha256 of the case-folded, whitespace-normalised text: the same article pulled for
    two tickers, from two sources, or again tomorrow, hashes the same."""
    normal = " \x1f ".join(_SPACE.sub(" ", clean_text(p)).casefold() for p in parts)
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()
