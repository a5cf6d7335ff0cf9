"""JsonConfig: typed configs (pydantic) that round-trip to JSON, strictly.

Every config of the engine derives from :class:`JsonConfig`: unknown keys are refused
(``extra="forbid"``), types are strict (``"2"`` is not a number, ``true`` is not 1), ranges and
choices are declared on the fields (so the JSON Schema states them), and assignments are
checked too (``cfg.diversity.mmr_lambda = 5`` raises). A refused value raises
:class:`ConfigError`, a ``ValueError`` whose message names the field path of each problem
(``diversity.mmr_lambda: must be at most 1, got 5.0``). The one exception is a config read back
from a built model (:meth:`JsonConfig.from_stored`): a field another release wrote and this one
does not know is dropped with a warning, so an upgrade never strands the active version.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["ConfigError", "JsonConfig", "deep_merge"]


class ConfigError(ValueError):
    """A configuration refused: ``problems`` is one (field path, message) per bad value."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems or [("config", "invalid")]
        super().__init__("; ".join(f"{f}: {m}" for f, m in self.problems))

    @property
    def field(self) -> str:
        """The path of the first problem (``diversity.mmr_lambda``)."""
        return self.problems[0][0]

    @classmethod
    def of(cls, exc: ValidationError, prefix: str = "") -> ConfigError:
        problems = []
        for err in exc.errors(include_url=False):
            loc = [str(x) for x in err.get("loc", ()) if x != "[key]"]
            path = ".".join([prefix, *loc] if prefix else loc) or prefix or "config"
            problems.append((path, _message(err)))
        return cls(problems)


def _message(err: Any) -> str:
    """A pydantic error in words an operator reads, with the value that was given."""
    kind, ctx, given = err.get("type", ""), err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required"
    if "[key]" in [str(x) for x in err.get("loc", ())]:
        expected = f"; one of {ctx['expected']}" if "expected" in ctx else ""
        return f"unknown key {given!r}{expected}"
    bounds = {"greater_than": "must be more than {gt}", "greater_than_equal": "must be at least {ge}",
              "less_than": "must be less than {lt}", "less_than_equal": "must be at most {le}"}
    if kind in bounds:
        return bounds[kind].format(**ctx) + f", got {given!r}"
    if kind == "literal_error":
        return f"{given!r} is not one of {ctx.get('expected', '')}"
    return f"{err.get('msg', 'invalid')}, got {given!r}"


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` written over it, section by section (a dict in the patch merges
    into the dict it replaces; any other value replaces)."""
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class JsonConfig(BaseModel):
    """Base of the typed configs: ``to_dict``, ``from_dict`` (strict), ``to_json``, ``from_json``,
    ``merged`` (a partial config over this one) and ``json_schema``."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: Any, *, prefix: str = "") -> Self:
        """Validate a JSON object; fields it leaves out take their defaults. Raises
        :class:`ConfigError` naming each bad field (under ``prefix`` when given)."""
        if not isinstance(data, dict):
            raise ConfigError([(prefix or "config", f"expected a JSON object, got {type(data).__name__}")])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError.of(exc, prefix) from None

    @classmethod
    def from_stored(cls, data: Any, where: str, *, prefix: str = "") -> Self:
        """The config a stored artifact (``where``, for the log) was built with. A field this
        release does not know was written by another release: it is dropped with a warning, so
        that a model built before an upgrade still loads; a known field with a bad value still
        raises (its path under ``prefix``, as :meth:`from_dict`)."""
        if isinstance(data, dict):
            data, unknown = _split(cls, data)
            for name in sorted(unknown):
                logging.getLogger("pufa.config").warning(
                    "%s: config field %r is not known to this release; ignored", where, name)
        return cls.from_dict(data, prefix=prefix)

    @classmethod
    def from_stored_json(cls, text: str, where: str, *, prefix: str = "") -> Self:
        """:meth:`from_stored` of a JSON text."""
        return cls.from_stored(_parse(text, prefix or "config"), where, prefix=prefix)

    @classmethod
    def from_json(cls, text: str, *, prefix: str = "") -> Self:
        return cls.from_dict(_parse(text, prefix or "config"), prefix=prefix)

    def merged(self, patch: dict[str, Any], *, prefix: str = "") -> Self:
        """A new config: this one with a full or partial config written over it."""
        if not isinstance(patch, dict):
            raise ConfigError([(prefix or "config", f"expected a JSON object, got {type(patch).__name__}")])
        return type(self).from_dict(deep_merge(self.to_dict(), patch), prefix=prefix)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of this config (ranges, choices, defaults, descriptions)."""
        return cls.model_json_schema()


def _parse(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError([(where, f"not JSON: {exc.msg} at line {exc.lineno}")]) from None


def _sub_config(cls: type[JsonConfig], name: str) -> type[JsonConfig] | None:
    ann = cls.model_fields[name].annotation
    return ann if isinstance(ann, type) and issubclass(ann, JsonConfig) else None


def _split(cls: type[JsonConfig], data: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """(the fields of ``data`` that ``cls`` knows, nested configs included; the paths of the others)."""
    known: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in data.items():
        if key not in cls.model_fields:
            unknown.append(prefix + key)
            continue
        sub = _sub_config(cls, key)
        if sub is not None and isinstance(value, dict):
            value, deeper = _split(sub, value, f"{prefix}{key}.")
            unknown += deeper
        known[key] = value
    return known, unknown
