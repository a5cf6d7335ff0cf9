"""People: their events coming in, their profile as they may see it, their tags and erasure.

Events arrive validated in shape (:class:`recommender.inputs.EventIn`); here they are checked
against the catalogue (is the item stored), the person's words are read for topics, and they
are stored durably. A person can see the tags the engine believes in and where each came
from, remove one, switch personalisation off and erase themselves (PIPL art. 24, 47;
算法推荐管理规定 art. 17).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from corpus.taxonomy import Taxonomy
from recommender.inputs import EventIn
from recommender.profiles import is_blocked_text
from recommender.records import NewEvent
from recommender.service.errors import Checks, ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store
from recommender.vocab import MAX_EVENTS_PER_REQUEST, TEXT_TYPES

__all__ = ["EventResult", "People"]


@dataclass
class EventResult:
    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]]  # {"index", "field", "error"} for each event refused
    by_type: dict[str, int] = field(default_factory=dict)  # what was stored, by event type


class People:
    def __init__(self, store: Store, keeper: ModelKeeper, checks: Checks, taxonomy: Taxonomy) -> None:
        self.store = store
        self.keeper = keeper
        self.checks = checks
        self.taxonomy = taxonomy

    def ingest(self, events: Sequence[EventIn], *, all_or_nothing: bool = False) -> EventResult:
        """Check that each event's item is stored, read topics in searches and questions,
        and store the events durably. ``rejected`` indexes into ``events``."""
        if len(events) > MAX_EVENTS_PER_REQUEST:
            raise ServiceError(413, f"at most {MAX_EVENTS_PER_REQUEST} events per request", "events")
        known = self._known_items([e.item_id for e in events if e.item_id is not None])
        good: list[EventIn] = []
        rejected: list[dict[str, Any]] = []
        for n, ev in enumerate(events):
            if ev.item_id is not None and ev.item_id not in known:
                rejected.append({"index": n, "field": "item_id", "error": f"unknown item_id '{ev.item_id}'"})
            else:
                good.append(ev)
        if rejected and all_or_nothing:
            first = rejected[0]
            raise ServiceError(422, first["error"], first["field"])
        engine = self.keeper.current if self.keeper.current is not None else (
            self.keeper.engine if self.keeper.has_model() else None)
        rows = []
        for ev in good:
            topics = None
            if ev.type in TEXT_TYPES and ev.text and engine is not None and not is_blocked_text(ev.text):
                topics = engine.event_topics(ev.text)
            rows.append(NewEvent(user_id=ev.user_id, type=ev.type, item_id=ev.item_id, text=ev.text, topics=topics,
                                 ts=ev.ts, dwell_ms=ev.dwell_ms, event_id=ev.id,
                                 request_id=ev.request_id))
        added = self.store.people.add_events(rows)
        return EventResult(added.stored, added.duplicates, rejected, added.by_type)

    def _known_items(self, ids: Sequence[str]) -> set[str]:
        engine = self.keeper.current
        known = {i for i in ids if engine is not None and i in engine.model.catalog.row_of}
        rest = [i for i in ids if i not in known]
        if rest:
            known |= self.store.items.existing_ids(rest)
        return known

    def put(self, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Create or update a person; a field absent or null keeps its value."""
        self.checks.id(user_id, "user_id")
        # strings lose NUL bytes.
        fields = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in fields.items() if v is not None}
        if "groups" in fields:
            fields["groups"] = self.checks.groups(fields["groups"])
        if fields.get("region") is not None:
            fields["region"] = self.checks.region(fields["region"])  # stored by its official name
        return self.view(self.store.people.put(user_id, **fields).id)

    def view(self, user_id: str) -> dict[str, Any]:
        """What Pufa holds about a person and the tags it believes in, each with its source."""
        self.checks.id(user_id, "user_id")
        user = self.store.people.get(user_id)
        if user is None:
            raise ServiceError(404, f"no user '{user_id}'", "user_id")
        tags: list[dict[str, Any]] = []
        if self.keeper.has_model():
            engine = self.keeper.engine
            profile = engine.profile(user_id)
            tags = profile.tags(engine.topic_ids, engine.config.profile.min_tag_weight)
            for t in tags:
                t["name"] = self.taxonomy.topic_name(t["topic"])
        for g in user.groups:
            grp = self.taxonomy.groups.get(g)
            if grp is None:
                continue
            for tid, w in sorted(grp.topics.items(), key=lambda kv: -kv[1])[:3]:
                if tid not in {t["topic"] for t in tags} and tid not in user.removed_tags:
                    tags.append({"topic": tid, "weight": round(w, 3), "source": f"group:{g}",
                                 "name": self.taxonomy.topic_name(tid)})
        return {
            "id": user.id, "groups": user.groups, "region": user.region, "language": user.language,
            "personalized": user.personalized, "minor": user.minor, "tags": tags,
            "removed_tags": user.removed_tags, "events": self.store.people.count_events(user_id),
            "created_at": user.created_at, "updated_at": user.updated_at,
        }

    def remove_tag(self, user_id: str, topic: str) -> dict[str, Any]:
        self.checks.id(user_id, "user_id")
        if topic not in self.taxonomy.topics:
            raise ServiceError(404, f"no topic '{topic}'", "topic")
        if self.store.people.get(user_id) is None:
            raise ServiceError(404, f"no user '{user_id}'", "user_id")
        self.store.people.remove_tag(user_id, topic)
        return self.view(user_id)

    def erase(self, user_id: str) -> None:
        self.checks.id(user_id, "user_id")
        if not self.store.people.erase(user_id):
            raise ServiceError(404, f"no user '{user_id}'", "user_id")
