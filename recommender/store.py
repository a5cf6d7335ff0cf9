"""Persistence: items and their versions, editor tags, users, events, campaigns, exposures,
model versions. SQLAlchemy 2 Core; SQLite by default (WAL, foreign keys on), PostgreSQL by URL.

The schema is created and upgraded by Alembic (``recommender/migrations``); :func:`open_store`
runs the migrations, so a fresh database is ready on first use. Items are stored as their
full JSON plus indexed columns for the queries the engine and the API make. Every change to
an item appends to ``item_changes`` so that several server processes can follow the catalogue
by polling a sequence number.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from corpus.loaders import resolve_versions
from corpus.schema import Item

_T = TypeVar("_T")

__all__ = ["ImportStats", "Store", "metadata", "open_store", "unavailable", "utcnow"]

metadata = sa.MetaData()

items = sa.Table(
    "items", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("type", sa.String(32), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("retired", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("law_title", sa.String(200), index=True),
    sa.Column("article_no", sa.Integer),
    sa.Column("version_group", sa.String(300), index=True),
    sa.Column("parent_id", sa.String(128), index=True),
    sa.Column("region", sa.String(64)),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("content_hash", sa.String(40), nullable=False),
    sa.Column("predicted", sa.JSON),
    sa.Column("predicted_model", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

item_versions = sa.Table(
    "item_versions", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.String(128), nullable=False, index=True),
    sa.Column("content_hash", sa.String(40), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("changed_by", sa.String(128)),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

item_changes = sa.Table(
    "item_changes", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("item_id", sa.String(128), nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

editor_tags = sa.Table(
    "editor_tags", metadata,
    sa.Column("item_id", sa.String(128), sa.ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("topics", sa.JSON, nullable=False),
    sa.Column("editor", sa.String(128), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

users = sa.Table(
    "users", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("region", sa.String(64)),
    sa.Column("language", sa.String(16)),
    sa.Column("personalized", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("minor", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

removed_tags = sa.Table(
    "removed_tags", metadata,
    sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("topic", sa.String(64), primary_key=True),
    sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
)

events = sa.Table(
    "events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), unique=True),
    sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("item_id", sa.String(128)),
    sa.Column("text", sa.Text),
    sa.Column("topics", sa.JSON),  # classifier output for search/question text
    sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dwell_ms", sa.Integer),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_events_user_ts", "user_id", "ts"),
    sa.Index("ix_events_item", "item_id"),
)

campaigns = sa.Table(
    "campaigns", metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

exposures = sa.Table(
    "exposures", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False, index=True),
    sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id", ondelete="CASCADE"), index=True),
    sa.Column("groups", sa.JSON),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("model_version", sa.String(64)),
    sa.Column("personalized", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

model_versions = sa.Table(
    "model_versions", metadata,
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("metrics", sa.JSON),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("activated_at", sa.DateTime(timezone=True)),
)

build_jobs = sa.Table(
    "build_jobs", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # queued, running, done, failed
    sa.Column("progress", sa.Float, nullable=False, server_default="0"),
    sa.Column("message", sa.Text),
    sa.Column("version", sa.String(64)),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)


# One row, rewritten by ``Store.check_writable`` (``GET /ready``): a read-only file, a full
# disk or a standby server shows only when something is written.
heartbeat = sa.Table(
    "heartbeat", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

# SQLite result codes (``sqlite_errorname``) that say the file cannot be used now, not that the
# statement is wrong; PostgreSQL SQLSTATE classes 08 (connection), 53 (resources), 57 (operator
# intervention: shutdown, restart) and the read-only / serialization codes.
_SQLITE_UNAVAILABLE = {
    "SQLITE_READONLY": "the database file is read-only", "SQLITE_IOERR": "disk I/O error",
    "SQLITE_FULL": "the disk is full", "SQLITE_CANTOPEN": "the database file cannot be opened",
    "SQLITE_BUSY": "the database is busy", "SQLITE_LOCKED": "the database is locked",
    "SQLITE_PROTOCOL": "the database is locked",
}
_PG_UNAVAILABLE = {"08": "the connection failed", "53": "the server is out of resources",
                   "57": "the server is shutting down or starting", "25006": "the server is read-only",
                   "40P01": "a deadlock persisted", "40001": "a serialization conflict persisted"}


def unavailable(exc: BaseException) -> str | None:
    """Why the database cannot serve now (a reason a caller can read), or None when ``exc`` is
    not an outage (a bug, a constraint): outages are answered 503 and retried by clients."""
    if isinstance(exc, sa.exc.TimeoutError):
        return "no free database connection"
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    if exc.connection_invalidated:
        return "the connection was lost"
    orig = exc.orig
    name = getattr(orig, "sqlite_errorname", None)
    if name is not None:
        return next((why for key, why in _SQLITE_UNAVAILABLE.items() if name.startswith(key)), None)
    code = getattr(orig, "sqlstate", None)
    if code is None:
        # psycopg raises OperationalError without a SQLSTATE when it cannot connect at all.
        return "cannot connect to the database" if isinstance(exc, sa.exc.OperationalError) else None
    return _PG_UNAVAILABLE.get(code) or _PG_UNAVAILABLE.get(code[:2])


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite returns naive datetimes; every time we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _aware_row(row: Any) -> dict[str, Any]:
    """A result row as a dict, its datetimes made UTC-aware (SQLite drops the zone)."""
    return {k: _aware(v) if isinstance(v, dt.datetime) else v for k, v in dict(row).items()}


@dataclass
class ImportStats:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    status_changed: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "skipped": self.skipped,
                "status_changed": self.status_changed, "by_type": self.by_type,
                "by_status": self.by_status}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    # Deleted rows are overwritten with zeros, not left in free pages (erasure, PIPL art. 47).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def migrate(engine: Engine) -> None:
    """Create or upgrade the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection_engine"] = engine
    command.upgrade(cfg, "head")


def open_store(url: str, *, migrate_schema: bool = True) -> Store:
    engine = make_engine(url)
    if migrate_schema:
        migrate(engine)
    return Store(engine)


_BATCH = 500


def _chunks(seq: Sequence[Any], n: int = _BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class Store:
    """Every read and write the engine, the CLI and the API make."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time and makes the others wait in a sleeping busy loop
        # (up to 100 ms a nap); queueing this process's writers on a lock is far faster.
        self._write_lock = threading.Lock() if engine.dialect.name == "sqlite" else None

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (committed on leaving, rolled back on error)."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which knows ``ON CONFLICT`` (SQLite and PostgreSQL)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def _retrying(self, work: Callable[[Connection], _T], attempts: int = 5) -> _T:
        """Run ``work`` in a write transaction, again if the database chose it as the victim of
        a deadlock or a serialization failure (PostgreSQL, two writers over overlapping new
        rows in different orders). Every write inside is idempotent, so a retry is safe."""
        for attempt in range(attempts):
            try:
                with self.begin() as conn:
                    return work(conn)
            except sa.exc.OperationalError as exc:
                code = getattr(getattr(exc, "orig", None), "sqlstate", None)
                if code not in ("40P01", "40001") or attempt == attempts - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def check_writable(self) -> None:
        """Raise unless the database takes a write now: one row rewritten and committed."""
        now = utcnow()
        stmt = self._insert(heartbeat).values(id=1, at=now)
        stmt = stmt.on_conflict_do_update(index_elements=[heartbeat.c.id], set_={"at": now})
        with self.begin() as conn:
            conn.execute(stmt)

    # ------------------------------------------------------------------ items
    @staticmethod
    def _item_row(item: Item, now: dt.datetime) -> dict[str, Any]:
        return {
            "id": item.id, "type": item.type, "status": item.status, "retired": item.retired,
            "title": item.title, "law_title": item.law_title, "article_no": item.article_no,
            "version_group": item.version_group, "parent_id": item.parent_id, "region": item.region,
            "data": item.model_dump(mode="json"), "content_hash": item.content_hash(),
            "updated_at": now,
        }

    def upsert_items(
        self, new_items: Sequence[Item], *, changed_by: str | None = None, resolve: bool = True
    ) -> ImportStats:
        """Insert or update items; unchanged ones are skipped (re-import is a no-op).

        Law versions are resolved afterwards for every version group touched, and a new
        item's ``supersedes`` link marks the older item superseded.
        """
        stats = ImportStats()
        now = utcnow()
        # The last occurrence of an id in one call wins (deterministic).
        unique: dict[str, Item] = {}
        for it in new_items:
            unique[it.id] = it
        batch, resolved = self._resolved_in_advance(list(unique.values())) if resolve else (list(unique.values()), set())
        groups: set[str] = set()
        superseding: list[Item] = []
        with self.begin() as conn:
            for chunk in _chunks(batch):
                ids = [it.id for it in chunk]
                existing = dict(conn.execute(
                    sa.select(items.c.id, items.c.content_hash).where(items.c.id.in_(ids))
                ).all())
                inserts, updates, versions, changes = [], [], [], []
                for it in chunk:
                    row = self._item_row(it, now)
                    if it.id not in existing:
                        row["created_at"] = now
                        inserts.append(row)
                        stats.added += 1
                    elif existing[it.id] != row["content_hash"]:
                        updates.append(row)
                        stats.updated += 1
                    else:
                        stats.skipped += 1
                        continue
                    stats.status_changed += it.id in resolved
                    versions.append({"item_id": it.id, "content_hash": row["content_hash"],
                                     "data": row["data"], "changed_by": changed_by, "changed_at": now})
                    changes.append({"item_id": it.id, "changed_at": now})
                    if it.version_group and it.type == "law":
                        groups.add(it.version_group)
                    if it.supersedes:
                        superseding.append(it)
                if inserts:
                    conn.execute(items.insert(), inserts)
                for row in updates:
                    conn.execute(items.update().where(items.c.id == row["id"]).values(
                        **{k: v for k, v in row.items() if k != "id"}))
                if versions:
                    conn.execute(item_versions.insert(), versions)
                    conn.execute(item_changes.insert(), changes)
            if resolve and groups:
                stats.status_changed += self._resolve_groups(conn, sorted(groups), now)
            for it in superseding:
                stats.status_changed += self._apply_supersedes(conn, it, now)
        for it in batch:
            stats.by_type[it.type] = stats.by_type.get(it.type, 0) + 1
        stats.by_status = self.count_by(("status",), ids=[it.id for it in batch])
        return stats

    def _resolved_in_advance(self, batch: list[Item]) -> tuple[list[Item], set[str]]:
        """The batch with the statuses version resolution will give it (against the stored
        versions of its laws), so that a re-import of unchanged files compares equal to what
        is stored and writes nothing (a loaded file says "current" until resolved)."""
        groups = sorted({it.version_group for it in batch if it.type == "law" and it.version_group})
        if not groups:
            return batch, set()
        laws: dict[str, Item] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(groups, 200):
                for row in conn.execute(sa.select(items.c.data).where(
                        items.c.version_group.in_(chunk), items.c.type == "law")).scalars():
                    stored = Item.model_validate(row)
                    laws[stored.id] = stored
        by_id = {it.id: it for it in batch}
        laws.update({i: it for i, it in by_id.items() if it.type == "law"})
        articles = [it for it in batch if it.type == "law_article"]
        changed = set()
        for upd in resolve_versions([*laws.values(), *articles]):
            if upd.id in by_id:
                by_id[upd.id] = upd
                changed.add(upd.id)
        return list(by_id.values()), changed

    def _resolve_groups(self, conn: Connection, groups: list[str], now: dt.datetime) -> int:
        changed = 0
        for chunk in _chunks(groups, 200):
            rows = conn.execute(
                sa.select(items.c.data).where(items.c.version_group.in_(chunk), items.c.type == "law")
            ).scalars().all()
            laws = [Item.model_validate(r) for r in rows]
            for upd in resolve_versions(laws):
                self._write_status(conn, upd, now)
                changed += 1
                # Articles follow their law.
                art_rows = conn.execute(
                    sa.select(items.c.data).where(items.c.parent_id == upd.id, items.c.status != upd.status)
                ).scalars().all()
                for r in art_rows:
                    art = Item.model_validate(r).model_copy(update={"status": upd.status})
                    self._write_status(conn, art, now)
                    changed += 1
        return changed

    def _apply_supersedes(self, conn: Connection, newer: Item, now: dt.datetime) -> int:
        row = conn.execute(sa.select(items.c.data).where(items.c.id == newer.supersedes)).scalar()
        if row is None:
            return 0
        old = Item.model_validate(row)
        if old.status == "superseded" and old.superseded_by == newer.id:
            return 0
        self._write_status(conn, old.model_copy(update={"status": "superseded", "superseded_by": newer.id}), now)
        return 1

    def _write_status(self, conn: Connection, item: Item, now: dt.datetime) -> None:
        row = self._item_row(item, now)
        conn.execute(items.update().where(items.c.id == item.id).values(
            status=row["status"], data=row["data"], content_hash=row["content_hash"], updated_at=now))
        conn.execute(item_changes.insert(), [{"item_id": item.id, "changed_at": now}])

    def get_item(self, item_id: str) -> Item | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(items.c.data).where(items.c.id == item_id)).scalar()
        return Item.model_validate(row) if row is not None else None

    def get_items(self, item_ids: Sequence[str]) -> dict[str, Item]:
        out: dict[str, Item] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(item_ids)):
                for row in conn.execute(sa.select(items.c.data).where(items.c.id.in_(chunk))).scalars():
                    it = Item.model_validate(row)
                    out[it.id] = it
        return out

    def existing_ids(self, item_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(item_ids))):
                found.update(conn.execute(sa.select(items.c.id).where(items.c.id.in_(chunk))).scalars())
        return found

    def iter_items(
        self, *, types: Sequence[str] | None = None, statuses: Sequence[str] | None = None,
        law_title: str | None = None, ids: Sequence[str] | None = None, include_retired: bool = True,
        limit: int | None = None, batch: int = 2000,
    ) -> Iterator[Item]:
        q = sa.select(items.c.data).order_by(items.c.id)
        if types:
            q = q.where(items.c.type.in_(list(types)))
        if statuses:
            q = q.where(items.c.status.in_(list(statuses)))
        if law_title:
            q = q.where(items.c.law_title == law_title)
        if ids:
            q = q.where(items.c.id.in_(list(ids)))
        if not include_retired:
            q = q.where(items.c.retired == sa.false())
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(q)
            for row in result.scalars():
                yield Item.model_validate(row)

    def count_items(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(items)).scalar() or 0)

    def count_by(self, columns: Sequence[str], ids: Sequence[str] | None = None) -> dict[str, int]:
        cols = [items.c[c] for c in columns]
        out: dict[str, int] = {}
        with self.engine.connect() as conn:
            if ids is None:
                rows = conn.execute(sa.select(*cols, sa.func.count()).group_by(*cols)).all()
            else:
                rows = []
                for chunk in _chunks(list(ids)):
                    rows += conn.execute(
                        sa.select(*cols, sa.func.count()).where(items.c.id.in_(chunk)).group_by(*cols)).all()
        for row in rows:
            key = "/".join(str(v) for v in row[:-1])
            out[key] = out.get(key, 0) + int(row[-1])
        return out

    def set_predictions(self, predictions: dict[str, list[dict[str, Any]]], model_version: str) -> None:
        stmt = items.update().where(items.c.id == sa.bindparam("_id")).values(
            predicted=sa.bindparam("_predicted"), predicted_model=sa.bindparam("_model"))
        rows = [{"_id": k, "_predicted": v, "_model": model_version} for k, v in predictions.items()]
        with self.begin() as conn:
            for chunk in _chunks(rows, 5000):
                conn.execute(stmt, list(chunk))

    def get_predictions(self, item_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(item_ids)):
                for item_id, pred in conn.execute(
                    sa.select(items.c.id, items.c.predicted).where(items.c.id.in_(chunk))
                ).all():
                    if pred:
                        out[item_id] = pred
        return out

    def patch_item(self, item_id: str, changes: dict[str, Any], *, changed_by: str | None = None) -> Item | None:
        current = self.get_item(item_id)
        if current is None:
            return None
        data = current.model_dump()
        data.update(changes)
        updated = Item.model_validate(data)
        self.upsert_items([updated], changed_by=changed_by)
        return self.get_item(item_id)

    def item_history(self, item_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(item_versions.c.changed_at, item_versions.c.changed_by, item_versions.c.data)
                .where(item_versions.c.item_id == item_id).order_by(item_versions.c.id)
            ).all()
        return [{"changed_at": _aware(r[0]), "changed_by": r[1], "data": r[2]} for r in rows]

    def changes_since(self, seq: int, limit: int = 10_000) -> tuple[int, list[str]]:
        """Item ids changed after sequence number ``seq``, and the newest sequence number."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(item_changes.c.seq, item_changes.c.item_id)
                .where(item_changes.c.seq > seq).order_by(item_changes.c.seq).limit(limit)
            ).all()
        if not rows:
            return seq, []
        return int(rows[-1][0]), list(dict.fromkeys(r[1] for r in rows))

    def state(self) -> tuple[str | None, int]:
        """(active model version, newest item change) in one round trip."""
        active = sa.select(model_versions.c.version).where(model_versions.c.active == sa.true()).limit(1)
        newest = sa.select(sa.func.max(item_changes.c.seq))
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(active.scalar_subquery(), newest.scalar_subquery())).one()
        return row[0], int(row[1] or 0)

    def last_change_seq(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(item_changes.c.seq))).scalar() or 0)

    # ------------------------------------------------------------------ editor tags
    def set_editor_tags(self, item_id: str, topics: Sequence[str], editor: str) -> None:
        now = utcnow()
        with self.begin() as conn:
            conn.execute(editor_tags.delete().where(editor_tags.c.item_id == item_id))
            conn.execute(editor_tags.insert(), [{"item_id": item_id, "topics": list(topics),
                                                  "editor": editor, "updated_at": now}])
            conn.execute(item_changes.insert(), [{"item_id": item_id, "changed_at": now}])

    def editor_tags(self, item_ids: Sequence[str] | None = None) -> dict[str, list[str]]:
        q = sa.select(editor_tags.c.item_id, editor_tags.c.topics)
        with self.engine.connect() as conn:
            if item_ids is None:
                return {r[0]: list(r[1]) for r in conn.execute(q).all()}
            out: dict[str, list[str]] = {}
            for chunk in _chunks(list(item_ids)):
                out.update({r[0]: list(r[1]) for r in conn.execute(q.where(editor_tags.c.item_id.in_(chunk))).all()})
            return out

    def editor_tag_info(self, item_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(editor_tags).where(editor_tags.c.item_id == item_id)).mappings().first()
        if row is None:
            return None
        return {"topics": list(row["topics"]), "editor": row["editor"], "updated_at": _aware(row["updated_at"])}

    # ------------------------------------------------------------------ users
    def get_user(self, user_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(users).where(users.c.id == user_id)).mappings().first()
            if row is None:
                return None
            removed = conn.execute(
                sa.select(removed_tags.c.topic).where(removed_tags.c.user_id == user_id)).scalars().all()
        user = dict(row)
        user["created_at"], user["updated_at"] = _aware(user["created_at"]), _aware(user["updated_at"])
        user["removed_tags"] = sorted(removed)
        return user

    def put_user(self, user_id: str, **fields: Any) -> dict[str, Any]:
        """Create or update a user with the given fields (others keep their value)."""
        now = utcnow()
        allowed = {"groups", "region", "language", "personalized", "minor"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown user field(s): {sorted(unknown)}")
        row = {"id": user_id, "groups": [], "region": None, "language": None,
               "personalized": True, "minor": False, "created_at": now, "updated_at": now}
        row.update({k: v for k, v in fields.items() if v is not None})
        stmt = self._insert(users).values(**row)
        # One statement, race-free: two first PUTs for one new person both succeed.
        stmt = stmt.on_conflict_do_update(index_elements=[users.c.id], set_={**fields, "updated_at": now}) \
            if fields else stmt.on_conflict_do_nothing(index_elements=[users.c.id])
        self._retrying(lambda conn: conn.execute(stmt))
        user = self.get_user(user_id)
        assert user is not None
        return user

    def ensure_users(self, conn: Connection, user_ids: Iterable[str]) -> None:
        """Create the people not stored yet. Race-free: ``INSERT ... ON CONFLICT DO NOTHING``
        in sorted order, so that two writers creating the same new people take their row
        locks in one order (no deadlock) and neither fails on the other's row."""
        ids = sorted(set(user_ids))
        now = utcnow()
        stmt = self._insert(users).on_conflict_do_nothing(index_elements=[users.c.id])
        for chunk in _chunks(ids):
            conn.execute(stmt, [{"id": u, "groups": [], "personalized": True, "minor": False,
                                 "created_at": now, "updated_at": now} for u in chunk])

    def delete_user(self, user_id: str) -> bool:
        """Erase a person: the user row, every event, exposure and removed-tag record.

        On SQLite nothing of them stays readable on disk: ``secure_delete`` zeroes the freed
        rows in the database file, and the write-ahead log, which still holds the pages as
        they were written, is checkpointed and truncated. On PostgreSQL deleted rows are
        invisible at once; their bytes stay in table pages until VACUUM (autovacuum, or the
        ``VACUUM`` run here) reclaims them and new rows overwrite them, and in WAL segments
        until the server recycles them (see the README)."""
        with self.begin() as conn:
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
        dialect = self.engine.dialect.name
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            elif dialect == "postgresql":
                conn.exec_driver_sql("VACUUM events, exposures, removed_tags, users")

    def remove_tag(self, user_id: str, topic: str) -> None:
        def work(conn: Connection) -> None:
            self.ensure_users(conn, [user_id])
            conn.execute(self._insert(removed_tags).on_conflict_do_nothing(
                index_elements=[removed_tags.c.user_id, removed_tags.c.topic]),
                [{"user_id": user_id, "topic": topic, "removed_at": utcnow()}])

        self._retrying(work)

    # ------------------------------------------------------------------ events
    def add_events(self, rows: Sequence[dict[str, Any]]) -> tuple[int, int]:
        """Store events durably (committed before returning). Returns (stored, duplicates).

        An event whose ``event_id`` was stored before is a retry and is skipped.
        """
        if not rows:
            return 0, 0
        now = utcnow()

        def work(conn: Connection) -> tuple[int, int]:
            self.ensure_users(conn, [r["user_id"] for r in rows])
            seen: set[str] = set()  # ids repeated within this request
            dup = 0
            batch = []
            for r in rows:
                eid = r.get("event_id")
                if eid and eid in seen:
                    dup += 1
                    continue
                if eid:
                    seen.add(eid)
                batch.append({"event_id": eid, "user_id": r["user_id"], "type": r["type"],
                              "item_id": r.get("item_id"), "text": r.get("text"), "topics": r.get("topics"),
                              "ts": r.get("ts") or now, "dwell_ms": r.get("dwell_ms"), "received_at": now})
            stored = 0
            if batch:
                # An event_id stored before (a retry, also one racing the first request) is
                # skipped by the database; RETURNING counts what was stored.
                stmt = self._insert(events).on_conflict_do_nothing(index_elements=[events.c.event_id]) \
                    .returning(events.c.seq)
                stored = len(conn.execute(stmt, batch).all())
                dup += len(batch) - stored
            return stored, dup

        return self._retrying(work)

    def user_events(self, user_id: str, limit: int = 500) -> list[dict[str, Any]]:
        """The user's most recent events, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.type, events.c.item_id, events.c.text, events.c.topics, events.c.ts,
                          events.c.dwell_ms)
                .where(events.c.user_id == user_id).order_by(events.c.ts.desc(), events.c.seq.desc())
                .limit(limit)
            ).mappings().all()
        out = [dict(r) for r in rows]
        for r in out:
            r["ts"] = _aware(r["ts"])
        out.reverse()
        return out

    def count_events(self, user_id: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(events)
        if user_id is not None:
            q = q.where(events.c.user_id == user_id)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def co_reading(self, limit_events: int = 200_000) -> list[tuple[str, str, str]]:
        """(user_id, item_id, type) of positive interactions, newest first, for co-reading."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.user_id, events.c.item_id, events.c.type)
                .where(events.c.item_id.is_not(None),
                       events.c.type.in_(["view", "click", "like", "share", "complete"]))
                .order_by(events.c.seq.desc()).limit(limit_events)
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def user_groups(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(user_ids)):
                for uid, groups in conn.execute(sa.select(users.c.id, users.c.groups).where(users.c.id.in_(chunk))):
                    out[uid] = list(groups or [])
        return out

    # ------------------------------------------------------------------ campaigns
    def list_campaigns(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(campaigns.c.data).order_by(campaigns.c.id)).scalars()]

    def put_campaign(self, data: dict[str, Any]) -> dict[str, Any]:
        with self.begin() as conn:
            conn.execute(campaigns.delete().where(campaigns.c.id == data["id"]))
            conn.execute(campaigns.insert(), [{"id": data["id"], "data": data, "created_at": utcnow()}])
        return data

    # ------------------------------------------------------------------ exposures
    def log_exposure(self, *, request_id: str, user_id: str | None, groups: Sequence[str],
                     items_shown: Sequence[dict[str, Any]], model_version: str | None, personalized: bool,
                     user_exists: bool = False) -> None:
        row = {"request_id": request_id, "user_id": user_id, "groups": list(groups), "items": list(items_shown),
               "model_version": model_version, "personalized": personalized, "created_at": utcnow()}
        def work(conn: Connection) -> None:
            if user_id and not user_exists:
                self.ensure_users(conn, [user_id])
            conn.execute(exposures.insert(), [row])

        try:
            self._retrying(work)
        except sa.exc.IntegrityError:
            # The person was erased while the request ran: keep the record, without them.
            with self.begin() as conn:
                conn.execute(exposures.insert(), [{**row, "user_id": None}])

    def list_exposures(self, *, user_id: str | None = None, since: dt.datetime | None = None,
                       limit: int = 100) -> list[dict[str, Any]]:
        q = sa.select(exposures).order_by(exposures.c.seq.desc()).limit(limit)
        if user_id:
            q = q.where(exposures.c.user_id == user_id)
        if since:
            q = q.where(exposures.c.created_at >= since)
        with self.engine.connect() as conn:
            return [_aware_row(r) for r in conn.execute(q).mappings().all()]

    def purge_exposures(self, older_than: dt.datetime) -> int:
        with self.begin() as conn:
            return int(conn.execute(exposures.delete().where(exposures.c.created_at < older_than)).rowcount or 0)

    def count_exposures(self, user_id: str | None = None) -> int:
        q = sa.select(sa.func.count()).select_from(exposures)
        if user_id is not None:
            q = q.where(exposures.c.user_id == user_id)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def shown_today(self, user_id: str, day_start: dt.datetime) -> int:
        """How many items were pushed to this person since ``day_start`` (minors' daily cap)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(exposures.c["items"]).where(
                exposures.c.user_id == user_id, exposures.c.created_at >= day_start)).scalars().all()
        return sum(len(r) for r in rows)

    def coverage_rows(self, limit: int = 200_000) -> dict[str, Any]:
        """Users' groups, recent exposures and completions, for the coverage report."""
        with self.engine.connect() as conn:
            users_rows = conn.execute(sa.select(users.c.id, users.c.groups)).all()
            exp_rows = conn.execute(sa.select(exposures.c.user_id, exposures.c["items"])
                                    .where(exposures.c.user_id.is_not(None))
                                    .order_by(exposures.c.seq.desc()).limit(limit)).all()
            done_rows = conn.execute(sa.select(events.c.user_id, events.c.item_id)
                                     .where(events.c.type == "complete").limit(limit)).all()
        return {
            "users": {u: list(g or []) for u, g in users_rows},
            "exposures": [(u, [i["item_id"] for i in (items_ or [])]) for u, items_ in exp_rows],
            "completed": [(u, i) for u, i in done_rows],
        }

    # ------------------------------------------------------------------ model versions
    def register_model(self, version: str, path: str, metrics: dict[str, Any] | None) -> None:
        with self.begin() as conn:
            conn.execute(model_versions.delete().where(model_versions.c.version == version))
            conn.execute(model_versions.insert(), [{"version": version, "path": path, "created_at": utcnow(),
                                                    "metrics": json.loads(json.dumps(metrics or {}, default=str)),
                                                    "active": False}])

    def activate_model(self, version: str) -> None:
        with self.begin() as conn:
            found = conn.execute(sa.select(model_versions.c.version).where(model_versions.c.version == version)).scalar()
            if found is None:
                raise KeyError(version)
            conn.execute(model_versions.update().values(active=False))
            conn.execute(model_versions.update().where(model_versions.c.version == version)
                         .values(active=True, activated_at=utcnow()))

    def active_model(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(model_versions).where(model_versions.c.active == sa.true())).mappings().first()
        return _aware_row(row) if row else None

    def list_models(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(model_versions).order_by(model_versions.c.created_at.desc())).mappings().all()
        return [_aware_row(r) for r in rows]

    # ------------------------------------------------------------------ build jobs
    def create_job(self, job_id: str) -> None:
        with self.begin() as conn:
            conn.execute(build_jobs.insert(), [{"id": job_id, "status": "queued", "progress": 0.0,
                                                "started_at": utcnow()}])

    def update_job(self, job_id: str, **fields: Any) -> None:
        if fields.get("status") in ("done", "failed"):
            fields.setdefault("finished_at", utcnow())
        with self.begin() as conn:
            conn.execute(build_jobs.update().where(build_jobs.c.id == job_id).values(**fields))

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(build_jobs).where(build_jobs.c.id == job_id)).mappings().first()
        return _aware_row(row) if row else None
