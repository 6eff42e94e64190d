"""Logging: structlog, configured once per process.

JSON lines on stdout (``ts``, ``level``, ``event``, ``component``, ``run_id`` plus the
event's fields) for journald, Docker and ``jq``; a console renderer when stdout is a
terminal. Standard-library loggers (APScheduler, aiohttp, ...) go through the same
renderer so every stdout line parses. ``run_id`` and ``job`` are bound with contextvars.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

__all__ = ["bind", "configure", "reset"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _default_component(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict.setdefault("component", event_dict.pop("logger", None) or "tradingd")
    return event_dict


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging; ``fmt`` is auto | json | console."""
    stream = stream or sys.stdout
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
        _default_component,
    ]
    if fmt == "json":
        renderer: Any = structlog.processors.JSONRenderer()
        # No locals in tracebacks: they can hold credentials and make lines huge.
        tracebacks = structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
        )
        tail: list[Any] = [tracebacks, renderer]
    else:
        tail = [
            structlog.dev.ConsoleRenderer(
                colors=stream.isatty(),
                exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False)
                if _has_rich()
                else structlog.dev.plain_traceback,
            )
        ]
    numeric = _LEVELS[level]
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *tail],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Third-party stdlib loggers: same format, warnings and up unless debugging.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared, structlog.stdlib.ExtraAdder()],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric if numeric == logging.DEBUG else max(numeric, logging.WARNING))
    logging.captureWarnings(True)


def _has_rich() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def bind(**values: Any) -> None:
    """Bind context (``run_id``, ``mode``) to every later log line of this task."""
    structlog.contextvars.bind_contextvars(**values)


def reset() -> None:
    """Forget all logging configuration and context (for tests)."""
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    logging.getLogger().handlers[:] = []
