"""The HTTP API against a real database (SQLite, and PostgreSQL where configured), through
FastAPI's TestClient: the contract's behaviours, the role matrix, bad input, compliance duties.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from recommender.config import PipelineConfig
from recommender.variety import describe
from tests.api_keys import H, keyed_client


@pytest.fixture(scope="module")
def client(backend_env):
    with keyed_client(backend_env["url"], backend_env["models"]) as c:
        yield c


def uid(prefix: str = "u") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def rec(client, **body):
    r = client.post("/v1/recommendations", json=body, headers=H("platform"))
    assert r.status_code == 200, r.text
    return r.json()


# ------------------------------------------------------------------------------- contract


def test_health_needs_no_key_and_names_the_model(client, backend_env):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["model_version"] == backend_env["version"] and body["items"] > 300


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    for path in ("/v1/recommendations", "/v1/events", "/v1/items", "/v1/items:bulk", "/v1/users/{user_id}",
                 "/v1/users/{user_id}/tags/{topic}", "/v1/classify", "/v1/campaigns", "/v1/stats/coverage",
                 "/v1/review-queue", "/v1/topics", "/v1/groups", "/v1/about/algorithm"):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200


def test_taxonomy_endpoints(client):
    topics = {t["id"]: t for t in client.get("/v1/topics", headers=H("platform")).json()}
    assert topics["labour"]["name"] == "劳动保障" and len(topics) >= 33
    groups = {g["id"]: g for g in client.get("/v1/groups", headers=H("platform")).json()}
    assert groups["herders"]["topics"]["agriculture_rural"] >= 0.8


def test_recommendation_shape_and_reasons(client, backend_env):
    body = rec(client, groups=["migrant_workers"], k=5)
    assert body["model_version"] == backend_env["version"] and body["request_id"]
    assert len(body["items"]) == 5
    for item in body["items"]:
        assert {"item_id", "title", "type", "score", "topics", "reasons"} <= set(item)
        assert item["reasons"] and all(any("\u4e00" <= ch <= "\u9fff" for ch in r) for r in item["reasons"])
    assert any("labour" in i["topics"] for i in body["items"])


def test_event_changes_the_next_recommendation(client):
    user = uid("herder")
    assert client.put(f"/v1/users/{user}", json={"groups": ["herders"]}, headers=H("platform")).status_code == 200
    before = [i["item_id"] for i in rec(client, user_id=user, k=10)["items"]]
    r = client.post("/v1/events", json={"user_id": user, "type": "question",
                                        "text": "我家承包的草场被邻居占了怎么办"}, headers=H("platform"))
    assert r.status_code == 202 and r.json()["accepted"] == 1
    after = rec(client, user_id=user, k=10)
    assert [i["item_id"] for i in after["items"]] != before
    assert any(r.startswith(("与您的提问相关", "与您的问题相关：")) for r in after["items"][0]["reasons"])
    assert "agriculture_rural" in after["items"][0]["topics"]


def test_event_ids_make_retries_idempotent(client):
    user = uid()
    ev = {"id": f"ev-{uuid.uuid4().hex}", "user_id": user, "type": "view", "item_id": "sample-a-001"}
    first = client.post("/v1/events", json=ev, headers=H("platform")).json()
    again = client.post("/v1/events", json=ev, headers=H("platform")).json()
    assert (first["accepted"], again["accepted"], again["duplicates"]) == (1, 0, 1)
    assert client.get(f"/v1/users/{user}", headers=H("platform")).json()["events"] == 1


def test_batch_events_keep_the_good_and_report_the_bad(client):
    user = uid()
    batch = {"events": [
        {"user_id": user, "type": "click", "item_id": "sample-b-001"},
        {"user_id": user, "type": "click", "item_id": "no-such-item"},
        {"user_id": user, "type": "teleport", "item_id": "sample-b-001"},
        {"user_id": user, "type": "search", "text": ""},
        {"user_id": user, "type": "like", "item_id": "sample-b-002", "ts": "2026-11-01T08:00:00+08:00"},
    ]}
    r = client.post("/v1/events", json=batch, headers=H("platform"))
    assert r.status_code == 202
    body = r.json()
    assert body["accepted"] == 2
    fields = {x["index"]: x["field"] for x in body["rejected"]}
    assert fields == {1: "item_id", 2: "type", 3: "text"}


def test_items_added_are_indexed_and_classified_at_once(client):
    item_id = uid("item")
    r = client.post("/v1/items", json={
        "id": item_id, "title": "草牧场流转合同要写清哪些事", "type": "explainer",
        "body": "牧民把承包的草场流转给别人放牧，要签书面合同，写明流转期限、价款、草畜平衡责任和禁牧期的安排。"},
        headers=H("editor"))
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["predicted_topics"] and stored["predicted_topics"][0]["id"] == "agriculture_rural"
    found = rec(client, query="草场流转合同", k=10)
    assert item_id in [i["item_id"] for i in found["items"]]
    # Retired items are kept for the record but never recommended again.
    assert client.delete(f"/v1/items/{item_id}", headers=H("editor")).json()["retired"] is True
    assert client.get(f"/v1/items/{item_id}", headers=H("editor")).status_code == 200
    assert item_id not in [i["item_id"] for i in rec(client, query="草场流转合同", k=20)["items"]]


def test_a_new_version_supersedes_the_old_one(client):
    old, new = uid("old"), uid("new")
    common = {"type": "explainer", "body": "讲解农村土地承包经营权证的换发，嘎查村民需要带上身份证和原证书。"}
    client.post("/v1/items", json={"id": old, "title": "承包经营权证换发指南（旧版）", **common}, headers=H("editor"))
    r = client.post("/v1/items", json={"id": new, "title": "承包经营权证换发指南", "supersedes": old, **common},
                    headers=H("editor"))
    assert r.status_code == 201
    assert client.get(f"/v1/items/{old}", headers=H("editor")).json()["status"] == "superseded"
    ids = [i["item_id"] for i in rec(client, query="承包经营权证换发", k=20)["items"]]
    assert new in ids and old not in ids


def test_bulk_items_report_each_bad_row_and_keep_the_good(client):
    a, b = uid("bulk"), uid("bulk")
    lines = "\n".join([
        f'{{"id": "{a}", "title": "禁毒知识", "type": "explainer", "body": "远离毒品"}}',
        '{"id": "x", "title": "", "type": "explainer"}',
        "{not json",
        f'{{"id": "{b}", "title": "防诈骗", "type": "qa", "topics": ["no_such_topic"]}}',
        f'{{"id": "{b}", "title": "防诈骗", "type": "qa", "topics": ["anti_fraud"]}}',
    ])
    r = client.post("/v1/items:bulk", content=lines.encode(), headers={**H("editor"), "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["accepted"] == 2 and body["rejected"] == 3
    bad = {row["index"]: row for row in body["results"] if not row["ok"]}
    assert set(bad) == {1, 2, 3} and bad[1]["field"] == "title" and "topics" in bad[3]["error"]
    assert client.get(f"/v1/items/{a}", headers=H("editor")).status_code == 200
    arr = client.post("/v1/items:bulk", json=[{"title": "数组形式", "type": "qa"}, 5], headers=H("editor")).json()
    assert arr["accepted"] == 1 and arr["rejected"] == 1


def test_editor_topics_win_over_predictions(client):
    item_id = uid("tag")
    client.post("/v1/items", json={"id": item_id, "title": "一条讲解", "type": "explainer",
                                   "body": "农民工工资拖欠可以向劳动监察投诉。"}, headers=H("editor"))
    r = client.put(f"/v1/items/{item_id}/topics", json={"topics": ["dispute_resolution"], "editor": "王编辑"},
                   headers=H("editor"))
    assert r.status_code == 200 and r.json()["editor_topics"] == ["dispute_resolution"]
    bad = client.put(f"/v1/items/{item_id}/topics", json={"topics": ["nope"], "editor": "王编辑"}, headers=H("editor"))
    assert bad.status_code == 422 and "topics" in bad.json()["detail"]
    queue = client.get("/v1/review-queue?limit=5", headers=H("editor")).json()
    assert len(queue) <= 5 and all("predicted_topics" in q for q in queue)


def test_classify(client):
    r = client.post("/v1/classify", json={"text": "老公喝酒后打我，我能申请人身安全保护令吗"}, headers=H("platform"))
    assert r.status_code == 200
    body = r.json()
    assert body["topics"][0]["id"] in ("domestic_violence", "marriage_family")
    assert body["keywords"]


def test_campaigns(client):
    r = client.post("/v1/campaigns", json={"name": "巴彦淖尔禁毒宣传周", "topics": ["drug_control"],
                                           "start": "2026-09-01", "end": "2026-09-07", "boost": 0.6,
                                           "reason": "禁毒宣传周专题", "region": "巴彦淖尔"}, headers=H("editor"))
    assert r.status_code == 201, r.text
    listed = client.get("/v1/campaigns", headers=H("analyst")).json()
    assert any(c["name"] == "国家宪法日·宪法宣传周" for c in listed) and any(c["id"] == r.json()["id"] for c in listed)
    body = rec(client, groups=["public"], date="2026-09-03", region="巴彦淖尔市", k=10)
    assert any("禁毒宣传周专题" in i["reasons"] for i in body["items"])
    elsewhere = rec(client, groups=["public"], date="2026-09-03", region="广州", k=10)
    assert not any("禁毒宣传周专题" in i["reasons"] for i in elsewhere["items"])
    bad = client.post("/v1/campaigns", json={"name": "x", "topics": ["drug_control"], "start": "2026-09-08",
                                             "end": "2026-09-01"}, headers=H("editor"))
    assert bad.status_code == 422 and "end" in bad.json()["detail"]


# ------------------------------------------------------------------------------- compliance


def test_non_personal_mode_uses_no_personal_data(client):
    user = uid()
    client.put(f"/v1/users/{user}", json={"groups": ["women"]}, headers=H("platform"))
    client.post("/v1/events", json={"user_id": user, "type": "question", "text": "离婚后孩子抚养费怎么要"},
                headers=H("platform"))
    anonymous = rec(client, k=10, personalized=False)
    plain = rec(client, user_id=user, k=10, personalized=False)
    assert [i["item_id"] for i in plain["items"]] == [i["item_id"] for i in anonymous["items"]]
    assert plain["personalized"] is False
    # The person's own switch.
    client.put(f"/v1/users/{user}", json={"personalized": False}, headers=H("platform"))
    assert [i["item_id"] for i in rec(client, user_id=user, k=10)["items"]] == [i["item_id"] for i in anonymous["items"]]


def test_tags_listed_with_source_removed_and_stay_removed(client):
    user = uid()
    client.post("/v1/events", json={"events": [
        {"user_id": user, "type": "question", "text": "老板拖欠工资三个月不给"},
        {"user_id": user, "type": "click", "item_id": "sample-b-001"}]}, headers=H("platform"))
    tags = client.get(f"/v1/users/{user}", headers=H("platform")).json()["tags"]
    labour = [t for t in tags if t["topic"] == "labour"]
    assert labour and labour[0]["source"] in ("question", "reading")
    r = client.delete(f"/v1/users/{user}/tags/labour", headers=H("platform"))
    assert r.status_code == 200 and "labour" not in [t["topic"] for t in r.json()["tags"]]
    client.post("/v1/events", json={"user_id": user, "type": "question", "text": "工伤认定和欠薪怎么处理"},
                headers=H("platform"))
    after = client.get(f"/v1/users/{user}", headers=H("platform")).json()
    assert "labour" not in [t["topic"] for t in after["tags"]] and "labour" in after["removed_tags"]
    assert client.delete(f"/v1/users/{user}/tags/not_a_topic", headers=H("platform")).status_code == 404


def test_a_removed_tag_stops_acting_at_once(client):
    # After DELETE .../tags/labour, 4 of the next 5 items were still labour, carried by the
    # question asked before: the removed topic's question no longer answers or steers.
    user = uid()
    client.post("/v1/events", json={"user_id": user, "type": "question", "text": "老板拖欠工资三个月不给怎么办"},
                headers=H("platform"))

    def labour_share(items: list[dict]) -> int:
        n = 0
        for i in items:
            view = client.get(f"/v1/items/{i['item_id']}", headers=H("editor")).json()
            predicted = view["predicted_topics"]
            n += "labour" in view["topics"] or bool(predicted and predicted[0]["id"] == "labour")
        return n

    before = rec(client, user_id=user, k=5)["items"]
    assert labour_share(before) >= 3, before
    assert client.delete(f"/v1/users/{user}/tags/labour", headers=H("platform")).status_code == 200
    after = rec(client, user_id=user, k=5)["items"]
    assert labour_share(after) <= 1, after
    assert not any(r.startswith("与您的问题相关") for i in after for r in i["reasons"])


def test_harmful_words_never_become_tags(client):
    user = uid()
    client.post("/v1/events", json={"user_id": user, "type": "search", "text": "哪里有赌博网址和网赌平台"},
                headers=H("platform"))
    assert client.get(f"/v1/users/{user}", headers=H("platform")).json()["tags"] == []


@pytest.mark.parametrize("text", ["怎么买 冰毒", "怎么買冰毒", "怎么买-冰-毒", "怎么买\u200b冰毒", "怎么买　冰　毒"])
def test_harmful_words_are_matched_through_spaces_and_variant_forms(client, text):
    # "买 冰毒" used to become a drug_control tag where "买冰毒" did not.
    user = uid()
    client.post("/v1/events", json={"user_id": user, "type": "question", "text": text}, headers=H("platform"))
    assert client.get(f"/v1/users/{user}", headers=H("platform")).json()["tags"] == []
    control = uid()  # the same question without the blocked words does become a tag
    client.post("/v1/events", json={"user_id": control, "type": "question", "text": "冰毒的危害和戒毒"},
                headers=H("platform"))
    assert "drug_control" in [t["topic"] for t in client.get(f"/v1/users/{control}", headers=H("platform")).json()["tags"]]


def test_erase_removes_the_person_events_and_exposures(client):
    user = uid()
    client.post("/v1/events", json={"user_id": user, "type": "view", "item_id": "sample-a-002"}, headers=H("platform"))
    rec(client, user_id=user, k=3)
    assert client.get(f"/v1/exposures?user_id={user}", headers=H("analyst")).json()
    assert client.delete(f"/v1/users/{user}", headers=H("platform")).status_code == 204
    assert client.get(f"/v1/users/{user}", headers=H("platform")).status_code == 404
    assert client.get(f"/v1/exposures?user_id={user}", headers=H("analyst")).json() == []
    assert client.delete(f"/v1/users/{user}", headers=H("platform")).status_code == 404


def test_exposure_log_records_every_response_and_is_purged(client, backend_env):
    user = uid()
    body = rec(client, user_id=user, groups=["youth"], k=4)
    log = client.get(f"/v1/exposures?user_id={user}", headers=H("analyst")).json()
    assert len(log) == 1
    entry = log[0]
    assert entry["request_id"] == body["request_id"] and entry["model_version"] == backend_env["version"]
    assert [i["item_id"] for i in entry["items"]] == [i["item_id"] for i in body["items"]]
    assert all(i["reasons"] for i in entry["items"])
    # Records older than the retention period are purged.
    import sqlalchemy as sa

    from recommender.store import open_store
    from recommender.store.tables import exposures

    store = open_store(backend_env["url"], migrate_schema=False)
    with store.db.begin() as conn:
        conn.execute(exposures.update().where(exposures.c.user_id == user)
                     .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=181)))
    assert client.post("/v1/admin/exposures:purge", headers=H("admin")).json()["deleted"] >= 1
    assert client.get(f"/v1/exposures?user_id={user}", headers=H("analyst")).json() == []
    with store.db.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(exposures)
                            .where(exposures.c.user_id == user)).scalar() == 0


def test_about_algorithm_in_chinese(client):
    r = client.get("/v1/about/algorithm")
    assert r.status_code == 200
    body = r.json()
    assert "推送" in body["principle"] and "普法" in body["purpose"] and len(body["mechanism"]) >= 4
    assert any("关闭个性化" in c for c in body["your_choices"])
    # How a question is answered, in the words of the reason each answer carries.
    assert any(m.startswith("问题解答") and "与您的问题相关" in m for m in body["mechanism"])
    # The variety rules it states are the ones the engine runs with (算法推荐管理规定 art. 16).
    cfg = PipelineConfig()
    assert describe(cfg.diversity, cfg.slots) in body["mechanism"]
    assert f"同一部法律的条文不超过{cfg.diversity.max_per_law}条" in describe(cfg.diversity, cfg.slots)


def test_a_tuned_config_goes_live_as_a_version_and_rolls_back(client, backend_env):
    """Issue 11: a pipeline config posted for a version becomes a new, inactive version sharing
    its arrays; activated, it changes what /v1/recommendations returns; rollback restores it."""
    from .test_config import BAD

    first = backend_env["version"]
    got = client.get(f"/v1/admin/models/{first}/config", headers=H("analyst"))
    assert got.status_code == 200 and got.json() == PipelineConfig().to_dict()
    for patch, field, _ in BAD:
        r = client.post(f"/v1/admin/models/{first}/config", json=patch, headers=H("admin"))
        assert r.status_code == 422 and r.json()["field"] == field and r.json()["detail"].startswith(f"{field}: ")
    assert client.post("/v1/admin/models/v-none/config", json={}, headers=H("admin")).status_code == 404
    assert client.get("/v1/admin/models/v-none/config", headers=H("admin")).status_code == 404
    body = {"groups": ["public"], "k": 20}
    before = rec(client, **body)
    assert before["model_version"] == first and any(i["type"] == "qa" for i in before["items"])
    r = client.post(f"/v1/admin/models/{first}/config", headers=H("admin"),
                    json={"filters": {"exclude_types": ["qa"]}, "diversity": {"max_per_law": 1}})
    assert r.status_code == 201, r.text
    new = r.json()["version"]
    assert r.json()["parent"] == first and r.json()["config_only"] and not r.json()["active"]
    assert r.json()["config"]["diversity"] == {**PipelineConfig().to_dict()["diversity"], "max_per_law": 1}
    assert rec(client, **body)["model_version"] == first  # registered, not active
    listed = {m["version"]: m for m in client.get("/v1/admin/models", headers=H("admin")).json()}
    assert listed[new]["metrics"]["config_only"] and listed[new]["metrics"]["parent"] == first
    assert client.get(f"/v1/admin/models/{new}/config", headers=H("editor")).json()["filters"]["exclude_types"] == ["qa"]
    try:
        assert client.post(f"/v1/admin/models/{new}:activate", headers=H("admin")).status_code == 200
        during = rec(client, **body)
        assert during["model_version"] == new and len(during["items"]) == 20
        assert not any(i["type"] == "qa" for i in during["items"])
        mechanism = client.get("/v1/about/algorithm").json()["mechanism"]
        assert any("同一部法律的条文不超过1条" in m for m in mechanism)
    finally:
        back = client.post("/v1/admin/models:rollback", headers=H("admin"))
    assert back.status_code == 200 and back.json()["version"] == first
    after = rec(client, **body)
    assert after["model_version"] == first
    assert [i["item_id"] for i in after["items"]] == [i["item_id"] for i in before["items"]]
    # Leave the shared database as the other tests expect: no earlier version to roll back to
    # (the role matrix posts a rollback as admin, which must keep answering 409).
    from recommender.store import open_store
    from recommender.store.tables import model_versions

    store = open_store(backend_env["url"], migrate_schema=False)
    with store.db.begin() as conn:
        conn.execute(model_versions.update().where(model_versions.c.version == new).values(activated_at=None))
    store.close()


def test_minors_get_no_adults_only_items_and_a_daily_cap(client, backend_env):
    from recommender.store import open_store

    store = open_store(backend_env["url"], migrate_schema=False)
    adults = {it.id for it in store.items.iter() if it.audience == "adults"}
    kid = uid("kid")
    client.put(f"/v1/users/{kid}", json={"groups": ["youth"], "minor": True}, headers=H("platform"))
    client.post("/v1/events", json={"user_id": kid, "type": "search", "text": "贩毒 性侵 判刑"}, headers=H("platform"))
    seen: list[str] = []
    for _ in range(3):
        seen += [i["item_id"] for i in rec(client, user_id=kid, k=9, exclude_seen=False)["items"]]
    assert not set(seen) & adults
    assert len(seen) == 20  # the default cap: 9 + 9 + 2
    assert rec(client, user_id=kid, k=5)["items"] == []


def test_elderly_get_anti_fraud_content(client):
    body = rec(client, groups=["elderly"], k=5)
    assert any("anti_fraud" in i["topics"] for i in body["items"])


def test_profile_rejects_sensitive_and_unknown_fields(client):
    user = uid()
    for field, value in (("ethnicity", "蒙古族"), ("religion", "x"), ("gps", [40.7, 107.4]), ("location", "x")):
        r = client.put(f"/v1/users/{user}", json={"groups": ["public"], field: value}, headers=H("platform"))
        assert r.status_code == 422 and field in r.json()["detail"]
    r = client.put(f"/v1/users/{user}", json={"groups": ["herdsmen"]}, headers=H("platform"))
    assert r.status_code == 422 and "groups" in r.json()["detail"]
    assert client.get(f"/v1/users/{user}", headers=H("platform")).status_code == 404  # nothing half-written


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [("/v1/recommendations", {"k": "ten"}, "k"),
     ("/v1/recommendations", {"k": 101}, "k"),
     ("/v1/recommendations", {"user_id": "has space"}, "user_id"),
     ("/v1/recommendations", {"groups": ["martians"]}, "groups"),
     ("/v1/recommendations", {"date": "2026-13-40"}, "date"),
     ("/v1/recommendations", {"colour": "red"}, "colour"),
     ("/v1/events", {"user_id": "u1", "type": "view"}, "item_id"),
     ("/v1/events", {"user_id": "u1", "type": "view", "item_id": "sample-a-001", "ts": "yesterday"}, "ts"),
     ("/v1/events", {"user_id": "u1", "type": "view", "item_id": "sample-a-001", "ts": "2026-01-01T00:00:00"}, "ts"),
     ("/v1/events", {"user_id": "u1", "type": "view", "item_id": "sample-a-001", "dwell_ms": -5}, "dwell_ms"),
     ("/v1/events", {"user_id": "u1", "type": "question", "text": "   "}, "text"),
     ("/v1/items", {"title": "x", "type": "poem"}, "type"),
     ("/v1/items", {"title": "x", "type": "qa", "topics": ["nope"]}, "topics"),
     ("/v1/classify", {"text": 5}, "text"),
     ("/v1/classify", {"text": ""}, "text"),
     # strict types on the wire (issue 7, item 7): no true for 1, no "10" for 10, no "yes"
     ("/v1/recommendations", {"k": True}, "k"),
     ("/v1/recommendations", {"k": "10"}, "k"),
     ("/v1/recommendations", {"personalized": "yes"}, "personalized"),
     ("/v1/recommendations", {"region": "北京市海淀区中关村大街1号"}, "region"),
     ("/v1/events", {"user_id": "u1", "type": "view", "item_id": "sample-a-001", "ts": "1900-01-01T00:00:00Z"}, "ts"),
     ("/v1/items", {"title": "x", "type": "qa", "url": "javascript:alert(1)"}, "url"),
     ("/v1/items", {"title": "x", "type": "qa", "supersedes": "no-such-item-anywhere"}, "supersedes"),
     ("/v1/items", {"title": "x", "type": "qa", "region": "临河区胜利路8号"}, "region")],
)
def test_bad_input_is_a_4xx_naming_the_field(client, path, body, field):
    role = "editor" if path == "/v1/items" else "platform"
    r = client.post(path, json=body, headers=H(role))
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]


def test_malformed_json_and_huge_bodies(client):
    r = client.post("/v1/recommendations", content=b'{"k": 3,', headers={**H("platform"), "content-type": "application/json"})
    assert r.status_code == 422 and "body" in r.json()["detail"]
    huge = b'{"text": "' + "法".encode() * 5_000_000 + b'"}'
    r = client.post("/v1/classify", content=huge, headers={**H("platform"), "content-type": "application/json"})
    assert r.status_code == 413 and "body" in r.json()["detail"]


def test_bulk_rows_that_are_wrong_are_refused_and_the_rest_kept(client):
    tag = uid("bk")
    lines = (json.dumps({"id": f"{tag}-1", "title": "好的一行", "type": "qa"}, ensure_ascii=False).encode() + b"\n"
             + b'{"id": "' + f"{tag}-2".encode() + b'", "title": "\xff\xfe", "type": "qa"}\n'
             + json.dumps({"id": f"{tag}-3", "title": "脚本", "type": "qa", "url": "javascript:alert(1)"}).encode() + b"\n"
             + json.dumps({"id": f"{tag}-4", "title": "新版", "type": "qa", "supersedes": "no-such-item"}).encode() + b"\n"
             + json.dumps({"id": f"{tag}-1", "title": "同一个id", "type": "qa"}, ensure_ascii=False).encode() + b"\n"
             + json.dumps({"id": f"{tag}-5", "title": "取代第一行", "type": "qa", "supersedes": f"{tag}-1"},
                          ensure_ascii=False).encode())
    r = client.post("/v1/items:bulk", content=lines, headers={**H("editor"), "content-type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    rows = {row["index"]: row for row in r.json()["results"]}
    assert [rows[n]["ok"] for n in range(6)] == [True, False, False, False, False, True]
    assert "UTF-8" in rows[1]["error"] and rows[2]["field"] == "url" and rows[3]["field"] == "supersedes"
    assert rows[4]["field"] == "id" and "row 0" in rows[4]["error"]
    assert client.get(f"/v1/items/{tag}-1", headers=H("editor")).json()["title"] == "好的一行"
    assert client.get(f"/v1/items/{tag}-2", headers=H("editor")).status_code == 404
    bad = client.post("/v1/items:bulk", content=b'[{"title": "\xff", "type": "qa"}]',
                      headers={**H("editor"), "content-type": "application/json"})
    assert bad.status_code == 422 and "UTF-8" in bad.json()["detail"]


def test_patch_null_users_regions_and_what_reaches_the_body(client):
    item = client.post("/v1/items", json={"title": "可改的条目", "type": "qa"}, headers=H("editor")).json()["id"]
    r = client.patch(f"/v1/items/{item}", json={"title": None}, headers=H("editor"))
    assert r.status_code == 422 and "title may not be null" in r.json()["detail"]
    assert client.get(f"/v1/items/{item}", headers=H("editor")).json()["title"] == "可改的条目"
    who = uid()
    r = client.put(f"/v1/users/{who}", json={"region": "临河区胜利路8号3单元"}, headers=H("platform"))
    assert r.status_code == 422 and r.json()["field"] == "region"
    assert client.get(f"/v1/users/{who}", headers=H("platform")).status_code == 404
    for region in ("临河区", "巴彦淖尔市", "巴彦淖尔", "内蒙古自治区"):
        assert client.put(f"/v1/users/{who}", json={"region": region}, headers=H("platform")).status_code == 200
    # Short names and codes are stored by the official name (the table's, for nesting).
    for region, official in (("巴彦淖尔", "巴彦淖尔市"), ("150802", "临河区"), ("内蒙古", "内蒙古自治区")):
        assert client.put(f"/v1/users/{who}", json={"region": region}, headers=H("platform")).json()["region"] == official
    assert client.put(f"/v1/users/{who}", json={"minor": "no"}, headers=H("platform")).status_code == 422
    # The key is checked before the body is read; a JSON body declared as text is named.
    r = client.post("/v1/recommendations", content=b'{"k": 3,', headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.json()["detail"] == "missing X-API-Key header"
    r = client.post("/v1/recommendations", content=b'{"k": 3}', headers={**H("platform"), "content-type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    # A chunked body (no Content-Length) over the limit is 413, like a declared one.
    def chunks():
        yield b'{"text": "'
        for _ in range(11):
            yield "法".encode() * 350_000
        yield b'"}'
    r = client.post("/v1/classify", content=chunks(), headers={**H("platform"), "content-type": "application/json"})
    assert r.status_code == 413 and "body" in r.json()["detail"]


@pytest.mark.parametrize("text", ["ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ", "hello world", "🙂🙂🙂", "\u0000\u200b", "ok" * 900])
def test_odd_text_never_breaks_anything(client, text):
    user = uid()
    assert client.post("/v1/classify", json={"text": text}, headers=H("platform")).status_code == 200
    r = client.post("/v1/events", json={"user_id": user, "type": "search", "text": text}, headers=H("platform"))
    assert r.status_code == 202
    assert len(rec(client, user_id=user, query=text, k=5)["items"]) == 5


def test_unknown_ids_are_404s(client):
    assert client.get("/v1/items/nope-nope", headers=H("editor")).status_code == 404
    assert client.patch("/v1/items/nope-nope", json={"title": "x"}, headers=H("editor")).status_code == 404
    assert client.get("/v1/users/nobody-here", headers=H("platform")).status_code == 404
    assert client.get("/v1/admin/builds/nope", headers=H("admin")).status_code == 404
    assert client.post("/v1/admin/models/v0:activate", headers=H("admin")).status_code == 404


# ------------------------------------------------------------------------------- roles

MATRIX = [
    # method, path, json body, roles allowed (admin is always allowed)
    ("get", "/v1/topics", None, {"platform", "editor", "analyst"}),
    ("get", "/v1/groups", None, {"platform", "editor", "analyst"}),
    ("post", "/v1/classify", {"text": "工资"}, {"platform", "editor", "analyst"}),
    ("post", "/v1/recommendations", {"k": 1}, {"platform"}),
    ("post", "/v1/events", {"user_id": "rm-1", "type": "view", "item_id": "sample-a-001"}, {"platform"}),
    ("put", "/v1/users/rm-1", {"groups": ["public"]}, {"platform"}),
    ("get", "/v1/users/rm-1", None, {"platform"}),
    ("delete", "/v1/users/rm-x/tags/labour", None, {"platform"}),
    ("delete", "/v1/users/rm-x", None, {"platform"}),
    ("post", "/v1/items", {"id": "rm-item", "title": "角色测试", "type": "qa"}, {"editor"}),
    ("post", "/v1/items:bulk", [{"id": "rm-item2", "title": "角色测试", "type": "qa"}], {"editor"}),
    ("get", "/v1/items/sample-a-001", None, {"editor", "analyst", "platform"}),
    ("patch", "/v1/items/rm-item", {"title": "角色测试二"}, {"editor"}),
    ("put", "/v1/items/sample-a-003/topics", {"topics": ["constitution"], "editor": "e"}, {"editor"}),
    ("delete", "/v1/items/rm-item2", None, {"editor"}),
    ("get", "/v1/review-queue", None, {"editor"}),
    ("get", "/v1/campaigns", None, {"platform", "editor", "analyst"}),
    ("post", "/v1/campaigns", {"name": "c", "topics": ["labour"], "start": "2026-01-01", "end": "2026-01-02",
                               "reason": "角色测试"}, {"editor"}),
    ("put", "/v1/campaigns/rm-c", {"name": "c", "topics": ["labour"], "start": "01-01", "end": "01-02",
                                   "reason": "角色测试"}, {"editor"}),
    ("get", "/v1/campaigns/constitution_week/preview?group=herders&date=2026-12-04", None, {"editor", "analyst"}),
    ("delete", "/v1/campaigns/rm-c", None, {"editor"}),
    ("get", "/v1/stats/coverage", None, {"analyst"}),
    ("get", "/v1/exposures", None, {"analyst"}),
    ("get", "/v1/evaluation", None, {"analyst"}),
    ("get", "/v1/admin/models", None, set()),
    ("post", "/v1/admin/exposures:purge", None, set()),
    ("get", "/v1/admin/builds/no-such-build", None, set()),
    ("post", "/v1/admin/models/v-none:activate", None, set()),
    ("post", "/v1/admin/models:rollback", None, set()),
    ("get", "/v1/admin/models/v-none/config", None, {"editor", "analyst"}),
    ("post", "/v1/admin/models/v-none/config", {"diversity": {"max_per_law": 1}}, set()),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX, ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
def test_role_matrix(client, method, path, body, allowed):
    kwargs = {"json": body} if body is not None else {}
    assert getattr(client, method)(path, **kwargs).status_code == 401
    assert getattr(client, method)(path, headers={"X-API-Key": "wrong"}, **kwargs).status_code == 401
    for role in ("platform", "editor", "analyst", "admin"):
        status = getattr(client, method)(path, headers=H(role), **kwargs).status_code
        if role in allowed or role == "admin":
            assert status not in (401, 403), (role, status)
            assert status < 500
        else:
            assert status == 403, (role, status)


def test_public_endpoints_need_no_key(client):
    assert client.get("/health").status_code == 200
    assert client.get("/v1/about/algorithm").status_code == 200


def test_development_mode_without_keys(backend_env, caplog):
    settings = Settings(db=backend_env["url"], models=str(backend_env["models"]), api_keys="")
    with caplog.at_level("WARNING"), TestClient(create_app(settings)) as c:
        assert c.get("/v1/admin/models").status_code == 200
    assert "DEVELOPMENT MODE" in caplog.text


def test_bad_key_configuration_is_refused():
    with pytest.raises(ValueError, match="PUFA_API_KEYS"):
        Settings(api_keys="k1:superuser")


def test_coverage_counts_what_a_group_was_shown_and_completed(client):
    user = uid("cov")
    start = dt.datetime.now(dt.UTC).isoformat()
    client.put(f"/v1/users/{user}", json={"groups": ["teachers"]}, headers=H("platform"))
    rec(client, user_id=user, k=10)
    rec(client, groups=["teachers"], k=10)  # the group without a person: counted too

    def coverage() -> dict:
        r = client.get("/v1/stats/coverage", params={"group": "teachers", "start": start}, headers=H("analyst"))
        assert r.status_code == 200, r.text
        return r.json()["groups"]["teachers"]

    before = coverage()
    assert (before["requests"], before["pushes"], before["users"], before["people"]) == (2, 20, 1, 1)
    assert before["shown_items"] >= 10 and sum(t["pushes"] for t in before["topics"].values()) >= 20
    must = before["must_know"]
    assert must["items"] >= 1 and must["shown"] >= 1 and must["completed"] == 0
    assert must["share"] == before["must_know_share"] == must["pushes"] / 20
    shown_must = next(m for m in must["rows"] if m["pushes"])
    client.post("/v1/events", json={"user_id": user, "type": "complete", "item_id": shown_must["item_id"]},
                headers=H("platform"))
    after = coverage()
    assert after["must_know"]["completed"] == 1
    assert next(m for m in after["must_know"]["rows"] if m["item_id"] == shown_must["item_id"])["completed"] == 1
    assert client.get("/v1/stats/coverage?group=astronauts", headers=H("analyst")).status_code == 422
