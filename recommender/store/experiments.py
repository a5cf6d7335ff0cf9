"""Variant experiments: which config-only version gets what share of the traffic, and when.

At most one experiment runs at a time (its ``stopped_at`` is null); the service checks that
before it starts one. Rows are never deleted: the attribution report reads the variant from
the exposure log, and this table says when each variant served.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa

from recommender.store.db import Database, aware_row, chunks, utcnow
from recommender.store.tables import events, experiments

__all__ = ["ExperimentStore"]


class ExperimentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def running(self) -> dict[str, Any] | None:
        """The running experiment (the newest one not stopped), or None."""
        q = sa.select(experiments).where(experiments.c.stopped_at.is_(None)) \
            .order_by(experiments.c.started_at.desc()).limit(1)
        with self.db.connect() as conn:
            row = conn.execute(q).mappings().first()
        return aware_row(row) if row is not None else None

    def start(self, *, variant_version: str, control_version: str | None, share: float,
              created_by: str | None) -> dict[str, Any] | None:
        """A new running experiment; None when one runs already (checked in the transaction)."""
        row = {"id": uuid.uuid4().hex[:12], "variant_version": variant_version, "control_version": control_version,
               "share": float(share), "started_at": utcnow(), "stopped_at": None, "created_by": created_by}
        with self.db.begin() as conn:
            if conn.execute(sa.select(experiments.c.id).where(experiments.c.stopped_at.is_(None))).first():
                return None
            conn.execute(experiments.insert(), [row])
        return row

    def stop(self, experiment_id: str) -> dict[str, Any] | None:
        """Stop it (a stopped one stays as it was); None when there is no such experiment."""
        with self.db.begin() as conn:
            conn.execute(experiments.update().where(experiments.c.id == experiment_id,
                                                    experiments.c.stopped_at.is_(None)).values(stopped_at=utcnow()))
            row = conn.execute(sa.select(experiments).where(experiments.c.id == experiment_id)).mappings().first()
        return aware_row(row) if row is not None else None

    def list(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(experiments).order_by(experiments.c.started_at.desc())
                                .limit(limit)).mappings().all()
        return [aware_row(r) for r in rows]

    def answers(self, request_ids: Collection[str]) -> builtins.list[tuple[str, str, str | None]]:
        """(request_id, type, item_id) of every event that names one of these requests."""
        ids = sorted(set(request_ids))
        out: builtins.list[tuple[str, str, str | None]] = []
        with self.db.connect() as conn:
            for chunk in chunks(ids):
                rows = conn.execute(sa.select(events.c.request_id, events.c.type, events.c.item_id)
                                    .where(events.c.request_id.in_(chunk))).all()
                out.extend((r[0], r[1], r[2]) for r in rows)
        return out
