"""Wire schemas: what goes over HTTP (``docs/api.md``), separate from domain objects."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints, model_validator

from corpus.schema import Audience, ItemType, Status
from recommender.config import PipelineConfig
from recommender.inputs import CampaignIn as CampaignIn  # the wire schema: rules written there, once
from recommender.inputs import EventIn, Id, RecommendRequest, Region
from recommender.vocab import MAX_EVENTS_PER_REQUEST

ShortText = Annotated[str, StringConstraints(max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every 4xx/5xx body: ``detail`` names the field and the problem."""

    detail: str | dict[str, Any] | list[Any]
    field: str | None = None
    errors: list[dict[str, Any]] | None = None


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (401, "missing or unknown API key"), (403, "the key's role may not do this"),
        (404, "no such resource"), (409, "conflict with the current state"),
        (413, "body too large"), (415, "the body is not sent as JSON (Content-Type)"),
        (422, "invalid input: the detail names the field"),
        (503, "no active model yet, or the database is unavailable (see Retry-After)"),
    )
}


class Health(BaseModel):
    status: str = Field(description="ok, or degraded when a problem below stops the service answering")
    model_version: str | None
    items: int | None = Field(description="stored items; null when the database cannot be read")
    problems: list[str] = Field(default_factory=list, description="what is wrong, in words an operator can act on")


class Ready(BaseModel):
    status: str = Field(description="ready or not ready (then the status code is 503)")
    checks: dict[str, str] = Field(description="database and model: ok, or what is wrong")


class TopicOut(BaseModel):
    id: str
    name: str
    en: str
    description: str
    parent: str | None
    keywords: list[str]
    key_laws: list[str]


class GroupOut(BaseModel):
    id: str
    name: str
    short_name: str
    en: str
    description: str
    plan_section: str
    topics: dict[str, float]


class TopicScore(BaseModel):
    id: str
    score: float


class _ItemFields(Strict):
    """The optional fields an editor may send, for a new item and for a change."""

    source: ShortText | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    published_at: dt.date | dt.datetime | None = None
    language: Annotated[str, StringConstraints(max_length=16)] | None = None
    region: Region | None = None
    status: Status | None = None
    supersedes: Id | None = None
    groups: list[str] | None = None
    topics: list[str] | None = None
    must_know_for: list[str] | None = None
    law_title: ShortText | None = None
    article_no: StrictInt | None = Field(default=None, ge=0, le=100_000)
    audience: Audience | None = None
    keywords: list[Annotated[str, StringConstraints(max_length=100)]] | None = None
    # An article that only says when its law takes effect, who interprets it ...: never in a
    # feed. Set at import by corpus/taxonomy/boilerplate.yaml; an editor may correct it.
    boilerplate: StrictBool | None = None


class ItemIn(_ItemFields):
    """An item as an editor posts it (docs/api.md)."""

    id: Id | None = None
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(default="", max_length=200_000)
    type: ItemType


class ItemPatch(_ItemFields):
    """A change to an item: only the fields sent change."""

    title: str | None = Field(default=None, min_length=1, max_length=500)
    body: str | None = Field(default=None, max_length=200_000)
    type: ItemType | None = None
    retired: StrictBool | None = None

    @model_validator(mode="after")
    def _no_null_for_required(self) -> ItemPatch:
        # null is "no value"; these fields must have one. (Optional fields sent as null are
        # left as they are, as before.)
        for name in ("title", "body", "type", "retired"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null: send a value or leave the field out")
        return self


class ItemOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    title: str
    body: str
    type: str
    status: str
    retired: bool
    topics: list[str]
    groups: list[str]
    must_know_for: list[str]
    law_title: str | None = None
    article_no: int | None = None
    predicted_topics: list[TopicScore]
    editor_topics: list[str] | None = None


class BulkRow(BaseModel):
    index: int
    id: str | None = None
    ok: bool
    error: str | None = None
    field: str | None = None


class BulkResult(BaseModel):
    accepted: int
    rejected: int
    results: list[BulkRow]


class TopicsPut(Strict):
    topics: list[str]
    editor: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ReviewRow(BaseModel):
    item_id: str
    title: str
    type: str
    law_title: str | None
    predicted_topics: list[TopicScore]
    uncertainty: float


class ClassifyIn(Strict):
    text: str = Field(max_length=20_000)
    title: str | None = Field(default=None, max_length=500)


class ClassifyOut(BaseModel):
    topics: list[TopicScore]
    keywords: list[str]


class UserPut(Strict):
    """Only what the engine needs. No sensitive personal data (PIPL art. 28): no ethnicity,
    religion or precise location, so unknown fields are rejected."""

    groups: list[str] | None = None
    region: Region | None = None
    language: Annotated[str, StringConstraints(max_length=16)] | None = None
    personalized: StrictBool | None = None
    minor: StrictBool | None = None


class Tag(BaseModel):
    topic: str
    weight: float
    source: str
    name: str | None = None


class UserOut(BaseModel):
    id: str
    groups: list[str]
    region: str | None
    language: str | None
    personalized: bool
    minor: bool
    tags: list[Tag]
    removed_tags: list[str]
    events: int
    created_at: dt.datetime
    updated_at: dt.datetime


class EventsIn(Strict):
    events: list[EventIn] = Field(max_length=MAX_EVENTS_PER_REQUEST)


class EventRejected(BaseModel):
    index: int
    field: str | None
    error: str


class EventsOut(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[EventRejected]


class RecommendIn(RecommendRequest):
    """A recommendation request (``docs/api.md``). ``language`` is in the contract; every
    item Pufa holds is Chinese, so it does not change the answer yet and is not stored."""

    language: Annotated[str, StringConstraints(max_length=16)] | None = None


class RecItem(BaseModel):
    item_id: str
    title: str
    type: str
    score: float  # the value the list is sorted by: relevance less redundancy, never above the item before
    topics: list[str]
    law_title: str | None = None
    article_no: int | None = None
    article_label: str | None = None  # 第一百二十条之一 (article_no alone is 120)
    snippet: str | None = None  # the first ~80 characters of the text
    reasons: list[str]
    slot: Literal["campaign", "must_know"] | None = None  # the share of the list it fills, if any


class RecommendOut(BaseModel):
    request_id: str
    model_version: str
    items: list[RecItem]
    personalized: bool
    cold_start: bool
    fallback: str | None
    groups: list[str]
    variant: str = Field("control", description="'control', or the model version of a running experiment's "
                                                "variant that served this list (POST /v1/admin/experiments)")


class CampaignOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    name: str
    topics: list[str]
    start: str = Field(description="YYYY-MM-DD (dated) or MM-DD (every year), inclusive")
    end: str = Field(description="like start; a recurring end before its start wraps the new year")
    boost: float
    groups: list[str] | None = None
    region: str | None = None
    reason: str | None = None
    source: str | None = Field(default=None, description="taxonomy (the plan's, built in) or editor")


class CampaignDeleted(BaseModel):
    id: str
    deleted: bool
    in_force_again: CampaignOut | None = Field(
        description="the built-in campaign of this id, which applies again now that the editor's is gone")


class CampaignPreview(BaseModel):
    """What a group sees on a day in a region, with the campaign and without it."""

    campaign: CampaignOut
    group: str
    region: str | None
    date: dt.date
    k: int
    in_force: bool = Field(description="whether the campaign applies to this group, region and day")
    model_version: str
    with_campaign: list[RecItem]
    without_campaign: list[RecItem]
    entered: list[str] = Field(description="item ids in the list only with the campaign, in its order")
    left: list[str] = Field(description="item ids the campaign pushed out of the list, in their order")


class About(BaseModel):
    name: str
    principle: str
    purpose: str
    mechanism: list[str]
    data_used: list[str]
    your_choices: list[str]
    model_version: str | None


# --------------------------------------------------------------------------- what is pushed, models side by side


class PushedItemOut(BaseModel):
    item_id: str
    title: str | None = Field(description="null when the item is no longer stored")
    reasons: list[str]
    score: float | None


class PersonPushOut(BaseModel):
    request_id: str
    created_at: dt.datetime
    groups: list[str]
    model_version: str | None
    personalized: bool
    items: list[PushedItemOut]


class PersonPushesOut(BaseModel):
    """Exactly what the exposure log holds for one person in the period, newest first."""

    user_id: str
    start: dt.datetime
    end: dt.datetime = Field(description="exclusive")
    pushes: list[PersonPushOut]


class TopicShareOut(BaseModel):
    topic: str
    name: str
    plan_weight: float = Field(description="the group's weight of the topic in the plan; 0 when off the plan")
    pushes: int = Field(description="items pushed that carried the topic (an item counts for each topic shown with it)")
    share: float = Field(description="pushes / the group's pushes")


class MustKnowOut(BaseModel):
    item_id: str
    title: str
    pushes: int
    people: int
    completed: int = Field(description="people who received the group's pushes and completed it in the period")


class TopItemOut(BaseModel):
    item_id: str
    title: str | None
    pushes: int
    people: int


class GroupPushesOut(BaseModel):
    group: str
    name: str
    requests: int = Field(description="recommendations served for the group (for a person or the group alone)")
    pushes: int = Field(description="items shown over those recommendations")
    items: int = Field(description="distinct items shown")
    people: int = Field(description="distinct people (a request for the group alone has none)")
    plan_share: float = Field(description="share of pushes carrying at least one of the group's plan topics")
    plan_topics_reached: int = Field(description="of the group's plan topics, how many were pushed at least once")
    must_know_share: float = Field(description="share of pushes that were items of the group's must-know list")
    topics: list[TopicShareOut]
    must_know: list[MustKnowOut]
    must_know_pushed: int
    must_know_completed: int
    top_items: list[TopItemOut]


class PushReportOut(BaseModel):
    start: dt.datetime
    end: dt.datetime = Field(description="exclusive")
    groups: list[GroupPushesOut]
    personal_rows_rule: str = Field(description="who may read one person's rows, in Chinese")
    caller_may_read_personal_rows: bool


class MetricComparisonOut(BaseModel):
    name: str = Field(description="the figure's path in the build report, e.g. classifier_cv.macro_f1")
    label: str
    section: str = Field(description="classifier, classifier_topics, answers, evaluation or size")
    active: float | None
    version: float | None
    difference: float | None = Field(description="version - active")
    higher_is_better: bool | None = Field(description="null for a count, which is neither")
    verdict: str = Field(description="better, worse, same, neutral (a count) or missing (one side lacks it)")


class ModelComparisonOut(BaseModel):
    version: str
    active_version: str | None
    is_active: bool
    created_at: dt.datetime
    active_created_at: dt.datetime | None
    metrics: list[MetricComparisonOut]
    better: int
    worse: int


class ConfigVersionOut(BaseModel):
    version: str = Field(description="the new, config-only version (not active until an admin activates it)")
    parent: str = Field(description="the version whose config it starts from and whose trained arrays it shares")
    config_only: bool
    active: bool
    config: PipelineConfig = Field(description="the whole pipeline config the new version serves with")
