"""JSON over HTTP for one source: a shared aiohttp session behind that source's Guard.

Classification of one attempt: a timeout, a connection error, 429 (with its Retry-After)
or a 5xx is transient and retried; any other 4xx is a RequestRejected; a 2xx body that is
not UTF-8 or not JSON is a BadResponse. Messages name the path, never the query string
(which may hold an API key), and pass through the source's redaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from daemon.feeds.errors import BadResponse, RequestRejected, TransientError
from daemon.feeds.resilience import Guard

__all__ = ["HttpClient", "new_session", "retry_after_seconds"]

USER_AGENT = "tradingd/0.1 (+https://github.com/tradingd)"


def new_session(user_agent: str = USER_AGENT) -> aiohttp.ClientSession:
    """The daemon's one shared session (create it inside the running loop; close on shutdown)."""
    return aiohttp.ClientSession(headers={"User-Agent": user_agent}, raise_for_status=False)


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds: delta-seconds, or an HTTP date measured against the
    response's own ``Date`` header (so no local clock is read). None when absent or unusable."""
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when, sent = parsedate_to_datetime(value), parsedate_to_datetime(headers.get("Date", ""))
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - sent).total_seconds())


def _error_text(body: bytes) -> str:
    """A short description of an error body (APIs put the reason in message/error fields)."""
    text = body[:2000].decode("utf-8", errors="replace")
    try:
        payload = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200]
    if isinstance(payload, dict):
        for key in ("message", "Error Message", "error", "code"):
            if isinstance(payload.get(key), str):
                return payload[key][:200]
    return " ".join(text.split())[:200]


class HttpClient:
    """GET JSON from ``base_url`` + path. ``params``/``headers`` are sent with every
    request (an API key goes here, never into ``what``)."""

    def __init__(
        self,
        source: str,
        base_url: str,
        session: aiohttp.ClientSession,
        guard: Guard,
        *,
        timeout_s: float,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        redact: Callable[[str], str] = lambda text: text,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.guard = guard
        self.timeout_s = timeout_s
        self._params = dict(params or {})
        self._headers = dict(headers or {})
        self.redact = redact

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON of ``GET base_url/path?params`` after retries; raises FeedError."""
        what = f"GET /{path.lstrip('/')}"
        return await self.guard.call(lambda: self._attempt(path, params or {}), what=what)

    async def _attempt(self, path: str, params: Mapping[str, Any]) -> Any:
        url = f"{self.base_url}/{path.lstrip('/')}"
        query = {**{k: str(v) for k, v in params.items() if v is not None}, **self._params}
        try:
            async with self.session.get(
                url, params=query, headers=self._headers, timeout=aiohttp.ClientTimeout(total=self.timeout_s)
            ) as response:
                status, headers = response.status, response.headers
                body = await response.read()
        except TimeoutError:
            raise TransientError(f"timed out after {self.timeout_s:g}s") from None
        except aiohttp.ClientError as exc:
            raise TransientError(self.redact(f"connection failed: {type(exc).__name__}: {exc}")) from None
        if status == 429 or status >= 500:
            raise TransientError(self.redact(f"HTTP {status}: {_error_text(body)}"), retry_after_seconds(headers))
        if status >= 400:
            raise RequestRejected(self.redact(f"HTTP {status}: {_error_text(body)}"), status)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadResponse(f"{path}: body is not UTF-8 (byte {exc.start}: {exc.reason})") from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadResponse(f"{path}: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
