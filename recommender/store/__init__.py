"""Persistence: one :class:`Store` per database, a room per aggregate.

``store.items`` (items, versions, predictions, editor tags), ``store.people`` (users, removed
tags, events, erasure), ``store.campaigns``, ``store.exposures`` (the exposure log) and
``store.models`` (model versions, build jobs) and ``store.experiments`` (variants) all write through one :class:`Database`
(SQLAlchemy 2 Core; SQLite by default, PostgreSQL by URL). :func:`open_store` runs the Alembic
migrations (``recommender/migrations``), so a fresh database is ready on first use.
"""

from __future__ import annotations

import sqlalchemy as sa

from recommender.store.db import Database, make_engine, migrate, unavailable, utcnow
from recommender.store.experiments import ExperimentStore
from recommender.store.feed import CampaignStore, ExposureStore
from recommender.store.items import ImportStats, ItemStore
from recommender.store.models import ModelStore
from recommender.store.people import PeopleStore
from recommender.store.tables import item_changes, metadata, model_versions

__all__ = ["ImportStats", "Store", "metadata", "open_store", "unavailable", "utcnow"]


class Store:
    """Every read and write the engine, the CLI and the API make, by aggregate."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.items = ItemStore(db)
        self.people = PeopleStore(db)
        self.campaigns = CampaignStore(db)
        self.exposures = ExposureStore(db)
        self.models = ModelStore(db)
        self.experiments = ExperimentStore(db)

    @property
    def url(self) -> str:
        return self.db.url

    def state(self) -> tuple[str | None, int]:
        """(active model version, newest item change) in one round trip: what a server
        compares with what it serves on each request."""
        active = sa.select(model_versions.c.version).where(model_versions.c.active == sa.true()).limit(1)
        newest = sa.select(sa.func.max(item_changes.c.seq))
        with self.db.connect() as conn:
            row = conn.execute(sa.select(active.scalar_subquery(), newest.scalar_subquery())).one()
        return row[0], int(row[1] or 0)

    def check_writable(self) -> None:
        """Raise unless the database takes a write now."""
        self.db.check_writable()

    def close(self) -> None:
        self.db.close()


def open_store(url: str, *, migrate_schema: bool = True) -> Store:
    sql = make_engine(url)
    if migrate_schema:
        migrate(sql)
    return Store(Database(sql))
