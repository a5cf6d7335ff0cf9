"""What callers send, validated once at the edge: an event and a recommendation request.

The HTTP API reads request bodies into these models (``api/schemas.py`` uses them as its
wire schemas) and so does the CLI; the service then trusts their shape and checks only what
needs the database or the taxonomy (is the item stored, is the group known). A rule about an
event or a request is written here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from corpus.schema import ID_PATTERN
from recommender.vocab import (
    DWELL_MAX_MS,
    EARLIEST_EVENT,
    K_DEFAULT,
    K_MAX,
    MAX_EVENT_TEXT,
    TEXT_TYPES,
    EventType,
)

__all__ = ["EventIn", "Id", "RecommendRequest", "Region"]

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Region = Annotated[str, StringConstraints(max_length=64)]
# A client's clock may run a little ahead of ours.
_CLOCK_SKEW = dt.timedelta(minutes=5)


class EventIn(BaseModel):
    """One thing a person did. A search or a question carries the person's ``text``; every
    other type names the ``item_id`` it was done to. ``id`` makes a retry idempotent."""

    model_config = ConfigDict(extra="forbid")

    id: Id | None = None
    user_id: Id
    type: EventType
    # Checked even when absent (validate_default): whether it is needed depends on ``type``.
    item_id: Id | None = Field(default=None, validate_default=True)
    text: str | None = Field(default=None, max_length=MAX_EVENT_TEXT, validate_default=True)
    ts: dt.datetime | None = None
    dwell_ms: StrictInt | None = Field(default=None, ge=0, le=DWELL_MAX_MS)

    @field_validator("item_id")
    @classmethod
    def _item_for_reading(cls, value: str | None, info: ValidationInfo) -> str | None:
        etype = info.data.get("type")
        if etype is not None and etype not in TEXT_TYPES and value is None:
            raise ValueError(f"a {etype} event needs an item_id")
        return value

    @field_validator("text")
    @classmethod
    def _text_for_asking(cls, value: str | None, info: ValidationInfo) -> str | None:
        etype = info.data.get("type")
        if etype is None:
            return value
        if etype not in TEXT_TYPES:
            if value is not None:
                raise ValueError(f"a {etype} event carries no text")
            return None
        value = (value or "").replace("\x00", "").strip()
        if not value:
            raise ValueError(f"a {etype} event needs a non-empty text")
        return value

    @field_validator("ts")
    @classmethod
    def _a_time_we_could_have_seen(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("ts must carry a time zone (e.g. +08:00 or Z)")
        if value > dt.datetime.now(dt.UTC) + _CLOCK_SKEW:
            raise ValueError("ts is in the future")
        if value < EARLIEST_EVENT:
            raise ValueError(f"ts is before {EARLIEST_EVENT.date()}: not a time this service was used")
        return value.astimezone(dt.UTC)


class RecommendRequest(BaseModel):
    """Who asks (a person, or only their groups), how many items, and what they asked."""

    model_config = ConfigDict(extra="forbid")

    user_id: Id | None = None
    groups: list[str] | None = None
    k: StrictInt = Field(default=K_DEFAULT, ge=1, le=K_MAX)
    query: str | None = Field(default=None, max_length=MAX_EVENT_TEXT)
    date: dt.date | None = None
    region: Region | None = None
    exclude_seen: StrictBool | None = None  # None: the configuration decides (filters.exclude_seen_default)
    personalized: StrictBool | None = None
