"""Content items: the fields of the API's item (``docs/api.md``) plus what the loaders know.

Validation only; no behaviour. An :class:`Item` is what every loader produces and what the
store persists. Topic and group ids are checked against the taxonomy by
:func:`check_taxonomy_ids`, not here, so that this module stays free of data files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

ID_PATTERN = r"^[A-Za-z0-9_\-.:]{1,128}$"
ID_RE = re.compile(ID_PATTERN)

ItemId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]

# Each vocabulary once: the Literal types validate, the tuples list (CLI choices, reports).
ItemType = Literal[
    "law", "law_article", "interpretation", "case", "explainer", "qa", "news", "video", "quiz"
]
ITEM_TYPES: tuple[str, ...] = get_args(ItemType)
Status = Literal["current", "superseded", "repealed"]
STATUSES: tuple[str, ...] = get_args(Status)
Audience = Literal["all", "adults"]

# Fields that describe content (a change to any of them is an update on re-import).
CONTENT_FIELDS: tuple[str, ...] = (
    "title", "body", "type", "source", "url", "published_at", "language", "region", "status",
    "supersedes", "superseded_by", "groups", "topics", "must_know_for", "law_title",
    "article_no", "article_label", "path", "version_date", "legal_level", "parent_id",
    "keywords", "audience", "version_group", "source_expired", "version_note",
    "known_newer_version", "retired", "boilerplate",
)


class Item(BaseModel):
    """One piece of content: a law, one article of a law, a case, an explainer, a Q&A ...

    ``law_title`` is the short name without 中华人民共和国; ``article_no`` is an integer
    (第一千零七十九条 -> 1079) and ``article_label`` keeps the original label, which
    matters for inserted articles (第一百二十条之一 has ``article_no`` 120).
    ``version_group`` ties the versions of one law together; the store resolves their
    ``status`` (newest ``current``, older ``superseded``) whenever one of them is imported.
    ``boilerplate`` marks an article that only says when its law takes effect, who interprets
    it, what it repeals, or that is deleted or empty (``corpus/taxonomy/boilerplate.yaml``):
    feeds never push it, search still finds it. The store sets it from the rules on every
    write unless the item's data sets it (an editor's choice is kept).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: ItemId
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(default="", max_length=2_000_000)
    type: ItemType
    source: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=2000)
    published_at: dt.date | None = None
    language: str = Field(default="zh", max_length=16)
    region: str | None = Field(default=None, max_length=64)
    status: Status = "current"
    supersedes: ItemId | None = None
    superseded_by: ItemId | None = None
    groups: list[str] = Field(default_factory=list)
    topics: list[str] = Field(default_factory=list)
    must_know_for: list[str] = Field(default_factory=list)
    law_title: str | None = Field(default=None, max_length=200)
    article_no: int | None = Field(default=None, ge=0, le=100_000)
    article_label: str | None = Field(default=None, max_length=64)
    path: list[str] = Field(default_factory=list)
    version_date: dt.date | None = None
    legal_level: str | None = Field(default=None, max_length=32)
    parent_id: ItemId | None = None
    keywords: list[str] = Field(default_factory=list)
    audience: Audience = "all"
    version_group: str | None = Field(default=None, max_length=300)
    source_expired: bool = False
    version_note: str | None = Field(default=None, max_length=500)
    known_newer_version: dt.date | None = None
    retired: bool = False
    boilerplate: bool = False

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        # NUL bytes are never meaningful in text and PostgreSQL refuses them.
        if isinstance(data, dict):
            return {k: (v.replace("\x00", "") if isinstance(v, str) else
                        [x.replace("\x00", "") if isinstance(x, str) else x for x in v] if isinstance(v, list) else v)
                    for k, v in data.items()}
        return data

    @field_validator("published_at", "version_date", "known_newer_version", mode="before")
    @classmethod
    def _date_prefix(cls, value: Any) -> Any:
        # Accept full ISO timestamps where a date is meant ("2023-12-29T00:00:00+08:00").
        if isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and value[10] in "T ":
            return value[:10]
        if isinstance(value, dt.datetime):
            return value.date()
        return value

    @field_validator("groups", "topics", "must_know_for", "keywords", "path")
    @classmethod
    def _dedupe(cls, values: list[str]) -> list[str]:
        seen: list[str] = []
        for v in values:
            v = v.strip()
            if v and v not in seen:
                seen.append(v)
        return seen

    def content_hash(self) -> str:
        """A stable hash of the content fields: re-importing unchanged content is a no-op.

        ``boilerplate`` counts only when set, so that items stored before the flag existed
        keep their hash and a re-import rewrites only the flagged ones."""
        data = self.model_dump(mode="json", include=set(CONTENT_FIELDS))
        if not data.get("boilerplate"):
            data.pop("boilerplate", None)
        raw = json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return hashlib.sha1(raw).hexdigest()

    @property
    def text(self) -> str:
        """Title and body, the text the tokenizer and the classifier read."""
        return f"{self.title}\n{self.body}" if self.body else self.title


def first_problem(exc: ValidationError, default: str = "item") -> tuple[str, str]:
    """(field, "field: message") of a validation error's first problem, for 4xx answers."""
    err = exc.errors()[0]
    field = ".".join(str(x) for x in err["loc"]) or default
    return field, f"{field}: {err['msg']}"


def check_taxonomy_ids(
    item: Item, topic_ids: set[str] | frozenset[str], group_ids: set[str] | frozenset[str]
) -> list[str]:
    """Return readable problems with the item's topic and group ids (empty when fine)."""
    problems = []
    for field, allowed in (("topics", topic_ids), ("groups", group_ids), ("must_know_for", group_ids)):
        unknown = [v for v in getattr(item, field) if v not in allowed]
        if unknown:
            problems.append(f"{field}: unknown id(s) {', '.join(unknown)}")
    return problems


def stable_id(prefix: str, *parts: str) -> str:
    """An ASCII id derived from (Chinese) names: ``prefix-<10 hex>``."""
    digest = hashlib.md5("\x1f".join(parts).encode("utf-8")).hexdigest()[:10]
    return f"{prefix}-{digest}"
