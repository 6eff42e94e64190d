"""The base of every config section: frozen, typed, unknown keys forbidden.

Component packages define their own sections on top of this (``brokers.config``,
``strategies.config``) and ``daemon.config`` assembles them into the root.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Section", "format_validation_error"]


class Section(BaseModel):
    """A config table. Strict: TOML types must match (an int is accepted for a float)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


_COMPARISONS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def format_validation_error(exc: ValidationError, prefix: str = "") -> list[str]:
    """``dotted.key: message`` lines for a pydantic error, keys as written in TOML.

    A validator message that starts with ``key:`` (or ``dotted.key:``) names a key relative
    to the model that raised it, so it is appended to the location.
    """
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        kind, ctx = err["type"], err.get("ctx") or {}
        if kind in _COMPARISONS:
            name, op = _COMPARISONS[kind]
            bound = ctx[name]
            message = (
                f"must be {op} {bound:g}" if isinstance(bound, float) else f"must be {op} {bound}"
            )
        elif kind == "extra_forbidden":
            message = "unknown key"
        elif kind == "missing":
            message = "required"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            head, sep, rest = message.partition(": ")
            if sep and " " not in head:
                loc, message = [*loc, *head.split(".")], rest
        lines.append(f"{'.'.join([prefix, *loc] if prefix else loc)}: {message}")
    return lines
