"""The database connection: engine creation, migrations, write transactions, retries and
what counts as an outage. SQLite by default (WAL, foreign keys on), PostgreSQL by URL.

:class:`Database` is what the other ``store`` modules write through: one write transaction
at a time per process on SQLite (``begin``), the dialect's ``INSERT ... ON CONFLICT``
(``insert``) and retry of PostgreSQL deadlock and serialization victims (``retrying``).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from recommender.store.tables import heartbeat

_T = TypeVar("_T")

__all__ = ["Database", "aware", "aware_row", "chunks", "make_engine", "migrate", "unavailable", "utcnow"]

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


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time as UTC-aware: SQLite returns naive datetimes; every time we store is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def aware_row(row: Any) -> dict[str, Any]:
    """A result row as a dict, its datetimes made UTC-aware."""
    return {k: aware(v) if isinstance(v, dt.datetime) else v for k, v in dict(row).items()}


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
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parents[1] / "migrations"))
    cfg.attributes["connection_engine"] = engine
    command.upgrade(cfg, "head")


_BATCH = 500


def chunks(seq: Sequence[Any], n: int = _BATCH) -> Iterator[Sequence[Any]]:
    """``seq`` in slices of ``n``: ``IN (...)`` lists and executemany batches stay bounded."""
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


class Database:
    """One database: its SQLAlchemy engine (``sql``) and how to write to it safely."""

    def __init__(self, sql: Engine) -> None:
        self.sql = sql
        self.dialect = sql.dialect.name
        # SQLite has one writer at a time and makes the others wait in a sleeping busy loop
        # (up to 100 ms a nap); queueing this process's writers on a lock is far faster.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def url(self) -> str:
        return self.sql.url.render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction (committed on leaving, rolled back on error)."""
        if self._write_lock is None:
            with self.sql.begin() as conn:
                yield conn
            return
        with self._write_lock, self.sql.begin() as conn:
            yield conn

    def connect(self) -> Connection:
        """A connection for reads (use as a context manager)."""
        return self.sql.connect()

    def close(self) -> None:
        self.sql.dispose()

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which knows ``ON CONFLICT`` (SQLite and PostgreSQL)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def retrying(self, work: Callable[[Connection], _T], attempts: int = 5) -> _T:
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
        stmt = self.insert(heartbeat).values(id=1, at=now)
        stmt = stmt.on_conflict_do_update(index_elements=[heartbeat.c.id], set_={"at": now})
        with self.begin() as conn:
            conn.execute(stmt)

