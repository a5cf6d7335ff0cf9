"""What was pushed and why: editors' campaigns and the exposure log.

The exposure log is the record 算法推荐管理规定 asks for (what each person was shown, with
the reasons and the model version); it feeds the report of what was pushed (coverage) and minors' daily cap.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from recommender.records import Exposure
from recommender.store.db import Database, aware_row, utcnow
from recommender.store.people import ensure_people
from recommender.store.tables import campaigns, events, exposures

__all__ = ["CampaignStore", "ExposureStore"]


def _utc(t: dt.datetime) -> dt.datetime:
    """A bound as UTC, as every time is stored (SQLite keeps the wall clock without its zone)."""
    return t.astimezone(dt.UTC) if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


class CampaignStore:
    """Campaigns editors added (the taxonomy's own are in ``corpus/taxonomy``)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> list[dict[str, Any]]:
        """Each campaign as it was accepted (``CampaignIn`` of the API, dates as ISO text)."""
        with self.db.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(campaigns.c.data).order_by(campaigns.c.id)).scalars()]

    def put(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.db.begin() as conn:
            conn.execute(campaigns.delete().where(campaigns.c.id == data["id"]))
            conn.execute(campaigns.insert(), [{"id": data["id"], "data": data, "created_at": utcnow()}])
        return data

    def delete(self, campaign_id: str) -> bool:
        """Delete an editor's campaign; False when none has the id."""
        with self.db.begin() as conn:
            return bool(conn.execute(campaigns.delete().where(campaigns.c.id == campaign_id)).rowcount)


class ExposureStore:
    """The exposure log."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def log(self, *, request_id: str, user_id: str | None, groups: Sequence[str],
            items_shown: Sequence[dict[str, Any]], model_version: str | None, personalized: bool,
            user_exists: bool = False, variant: str | None = "control") -> None:
        row = {"request_id": request_id, "user_id": user_id, "groups": list(groups), "items": list(items_shown),
               "model_version": model_version, "personalized": personalized, "created_at": utcnow(),
               "variant": variant}

        def work(conn: Connection) -> None:
            if user_id and not user_exists:
                ensure_people(self.db, conn, [user_id])
            conn.execute(exposures.insert(), [row])

        try:
            self.db.retrying(work)
        except sa.exc.IntegrityError:
            # The person was erased while the request ran: keep the record, without them.
            with self.db.begin() as conn:
                conn.execute(exposures.insert(), [{**row, "user_id": None}])

    def list(self, *, user_id: str | None = None, since: dt.datetime | None = None,
             limit: int = 100) -> list[Exposure]:
        q = sa.select(exposures.c.request_id, exposures.c.user_id, exposures.c.groups, exposures.c["items"],
                      exposures.c.model_version, exposures.c.personalized, exposures.c.created_at,
                      exposures.c.variant).order_by(exposures.c.seq.desc()).limit(limit)
        if user_id:
            q = q.where(exposures.c.user_id == user_id)
        if since:
            q = q.where(exposures.c.created_at >= since)
        with self.db.connect() as conn:
            return [Exposure(**aware_row(r)) for r in conn.execute(q).mappings().all()]

    def in_period(self, start: dt.datetime, end: dt.datetime, *, group: str | None = None,
                  user_id: str | None = None, newest_first: bool = False, batch: int = 2000) -> Iterator[Exposure]:
        """The rows logged in [start, end), of one group (among the row's ``groups``) and/or one
        person, read in pages of ``batch`` rows by sequence number: a long period is never held
        in memory at once, nor a connection held while the caller works."""
        q = sa.select(exposures.c.seq, exposures.c.request_id, exposures.c.user_id, exposures.c.groups,
                      exposures.c["items"], exposures.c.model_version, exposures.c.personalized,
                      exposures.c.created_at, exposures.c.variant).where(exposures.c.created_at >= _utc(start),
                                                    exposures.c.created_at < _utc(end))
        if user_id is not None:
            q = q.where(exposures.c.user_id == user_id)
        if group is not None:
            # JSON arrays are text alike on SQLite and PostgreSQL; the exact test is below.
            pattern = '%"' + group.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
            q = q.where(sa.cast(exposures.c.groups, sa.Text).like(pattern, escape="\\"))
        order = exposures.c.seq.desc() if newest_first else exposures.c.seq.asc()
        last: int | None = None
        while True:
            page = q.order_by(order).limit(batch)
            if last is not None:
                page = page.where(exposures.c.seq < last if newest_first else exposures.c.seq > last)
            with self.db.connect() as conn:
                rows = conn.execute(page).mappings().all()
            for r in rows:
                row = aware_row(r)
                del row["seq"]
                if group is None or group in (row["groups"] or []):
                    yield Exposure(**row)
            if len(rows) < batch:
                return
            last = int(rows[-1]["seq"])

    def completions(self, start: dt.datetime, end: dt.datetime, item_ids: Collection[str]) -> set[tuple[str, str]]:
        """(person, item) pairs of ``complete`` events in [start, end) on these items (the time
        the person did it, as their client said)."""
        ids = sorted(set(item_ids))
        out: set[tuple[str, str]] = set()
        with self.db.connect() as conn:
            for k in range(0, len(ids), 500):
                rows = conn.execute(sa.select(events.c.user_id, events.c.item_id).distinct().where(
                    events.c.type == "complete", events.c.item_id.in_(ids[k:k + 500]),
                    events.c.ts >= _utc(start), events.c.ts < _utc(end))).all()
                out.update((u, i) for u, i in rows)
        return out

    def purge(self, older_than: dt.datetime) -> int:
        with self.db.begin() as conn:
            return int(conn.execute(exposures.delete().where(exposures.c.created_at < older_than)).rowcount or 0)

    def shown_since(self, user_id: str, day_start: dt.datetime) -> int:
        """How many items were pushed to this person since ``day_start`` (minors' daily cap)."""
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(exposures.c["items"]).where(
                exposures.c.user_id == user_id, exposures.c.created_at >= day_start)).scalars().all()
        return sum(len(r) for r in rows)
