"""Catalog: what ranking needs to know about every indexed item, as arrays aligned with rows.

Bodies are not kept here (the index has their vectors); titles, types, statuses, laws,
audiences and, above all, each item's *serving topic weights*: the topics an item is taught
under, decided in this order — an editor's confirmed tags, else the author's tags, else the
classifier's calibrated scores lifted by the taxonomy's key-law mapping.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from corpus.boilerplate import BOILERPLATE_TYPES, rule_for_text, stored_boilerplate
from corpus.schema import Item
from corpus.taxonomy import Taxonomy
from recommender.config import TaggingConfig

AMENDMENT = re.compile(r"^[^《]*修正案|关于修改.*的决定$")  # 宪法修正案（2018年）, not a 解释 about one

__all__ = ["Catalog", "ItemMeta", "serving_topics", "snippet", "text_key", "top_predictions"]

RECOMMENDABLE_STATUS = "current"


@dataclass
class ItemMeta:
    """The light view of an item used when ranking and answering (no body)."""

    id: str
    type: str
    title: str
    status: str
    retired: bool = False
    law_title: str | None = None
    article_no: int | None = None
    audience: str = "all"
    region: str | None = None
    groups: list[str] = field(default_factory=list)
    must_know_for: list[str] = field(default_factory=list)
    published_at: str | None = None
    parent_id: str | None = None
    superseded_by: str | None = None
    topic_source: str = "predicted"  # editor, author, predicted
    article_label: str | None = None  # 第三十条, 第一百零二条之一
    legal_level: str | None = None  # 法律, 行政法规, 司法解释 ...
    snippet: str = ""  # the start of the text, shown with an answer
    length: int = 0  # characters of the body
    text_key: str = ""  # the same key for items with the same text (shown once in a list)
    section: str | None = None  # an article's place in its law: 编 / 章 / 节 headings
    boilerplate: bool = False  # says only when it takes effect, what it repeals ...: never in feeds

    @classmethod
    def from_item(cls, item: Item, topic_source: str) -> ItemMeta:
        date = item.published_at or item.version_date
        body = " ".join(item.body.split())
        return cls(
            id=item.id, type=item.type, title=item.title, status=item.status, retired=item.retired,
            law_title=item.law_title, article_no=item.article_no, audience=item.audience,
            region=item.region, groups=list(item.groups), must_know_for=list(item.must_know_for),
            published_at=date.isoformat() if date else None, parent_id=item.parent_id,
            superseded_by=item.superseded_by, topic_source=topic_source,
            article_label=item.article_label, legal_level=item.legal_level,
            snippet=snippet(body), length=len(body),
            # An article is known by its label and words (the same regulation kept by two
            # sources under two titles is one text); anything else by its title and words.
            text_key=text_key(item.article_label or "" if item.type == "law_article" else item.title, body),
            section=" / ".join(item.path) if item.type == "law_article" and item.path else None,
            # The stored flag; items stored before it existed are read by the rules here.
            boilerplate=stored_boilerplate(item),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ItemMeta:
        """A meta as :meth:`to_dict` wrote it. Catalogues saved before the boilerplate flag
        existed hold an article's whole text in its snippet when it is short, which is all
        the rules need."""
        meta = cls(**data)
        if "boilerplate" not in data and meta.type in BOILERPLATE_TYPES and meta.length <= SNIPPET_CHARS:
            meta.boilerplate = rule_for_text(meta.snippet, label=meta.article_label) is not None
        return meta

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def recommendable(self) -> bool:
        return self.status == RECOMMENDABLE_STATUS and not self.retired


_META_FIELDS = frozenset(f.name for f in fields(ItemMeta))


SNIPPET_CHARS = 80


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The first ``limit`` characters of a text on one line, with … where it was cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


def text_key(title: str, body: str) -> str:
    """Items with this key in common say the same thing (the same regulation held by two
    sources): a list shows one of them."""
    norm = re.sub(r"[\s\W_]+", "", f"{title}\x1f{body}")
    return hashlib.sha1(norm.encode("utf-8")).hexdigest()[:16]


def serving_topics(
    item: Item,
    predicted: np.ndarray | None,
    topic_index: dict[str, int],
    taxonomy: Taxonomy,
    editor_topics: Sequence[str] | None = None,
    tagging: TaggingConfig | None = None,
) -> tuple[np.ndarray, str]:
    """The item's topic weights in [0, 1] and where they came from."""
    cfg = tagging or TaggingConfig()
    v = np.zeros(len(topic_index), dtype=np.float32)
    if editor_topics:
        for t in editor_topics:
            if t in topic_index:
                v[topic_index[t]] = 1.0
        return v, "editor"
    if item.topics:
        for k, t in enumerate(item.topics):
            if t in topic_index:
                v[topic_index[t]] = 1.0 if k == 0 else cfg.author_secondary
        return v, "author"
    if predicted is not None:
        v[:] = np.where(predicted >= cfg.min_predicted, predicted, 0.0)
    if item.law_title and item.type in ("law", "law_article"):
        book = item.path[0] if item.law_title == "民法典" and item.path else None
        for t in taxonomy.topics_for_law(item.law_title, book):
            v[topic_index[t]] = max(v[topic_index[t]], cfg.key_law_weight)
    return v, "predicted"


def top_predictions(probs: np.ndarray, topic_ids: Sequence[str], tagging: TaggingConfig | None = None
                    ) -> list[dict[str, Any]]:
    """An item's predicted topics as stored for review: the best few above the threshold."""
    cfg = tagging or TaggingConfig()
    return [{"id": topic_ids[j], "score": round(float(probs[j]), 4)}
            for j in np.argsort(-probs)[: cfg.prediction_limit] if probs[j] >= cfg.prediction_min_score]


class Catalog:
    """Item metadata and serving topic weights, row-aligned with the index."""

    def __init__(self, topic_ids: Sequence[str], metas: list[ItemMeta], topics: np.ndarray) -> None:
        if topics.shape != (len(metas), len(topic_ids)):
            raise ValueError("topic matrix does not match the items")
        self.topic_ids = list(topic_ids)
        self.topic_index = {t: j for j, t in enumerate(self.topic_ids)}
        self.metas = metas
        self.topics = topics.astype(np.float32)
        self._refresh()

    def _refresh(self) -> None:
        self.row_of = {m.id: r for r, m in enumerate(self.metas)}
        n = len(self.metas)
        self.recommendable = np.fromiter((m.recommendable for m in self.metas), dtype=bool, count=n)
        self.adults_only = np.fromiter((m.audience == "adults" for m in self.metas), dtype=bool, count=n)
        must: dict[str, list[int]] = {}
        for r, m in enumerate(self.metas):
            for g in m.must_know_for:
                must.setdefault(g, []).append(r)
        self._must_know = {g: np.asarray(rows, dtype=np.int64) for g, rows in must.items()}
        written: dict[str, list[int]] = {}
        for r, m in enumerate(self.metas):
            for g in m.groups:
                written.setdefault(g, []).append(r)
        self._written_for = {g: np.asarray(rows, dtype=np.int64) for g, rows in written.items()}
        self.types = np.asarray([m.type for m in self.metas], dtype=object)
        self.has_region = np.fromiter((bool(m.region) for m in self.metas), dtype=bool, count=n)
        self.is_article = np.fromiter((m.type == "law_article" for m in self.metas), dtype=bool, count=n)
        # Articles that only say when a law takes effect, who interprets it, what it repeals,
        # or that are deleted or empty (corpus/taxonomy/boilerplate.yaml): feeds leave these
        # rows out; search and the answer path keep them.
        self.boilerplate = np.fromiter((m.boilerplate for m in self.metas), dtype=bool, count=n)
        self._of_laws: dict[tuple[str, ...], np.ndarray] = {}
        # Historical amendments (宪法修正案（1993年）, 关于修改…的决定): current as documents, but
        # their text lives on in the consolidated law, which is what a feed should show.
        self.amendment = np.fromiter((bool(m.law_title and AMENDMENT.search(m.law_title)) for m in self.metas),
                                     dtype=bool, count=n)
        # Explainers, cases, Q&A ...: what follows the articles in an answer.
        self.explanatory_rows = np.flatnonzero(
            np.fromiter((m.type not in ("law", "law_article") for m in self.metas), dtype=bool, count=n))
        # Catalogues written before text keys existed: every item is its own text.
        self.text_keys = [m.text_key or m.id for m in self.metas]
        laws = sorted({m.law_title for m in self.metas if m.law_title})
        self.law_ids = {t: k for k, t in enumerate(laws)}
        self.law_of = np.fromiter((self.law_ids.get(m.law_title, -1) if m.law_title else -1 for m in self.metas),
                                  dtype=np.int32, count=n)
        norms = np.linalg.norm(self.topics, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        self.topics_unit = (self.topics / norms).astype(np.float32)
        self.main_topic = np.where(self.topics.max(axis=1) > 0, self.topics.argmax(axis=1), -1).astype(np.int32)
        # Publication days as proleptic ordinals (NaN: unknown). Ages are counted from the
        # day of each request (ranking), never from the day this catalogue was built.
        published = np.full(n, np.nan, dtype=np.float64)
        for r, m in enumerate(self.metas):
            if m.published_at:
                try:
                    published[r] = dt.date.fromisoformat(m.published_at[:10]).toordinal()
                except ValueError:
                    pass
        self.published_ordinal = published

    def __len__(self) -> int:
        return len(self.metas)

    def shown_topics(self, row: int, n: int = 3, min_weight: float = 0.3) -> list[str]:
        """The topics shown with the item of ``row`` (a recommendation's ``topics``, what the
        push report counts): its ``n`` strongest at ``min_weight`` or more."""
        w = self.topics[row]
        return [self.topic_ids[j] for j in np.argsort(-w)[:n] if w[j] >= min_weight]

    def meta(self, item_id: str) -> ItemMeta | None:
        r = self.row_of.get(item_id)
        return self.metas[r] if r is not None else None

    def with_upserted(self, metas: list[ItemMeta], topics: np.ndarray) -> Catalog:
        """A new catalog with these items added (appended in order) or replaced."""
        all_metas = list(self.metas)
        all_topics = self.topics.copy()
        appended_metas, appended_topics = [], []
        for m, t in zip(metas, topics, strict=True):
            r = self.row_of.get(m.id)
            if r is None:
                appended_metas.append(m)
                appended_topics.append(t)
            else:
                all_metas[r] = m
                all_topics[r] = t
        if appended_metas:
            all_metas.extend(appended_metas)
            all_topics = np.vstack([all_topics, np.asarray(appended_topics, dtype=np.float32)])
        return Catalog(self.topic_ids, all_metas, all_topics)

    def of_laws(self, laws: Sequence[str]) -> np.ndarray:
        """Rows of these laws (by short title) or about them: articles and whole texts of the
        laws, and explainers, cases, Q&A ... whose title names one (草原和土地归谁所有？先从宪法说起)."""
        key = tuple(laws)
        hit = self._of_laws.get(key)
        if hit is None:
            names = set(key)
            hit = np.fromiter(((m.law_title in names) if m.law_title else any(n in m.title for n in names)
                               for m in self.metas), dtype=bool, count=len(self.metas))
            self._of_laws[key] = hit
        return hit

    def must_know_matrix(self, group_ids: Sequence[str]) -> np.ndarray:
        """Rows that an editor marked must-know for any of the groups."""
        return self._rows_of(self._must_know, group_ids)

    def written_for(self, group_ids: Sequence[str]) -> np.ndarray:
        """Rows whose author or editor named one of the groups as their audience (``groups``)."""
        return self._rows_of(self._written_for, group_ids)

    def _rows_of(self, by_group: dict[str, np.ndarray], group_ids: Sequence[str]) -> np.ndarray:
        out = np.zeros(len(self.metas), dtype=bool)
        for g in group_ids:
            rows = by_group.get(g)
            if rows is not None:
                out[rows] = True
        return out

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "topics.npy", self.topics)
        (directory / "items.jsonl").write_text(
            "\n".join(json.dumps(m.to_dict(), ensure_ascii=False) for m in self.metas) + "\n", encoding="utf-8")
        (directory / "catalog.json").write_text(json.dumps({"topic_ids": self.topic_ids}, ensure_ascii=False),
                                                encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        meta = json.loads((directory / "catalog.json").read_text(encoding="utf-8"))
        rows = [json.loads(line) for line in
                (directory / "items.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
        unknown = sorted({k for row in rows for k in row} - _META_FIELDS)
        if unknown:  # written by another release: an upgrade must not strand the version
            logging.getLogger("pufa.catalog").warning(
                "%s: item fields %s are not known to this release; ignored", directory, unknown)
            rows = [{k: v for k, v in row.items() if k in _META_FIELDS} for row in rows]
        metas = [ItemMeta.from_dict(row) for row in rows]
        return cls(meta["topic_ids"], metas, np.load(directory / "topics.npy"))
