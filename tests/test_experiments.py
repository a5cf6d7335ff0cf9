"""Issue 12 items 2 and 3: attribution (events carry a recommendation's request_id back and
join its exposure row) and variants (a config-only version served to a stable share)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from recommender.service.experiments import in_variant, variant_bucket
from tests.api_keys import H, keyed_client


def uid(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def client(backend_env):
    with keyed_client(backend_env["url"], backend_env["models"]) as c:
        yield c


def rec(client, **body):
    r = client.post("/v1/recommendations", json=body, headers=H("platform"))
    assert r.status_code == 200, r.text
    return r.json()


def _stop_all(client):
    for e in client.get("/v1/admin/experiments", headers=H("admin")).json():
        if e["running"]:
            assert client.post(f"/v1/admin/experiments/{e['id']}:stop", headers=H("admin")).status_code == 200


@pytest.fixture(scope="module")
def variant(client, backend_env):
    """A config-only version of the active one whose lists differ (no Q&A items)."""
    r = client.post(f"/v1/admin/models/{backend_env['version']}/config", headers=H("admin"),
                    json={"filters": {"exclude_types": ["qa"]}})
    assert r.status_code == 201, r.text
    return r.json()["version"]


# ------------------------------------------------------------------------ pure assignment


@pytest.mark.parametrize("share", [0.05, 0.1, 0.3, 0.5])
def test_split_is_within_two_percent_of_the_share_over_10000_people(share):
    exp = uuid.uuid4().hex[:12]
    people = [f"person-{n}" for n in range(10_000)]
    got = sum(in_variant(exp, p, share) for p in people) / len(people)
    assert abs(got - share) <= 0.02, (share, got)


def test_assignment_is_stable_and_depends_on_the_experiment():
    assert variant_bucket("e1", "alice") == variant_bucket("e1", "alice")  # blake2b: no per-process salt
    assert 0 <= variant_bucket("e1", "alice") < 10_000
    people = [f"p{n}" for n in range(2000)]
    a = [in_variant("e1", p, 0.3) for p in people]
    b = [in_variant("e2", p, 0.3) for p in people]
    assert a != b  # a new experiment reshuffles people
    # a person in at a share stays in at a larger one (buckets below a threshold)
    assert all(in_variant("e1", p, 0.5) for p, x in zip(people, a, strict=True) if x)


# ------------------------------------------------------------------------ attribution


def test_events_with_request_id_join_their_exposure(client, backend_env):
    from recommender.service.experiments import attribution
    from recommender.store import open_store

    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    person = uid("attr")
    client.put(f"/v1/users/{person}", json={"groups": ["public"]}, headers=H("platform"))
    out = rec(client, user_id=person, k=5)
    shown = [i["item_id"] for i in out["items"]]
    rid = out["request_id"]
    other = rec(client, user_id=person, k=5)  # a second list: nothing acted on
    in_lists = set(shown) | {i["item_id"] for i in other["items"]}
    not_shown = next(i["item_id"] for i in rec(client, groups=["public"], k=40)["items"] if i["item_id"] not in in_lists)
    events = [
        {"user_id": person, "type": "view", "item_id": shown[0], "request_id": rid},
        {"user_id": person, "type": "complete", "item_id": shown[0], "request_id": rid},
        {"user_id": person, "type": "view", "item_id": shown[1], "request_id": rid},
        {"user_id": person, "type": "view", "item_id": shown[1], "request_id": rid},  # one click, twice viewed
        {"user_id": person, "type": "view", "item_id": not_shown, "request_id": other["request_id"]},
    ]
    r = client.post("/v1/events", json={"events": events}, headers=H("platform"))
    assert r.status_code == 202 and r.json()["accepted"] == 5, r.text
    store = open_store(backend_env["url"], migrate_schema=False)
    try:
        from recommender.store.tables import events as ev_table

        with store.db.connect() as conn:
            stored = conn.execute(sa.select(ev_table.c.request_id).where(ev_table.c.user_id == person)).scalars().all()
        assert sorted(stored) == sorted([rid] * 4 + [other["request_id"]])
        report = attribution(store, since, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    finally:
        store.close()
    # the person's own two lists: find them through the log's request ids
    log = client.get("/v1/exposures", params={"user_id": person}, headers=H("analyst")).json()
    assert {e["request_id"] for e in log} == {rid, other["request_id"]}
    assert all(e["variant"] == "control" for e in log)
    overall = report["overall"]
    assert overall["clicked_lists"] >= 1 and overall["clicked"] >= 2 and overall["completed"] >= 1
    # exactly this person's contribution: 2 clicked items of list 1, none of list 2 (the view
    # of an item not in that list counts nowhere)
    mine = _attribution_of(backend_env, since, person)
    assert (mine["lists"], mine["clicked_lists"], mine["shown"], mine["clicked"], mine["completed"]) == \
        (2, 1, len(shown) + len(other["items"]), 2, 1)
    assert mine["list_ctr"]["mean"] == 0.5 and mine["list_ctr"]["low"] < 0.5 < mine["list_ctr"]["high"]
    r = client.get("/v1/stats/attribution", headers=H("analyst"))
    assert r.status_code == 200 and {"overall", "model_version", "variant", "group", "reason"} <= set(r.json())
    assert r.json()["reason"] and all("item_ctr" in v for v in r.json()["reason"].values())
    assert client.get("/v1/stats/attribution", headers=H("platform")).status_code == 403


def _attribution_of(backend_env, since, person):
    """The attribution of one person's lists only (a database holding nothing else of theirs)."""
    from recommender.service.experiments import attribution
    from recommender.store import open_store

    store = open_store(backend_env["url"], migrate_schema=False)
    try:
        class OnePerson:
            def __init__(self, inner):
                self.inner = inner

            def in_period(self, start, end):
                return (e for e in self.inner.in_period(start, end, user_id=person))

        class View:
            exposures = OnePerson(store.exposures)
            experiments = store.experiments

        return attribution(View(), since, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))["overall"]  # type: ignore[arg-type]
    finally:
        store.close()


def test_request_id_on_an_event_is_validated(client):
    person = uid()
    bad = client.post("/v1/events", headers=H("platform"),
                      json={"user_id": person, "type": "search", "text": "劳动合同", "request_id": "x" * 65})
    assert bad.status_code == 422 and bad.json()["field"] == "request_id"
    bad = client.post("/v1/events", headers=H("platform"),
                      json={"user_id": person, "type": "search", "text": "劳动合同", "request_id": "a b"})
    assert bad.status_code == 422 and bad.json()["field"] == "request_id"


# ------------------------------------------------------------------------ variants


def test_a_variant_serves_its_share_and_people_stay_in_it(client, backend_env, variant):
    from recommender.service import PufaService
    from recommender.store import open_store

    _stop_all(client)
    r = client.post("/v1/admin/experiments", json={"variant": variant, "share": 0.5}, headers=H("admin"))
    assert r.status_code == 201, r.text
    exp = r.json()
    try:
        assert exp["running"] and exp["variant"] == variant and exp["control"] == backend_env["version"]
        again = client.post("/v1/admin/experiments", json={"variant": variant, "share": 0.1}, headers=H("admin"))
        assert again.status_code == 409
        assert client.post("/v1/admin/experiments", json={"variant": variant, "share": 0.1},
                           headers=H("analyst")).status_code == 403
        assert client.get("/v1/admin/experiments", headers=H("analyst")).status_code == 200
        people = [uid("ab") for _ in range(24)]
        first = {p: rec(client, user_id=p, groups=["public"], k=20) for p in people}
        expected = {p: variant if in_variant(exp["id"], p, 0.5) else "control" for p in people}
        assert {p: o["variant"] for p, o in first.items()} == expected
        assert {"control", variant} == set(expected.values())
        for o in first.values():
            if o["variant"] == variant:
                assert o["model_version"] == variant and not any(i["type"] == "qa" for i in o["items"])
            else:
                assert o["model_version"] == backend_env["version"]
        # the same person, asked again and through a fresh service instance: never switching
        assert {p: rec(client, user_id=p, groups=["public"], k=5)["variant"] for p in people} == expected
        store = open_store(backend_env["url"], migrate_schema=False)
        try:
            from recommender.inputs import RecommendRequest

            fresh = PufaService(store, backend_env["models"])
            assert {p: fresh.recommend(RecommendRequest(user_id=p, k=5)).variant for p in people} == expected
            # the exposure log names the variant of each list
            for p in people[:6]:
                rows = store.exposures.list(user_id=p)
                assert rows and {e.variant for e in rows} == {expected[p]}
        finally:
            store.close()
        # non-personalised requests: always the control
        for p in people:
            assert rec(client, user_id=p, k=5, personalized=False)["variant"] == "control"
        # anonymous requests: split by request id
        anon = [rec(client, groups=["public"], k=5)["variant"] for _ in range(30)]
        assert set(anon) <= {"control", variant} and "control" in anon and variant in anon
        # metrics count by variant
        metrics = client.get("/metrics", headers=H("admin"))
        if metrics.status_code == 200:
            assert f'variant="{variant}"' in metrics.text
    finally:
        stopped = client.post(f"/v1/admin/experiments/{exp['id']}:stop", headers=H("admin"))
    assert stopped.status_code == 200 and not stopped.json()["running"] and stopped.json()["stopped_at"]
    assert all(rec(client, user_id=p, k=5)["variant"] == "control" for p in people[:8])
    assert client.post("/v1/admin/experiments/nope:stop", headers=H("admin")).status_code == 404


def test_a_variant_must_be_a_config_only_version_of_the_active_one(client, backend_env, variant):
    _stop_all(client)
    for body, field in (({"variant": variant, "share": 0.7}, "share"),
                        ({"variant": variant, "share": 0.0}, "share"),
                        ({"variant": backend_env["version"], "share": 0.1}, "variant")):
        r = client.post("/v1/admin/experiments", json=body, headers=H("admin"))
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert client.post("/v1/admin/experiments", json={"variant": "v-none", "share": 0.1},
                       headers=H("admin")).status_code == 404
    # a version with other trained arrays: register one pointing at a copy elsewhere
    import shutil

    from recommender.store import open_store

    store = open_store(backend_env["url"], migrate_schema=False)
    try:
        src = next(m for m in store.models.list() if m.version == backend_env["version"])
        other = backend_env["root"] / "other-arrays" / "v-other"
        if not other.exists():
            shutil.copytree(src.path, other)
            store.models.register("v-other", str(other), {"config_only": True})
    finally:
        store.close()
    r = client.post("/v1/admin/experiments", json={"variant": "v-other", "share": 0.1}, headers=H("admin"))
    assert r.status_code == 422 and r.json()["field"] == "variant" and "trained arrays" in r.json()["detail"]
    assert not any(e["running"] for e in client.get("/v1/admin/experiments", headers=H("admin")).json())


def test_migration_upgrades_a_0002_database(backend_env, tmp_path):
    """0003 on a database at 0002 with rows in it (SQLite and PostgreSQL): the new columns and
    the experiments table appear, old rows read with no request id and no variant."""
    from alembic import command
    from alembic.config import Config

    from recommender.store import open_store
    from recommender.store.db import make_engine

    if backend_env["backend"] == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        drop = None
    else:
        from tests.conftest import PG_URL, _drop_pg_database, _fresh_pg_database

        url, name = _fresh_pg_database(PG_URL)
        drop = name
    try:
        engine = make_engine(url)
        cfg = Config()
        from pathlib import Path

        import recommender

        cfg.set_main_option("script_location", str(Path(recommender.__file__).parent / "migrations"))
        cfg.attributes["connection_engine"] = engine
        command.upgrade(cfg, "0002")
        now = dt.datetime.now(dt.UTC)
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO users (id, groups, personalized, minor, created_at, updated_at) "
                                 "VALUES ('old', '[]', true, false, :t, :t)"), {"t": now})
            conn.execute(sa.text("INSERT INTO exposures (request_id, user_id, groups, items, model_version, "
                                 "personalized, created_at) VALUES ('r0', 'old', '[]', '[]', 'v0', true, :t)"),
                         {"t": now})
        engine.dispose()
        store = open_store(url)  # upgrades to head
        try:
            cols = {c["name"] for c in sa.inspect(store.db.sql).get_columns("events")}
            assert "request_id" in cols
            assert "experiments" in sa.inspect(store.db.sql).get_table_names()
            row = store.exposures.list(user_id="old")[0]
            assert row.request_id == "r0" and row.variant is None
            assert store.experiments.running() is None
        finally:
            store.close()
    finally:
        if drop:
            _drop_pg_database(PG_URL, drop)
