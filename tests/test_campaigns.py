"""Campaigns editors manage: the rules of a campaign (window, boost, reason, region), where a
campaign reaches (the region hierarchy), editing, deleting, overriding a built-in one, and the
preview of what a group sees with a campaign and without it. Each with a known answer."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from pydantic import ValidationError

from recommender.campaigns import campaigns_on, region_applies
from recommender.inputs import CampaignIn
from tests.api_keys import H, keyed_client


def body(**changes: object) -> dict[str, object]:
    """A valid campaign, changed as given."""
    base: dict[str, object] = {"name": "禁毒宣传周", "topics": ["drug_control"], "start": "2026-09-01",
                               "end": "2026-09-07", "boost": 0.5, "reason": "禁毒宣传周专题"}
    base.update(changes)
    return base


# ------------------------------------------------------------------------- rules (CampaignIn)


@pytest.mark.parametrize("changes", [
    {}, {"boost": 0.2}, {"boost": 0.6}, {"start": "12-25", "end": "01-05"}, {"start": "05-01", "end": "05-01"},
    {"start": "02-29", "end": "03-01"}, {"start": "2026-09-01", "end": "2026-09-01"}, {"reason": "宪" * 40},
])
def test_campaign_rules_accept(changes):
    assert CampaignIn(**body(**changes))


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"boost": 5}, "boost", "0.2-0.6"),
    ({"boost": 0.19}, "boost", "0.2-0.6"),
    ({"boost": 0.61}, "boost", "0.2-0.6"),
    ({"boost": "0.3"}, "boost", "number"),
    ({"reason": None}, "reason", "string"),
    ({"reason": "   "}, "reason", "blank"),
    ({"reason": "宪" * 41}, "reason", "41 characters"),
    ({"reason": "constitution week"}, "reason", "Chinese"),
    ({"start": "2026-09-08", "end": "2026-09-01"}, "end", "before start"),
    ({"start": "09-01", "end": "2026-09-07"}, "end", "of one kind"),
    ({"start": "02-30", "end": "03-01"}, "start", "not a day"),
    ({"start": "2026-9-1"}, "start", "YYYY-MM-DD"),
    ({"start": "13-01", "end": "13-02"}, "start", "not a day"),
    ({"topics": []}, "topics", "at least 1"),
    ({"name": " "}, "name", "blank"),
    ({"colour": "red"}, "colour", "Extra inputs"),
])
def test_campaign_rules_refuse_naming_the_field(changes, field, words):
    data = body(**changes)
    if "reason" in changes and changes["reason"] is None:
        del data["reason"]
        words = "required"
    with pytest.raises(ValidationError) as exc:
        CampaignIn(**data)
    first = exc.value.errors()[0]
    assert first["loc"] == (field,) and words in first["msg"], first


def test_reason_spaces_are_folded_and_topics_kept_once():
    c = CampaignIn(**body(reason=" 禁毒  宣传周 ", topics=["drug_control", "drug_control", "labour"]))
    assert c.reason == "禁毒 宣传周" and c.topics == ["drug_control", "labour"]


# ------------------------------------------------------------------------- where a campaign reaches


@pytest.mark.parametrize(("campaign_region", "region", "reaches"), [
    ("巴彦淖尔市", "临河区", True),
    ("巴彦淖尔市", "巴彦淖尔市", True),
    ("巴彦淖尔", "临河区", True),  # short names are the same region
    ("巴彦淖尔市", "包头市", False),
    ("巴彦淖尔市", "内蒙古自治区", False),  # a city's campaign does not reach the whole region
    ("临河区", "巴彦淖尔市", False),
    ("临河区", "五原县", False),
    ("内蒙古自治区", "临河区", True),
    ("内蒙古自治区", "包头市", True),
    ("内蒙古自治区", "广州市", False),
    ("巴彦淖尔市", None, True),  # a request that names no region
    (None, "广州市", True),  # a campaign for everywhere
])
def test_region_applies_by_ancestry(taxonomy, campaign_region, region, reaches):
    assert region_applies(taxonomy, campaign_region, region) is reaches


def test_a_city_campaign_reaches_its_counties_not_another_city(taxonomy):
    stored = [{"id": "bayannur-drugs", "name": "禁毒宣传周", "topics": ["drug_control"], "start": "2026-09-01",
               "end": "2026-09-07", "boost": 0.5, "reason": "禁毒宣传周专题", "region": "巴彦淖尔市"}]
    day = dt.date(2026, 9, 3)

    def ids(region: str) -> set[str]:
        return {c.id for c in campaigns_on(taxonomy, stored, day, ["public"], region)}

    assert "bayannur-drugs" in ids("临河区")
    assert "bayannur-drugs" in ids("乌拉特前旗")
    assert "bayannur-drugs" not in ids("包头市")
    assert "bayannur-drugs" not in {c.id for c in campaigns_on(taxonomy, stored, dt.date(2026, 9, 8), ["public"],
                                                                 "临河区")}


def test_the_autonomous_regions_month_reaches_a_county(taxonomy):
    """民族政策宣传月 is held in 内蒙古自治区: a request from 临河区 is inside it (matching by
    text missed it)."""
    on = {c.id for c in campaigns_on(taxonomy, [], dt.date(2026, 5, 10), ["public"], "临河区")}
    assert "ethnic_policy_month" in on
    assert "ethnic_policy_month" not in {c.id for c in campaigns_on(taxonomy, [], dt.date(2026, 5, 10),
                                                                      ["public"], "广州市")}


def test_a_recurring_window_over_new_year(taxonomy):
    stored = [{"id": "winter", "name": "冬季安全", "topics": ["anti_fraud"], "start": "12-25", "end": "01-05",
               "boost": 0.4, "reason": "冬季防诈骗专题"}]

    def on(day: dt.date) -> bool:
        return any(c.id == "winter" for c in campaigns_on(taxonomy, stored, day, ["public"], None))

    assert on(dt.date(2026, 12, 25)) and on(dt.date(2026, 12, 31)) and on(dt.date(2027, 1, 5))
    assert not on(dt.date(2026, 12, 24)) and not on(dt.date(2027, 1, 6)) and not on(dt.date(2026, 7, 1))


def test_an_editors_campaign_overrides_the_built_in_one_of_its_id(taxonomy):
    override = [{"id": "constitution_week", "name": "宪法宣传周（本地）", "topics": ["constitution"],
                 "start": "2026-12-03", "end": "2026-12-04", "boost": 0.3, "reason": "本地宪法宣传周"}]
    dec4 = [c for c in campaigns_on(taxonomy, override, dt.date(2026, 12, 4), ["public"], None)
            if c.id == "constitution_week"]
    assert [(c.boost, c.reason) for c in dec4] == [(0.3, "本地宪法宣传周")]
    # Its window replaces the built-in one's too: 12-01 is no longer in it.
    assert not any(c.id == "constitution_week"
                   for c in campaigns_on(taxonomy, override, dt.date(2026, 12, 1), ["public"], None))
    assert any(c.id == "constitution_week" for c in campaigns_on(taxonomy, [], dt.date(2026, 12, 1), ["public"], None))


# ------------------------------------------------------------------------- the HTTP API


@pytest.fixture(scope="module")
def client(backend_env):
    with keyed_client(backend_env["url"], backend_env["models"]) as c:
        yield c


@pytest.fixture
def cid(client):
    """A fresh campaign id, deleted after the test whatever happened."""
    campaign_id = f"tc-{uuid.uuid4().hex[:8]}"
    yield campaign_id
    client.delete(f"/v1/campaigns/{campaign_id}", headers=H("editor"))


def test_put_creates_then_replaces_and_get_reads_it(client, cid):
    r = client.put(f"/v1/campaigns/{cid}", json=body(region="巴彦淖尔"), headers=H("editor"))
    assert r.status_code == 201, r.text
    assert r.json()["id"] == cid and r.json()["region"] == "巴彦淖尔市"  # the hierarchy's name
    r = client.put(f"/v1/campaigns/{cid}", json=body(id=cid, boost=0.6, start="12-25", end="01-05"),
                   headers=H("admin"))
    assert r.status_code == 200, r.text
    got = client.get(f"/v1/campaigns/{cid}", headers=H("platform")).json()
    assert (got["boost"], got["start"], got["end"], got["source"]) == (0.6, "12-25", "01-05", "editor")
    assert "region" not in got or got["region"] is None
    assert [c["id"] for c in client.get("/v1/campaigns", headers=H("analyst")).json()].count(cid) == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"boost": 5}, "boost"), ({"reason": "x"}, "reason"), ({"start": "2026-09-08", "end": "2026-09-01"}, "end"),
    ({"region": "月球"}, "region"), ({"topics": ["no_such_topic"]}, "topics"), ({"groups": ["martians"]}, "groups"),
    ({"id": "another-id"}, "id"),
])
def test_put_refuses_with_a_422_naming_the_field(client, cid, changes, field):
    r = client.put(f"/v1/campaigns/{cid}", json=body(**changes), headers=H("editor"))
    assert r.status_code == 422 and r.json()["detail"].startswith(f"{field}: "), r.text
    assert client.get(f"/v1/campaigns/{cid}", headers=H("editor")).status_code == 404  # nothing stored


def test_post_still_adds_with_a_server_made_id(client):
    r = client.post("/v1/campaigns", json=body(), headers=H("editor"))
    assert r.status_code == 201 and r.json()["id"].startswith("c-")
    assert client.delete(f"/v1/campaigns/{r.json()['id']}", headers=H("editor")).status_code == 200
    missing = client.post("/v1/campaigns", json={k: v for k, v in body().items() if k != "reason"}, headers=H("editor"))
    assert missing.status_code == 422 and missing.json()["detail"].startswith("reason: ")


def test_delete_an_editors_campaign_then_404(client, cid):
    assert client.put(f"/v1/campaigns/{cid}", json=body(), headers=H("editor")).status_code == 201
    r = client.delete(f"/v1/campaigns/{cid}", headers=H("editor"))
    assert r.status_code == 200 and r.json() == {"id": cid, "deleted": True, "in_force_again": None}
    assert client.get(f"/v1/campaigns/{cid}", headers=H("editor")).status_code == 404
    assert client.delete(f"/v1/campaigns/{cid}", headers=H("editor")).status_code == 404


def test_a_built_in_campaign_cannot_be_deleted_but_may_be_overridden(client):
    r = client.delete("/v1/campaigns/constitution_week", headers=H("editor"))
    assert r.status_code == 409 and "built-in" in r.json()["detail"] and r.json()["field"] == "id"
    try:
        r = client.put("/v1/campaigns/constitution_week",
                       json=body(name="宪法宣传周（本地）", topics=["constitution"], start="12-01", end="12-10",
                                 boost=0.4, reason="本地宪法宣传周"), headers=H("editor"))
        assert r.status_code == 201, r.text
        listed = [c for c in client.get("/v1/campaigns", headers=H("editor")).json() if c["id"] == "constitution_week"]
        assert [(c["source"], c["end"]) for c in listed] == [("editor", "12-10")]
        rec = client.post("/v1/recommendations", json={"groups": ["public"], "date": "2026-12-09", "k": 10},
                          headers=H("platform")).json()
        assert any("本地宪法宣传周" in i["reasons"] for i in rec["items"])
    finally:
        gone = client.delete("/v1/campaigns/constitution_week", headers=H("editor"))
    assert gone.status_code == 200 and gone.json()["in_force_again"]["source"] == "taxonomy"
    listed = [c for c in client.get("/v1/campaigns", headers=H("editor")).json() if c["id"] == "constitution_week"]
    assert [(c["source"], c["end"]) for c in listed] == [("taxonomy", "12-07")]


def test_roles_for_writing_and_previewing(client, cid):
    assert client.put(f"/v1/campaigns/{cid}", json=body(), headers=H("analyst")).status_code == 403
    assert client.put(f"/v1/campaigns/{cid}", json=body(), headers=H("platform")).status_code == 403
    assert client.delete("/v1/campaigns/constitution_week", headers=H("analyst")).status_code == 403
    url = "/v1/campaigns/constitution_week/preview?group=herders&date=2026-12-04"
    assert client.get(url, headers=H("platform")).status_code == 403
    assert {client.get(url, headers=H(r)).status_code for r in ("editor", "analyst", "admin")} == {200}


def test_preview_with_and_without_a_county_campaign(client, cid):
    # Herders in 临河区 on 12·4, a 巴彦淖尔市 campaign on grassland and land contracts.
    r = client.put(f"/v1/campaigns/{cid}", json=body(name="草原法宣传日", topics=["agriculture_rural"],
                                                    start="2026-12-04", end="2026-12-04", boost=0.6,
                                                    reason="草原法宣传日专题", region="巴彦淖尔市"),
                   headers=H("editor"))
    assert r.status_code == 201, r.text
    before = client.get("/v1/exposures?limit=1000", headers=H("analyst")).json()
    p = client.get(f"/v1/campaigns/{cid}/preview",
                   params={"group": "herders", "region": "临河区", "date": "2026-12-04", "k": 10}, headers=H("editor"))
    assert p.status_code == 200, p.text
    out = p.json()
    assert out["in_force"] is True and out["campaign"]["id"] == cid and out["date"] == "2026-12-04"
    shown = [i["item_id"] for i in out["with_campaign"]]
    without = [i["item_id"] for i in out["without_campaign"]]
    assert len(shown) == len(without) == 10
    assert any("草原法宣传日专题" in i["reasons"] for i in out["with_campaign"])
    assert not any("草原法宣传日专题" in i["reasons"] for i in out["without_campaign"])
    assert out["entered"] == [i for i in shown if i not in without]
    assert out["left"] == [i for i in without if i not in shown]
    # The campaign's items fill the campaigns' share of the list (shared with Constitution
    # week: a place may change hands between them; a herder's grassland items may have been in
    # the list already, now in the campaign's place).
    ours = [i for i in out["with_campaign"] if "草原法宣传日专题" in i["reasons"]]
    assert ours and all(i.get("slot") == "campaign" for i in ours)
    assert sum(i.get("slot") == "campaign" for i in out["with_campaign"]) <= 3
    # The 12·4 Constitution Day campaign is in both lists: only this one is taken away.
    assert any("国家宪法日专题" in i["reasons"] for i in out["without_campaign"])
    # The list with the campaign is what the platform is served; nothing was logged by the preview.
    served = client.post("/v1/recommendations", json={"groups": ["herders"], "region": "临河区",
                                                      "date": "2026-12-04", "k": 10}, headers=H("platform")).json()
    assert [i["item_id"] for i in served["items"]] == shown
    after = client.get("/v1/exposures?limit=1000", headers=H("analyst")).json()
    assert len(after) == len(before) + 1  # the platform's request only

    # Another city, or another day: not in force, the two lists are the same.
    for params in ({"group": "herders", "region": "包头市", "date": "2026-12-04"},
                   {"group": "herders", "region": "临河区", "date": "2026-12-05"}):
        q = client.get(f"/v1/campaigns/{cid}/preview", params=params, headers=H("analyst")).json()
        assert q["in_force"] is False and q["entered"] == q["left"] == []
        assert q["with_campaign"] == q["without_campaign"]


def test_preview_of_a_built_in_campaign_and_bad_requests(client):
    p = client.get("/v1/campaigns/constitution_week/preview",
                   params={"group": "public", "date": "2026-12-04", "k": 5}, headers=H("analyst")).json()
    assert p["in_force"] is True and len(p["with_campaign"]) == 5
    assert any("国家宪法日专题" in i["reasons"] for i in p["with_campaign"])
    assert not any("国家宪法日专题" in i["reasons"] for i in p["without_campaign"])
    assert p["entered"]
    # The shared engine still has the built-in campaign afterwards.
    again = client.get("/v1/campaigns/constitution_week/preview",
                       params={"group": "public", "date": "2026-12-04", "k": 5}, headers=H("analyst")).json()
    assert again["with_campaign"] == p["with_campaign"]
    assert client.get("/v1/campaigns/no-such/preview", headers=H("editor")).status_code == 404
    bad = client.get("/v1/campaigns/constitution_week/preview", params={"group": "martians"}, headers=H("editor"))
    assert bad.status_code == 422 and bad.json()["detail"].startswith("group: ")
    bad = client.get("/v1/campaigns/constitution_week/preview", params={"region": "月球"}, headers=H("editor"))
    assert bad.status_code == 422 and bad.json()["detail"].startswith("region: ")
    bad = client.get("/v1/campaigns/constitution_week/preview", params={"k": 0}, headers=H("editor"))
    assert bad.status_code == 422 and bad.json()["detail"].startswith("query.k: ")
