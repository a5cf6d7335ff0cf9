"""What callers send, validated once at the edge: an event, a recommendation request and an
editor's campaign.

The HTTP API reads request bodies into these models (``api/schemas.py`` uses them as its
wire schemas) and so does the CLI; the service then trusts their shape and checks only what
needs the database or the taxonomy (is the item stored, is the group known). A rule about an
event or a request is written here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from corpus.schema import ID_PATTERN
from recommender.vocab import (
    CAMPAIGN_BOOST_MAX,
    CAMPAIGN_BOOST_MIN,
    CAMPAIGN_REASON_MAX,
    DWELL_MAX_MS,
    EARLIEST_EVENT,
    K_DEFAULT,
    K_MAX,
    MAX_EVENT_TEXT,
    TEXT_TYPES,
    EventType,
)

__all__ = [
    "CampaignIn",
    "EventIn",
    "Id",
    "RecommendRequest",
    "Region",
    "RequestId",
]

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
# A recommendation's ``request_id`` as the engine makes it (32 hex digits); a client may send
# back any id of letters, digits, ``_`` and ``-`` up to 64 characters.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
RequestId = Annotated[str, StringConstraints(pattern=REQUEST_ID_PATTERN, max_length=64)]
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
    # The ``request_id`` of the recommendation the person acted on: joins the event to the
    # exposure log (click-through and completion by model version, variant, group, reason).
    request_id: RequestId | None = None

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


_DATED = re.compile(r"\d{4}-\d{2}-\d{2}")
_RECURRING = re.compile(r"\d{2}-\d{2}")
_HAN = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")


def _invalid(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose message is read as it stands (no "Value error," before it)."""
    return PydanticCustomError(kind, message)


def _window_day(value: str) -> str:
    """``value`` if it is a day of a window: ``YYYY-MM-DD`` (that day only) or ``MM-DD``
    (that day every year; 02-29 counts in leap years only)."""
    try:
        if _DATED.fullmatch(value):
            dt.date.fromisoformat(value)
            return value
        if _RECURRING.fullmatch(value):
            dt.date.fromisoformat(f"2000-{value}")  # a leap year: 02-29 is a day
            return value
    except ValueError:
        raise _invalid("campaign_day", f"'{value}' is not a day of the calendar") from None
    raise _invalid("campaign_day", f"must be YYYY-MM-DD (a dated campaign) or MM-DD (every year), not '{value[:32]}'")


class CampaignIn(BaseModel):
    """An editor's campaign: the topics it brings forward, in a window of days, for some groups
    and a region, with the phrase people read.

    A window is dated (``2026-09-01`` to ``2026-09-07``) or recurs every year (``12-01`` to
    ``12-07``), like the plan's campaigns in ``corpus/taxonomy/campaigns.yaml``; start and end
    are both of one kind and inclusive. A dated window ends on or after its start; a recurring
    one whose end is before its start wraps the new year (``12-25`` to ``01-05``). Known topic,
    group and region names are checked by the service (they need the taxonomy).
    """

    model_config = ConfigDict(extra="forbid")

    id: Id | None = None
    name: str = Field(min_length=1, max_length=200)
    topics: list[str] = Field(min_length=1)
    start: str
    end: str
    boost: StrictFloat = Field(default=0.3, description=f"in [{CAMPAIGN_BOOST_MIN}, {CAMPAIGN_BOOST_MAX}]")
    groups: list[str] | None = None
    region: Region | None = None
    reason: str = Field(description=f"the phrase people read: Chinese, at most {CAMPAIGN_REASON_MAX} characters")

    @field_validator("name")
    @classmethod
    def _a_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise _invalid("blank", "must not be blank")
        return value

    @field_validator("topics")
    @classmethod
    def _each_topic_once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("start")
    @classmethod
    def _start_day(cls, value: str) -> str:
        return _window_day(value)

    @field_validator("end")
    @classmethod
    def _end_day(cls, value: str, info: ValidationInfo) -> str:
        value = _window_day(value)
        start = info.data.get("start")
        if start is None:  # start was wrong: its own error says so
            return value
        if len(start) != len(value):
            raise _invalid("campaign_window", f"'{value}' and start '{start}' must be of one kind: both "
                                              "YYYY-MM-DD (a dated campaign) or both MM-DD (every year)")
        if len(value) == 10 and value < start:
            raise _invalid("campaign_window", f"{value} is before start {start}; only a recurring MM-DD "
                                              "window may end before it starts (it wraps the new year)")
        return value

    @field_validator("boost")
    @classmethod
    def _documented_boost(cls, value: float) -> float:
        if not CAMPAIGN_BOOST_MIN <= value <= CAMPAIGN_BOOST_MAX:
            raise _invalid("campaign_boost", f"{value:g} is outside the documented range {CAMPAIGN_BOOST_MIN}"
                                             f"-{CAMPAIGN_BOOST_MAX} (corpus/taxonomy/campaigns.yaml)")
        return value

    @field_validator("reason")
    @classmethod
    def _a_phrase_people_read(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise _invalid("blank", "must not be blank: it is the phrase people read (e.g. 禁毒宣传周专题)")
        if len(value) > CAMPAIGN_REASON_MAX:
            raise _invalid("campaign_reason", f"has {len(value)} characters; people read at most "
                                              f"{CAMPAIGN_REASON_MAX}")
        if not _HAN.search(value):
            raise _invalid("campaign_reason", "must be a Chinese phrase people can read (e.g. 禁毒宣传周专题)")
        return value
