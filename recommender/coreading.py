"""CoReading: items read together by people of the same group ("同群体的人也在读").

A table per group, item -> item -> count, built from the newest positive events and
rebuilt at most every ``ttl`` seconds in a background thread. Kept apart from the engine
because its refresh is not a cache lookup: requests go on reading the previous table while
one rebuild runs (the very first rebuild is done in line, so there is always a table).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from recommender.catalog import Catalog
from recommender.config import CoReadingConfig

__all__ = ["CoReading", "CoReadingSource"]


class CoReadingSource(Protocol):
    """What the table is built from (the engine's event source)."""

    def co_reading(self, limit_events: int = 200_000) -> list[tuple[str, str, str]]: ...

    def groups_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]: ...


class CoReading:
    """Items read together by people of the same group.

    Rebuilt from the newest ``limit_events`` positive events at most every ``ttl_seconds``
    (:class:`~recommender.config.CoReadingConfig`), in a background thread: requests keep using
    the previous table meanwhile, and only one rebuild runs at a time (the very first one is
    done in line, so there is always a table).
    """

    def __init__(self, config: CoReadingConfig | None = None) -> None:
        self.config = config or CoReadingConfig()
        self.ttl = self.config.ttl_seconds
        self.limit_events = self.config.limit_events
        self._at = -1e18
        self._lock = threading.Lock()
        self._running = False
        self.by_group: dict[str, dict[str, dict[str, float]]] = {}

    def refresh(self, source: CoReadingSource, force: bool = False) -> None:
        if not force and time.monotonic() - self._at < self.ttl:
            return
        with self._lock:
            if self._running or (not force and time.monotonic() - self._at < self.ttl):
                return
            self._running = True
        first = self._at < 0
        if force or first:
            self._rebuild(source)
        else:
            threading.Thread(target=self._rebuild, args=(source,), name="co-reading", daemon=True).start()

    def _rebuild(self, source: CoReadingSource) -> None:
        try:
            cfg = self.config
            rows = source.co_reading(self.limit_events)
            per_user: dict[str, list[str]] = defaultdict(list)
            for uid, item_id, _ in rows:
                window = per_user[uid][-cfg.repeat_window:] if cfg.repeat_window else []
                if item_id not in window:
                    per_user[uid].append(item_id)
            groups = source.groups_of(list(per_user)) if per_user else {}
            by_group: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
            for uid, items in per_user.items():
                items = items[-cfg.per_user_items:]
                for g in groups.get(uid) or ["public"]:
                    table = by_group[g]
                    for a in items:
                        for b in items:
                            if a != b:
                                table[a][b] += 1.0
            self.by_group = {g: {a: dict(bs) for a, bs in t.items()} for g, t in by_group.items()}
        except Exception:  # a failed rebuild keeps the previous table
            logging.getLogger("pufa.engine").exception("co-reading rebuild failed")
        finally:
            self._at = time.monotonic()
            self._running = False

    def scores(self, groups: Sequence[str], recent: Sequence[str], catalog: Catalog,
               limit: int | None = None) -> dict[int, float]:
        limit = self.config.limit if limit is None else limit
        acc: dict[str, float] = defaultdict(float)
        for g in groups:
            table = self.by_group.get(g)
            if not table:
                continue
            for a in recent[-self.config.recent_items:]:
                for b, c in table.get(a, {}).items():
                    acc[b] += c
        if not acc:
            return {}
        top = sorted(acc.items(), key=lambda kv: -kv[1])[:limit]
        m = top[0][1]
        out = {}
        for item_id, c in top:
            r = catalog.row_of.get(item_id)
            if r is not None:
                out[r] = c / m
        return out
