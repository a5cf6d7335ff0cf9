"""Where the engine reads people and their events: the protocol, and an in-memory source.

In a running service the source is the store's people room (``store.people``); offline
evaluation, notebooks and benchmarks use :class:`MemoryEvents`. Both answer with typed
records (:class:`~recommender.records.User`, :class:`~recommender.records.Event`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from recommender.records import Event, User
from recommender.vocab import POSITIVE_TYPES

__all__ = ["MemoryCampaigns", "MemoryEvents", "PeopleSource"]

_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


class PeopleSource(Protocol):
    """People and what they did, as the engine reads them at request time."""

    def get(self, user_id: str) -> User | None: ...

    def events(self, user_id: str, limit: int = 500) -> list[Event]: ...

    def co_reading(self, limit_events: int = 200_000) -> list[tuple[str, str, str]]: ...

    def groups_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]: ...


class MemoryCampaigns(list[dict[str, Any]]):
    """Editors' campaigns held in memory (a list, readable as a campaign source)."""

    def list(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self]


class MemoryEvents:
    """A :class:`PeopleSource` in memory, for offline evaluation, notebooks and benchmarks."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.history: dict[str, list[Event]] = defaultdict(list)
        self.campaigns = MemoryCampaigns()

    def put_user(self, user_id: str, **fields: Any) -> User:
        """Create or update a person (fields of :class:`~recommender.records.User`; None keeps)."""
        user = self.users.get(user_id) or User(id=user_id)
        user = replace(user, **{k: v for k, v in fields.items() if v is not None})
        self.users[user_id] = user
        return user

    def add_event(self, user_id: str, event: Event | dict[str, Any]) -> None:
        if user_id not in self.users:
            self.put_user(user_id)
        self.history[user_id].append(event if isinstance(event, Event) else Event(**event))

    def get(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    def events(self, user_id: str, limit: int = 500) -> list[Event]:
        evs = sorted(self.history.get(user_id, []), key=lambda e: e.ts or _EPOCH)
        return evs[-limit:]

    def co_reading(self, limit_events: int = 200_000) -> list[tuple[str, str, str]]:
        out = [(uid, e.item_id, e.type) for uid, evs in self.history.items() for e in evs
               if e.item_id and e.type in POSITIVE_TYPES]
        return out[-limit_events:]

    def groups_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        return {u: list(self.users[u].groups) for u in user_ids if u in self.users}
