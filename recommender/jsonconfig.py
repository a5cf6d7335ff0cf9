"""JsonConfig: dataclass configs that round-trip to JSON, strictly (unknown keys are errors)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, TypeVar, Union, get_args, get_origin

__all__ = ["JsonConfig"]

T = TypeVar("T", bound="JsonConfig")


class JsonConfig:
    """Mixin for dataclass configs: ``to_dict``, ``from_dict`` (strict), ``to_json``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}")
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for name, value in data.items():
            kwargs[name] = _coerce(hints[name], value, f"{cls.__name__}.{name}")
        return cls(**kwargs)

    @classmethod
    def from_json(cls: type[T], text: str) -> T:
        return cls.from_dict(json.loads(text))


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if isinstance(tp, type) and issubclass(tp, JsonConfig):
        return tp.from_dict(value)
    if hasattr(tp, "from_dict") and isinstance(value, dict):
        return tp.from_dict(value)
    if tp is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    if origin is dict and isinstance(value, dict):
        _, vt = get_args(tp)
        return {str(k): _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if origin in (list, tuple) and isinstance(value, list | tuple):
        (et, *_) = get_args(tp) or (Any,)
        return [(_coerce(et, v, where) if et is not Any else v) for v in value]
    if tp is Any:
        return value
    raise ValueError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")
