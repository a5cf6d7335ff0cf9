"""Content as editors handle it: items in and out, their topics, the review queue, campaigns.

An item arrives validated by :class:`corpus.schema.Item`; here it is checked against the
taxonomy and the store (known topic and group ids, a region Pufa knows, a ``supersedes``
that names a stored item), stored, and indexed and classified with the active model at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from corpus.schema import Item, check_taxonomy_ids, first_problem
from corpus.taxonomy import Taxonomy
from recommender.service.errors import Checks, ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store

__all__ = ["Campaigns", "Content"]

# What an item's url may be: a page a person can open (no javascript:, data:, file:).
_WEB_URL = ("http://", "https://")


class Content:
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
        return data

    def patch(self, item_id: str, changes: dict[str, Any], *, editor: str | None = None) -> dict[str, Any]:
        current = self.store.items.get(item_id)
        if current is None:
            raise ServiceError(404, f"no item '{item_id}'", "item_id")
        if "id" in changes and changes["id"] != item_id:
            raise ServiceError(422, "id cannot be changed", "id")
        data = current.model_dump(mode="json")
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

    def review_queue(self, limit: int = 20) -> list[dict[str, Any]]:
        """Items whose predicted tags most need an editor: predictions near the decision
        boundary (most uncertain first), items no one has tagged, current items only."""
        cat = self.keeper.engine.model.catalog
        out = []
        for r, meta in enumerate(cat.metas):
            if meta.topic_source != "predicted" or not meta.recommendable:
                continue
            out.append((abs(float(cat.topics[r].max()) - 0.5), r))
        out.sort()
        rows = out[: max(1, min(limit, 500))]
        preds = self.store.items.predictions([cat.metas[r].id for _, r in rows])
        return [{"item_id": cat.metas[r].id, "title": cat.metas[r].title, "type": cat.metas[r].type,
                 "law_title": cat.metas[r].law_title, "predicted_topics": preds.get(cat.metas[r].id, []),
                 "uncertainty": round(1 - 2 * d, 3)} for d, r in rows]

    def classify(self, text: str, title: str | None = None) -> dict[str, Any]:
        """The topics the active model reads in a text, and its keywords."""
        text = text.replace("\x00", "")
        if not (text.strip() or (title or "").strip()):
            raise ServiceError(422, "text must not be empty", "text")
        res = self.keeper.engine.model.classify(text, title)
        return {"topics": [{"id": t["id"], "score": t["score"]} for t in res["topics"]], "keywords": res["keywords"]}


class Campaigns:
    """The taxonomy's campaigns (12·4 宪法日, 4·15 国家安全教育日 ...) and editors' own."""

    def __init__(self, store: Store, keeper: ModelKeeper, checks: Checks, taxonomy: Taxonomy) -> None:
        self.store = store
        self.keeper = keeper
        self.checks = checks
        self.taxonomy = taxonomy

    def list(self) -> list[dict[str, Any]]:
        builtin = [{"id": c.id, "name": c.name, "topics": list(c.topics), "start": c.start, "end": c.end,
                    "boost": c.boost, "groups": list(c.groups), "region": c.region, "reason": c.reason,
                    "source": "taxonomy"} for c in self.taxonomy.campaigns]
        stored = [{**c, "source": "editor"} for c in self.store.campaigns.list()]
        ids = {c["id"] for c in stored}
        return [c for c in builtin if c["id"] not in ids] + stored

    def put(self, data: dict[str, Any]) -> dict[str, Any]:
        """Add or replace a campaign (``CampaignIn`` of the API as JSON)."""
        self.checks.topics(data.get("topics"))
        self.checks.region(data.get("region"))
        self.checks.groups(data.get("groups"))
        if str(data["start"]) > str(data["end"]):
            raise ServiceError(422, "start is after end", "end")
        if not data.get("id"):
            data["id"] = "c-" + uuid.uuid4().hex[:10]
        self.checks.id(data["id"], "id")
        stored = self.store.campaigns.put(data)
        if self.keeper.current is not None:
            self.keeper.current.invalidate_campaigns()  # other workers see it within 2 s
        return stored
