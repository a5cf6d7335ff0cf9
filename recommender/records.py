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

__all__ = ["BuildJob", "EditorTags", "Event", "Exposure", "ModelVersion", "NewEvent", "User"]


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
    request_id: str | None = None  # the recommendation it answers (attribution)


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
    variant: str | None = None  # "control" or the variant's model version (None: logged before experiments)


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


# --------------------------------------------------------------------------- what is pushed

__all__ += ["GroupPushes", "MetricComparison", "ModelComparison", "MustKnowItem", "PersonPush", "PersonPushes",
            "PushReport", "PushedItem", "TopItem", "TopicShare"]


@dataclass(frozen=True)
class PushedItem(_Record):
    """One item of a logged recommendation, as the exposure log holds it, with its title."""

    item_id: str
    title: str | None  # None when the item is no longer stored
    reasons: list[str]
    score: float | None


@dataclass(frozen=True)
class PersonPush(_Record):
    """One recommendation served to a person: the exposure log's row, titles added."""

    request_id: str
    created_at: dt.datetime
    groups: list[str]
    model_version: str | None
    personalized: bool
    items: list[PushedItem]


@dataclass(frozen=True)
class PersonPushes(_Record):
    """Everything the exposure log holds for one person in a period, newest first."""

    user_id: str
    start: dt.datetime
    end: dt.datetime  # exclusive
    pushes: list[PersonPush]


@dataclass(frozen=True)
class TopicShare(_Record):
    """How many of a group's pushes carried a topic (an item counts for each topic shown
    with it), and whether the plan names the topic for the group."""

    topic: str
    name: str
    plan_weight: float  # the group's weight of the topic in the plan; 0 when off the plan
    pushes: int
    share: float  # pushes / the group's pushes


@dataclass(frozen=True)
class MustKnowItem(_Record):
    """One item of a group's must-know list (应知应会) and what became of it in the period."""

    item_id: str
    title: str
    pushes: int  # times it was pushed to the group
    people: int  # distinct people of the group it was pushed to
    completed: int  # people who received the group's pushes and completed it in the period


@dataclass(frozen=True)
class TopItem(_Record):
    item_id: str
    title: str | None
    pushes: int
    people: int


@dataclass(frozen=True)
class GroupPushes(_Record):
    """What one group was pushed in a period (each logged recommendation made for the group)."""

    group: str
    name: str
    requests: int  # recommendations served (anonymous ones, made for the group without a person, too)
    pushes: int  # items shown, over all those recommendations
    items: int  # distinct items shown
    people: int  # distinct people (group-only requests have none)
    plan_share: float  # share of pushes carrying at least one of the group's plan topics
    plan_topics_reached: int  # of the group's plan topics, those pushed at least once
    must_know_share: float  # share of pushes that were items of the group's must-know list
    topics: list[TopicShare]  # plan topics by weight, then other topics pushed
    must_know: list[MustKnowItem]
    must_know_pushed: int  # must-know items pushed at least once
    must_know_completed: int  # must-know items completed by at least one person
    top_items: list[TopItem]


@dataclass(frozen=True)
class PushReport(_Record):
    start: dt.datetime
    end: dt.datetime  # exclusive
    groups: list[GroupPushes]


# --------------------------------------------------------------------------- models side by side


@dataclass(frozen=True)
class MetricComparison(_Record):
    """One figure of a model version against the active version's."""

    name: str  # its path in the build report: classifier_cv.macro_f1, answer.cv.ndcg@10.mean ...
    label: str  # in Chinese, for the page
    section: str  # classifier, classifier_topics, answers, evaluation, size
    active: float | None
    version: float | None
    difference: float | None  # version - active
    higher_is_better: bool | None  # None: a count, not a quality
    verdict: str  # better, worse, same, neutral (no direction), missing (one side lacks it)


@dataclass(frozen=True)
class ModelComparison(_Record):
    version: str
    active_version: str | None
    is_active: bool
    created_at: dt.datetime
    active_created_at: dt.datetime | None
    metrics: list[MetricComparison]
    better: int
    worse: int
