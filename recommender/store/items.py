"""Items, their versions and editor tags: the catalogue as stored.

Every write appends to ``item_changes`` (the sequence the servers follow), and law versions
are resolved on import: the newest version of a law is current, older ones superseded, and
articles follow their law. Every write also sets an article's ``boilerplate`` flag from the
rules of ``corpus/taxonomy/boilerplate.yaml`` unless the item's data sets it
(:func:`corpus.boilerplate.flag_boilerplate`): the loaders, ``pufa import``, the HTTP items
endpoints and status changes all pass through :meth:`ItemStore._item_row`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from corpus.boilerplate import flag_boilerplate
from corpus.loaders import resolve_versions
from corpus.schema import CONTENT_FIELDS, Item
from recommender.records import EditorTags
from recommender.store.db import Database, aware, chunks, utcnow
from recommender.store.tables import editor_tags, item_changes, item_versions, items

__all__ = ["ImportStats", "ItemStore"]


@dataclass
class ImportStats:
    added: int = 0
    updated: int = 0
    skipped: int = 0
    status_changed: int = 0
    boilerplate: int = 0  # items of the call flagged boilerplate (never pushed in feeds)
    by_type: dict[str, int] = field(default_factory=dict)
    by_status: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "skipped": self.skipped,
                "status_changed": self.status_changed, "boilerplate": self.boilerplate,
                "by_type": self.by_type, "by_status": self.by_status}


class ItemStore:
    """Reads and writes of items, versions, predicted topics and editor tags."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _item_row(item: Item, now: dt.datetime) -> dict[str, Any]:
        # The one place every stored item passes: the boilerplate flag is set here (kept
        # when the item's data sets it), and so is part of the data and the content hash.
        item = flag_boilerplate(item)
        return {
            "id": item.id, "type": item.type, "status": item.status, "retired": item.retired,
            "title": item.title, "law_title": item.law_title, "article_no": item.article_no,
            "version_group": item.version_group, "parent_id": item.parent_id, "region": item.region,
            "data": item.model_dump(mode="json"), "content_hash": item.content_hash(),
            "updated_at": now,
        }

    def upsert(
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
            unique[it.id] = flag_boilerplate(it)
        batch, resolved = self._resolved_in_advance(list(unique.values())) if resolve else (list(unique.values()), set())
        groups: set[str] = set()
        superseding: list[Item] = []
        with self.db.begin() as conn:
            for chunk in chunks(batch):
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
            stats.boilerplate += it.boilerplate
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
        with self.db.connect() as conn:
            for chunk in chunks(groups, 200):
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
        for chunk in chunks(groups, 200):
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

    def get(self, item_id: str) -> Item | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(items.c.data).where(items.c.id == item_id)).scalar()
        return Item.model_validate(row) if row is not None else None

    def get_many(self, item_ids: Sequence[str]) -> dict[str, Item]:
        out: dict[str, Item] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(item_ids)):
                for row in conn.execute(sa.select(items.c.data).where(items.c.id.in_(chunk))).scalars():
                    it = Item.model_validate(row)
                    out[it.id] = it
        return out

    def existing_ids(self, item_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(item_ids))):
                found.update(conn.execute(sa.select(items.c.id).where(items.c.id.in_(chunk))).scalars())
        return found

    def iter(
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
        with self.db.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(q)
            for row in result.scalars():
                yield Item.model_validate(row)

    def count(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(items)).scalar() or 0)

    def count_by(self, columns: Sequence[str], ids: Sequence[str] | None = None) -> dict[str, int]:
        cols = [items.c[c] for c in columns]
        out: dict[str, int] = {}
        with self.db.connect() as conn:
            if ids is None:
                rows = conn.execute(sa.select(*cols, sa.func.count()).group_by(*cols)).all()
            else:
                rows = []
                for chunk in chunks(list(ids)):
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
        with self.db.begin() as conn:
            for chunk in chunks(rows, 5000):
                conn.execute(stmt, list(chunk))

    def predictions(self, item_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(item_ids)):
                for item_id, pred in conn.execute(
                    sa.select(items.c.id, items.c.predicted).where(items.c.id.in_(chunk))
                ).all():
                    if pred:
                        out[item_id] = pred
        return out

    def changes_since(self, seq: int, limit: int = 10_000) -> tuple[int, list[str]]:
        """Item ids changed after sequence number ``seq``, and the newest sequence number."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(item_changes.c.seq, item_changes.c.item_id)
                .where(item_changes.c.seq > seq).order_by(item_changes.c.seq).limit(limit)
            ).all()
        if not rows:
            return seq, []
        return int(rows[-1][0]), list(dict.fromkeys(r[1] for r in rows))

    def last_change_seq(self) -> int:
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.max(item_changes.c.seq))).scalar() or 0)

    # ------------------------------------------------------------------ editor tags
    def set_editor_tags(self, item_id: str, topics: Sequence[str], editor: str) -> None:
        now = utcnow()
        with self.db.begin() as conn:
            conn.execute(editor_tags.delete().where(editor_tags.c.item_id == item_id))
            conn.execute(editor_tags.insert(), [{"item_id": item_id, "topics": list(topics),
                                                  "editor": editor, "updated_at": now}])
            conn.execute(item_changes.insert(), [{"item_id": item_id, "changed_at": now}])

    def editor_tags(self, item_ids: Sequence[str] | None = None) -> dict[str, list[str]]:
        q = sa.select(editor_tags.c.item_id, editor_tags.c.topics)
        with self.db.connect() as conn:
            if item_ids is None:
                return {r[0]: list(r[1]) for r in conn.execute(q).all()}
            out: dict[str, list[str]] = {}
            for chunk in chunks(list(item_ids)):
                out.update({r[0]: list(r[1]) for r in conn.execute(q.where(editor_tags.c.item_id.in_(chunk))).all()})
            return out

    def editor_tag_info(self, item_id: str) -> EditorTags | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(editor_tags).where(editor_tags.c.item_id == item_id)).mappings().first()
        if row is None:
            return None
        return EditorTags(topics=list(row["topics"]), editor=row["editor"], updated_at=aware(row["updated_at"]))

    # ------------------------------------------------------------------ the console's queries
    def search(
        self, words: Sequence[str] = (), *, law_title: str | None = None, article_no: int | None = None,
        types: Sequence[str] | None = None, statuses: Sequence[str] | None = None, retired: bool | None = None,
        limit: int = 20, offset: int = 0,
    ) -> tuple[list[Item], int]:
        """Items whose title or body holds every word, whose law title holds ``law_title``,
        with this article number, of these types and statuses (``retired``: only retired or
        only not; None: both); a page of them and how many match in all.

        Order: title matches of the first word first, then by law and article when a law is
        named, else the newest change first."""
        conds: list[Any] = []
        for word in words:
            conds.append(sa.or_(items.c.title.contains(word, autoescape=True),
                                items.c.data["body"].as_string().contains(word, autoescape=True)))
        if law_title:
            conds.append(items.c.law_title.contains(law_title, autoescape=True))
        if article_no is not None:
            conds.append(items.c.article_no == article_no)
        if types:
            conds.append(items.c.type.in_(list(types)))
        if statuses:
            conds.append(items.c.status.in_(list(statuses)))
        if retired is not None:
            conds.append(items.c.retired == (sa.true() if retired else sa.false()))
        order: list[Any] = []
        if words:
            order.append(sa.case((items.c.title.contains(words[0], autoescape=True), 0), else_=1))
        order += [items.c.law_title, items.c.article_no, items.c.id] if law_title or article_no is not None \
            else [items.c.updated_at.desc(), items.c.id]
        q = sa.select(items.c.data).where(*conds).order_by(*order).limit(max(1, limit)).offset(max(0, offset))
        with self.db.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(items).where(*conds)).scalar() or 0)
            found = [Item.model_validate(row) for row in conn.execute(q).scalars()]
        return found, total

    def versions(self, item_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """An item's stored versions, newest first: ``changed_at``, ``changed_by``, the content
        fields that changed from the version before (``changed``; empty for the first) and the
        title and status before and after when they changed (``title``, ``status``: (old, new))."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(item_versions.c.data, item_versions.c.changed_by, item_versions.c.changed_at)
                .where(item_versions.c.item_id == item_id).order_by(item_versions.c.id)).all()
        out: list[dict[str, Any]] = []
        before: dict[str, Any] | None = None
        for data, changed_by, changed_at in rows:
            changed = [] if before is None else [f for f in CONTENT_FIELDS if _field(before, f) != _field(data, f)]
            out.append({
                "changed_at": aware(changed_at), "changed_by": changed_by, "first": before is None, "changed": changed,
                "title": (before.get("title"), data.get("title")) if before and "title" in changed else None,
                "status": (before.get("status"), data.get("status")) if before and "status" in changed else None,
                "retired": (bool(before.get("retired")), bool(data.get("retired")))
                if before and "retired" in changed else None,
            })
            before = data
        return out[::-1][:limit]


def _field(data: dict[str, Any], name: str) -> Any:
    """A stored field's value; versions stored before ``boilerplate`` existed lack it (False)."""
    return bool(data.get(name)) if name == "boilerplate" else data.get(name)
