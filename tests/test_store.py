"""The store on its own: what erasure leaves on disk."""

from __future__ import annotations

from pathlib import Path

from recommender.records import NewEvent
from recommender.store import open_store


def _bytes_on_disk(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.iterdir() if p.name.startswith(db.name))


def test_erasure_leaves_nothing_readable_in_the_sqlite_files(tmp_path):
    # The -wal file used to hold the person's question text and id after DELETE /v1/users/{id}.
    db = tmp_path / "p.db"
    store = open_store(f"sqlite:///{db}")
    marker, other = "tracer-7f3a9c", "keeper-51d2e0"
    store.people.add_events([NewEvent(event_id=f"e{k}", user_id=f"user-{marker}", type="question",
                                      text=f"我想问{marker}工资的事 {k}") for k in range(40)])
    store.people.add_events([NewEvent(event_id="o1", user_id=f"user-{other}", type="question", text=f"{other}的问题")])
    assert marker.encode() in _bytes_on_disk(db)
    assert store.people.erase(f"user-{marker}")
    on_disk = _bytes_on_disk(db)
    assert marker.encode() not in on_disk and "我想问".encode() not in on_disk
    assert other.encode() in on_disk  # the others' data is still there
    assert [e.text for e in store.people.events(f"user-{other}")] == [f"{other}的问题"]
    store.close()
