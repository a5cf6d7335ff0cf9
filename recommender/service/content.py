"""Content as editors handle it: items in and out, their topics, the review queue, campaigns.

An item arrives validated by :class:`corpus.schema.Item`; here it is checked against the
taxonomy and the store (known topic and group ids, a region Pufa knows, a ``supersedes``
that names a stored item), stored, and indexed and classified with the active model at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from corpus.boilerplate import is_boilerplate
from corpus.schema import Item, check_taxonomy_ids, first_problem
from corpus.taxonomy import Taxonomy
from recommender.catalog import Catalog, ItemMeta
from recommender.model import Model
from recommender.service.campaigns import Campaigns  # re-exported: its own room
from recommender.service.errors import Checks, ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store
from recommender.store.db import aware
from recommender.store.db import chunks as _chunks

__all__ = ["Campaigns", "Content", "ReviewFilters", "ReviewItem", "ReviewPage"]

# What an item's url may be: a page a person can open (no javascript:, data:, file:).
_WEB_URL = ("http://", "https://")

# The review queue: an item is "about" a topic (topic filter) from this serving weight; the
# topics an editor accepts with one click are those from _PROPOSE_MIN (at most 4, else the
# top one); the groups suggested are the taxonomy's closest few.
_TOPIC_FILTER_MIN = 0.3
_PROPOSE_MIN = 0.5
_SUGGESTED_GROUPS = 3
# Who changed an item when the change counts as an editor's (the API and the console).
EDITOR_CHANGES = ("api:", "console:")


@dataclass(frozen=True)
class ReviewFilters:
    """What the review queue shows; every field optional (None: no filter)."""

    type: str | None = None
    topic: str | None = None  # a topic id: items whose serving weight for it is >= 0.3
    group: str | None = None  # a group id: the item names it, or it is among its suggested groups
    law: str | None = None  # part of a law title (劳动合同法)
    status: str | None = "current"
    source: str | None = None  # the item's ``source`` exactly
    published_from: dt.date | None = None
    published_to: dt.date | None = None
    since: dt.datetime | None = None  # "new" means changed after this (default: after the model's build)
    only_new: bool = False
    scope: Literal["due", "all"] = "due"  # "all" adds author-tagged items that are not new


@dataclass(frozen=True)
class ReviewItem:
    """One row of the review queue."""

    item_id: str
    title: str
    type: str
    law_title: str | None
    status: str
    snippet: str
    published_at: str | None
    topic_source: str  # predicted or author (editor-tagged items are not in the queue)
    predicted_topics: list[dict[str, Any]]  # the classifier's [{id, score}], best first
    proposed_topics: list[str]  # what one click accepts: the item's strongest serving topics
    groups: list[str]  # the groups the item names itself
    suggested_groups: list[str]  # group ids whose topic weights match the item's best
    keywords: dict[str, list[str]]  # predicted topic -> the words that drove it (when explained)
    uncertainty: float  # 1 at a top score of 0.5, 0 at 0 or 1
    new: bool  # added or changed since the queue's "since"
    added: bool = False  # added then (not only changed)
    changed_by: str | None = None  # who made the newest change, for new items
    changed_at: dt.datetime | None = None

    @property
    def by_editor(self) -> bool:
        return bool(self.changed_by and self.changed_by.startswith(EDITOR_CHANGES))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ReviewPage:
    items: list[ReviewItem]
    total: int  # rows left in the queue under these filters
    new_total: int  # of them, new since "since"
    offset: int
    limit: int


@dataclass
class _Columns:
    """What the queue's filters read, as arrays over one catalogue snapshot. The catalogue is
    held, so it is compared by identity: a changed catalogue is a new object."""

    catalog: Catalog
    source: np.ndarray  # each row's topic source
    status: np.ndarray
    retired: np.ndarray
    for_group: dict[str, np.ndarray] = field(default_factory=dict)  # rows a group filter keeps


@dataclass(frozen=True)
class _Fresh:
    order: float  # the newest change's sequence number: larger is newer
    changed_by: str | None
    changed_at: dt.datetime | None
    added: bool  # the item's first version is in the window (else it was changed there)

    @property
    def by_editor(self) -> bool:
        return bool(self.changed_by and self.changed_by.startswith(EDITOR_CHANGES))


class Content:
    _fresh_cache: tuple[tuple[Any, ...], dict[str, _Fresh]] | None = None  # see _fresh_items
    _columns_cache: _Columns | None = None  # see _columns

    def __init__(self, store: Store, keeper: ModelKeeper, checks: Checks, taxonomy: Taxonomy) -> None:
        self.store = store
        self.keeper = keeper
        self.checks = checks
        self.taxonomy = taxonomy

    def validate(self, data: dict[str, Any]) -> Item:
        """An item from its JSON form, or a 422 naming the first wrong field."""
        from pydantic import ValidationError

        from corpus.loaders import item_from_dict

        try:
            item = item_from_dict(data)
        except ValidationError as exc:
            field, message = first_problem(exc)
            raise ServiceError(422, message, field) from exc
        problems = check_taxonomy_ids(item, set(self.taxonomy.topics), set(self.taxonomy.groups))
        if problems:
            raise ServiceError(422, problems[0], problems[0].split(":")[0])
        if item.supersedes and item.supersedes == item.id:
            raise ServiceError(422, "an item cannot supersede itself", "supersedes")
        if item.url and not item.url.lower().startswith(_WEB_URL):
            raise ServiceError(422, "url must be a web address starting with http:// or https://", "url")
        self.checks.region(item.region)
        return item

    def orphans(self, items: Sequence[Item]) -> dict[str, str]:
        """Items whose ``supersedes`` names no stored item and none of ``items``: id -> why."""
        named = {it.supersedes for it in items if it.supersedes} - {it.id for it in items}
        if not named:
            return {}
        stored = self.store.items.existing_ids(sorted(named))
        return {it.id: f"supersedes names no item: '{it.supersedes}'" for it in items
                if it.supersedes in named and it.supersedes not in stored}

    def add(self, items: Sequence[Item], *, editor: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Store items and index them now; their predicted topics."""
        self.store.items.upsert(items, changed_by=editor)
        return self.keeper.index_now([it.id for it in items])

    def view(self, item_id: str) -> dict[str, Any]:
        item = self.store.items.get(item_id)
        if item is None:
            raise ServiceError(404, f"no item '{item_id}'", "item_id")
        data = item.model_dump(mode="json")
        data["predicted_topics"] = self.store.items.predictions([item_id]).get(item_id, [])
        tags = self.store.items.editor_tag_info(item_id)
        data["editor_topics"] = tags.topics if tags else None
        data["links"] = self.keeper.engine.model.related.links_of(item_id)
        return data

    def link_rows(self, item_id: str) -> dict[str, list[dict[str, str]]]:
        """An item's links for editors, with titles: the current articles it cites (found
        in its text at build) and the items citing it."""
        model = self.keeper.engine.model
        cat = model.catalog
        out: dict[str, list[dict[str, str]]] = {}
        for side, ids in model.related.links_of(item_id).items():
            metas = [cat.metas[cat.row_of[i]] for i in ids]
            out[side] = [{"id": m.id, "title": m.title, "label": m.article_label or ""} for m in metas]
        return out

    def related(self, item_id: str, k: int = 10, *, user_id: str | None = None) -> dict[str, Any]:
        """Items related to one (:mod:`recommender.related`): for an article its explainers,
        the cases citing it and its chapter's neighbours; for an explainer or a case the
        articles it cites and the items citing the same. Not personalised: no event or profile
        is read; ``user_id`` only says whether the person is a minor (no adults-only item)."""
        model = self.keeper.engine.model  # one snapshot for the whole request
        user = self.store.people.get(user_id) if user_id else None
        found = model.related.related(item_id, k, minor=bool(user and user.minor))
        if found is None:
            if self.store.items.get(item_id) is None:
                raise ServiceError(404, f"no item '{item_id}'", "item_id")
            found = []  # stored after the model's catalogue was read, and not indexed yet
        cat = model.catalog
        items = []
        for hit in found:
            m = cat.metas[cat.row_of[hit.item_id]]
            items.append({"item_id": m.id, "title": m.title, "type": m.type, "law_title": m.law_title,
                          "article_no": m.article_no, "article_label": m.article_label,
                          "reason": hit.reason, "score": hit.score})
        return {"item_id": item_id, "items": items, "personalized": False, "model_version": model.version}

    def patch(self, item_id: str, changes: dict[str, Any], *, editor: str | None = None) -> dict[str, Any]:
        current = self.store.items.get(item_id)
        if current is None:
            raise ServiceError(404, f"no item '{item_id}'", "item_id")
        if "id" in changes and changes["id"] != item_id:
            raise ServiceError(422, "id cannot be changed", "id")
        data = current.model_dump(mode="json")
        if "boilerplate" not in changes and not _boilerplate_override(current):
            data.pop("boilerplate", None)  # the rules' verdict: the rules read the new text again
        data.update(changes)
        self.add([self.validate(data)], editor=editor)
        return self.view(item_id)

    def retire(self, item_id: str, *, editor: str | None = None) -> dict[str, Any]:
        return self.patch(item_id, {"retired": True}, editor=editor)

    def set_topics(self, item_id: str, topics: Sequence[str], editor: str) -> dict[str, Any]:
        """An editor's topics for an item: they replace the predicted ones."""
        if self.store.items.get(item_id) is None:
            raise ServiceError(404, f"no item '{item_id}'", "item_id")
        topics = self.checks.topics(topics)
        if not editor.strip():
            raise ServiceError(422, "editor must name who confirmed the tags", "editor")
        self.store.items.set_editor_tags(item_id, topics, editor.strip())
        self.keeper.index_now([item_id])
        return self.view(item_id)

    def review_queue(self, limit: int = 20, *, offset: int = 0, filters: ReviewFilters | None = None,
                     explain: bool = False) -> ReviewPage:
        """What most needs an editor's look, a page at a time; items an editor tagged are never in it.

        Order: items added or changed since ``filters.since`` (default: since the active model
        was built), those an editor added or edited first, newest first; then the least
        certain predictions (top score nearest 0.5). ``filters.scope`` ``"due"`` (default)
        holds predicted items and the new ones; ``"all"`` adds author-tagged items.
        ``explain`` adds, per row, the words that drove each predicted topic.
        """
        f = filters or ReviewFilters()
        model = self.keeper.engine.model  # one snapshot for the whole page
        cat = model.catalog
        fresh = self._fresh_items(f.since, int(model.manifest.get("catalog_seq") or 0))
        n_rows = len(cat.metas)
        is_fresh, newest, by_editor = np.zeros(n_rows, bool), np.zeros(n_rows), np.zeros(n_rows, bool)
        for item_id, change in fresh.items():
            r = cat.row_of.get(item_id)
            if r is not None:
                is_fresh[r], newest[r], by_editor[r] = True, -change.order, change.by_editor
        rows = np.flatnonzero(self._queue_mask(model, f, is_fresh))
        uncertainty = 1.0 - 2.0 * np.abs(cat.topics[rows].max(axis=1, initial=0.0) - 0.5)
        # lexsort: the last key is the first criterion.
        order = np.lexsort((rows, -uncertainty, newest[rows], ~is_fresh[rows], ~by_editor[rows]))
        limit, offset = max(1, min(limit, 500)), max(0, offset)
        page = [int(k) for k in order[offset: offset + limit]]
        page_rows = [int(rows[k]) for k in page]
        ids = [cat.metas[r].id for r in page_rows]
        preds = self.store.items.predictions(ids)
        drivers = self._drivers(model, ids, preds) if explain else {}
        affinity = self._group_affinity(model, cat.topics[page_rows])
        out = []
        for n, (k, r) in enumerate(zip(page, page_rows, strict=True)):
            meta, weights = cat.metas[r], cat.topics[r]
            ranked = [j for j in np.argsort(-weights, kind="stable") if weights[j] > 0]
            proposed = [cat.topic_ids[j] for j in ranked if weights[j] >= _PROPOSE_MIN][:4] or \
                [cat.topic_ids[j] for j in ranked[:1]]
            best = np.argsort(-affinity[n], kind="stable")[:_SUGGESTED_GROUPS]
            info = fresh.get(meta.id)
            out.append(ReviewItem(
                item_id=meta.id, title=meta.title, type=meta.type, law_title=meta.law_title,
                status=meta.status, snippet=meta.snippet, published_at=meta.published_at,
                topic_source=meta.topic_source, predicted_topics=preds.get(meta.id, []),
                proposed_topics=proposed, groups=list(meta.groups),
                suggested_groups=[self.taxonomy.group_ids[g] for g in best if affinity[n, g] > 0],
                keywords=drivers.get(meta.id, {}), uncertainty=round(float(uncertainty[k]), 3),
                new=info is not None, added=bool(info and info.added),
                changed_by=info.changed_by if info else None, changed_at=info.changed_at if info else None))
        return ReviewPage(items=out, total=len(rows), new_total=int(is_fresh[rows].sum()), offset=offset,
                          limit=limit)

    def _queue_mask(self, model: Model, f: ReviewFilters, is_fresh: np.ndarray) -> np.ndarray:
        """Rows in the queue under the filters: never retired or editor-tagged ones."""
        cat = model.catalog

        def each(test: Callable[[ItemMeta], bool]) -> np.ndarray:
            return np.fromiter((test(m) for m in cat.metas), dtype=bool, count=len(cat.metas))

        cols = self._columns(model)
        keep = (cols.source != "editor") & ~cols.retired
        if f.scope == "due":
            keep &= (cols.source == "predicted") | is_fresh
        if f.only_new:
            keep &= is_fresh
        if f.status:
            keep &= cols.status == f.status
        if f.type:
            keep &= cat.types == f.type
        if f.topic:
            keep &= cat.topics[:, cat.topic_index[self.checks.topics([f.topic], "topic")[0]]] >= _TOPIC_FILTER_MIN
        if f.group:
            group = self.checks.groups([f.group], "group")[0]
            if group not in cols.for_group:
                g = self.taxonomy.group_ids.index(group)
                a = self._group_affinity(model, cat.topics)
                mine = a[:, g:g + 1]
                # Among the suggested: fewer groups above it than are suggested (ties: the earlier first).
                above = (a > mine).sum(axis=1) + (a[:, :g] == mine).sum(axis=1)
                cols.for_group[group] = (above < _SUGGESTED_GROUPS) & (mine[:, 0] > 0) | each(
                    lambda m: group in m.groups)
            keep &= cols.for_group[group]
        if f.law:
            law = f.law
            keep &= each(lambda m: bool(m.law_title) and law in str(m.law_title))
        if f.published_from or f.published_to:
            lo = f.published_from.toordinal() if f.published_from else -np.inf
            hi = f.published_to.toordinal() if f.published_to else np.inf
            keep &= (cat.published_ordinal >= lo) & (cat.published_ordinal <= hi)  # NaN (no date): outside
        if f.source:
            ids = self._ids_from(f.source)
            keep &= each(lambda m: m.id in ids)
        return keep

    def _columns(self, model: Model) -> _Columns:
        """The queue's columns of the model's catalogue, kept while it is the one served."""
        cols = self._columns_cache
        if cols is None or cols.catalog is not model.catalog:
            metas = model.catalog.metas
            cols = self._columns_cache = _Columns(
                model.catalog, np.asarray([m.topic_source for m in metas], dtype=object),
                np.asarray([m.status for m in metas], dtype=object),
                np.fromiter((m.retired for m in metas), dtype=bool, count=len(metas)))
        return cols

    def _drivers(self, model: Model, ids: list[str], preds: dict[str, list[dict[str, Any]]],
                 n: int = 5) -> dict[str, dict[str, list[str]]]:
        """For each item's predicted topics, the words of its text that pushed the score up most
        (as ``TopicClassifier.explain``, for a page of items in one pass over their texts). A
        word pair is left out when one of its words is already listed."""
        from recommender.classify import model_text

        clf = model.classifier
        stored = self.store.items.get_many(ids)
        ids = [i for i in ids if i in stored]
        if not ids:
            return {}
        X = clf._features([model_text(stored[i]) for i in ids])
        column = {t: j for j, t in enumerate(clf.topic_ids)}
        out: dict[str, dict[str, list[str]]] = {}
        for k, item_id in enumerate(ids):
            cols, vals = X.indices[X.indptr[k]:X.indptr[k + 1]], X.data[X.indptr[k]:X.indptr[k + 1]]
            per_topic: dict[str, list[str]] = {}
            for t in (p["id"] for p in preds.get(item_id, []) if p["id"] in column):
                contrib = vals * clf.coef_[column[t], cols]
                words: list[str] = []
                for c in np.argsort(-contrib, kind="stable"):
                    if contrib[c] <= 0 or len(words) >= n:
                        break
                    parts = str(clf.terms_[cols[c]]).split(" ")
                    if (len(parts) == 1 or not any(w in words for w in parts)) and "".join(parts) not in words:
                        words.append("".join(parts))
                per_topic[t] = words
            out[item_id] = per_topic
        return out

    def _group_affinity(self, model: Model, topics: np.ndarray) -> np.ndarray:
        """How much the plan wants each group to learn each row's topics (rows x groups): the
        row's topic weights, as a unit vector, times each group's (not a cosine, which would
        favour groups with few topics over those the plan names for this one)."""
        ids = model.catalog.topic_index
        weights = np.zeros((len(self.taxonomy.groups), len(ids)), dtype=np.float32)
        for g, group in enumerate(self.taxonomy.groups.values()):
            for t, w in group.topics.items():
                if t in ids:
                    weights[g, ids[t]] = w
        norms = np.maximum(np.linalg.norm(topics, axis=1, keepdims=True), 1e-9)
        return np.asarray((topics / norms) @ weights.T).reshape(len(topics), len(weights))

    def _fresh_items(self, since: dt.datetime | None, model_seq: int) -> dict[str, _Fresh]:
        """Items added or changed after ``since`` (else after the model's catalogue was read),
        who changed them last and whether they are new; cached until the next change."""
        import sqlalchemy as sa

        from recommender.store.tables import item_changes, item_versions

        key = (since, model_seq, self.store.items.last_change_seq())
        if self._fresh_cache is not None and self._fresh_cache[0] == key:
            return self._fresh_cache[1]
        changes = sa.select(item_changes.c.item_id, sa.func.max(item_changes.c.seq), sa.func.min(item_changes.c.changed_at))
        changes = changes.where(item_changes.c.changed_at >= since) if since else \
            changes.where(item_changes.c.seq > model_seq)
        fresh: dict[str, _Fresh] = {}
        with self.store.db.connect() as conn:
            window = {i: (seq, aware(first)) for i, seq, first in conn.execute(changes.group_by(item_changes.c.item_id))}
            for chunk in _chunks(sorted(window)):
                versions: dict[str, list[tuple[str | None, dt.datetime | None]]] = {}
                for item_id, by, at in conn.execute(
                        sa.select(item_versions.c.item_id, item_versions.c.changed_by, item_versions.c.changed_at)
                        .where(item_versions.c.item_id.in_(chunk)).order_by(item_versions.c.id)):
                    versions.setdefault(item_id, []).append((by, aware(at)))
                for item_id in chunk:
                    seq, first_in_window = window[item_id]
                    v = versions.get(item_id) or [(None, None)]
                    added = v[0][1] is not None and first_in_window is not None and v[0][1] >= first_in_window
                    fresh[item_id] = _Fresh(order=float(seq), changed_by=v[-1][0], changed_at=v[-1][1], added=added)
        self._fresh_cache = (key, fresh)
        return fresh

    def _ids_from(self, source: str) -> set[str]:
        """Ids of the items whose ``source`` is this one."""
        import sqlalchemy as sa

        from recommender.store.tables import items

        wanted = source.replace("\x00", "")  # PostgreSQL refuses NUL in a text parameter
        with self.store.db.connect() as conn:
            return set(conn.execute(sa.select(items.c.id).where(items.c.data["source"].as_string() == wanted))
                       .scalars())

    def classify(self, text: str, title: str | None = None) -> dict[str, Any]:
        """The topics the active model reads in a text, and its keywords."""
        text = text.replace("\x00", "")
        if not (text.strip() or (title or "").strip()):
            raise ServiceError(422, "text must not be empty", "text")
        res = self.keeper.engine.model.classify(text, title)
        return {"topics": [{"id": t["id"], "score": t["score"]} for t in res["topics"]], "keywords": res["keywords"]}


def _boilerplate_override(item: Item) -> bool:
    """Whether a stored item's boilerplate flag was set against the rules (an editor's choice,
    kept by a patch); a flag the rules gave, or none at all, is decided again."""
    return "boilerplate" in item.model_fields_set and item.boilerplate != is_boilerplate(item)
