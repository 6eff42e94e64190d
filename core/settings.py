"""Config foundation: the `Section` base, the one `ConfigError`, the one loader.

Every config table of tradingd is a `Section`: frozen, unknown keys refused, strict types
(``risk.target_vol = "0.1"`` is refused like ``broker.commission_bps = "1"``; an int is
accepted for a float). Component packages define their sections on top of this
(``brokers.config``, ``strategies.risk.config``, ``models.config``) and
``daemon.config`` assembles them into the root. `load_config` reads a TOML file into any
root section; every problem becomes a ``dotted.key: message`` line of a `ConfigError`.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

__all__ = [
    "ConfigError",
    "IsoDate",
    "IsoTime",
    "Section",
    "format_validation_error",
    "load_config",
    "read_toml",
    "validate",
]

S = TypeVar("S", bound="Section")

_SECRET_KEY = re.compile(r"(api_?key|secret|token|password|passwd|client_secret)", re.IGNORECASE)


class ConfigError(ValueError):
    """A config that cannot be used.

    ``problems`` holds one ``dotted.key: message`` line per problem, keys as written in
    TOML; ``str()`` is those lines. ``source`` is the file (None: defaults / a mapping);
    ``located()`` prefixes each line with it, for messages shown to a user.
    """

    def __init__(self, problems: str | Iterable[str], source: str | Path | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = None if source is None else str(source)
        super().__init__("\n".join(self.problems))

    def located(self) -> list[str]:
        return [f"{self.source}: {p}" if self.source else p for p in self.problems]


def _arrays_to_tuples(value: Any) -> Any:
    # TOML arrays arrive as lists; configs are immutable, so every array field is a tuple.
    if isinstance(value, list):
        return tuple(_arrays_to_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _arrays_to_tuples(v) for k, v in value.items()}
    return value


class Section(BaseModel):
    """A config table. Strict: TOML types must match (an int is accepted for a float);
    arrays are read as tuples."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _toml_arrays(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fields = cls.model_fields
        return {
            k: v if k in fields and _mentions_list(fields[k].annotation) else _arrays_to_tuples(v)
            for k, v in data.items()
        }


def _mentions_list(annotation: Any) -> bool:
    """A field declared as a list (anywhere in its type) keeps TOML's lists as they are."""
    return get_origin(annotation) is list or annotation is list or any(
        _mentions_list(arg) for arg in get_args(annotation)
    )


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _sections_in(annotation: Any) -> list[type[BaseModel]]:
    if _is_section(annotation):
        return [annotation]
    return [s for arg in get_args(annotation) for s in _sections_in(arg)]


def _from_iso(kind: type[date] | type[time], example: str) -> Any:
    def parse(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return kind.fromisoformat(value)
            except ValueError as exc:
                raise ValueError(f"expected a {kind.__name__} like {example}, got {value!r}") from exc
        return value

    return BeforeValidator(parse)


IsoDate = Annotated[date, _from_iso(date, "2018-01-02")]
"""A date: a TOML date, or an ISO string (``2018-01-02``) from a command line."""
IsoTime = Annotated[time, _from_iso(time, "16:00")]
"""A time of day: a TOML time, or an ISO string (``"16:00"``)."""


_COMPARISONS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _fields_at(model: Any, path: list[str]) -> list[str]:
    """The keys the table at `path` below `model` accepts (empty if unknown)."""
    parts = list(path)
    while parts:
        fields = getattr(model, "model_fields", None)
        if not fields or parts[0] not in fields:
            return []
        annotation = fields[parts.pop(0)].annotation
        if get_origin(annotation) is dict and parts:
            parts.pop(0)  # the table's own name (``jobs.<name>``)
        members = _sections_in(annotation)
        if len(members) > 1 and parts:  # a tagged union: pydantic puts the tag in the location
            tag = parts.pop(0)
            members = [m for m in members if any(f.default == tag for f in m.model_fields.values())]
        model = members[0] if members else None
    return sorted(getattr(model, "model_fields", None) or {})


def format_validation_error(
    exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
) -> list[str]:
    """``dotted.key: message`` lines for a pydantic error, keys as written in TOML.

    A validator message that starts with ``key:`` (or ``dotted.key:``) names a key relative
    to the model that raised it, so it is appended to the location. With `model` (the
    root section), an unknown key gets a "did you mean" hint from its table's keys.
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
            hint = difflib.get_close_matches(loc[-1], _fields_at(model, loc[:-1]), n=1)
            if hint:
                message += f"; did you mean {hint[0]!r}?"
        elif kind == "missing":
            message = "required"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            head, sep, rest = message.partition(": ")
            if sep and " " not in head:
                loc, message = [*loc, *head.split(".")], rest
        lines.append(f"{'.'.join([prefix, *loc] if prefix else loc) or '(top level)'}: {message}")
    return lines


def validate(model: type[S], data: Mapping[str, Any], *, prefix: str = "",
             source: str | Path | None = None) -> S:
    """`model` from a plain mapping, or a `ConfigError` listing every problem.

    `prefix` (``models``) is the table the mapping came from, so keys read as in the file.
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix, model), source) from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; `ConfigError` (naming the file) if missing or malformed."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError("config file not found", source) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", source) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source) from exc


def _secret_keys(table: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(table, dict):
        for key, value in table.items():
            path = f"{prefix}{key}"
            if _SECRET_KEY.search(str(key)):
                found.append(path)
            found.extend(_secret_keys(value, path + "."))
    return found


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    model: type[S],
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    table: str | None = None,
) -> S:
    """Read a TOML file (None: defaults only), merge `overrides` (nested tables), validate.

    With `table` (``models``), a file that has that table is read from it and error keys
    carry its name; a file without it is taken whole. A key that looks like a secret is
    refused: secrets come from the environment or a secrets file, never a config file.
    Raises `ConfigError` naming the file and each bad key.
    """
    raw = read_toml(path) if path is not None else {}
    secrets = _secret_keys(raw)
    if secrets:
        raise ConfigError(
            f"{secrets[0]}: secrets are not read from config files; "
            "set them in the environment or a secrets file (see README, 'Secrets')",
            path,
        )
    prefix = ""
    if table is not None and table in raw:
        raw, prefix = raw[table], table
    return validate(model, _merge(raw, overrides or {}), prefix=prefix, source=path)
