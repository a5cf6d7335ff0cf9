"""People and what they did: users, removed tags and events; erasure of a person.

Only what the engine needs is kept about a person (groups, region, language, the two
switches); events are stored durably before the API answers, once per client event id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from recommender.records import Event, NewEvent, User
from recommender.store.db import Database, aware, chunks, utcnow
from recommender.store.tables import events, exposures, removed_tags, users
from recommender.vocab import POSITIVE_TYPES

__all__ = ["AddedEvents", "PeopleStore", "ensure_people"]

USER_FIELDS = ("groups", "region", "language", "personalized", "minor")


def ensure_people(db: Database, conn: Connection, user_ids: Iterable[str]) -> None:
    """Create the people not stored yet. Race-free: ``INSERT ... ON CONFLICT DO NOTHING``
    in sorted order, so that two writers creating the same new people take their row
    locks in one order (no deadlock) and neither fails on the other's row."""
    ids = sorted(set(user_ids))
    now = utcnow()
    stmt = db.insert(users).on_conflict_do_nothing(index_elements=[users.c.id])
    for chunk in chunks(ids):
        conn.execute(stmt, [{"id": u, "groups": [], "personalized": True, "minor": False,
                             "created_at": now, "updated_at": now} for u in chunk])


class AddedEvents(NamedTuple):
    stored: int
    duplicates: int
    by_type: dict[str, int]  # what was stored, by event type


class PeopleStore:
    """Users, their removed tags and their events."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, user_id: str) -> User | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
            if row is None:
                return None
            removed = conn.execute(
                sa.select(removed_tags.c.topic).where(removed_tags.c.user_id == user_id)).scalars().all()
        return User(id=row["id"], groups=list(row["groups"] or []), region=row["region"], language=row["language"],
                    personalized=bool(row["personalized"]), minor=bool(row["minor"]),
                    created_at=aware(row["created_at"]), updated_at=aware(row["updated_at"]),
                    removed_tags=sorted(removed))

    def put(self, user_id: str, *, groups: list[str] | None = None, region: str | None = None,
            language: str | None = None, personalized: bool | None = None, minor: bool | None = None) -> User:
        """Create or update a user; a field given as None keeps its value."""
        now = utcnow()
        given = {k: v for k, v in (("groups", groups), ("region", region), ("language", language),
                                   ("personalized", personalized), ("minor", minor)) if v is not None}
        row = {"id": user_id, "groups": [], "region": None, "language": None,
               "personalized": True, "minor": False, "created_at": now, "updated_at": now, **given}
        stmt = self.db.insert(users).values(**row)
        # One statement, race-free: two first PUTs for one new person both succeed.
        stmt = stmt.on_conflict_do_update(index_elements=[users.c.id], set_={**given, "updated_at": now}) \
            if given else stmt.on_conflict_do_nothing(index_elements=[users.c.id])
        self.db.retrying(lambda conn: conn.execute(stmt))
        user = self.get(user_id)
        assert user is not None
        return user

    def erase(self, user_id: str) -> bool:
        """Erase a person: the user row, every event, exposure and removed-tag record.

        On SQLite nothing of them stays readable on disk: ``secure_delete`` zeroes the freed
        rows in the database file, and the write-ahead log, which still holds the pages as
        they were written, is checkpointed and truncated. On PostgreSQL deleted rows are
        invisible at once; their bytes stay in table pages until VACUUM (autovacuum, or the
        ``VACUUM`` run here) reclaims them and new rows overwrite them, and in WAL segments
        until the server recycles them (see the README)."""
        with self.db.begin() as conn:
            conn.execute(events.delete().where(events.c.user_id == user_id))
            conn.execute(exposures.delete().where(exposures.c.user_id == user_id))
            conn.execute(removed_tags.delete().where(removed_tags.c.user_id == user_id))
            n = conn.execute(users.delete().where(users.c.id == user_id)).rowcount
        if n:
            self._scrub()
        return bool(n)

    def _scrub(self) -> None:
        """Leave no deleted bytes readable: fold the SQLite WAL into the (securely deleted)
        file and truncate it; on PostgreSQL VACUUM the person's tables."""
        with self.db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if self.db.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            elif self.db.dialect == "postgresql":
                conn.exec_driver_sql("VACUUM events, exposures, removed_tags, users")

    def remove_tag(self, user_id: str, topic: str) -> None:
        def work(conn: Connection) -> None:
            ensure_people(self.db, conn, [user_id])
            conn.execute(self.db.insert(removed_tags).on_conflict_do_nothing(
                index_elements=[removed_tags.c.user_id, removed_tags.c.topic]),
                [{"user_id": user_id, "topic": topic, "removed_at": utcnow()}])

        self.db.retrying(work)

    def add_events(self, new: Sequence[NewEvent]) -> AddedEvents:
        """Store events durably (committed before returning). Returns (stored, duplicates,
        stored by type).

        An event whose ``event_id`` was stored before is a retry and is skipped.
        """
        if not new:
            return AddedEvents(0, 0, {})
        now = utcnow()

        def work(conn: Connection) -> AddedEvents:
            ensure_people(self.db, conn, [e.user_id for e in new])
            seen: set[str] = set()  # ids repeated within this request
            dup = 0
            batch = []
            for e in new:
                if e.event_id and e.event_id in seen:
                    dup += 1
                    continue
                if e.event_id:
                    seen.add(e.event_id)
                batch.append({"event_id": e.event_id, "user_id": e.user_id, "type": e.type, "item_id": e.item_id,
                              "text": e.text, "topics": e.topics, "ts": e.ts or now, "dwell_ms": e.dwell_ms,
                              "received_at": now, "request_id": e.request_id})
            by_type: Counter[str] = Counter()
            if batch:
                # An event_id stored before (a retry, also one racing the first request) is
                # skipped by the database; RETURNING says what was stored.
                stmt = self.db.insert(events).on_conflict_do_nothing(index_elements=[events.c.event_id]) \
                    .returning(events.c.type)
                by_type.update(conn.execute(stmt, batch).scalars().all())
            stored = sum(by_type.values())
            dup += len(batch) - stored
            return AddedEvents(stored, dup, dict(by_type))

        return self.db.retrying(work)

    def events(self, user_id: str, limit: int = 500) -> list[Event]:
        """The user's most recent events, oldest first."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.type, events.c.item_id, events.c.text, events.c.topics, events.c.ts,
                          events.c.dwell_ms)
                .where(events.c.user_id == user_id).order_by(events.c.ts.desc(), events.c.seq.desc())
                .limit(limit)
            ).all()
        return [Event(type=r[0], item_id=r[1], text=r[2], topics=r[3], ts=aware(r[4]), dwell_ms=r[5])
                for r in reversed(rows)]

    def count_events(self, user_id: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(events)
        if user_id is not None:
            q = q.where(events.c.user_id == user_id)
        with self.db.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def co_reading(self, limit_events: int = 200_000) -> list[tuple[str, str, str]]:
        """(user_id, item_id, type) of positive interactions, newest first, for co-reading."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.user_id, events.c.item_id, events.c.type)
                .where(events.c.item_id.is_not(None), events.c.type.in_(sorted(POSITIVE_TYPES)))
                .order_by(events.c.seq.desc()).limit(limit_events)
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def groups_of(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(user_ids)):
                for uid, groups in conn.execute(sa.select(users.c.id, users.c.groups).where(users.c.id.in_(chunk))):
                    out[uid] = list(groups or [])
        return out
