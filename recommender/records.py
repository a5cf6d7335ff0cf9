"""Typed records that cross layers: what the store returns and the engine and the service read.

Items are :class:`corpus.schema.Item`. The rest are frozen dataclasses, so that a wrong field
name is a type error (``mypy``) and an ``AttributeError``, not a silent ``None`` from
``dict.get``. ``to_dict`` gives the JSON-ready form the API answers with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BuildJob", "Coverage", "EditorTags", "Event", "Exposure", "ModelVersion", "NewEvent", "User"]


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True)
class User(_Record):
    """A person as the platform describes them: groups and region, no more (PIPL art. 6)."""

    id: str
    groups: list[str] = field(default_factory=list)
    region: str | None = None
    language: str | None = None
    personalized: bool = True
    minor: bool = False
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    removed_tags: list[str] = field(default_factory=list)  # topics the person took away


@dataclass(frozen=True)
class Event(_Record):
    """One thing a person did, as the engine reads it (oldest first in a history)."""

    type: str
    item_id: str | None = None
    text: str | None = None
    topics: list[dict[str, Any]] | None = None  # the classifier's reading of a search or question
    ts: dt.datetime | None = None
    dwell_ms: int | None = None


@dataclass(frozen=True)
class NewEvent(_Record):
    """An accepted event on its way into the store."""

    user_id: str
    type: str
    item_id: str | None = None
    text: str | None = None
    topics: list[dict[str, Any]] | None = None
    ts: dt.datetime | None = None
    dwell_ms: int | None = None
    event_id: str | None = None  # the client's id: a retry with the same id is stored once


@dataclass(frozen=True)
class EditorTags(_Record):
    topics: list[str]
    editor: str
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class Exposure(_Record):
    """One recommendation served: what was shown to whom, why, by which model."""

    request_id: str
    user_id: str | None
    groups: list[str] | None
    items: list[dict[str, Any]]
    model_version: str | None
    personalized: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class ModelVersion(_Record):
    version: str
    path: str
    created_at: dt.datetime
    active: bool
    activated_at: dt.datetime | None = None
    metrics: dict[str, Any] | None = None


@dataclass(frozen=True)
class BuildJob(_Record):
    id: str
    status: str  # queued, running, done, failed
    progress: float
    message: str | None
    version: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True)
class Coverage:
    """The raw material of the coverage report: people's groups, what they were shown and
    what they completed."""

    users: dict[str, list[str]]
    exposures: list[tuple[str, list[str]]]
    completed: list[tuple[str, str]]
