"""What is pushed and model versions side by side (issue 9, items 5-7): known answers.

People in groups are seeded through the real API (PUT users, POST recommendations, POST events
complete) and the report is checked against what the recommendations returned, exactly; the
per-person view returns that person's rows and nobody else's; roles decide who reads personal
rows; two versions built here are compared; the charts are PNG images that decode.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.api_keys import H, keyed_client

from .conftest import SAMPLE_DIR

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def client(backend_env):
    with keyed_client(backend_env["url"], backend_env["models"]) as c:
        yield c


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rec(client: TestClient, **body) -> dict:
    r = client.post("/v1/recommendations", json=body, headers=H("platform"))
    assert r.status_code == 200, r.text
    return r.json()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def must_know(group: str) -> dict[str, str]:
    """The bundled sample's must-know items of a group: id -> title."""
    out = {}
    for path in sorted(SAMPLE_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if group in (row.get("must_know_for") or []):
                out[row["id"]] = row["title"]
    return out


# ------------------------------------------------------------------------------- what is pushed


def test_push_report_counts_and_shares_exactly(client, taxonomy):
    start = now()
    h1, h2, w1, hw = uid("h1"), uid("h2"), uid("w1"), uid("hw")
    for user, groups in ((h1, ["herders"]), (h2, ["herders"]), (w1, ["migrant_workers"]),
                         (hw, ["herders", "migrant_workers"])):
        assert client.put(f"/v1/users/{user}", json={"groups": groups}, headers=H("platform")).status_code == 200
    served = [  # (person or None, the groups the recommendation was made for, its items)
        (h1, ["herders"], rec(client, user_id=h1, k=5)["items"]),
        (h2, ["herders"], rec(client, user_id=h2, k=4)["items"]),
        (h1, ["herders"], rec(client, user_id=h1, k=3)["items"]),
        (w1, ["migrant_workers"], rec(client, user_id=w1, k=6)["items"]),
        (hw, ["herders", "migrant_workers"], rec(client, user_id=hw, k=3)["items"]),
        (None, ["herders"], rec(client, groups=["herders"], k=2)["items"]),
    ]
    herders_must = must_know("herders")
    m0 = sorted(herders_must)[0]
    for user in (h1, hw, w1):  # w1 is no herder: their completion does not count for herders
        r = client.post("/v1/events", json={"user_id": user, "type": "complete", "item_id": m0}, headers=H("platform"))
        assert r.status_code == 202 and r.json()["accepted"] == 1
    completed = {(h1, m0), (hw, m0), (w1, m0)}
    end = now() + dt.timedelta(seconds=1)

    r = client.get("/v1/stats/pushes", params={"start": start.isoformat(), "end": end.isoformat(), "top": 100},
                   headers=H("editor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [g["group"] for g in body["groups"]] == list(taxonomy.groups)
    report = {g["group"]: g for g in body["groups"]}
    assert report["herders"]["name"] == "农牧民（嘎查村民）"
    for group in ("herders", "migrant_workers"):
        mine = [(u, items) for u, gs, items in served if group in gs]
        pushes = Counter(i["item_id"] for _, items in mine for i in items)
        people = defaultdict(set)
        for u, items in mine:
            for i in items:
                if u:
                    people[i["item_id"]].add(u)
        topics_of = {i["item_id"]: i["topics"] for _, items in mine for i in items}
        n = sum(pushes.values())
        plan = taxonomy.groups[group].topics
        got = report[group]
        assert (got["requests"], got["pushes"], got["people"]) == (len(mine), n, len({u for u, _ in mine if u}))
        by_topic = Counter(t for item_id, k in pushes.items() for t in topics_of[item_id] for _ in range(k))
        shares = {t["topic"]: t for t in got["topics"]}
        assert set(shares) == set(plan) | set(by_topic)
        for t, row in shares.items():
            assert (row["pushes"], row["share"], row["plan_weight"]) == (by_topic[t], by_topic[t] / n, plan.get(t, 0.0))
            assert row["name"] == taxonomy.topics[t].name
        # Plan topics first, by weight.
        assert [t["topic"] for t in got["topics"][:len(plan)]] == sorted(plan, key=lambda t: (-plan[t], t))
        on_plan = sum(k for item_id, k in pushes.items() if set(topics_of[item_id]) & set(plan))
        assert got["plan_share"] == on_plan / n
        expected_must = must_know(group)
        members = {u for u, _ in mine if u}
        assert {m["item_id"]: m["title"] for m in got["must_know"]} == expected_must
        for m in got["must_know"]:
            done = sum(1 for u, i in completed if i == m["item_id"] and u in members)
            assert (m["pushes"], m["people"], m["completed"]) == (pushes[m["item_id"]], len(people[m["item_id"]]), done)
        assert got["must_know_pushed"] == sum(1 for i in expected_must if pushes[i])
        top = sorted(pushes.items(), key=lambda kv: (-kv[1], kv[0]))
        assert [(t["item_id"], t["pushes"], t["people"]) for t in got["top_items"]] == \
               [(i, k, len(people[i])) for i, k in top]
        titles = {i["item_id"]: i["title"] for _, items in mine for i in items}
        assert all(t["title"] == titles[t["item_id"]] for t in got["top_items"])
    assert next(m for m in report["herders"]["must_know"] if m["item_id"] == m0)["completed"] == 2
    assert report["herders"]["people"] == 3 and report["herders"]["requests"] == 5
    assert report["elderly"]["pushes"] == 0 and report["elderly"]["topics"][0]["share"] == 0.0
    # One group, and the editor is told the rule and that it may not read personal rows.
    one = client.get("/v1/stats/pushes", params={"start": start.isoformat(), "end": end.isoformat(),
                                                 "group": "migrant_workers", "top": 100}, headers=H("editor")).json()
    assert one["groups"] == [report["migrant_workers"]]
    assert one["caller_may_read_personal_rows"] is False and "编辑" in one["personal_rows_rule"]
    assert client.get("/v1/stats/pushes", params={"start": start.isoformat()},
                      headers=H("analyst")).json()["caller_may_read_personal_rows"] is True


def test_a_date_is_a_whole_beijing_day_and_bad_periods_are_422(client):
    user = uid("day")
    client.put(f"/v1/users/{user}", json={"groups": ["elderly"]}, headers=H("platform"))
    rec(client, user_id=user, k=2)
    log = client.get("/v1/stats/pushes/people/" + user, headers=H("analyst")).json()["pushes"]
    day = dt.datetime.fromisoformat(log[0]["created_at"]).astimezone(BEIJING).date()
    body = client.get("/v1/stats/pushes", params={"start": str(day), "end": str(day), "group": "elderly"},
                      headers=H("editor")).json()
    assert dt.datetime.fromisoformat(body["start"]) == dt.datetime.combine(day, dt.time(), BEIJING)
    assert dt.datetime.fromisoformat(body["end"]) == dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BEIJING)
    assert body["groups"][0]["pushes"] >= 2
    before = client.get("/v1/stats/pushes", params={"end": str(day - dt.timedelta(days=1)), "group": "elderly"},
                        headers=H("editor")).json()
    assert dt.datetime.fromisoformat(before["end"]) == dt.datetime.combine(day, dt.time(), BEIJING)
    bad = client.get("/v1/stats/pushes", params={"start": str(day), "end": str(day - dt.timedelta(days=1))},
                     headers=H("editor"))
    assert bad.status_code == 422 and bad.json()["detail"].startswith("start")
    assert client.get("/v1/stats/pushes?group=astronauts", headers=H("editor")).status_code == 422
    assert client.get("/v1/stats/pushes?start=yesterday", headers=H("editor")).status_code == 422
    # Found by schemathesis: an end in year 1 made the default start overflow (500).
    for query in ("end=0001-01-21", "start=0001-01-01", "end=9999-12-31"):
        far = client.get(f"/v1/stats/pushes?{query}", headers=H("editor"))
        assert far.status_code == 422 and far.json()["detail"].startswith(query.split("=")[0]), (query, far.text)


def test_a_person_view_holds_exactly_that_persons_rows(client, backend_env):
    start = now()
    p1, p2 = uid("p1"), uid("p2")
    for user in (p1, p2):
        client.put(f"/v1/users/{user}", json={"groups": ["youth"]}, headers=H("platform"))
    first = rec(client, user_id=p1, k=3)
    rec(client, user_id=p2, k=4)
    second = rec(client, user_id=p1, k=2, personalized=False)
    rec(client, groups=["youth"], k=2)
    r = client.get(f"/v1/stats/pushes/people/{p1}", params={"start": start.isoformat()}, headers=H("analyst"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == p1
    assert [p["request_id"] for p in body["pushes"]] == [second["request_id"], first["request_id"]]  # newest first
    for row, served in zip(body["pushes"], (second, first), strict=True):
        assert row["model_version"] == backend_env["version"] and row["groups"] == served["groups"]
        assert row["personalized"] is served["personalized"]
        assert [(i["item_id"], i["title"], i["reasons"], i["score"]) for i in row["items"]] == \
               [(i["item_id"], i["title"], i["reasons"], i["score"]) for i in served["items"]]
    assert body["pushes"][0]["personalized"] is False and body["pushes"][1]["personalized"] is True
    assert body["pushes"][1]["groups"] == ["youth"]  # a non-personal list uses not even the person's groups
    # The same rows as the exposure log holds, by default all of it.
    log = client.get("/v1/exposures", params={"user_id": p1}, headers=H("admin")).json()
    everything = client.get(f"/v1/stats/pushes/people/{p1}", headers=H("admin")).json()["pushes"]
    assert [p["request_id"] for p in everything] == [e["request_id"] for e in log]
    assert client.get(f"/v1/stats/pushes/people/{uid('nobody')}", headers=H("analyst")).json()["pushes"] == []


def test_roles_for_pushes_and_personal_rows(client):
    from recommender.service.reports import may_read_personal_rows, personal_rows_rule

    assert [may_read_personal_rows(r) for r in ("platform", "editor", "analyst", "admin")] == [False, False, True, True]
    rule = personal_rows_rule()
    assert "分析员" in rule and "管理员" in rule and "编辑（editor）可以查看按人群汇总" in rule and "docs/api.md" in rule
    for role, aggregate, personal in (("platform", 403, 403), ("editor", 200, 403), ("analyst", 200, 200),
                                      ("admin", 200, 200)):
        assert client.get("/v1/stats/pushes", headers=H(role)).status_code == aggregate, role
        assert client.get("/v1/stats/pushes.png", headers=H(role)).status_code == aggregate, role
        assert client.get("/v1/stats/pushes/people/someone", headers=H(role)).status_code == personal, role
        assert client.get("/v1/exposures", headers=H(role)).status_code == personal, role
    assert client.get("/v1/stats/pushes").status_code == 401


def test_coverage_heat_map_is_a_png(client, tmp_path):
    r = client.get("/v1/stats/pushes.png", headers=H("editor"))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(r.content))
    image.load()
    assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 300
    one = client.get("/v1/stats/pushes.png?group=herders&start=2001-01-01&end=2001-01-02", headers=H("editor"))
    assert one.status_code == 200 and Image.open(io.BytesIO(one.content)).format == "PNG"  # nothing pushed then


def test_the_cjk_font_comes_from_a_package():
    from recommender.plots import cjk_font

    assert "NotoSansCJK" in (cjk_font().get_file() or "")


# ------------------------------------------------------------------------------- models side by side


def test_comparison_knows_which_way_is_better(tmp_path, taxonomy):
    from recommender.config import PipelineConfig
    from recommender.service.models import ModelKeeper
    from recommender.service.reports import Reports
    from recommender.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'cmp.db'}")
    store.models.register("v-old", str(tmp_path / "v-old"), {
        "n_items": 100, "classifier_cv": {"macro_f1": 0.80, "micro_f1": 0.82,
                                          "per_topic": {"labour": {"f1": 0.9}, "women": {"f1": 0.5}}},
        "answer": {"cv": {"recall@10": {"mean": 0.60, "low": 0.55, "high": 0.65}}},
        "evaluation": {"simulated": {"engine": {"ndcg@10": 0.30}}},
    })
    store.models.register("v-new", str(tmp_path / "v-new"), {
        "n_items": 120, "classifier_cv": {"macro_f1": 0.85, "micro_f1": 0.82,
                                          "per_topic": {"labour": {"f1": 0.8}, "women": {"f1": 0.5}}},
        "answer": {"cv": {"recall@10": {"mean": 0.625, "low": 0.58, "high": 0.67}, "ndcg@10": {"mean": 0.5}}},
        "evaluation": {"simulated": {"engine": {"ndcg@10": 0.25}}},
    })
    store.models.activate("v-old")
    reports = Reports(store, ModelKeeper(store, tmp_path, PipelineConfig(), taxonomy), taxonomy)
    cmp = reports.compare_models("v-new")
    rows = {m.name: m for m in cmp.metrics}
    assert (cmp.version, cmp.active_version, cmp.is_active) == ("v-new", "v-old", False)
    expect = {
        "classifier_cv.macro_f1": (0.80, 0.85, True, "better"),
        "classifier_cv.micro_f1": (0.82, 0.82, True, "same"),
        "answer.cv.recall@10.mean": (0.60, 0.625, True, "better"),
        "answer.cv.ndcg@10.mean": (None, 0.5, True, "missing"),
        "evaluation.simulated.engine.ndcg@10": (0.30, 0.25, True, "worse"),
        "n_items": (100.0, 120.0, None, "neutral"),
        "classifier_cv.per_topic.labour.f1": (0.9, 0.8, True, "worse"),
        "classifier_cv.per_topic.women.f1": (0.5, 0.5, True, "same"),
    }
    assert set(rows) == set(expect)
    for name, (a, b, higher, verdict) in expect.items():
        m = rows[name]
        assert (m.active, m.version, m.higher_is_better, m.verdict) == (a, b, higher, verdict), name
        assert m.difference == (b - a if a is not None else None)
    assert rows["classifier_cv.per_topic.labour.f1"].label == "劳动保障 F1"
    assert rows["classifier_cv.macro_f1"].section == "classifier"
    assert (cmp.better, cmp.worse) == (2, 2)
    assert all(m.verdict in ("same", "neutral") for m in reports.compare_models("v-old").metrics)


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """A fresh database with the sample and two versions built here, cross-validated with two
    classifier settings; the one with the lower macro-F1 is active."""
    from corpus.loaders import load_paths
    from recommender.build import BuildConfig, build_model
    from recommender.classify import ClassifierConfig
    from recommender.store import open_store

    root = tmp_path_factory.mktemp("two_versions")
    url = f"sqlite:///{root / 'pufa.db'}"
    store = open_store(url)
    store.items.upsert(load_paths([SAMPLE_DIR]).items)
    built = []
    for c in (4.0, 0.05):
        cfg = BuildConfig(evaluate=True, questions=[], classifier=ClassifierConfig(C=c, cv_folds=3))
        built.append(build_model(store, root / "models", config=cfg, activate=False))
    low, high = sorted(built, key=lambda r: r.classifier_cv["macro_f1"])
    assert low.classifier_cv["macro_f1"] < high.classifier_cv["macro_f1"], "the two settings should differ"
    store.models.activate(low.version)
    store.close()
    return {"url": url, "models": root / "models", "low": low, "high": high}


def test_two_built_versions_compared(two_versions):
    low, high = two_versions["low"], two_versions["high"]
    with keyed_client(two_versions["url"], two_versions["models"]) as c:
        for role, status in (("platform", 403), ("editor", 200), ("analyst", 200), ("admin", 200)):
            assert c.get(f"/v1/admin/models/{high.version}/compare", headers=H(role)).status_code == status, role
        body = c.get(f"/v1/admin/models/{high.version}/compare", headers=H("editor")).json()
        assert (body["version"], body["active_version"], body["is_active"]) == (high.version, low.version, False)
        macro = next(m for m in body["metrics"] if m["name"] == "classifier_cv.macro_f1")
        assert macro["higher_is_better"] is True and macro["verdict"] == "better"
        assert (macro["active"], macro["version"]) == (low.classifier_cv["macro_f1"], high.classifier_cv["macro_f1"])
        assert macro["difference"] == high.classifier_cv["macro_f1"] - low.classifier_cv["macro_f1"]
        topics = [m for m in body["metrics"] if m["section"] == "classifier_topics"]
        assert topics and all(m["verdict"] == {1: "better", -1: "worse", 0: "same"}[
            (m["difference"] > 1e-9) - (m["difference"] < -1e-9)] for m in topics)
        same = c.get(f"/v1/admin/models/{low.version}/compare", headers=H("analyst")).json()
        assert same["is_active"] is True and {m["verdict"] for m in same["metrics"]} <= {"same", "neutral"}
        assert c.get("/v1/admin/models/v-none/compare", headers=H("editor")).status_code == 404
        png = c.get(f"/v1/admin/models/{high.version}/compare.png", headers=H("editor"))
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        image = Image.open(io.BytesIO(png.content))
        image.load()
        assert image.format == "PNG" and image.size[0] > 800


def test_an_editor_requests_a_retrain_and_only_an_admin_activates(two_versions):
    low = two_versions["low"]
    with keyed_client(two_versions["url"], two_versions["models"]) as c:
        for path in ("/v1/admin/builds", f"/v1/admin/models/{low.version}:activate", "/v1/admin/models:rollback"):
            assert c.post(path, headers=H("editor")).status_code == 403, path
        assert c.post("/v1/builds", headers=H("analyst")).status_code == 403
        assert c.post("/v1/builds", headers=H("platform")).status_code == 403
        r = c.post("/v1/builds?evaluate=false", headers=H("editor"))
        assert r.status_code == 202, r.text
        job = r.json()
        again = c.post("/v1/builds?evaluate=false", headers=H("editor"))
        assert again.status_code == 409 and job["id"] in again.json()["detail"]
        deadline = time.monotonic() + 300
        while job["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            job = c.get(f"/v1/builds/{job['id']}", headers=H("editor")).json()
        assert job["status"] == "done", job
        models = {m["version"]: m for m in c.get("/v1/admin/models", headers=H("admin")).json()}
        assert models[job["version"]]["active"] is False and models[low.version]["active"] is True
        assert c.get("/health").json()["model_version"] == low.version
        assert c.get(f"/v1/admin/models/{job['version']}/compare", headers=H("editor")).status_code == 200
        # A retrain keeps the recipe of the active version (no labelled questions, its classifier's C
        # and folds), not the defaults; only ``evaluate`` comes from the request.
        def recipe(path: str) -> dict:
            return json.loads((Path(path) / "build_config.json").read_text(encoding="utf-8"))

        made, active = recipe(models[job["version"]]["path"]), recipe(low.path)
        assert made["questions"] == [] and made["classifier"] == active["classifier"] and made["evaluate"] is False
        assert c.get(f"/v1/builds/{job['id']}", headers=H("analyst")).status_code == 403
