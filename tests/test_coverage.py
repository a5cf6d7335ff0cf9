"""Coverage that answers the plan's question (issue 11, item 4): known answers on the bundled sample.

Anonymous group requests are replayed through the real service on plan days
(:func:`recommender.coverage.replay_group_requests`); the one coverage function
(``Reports.pushes``) is checked against counts made here from the exposure rows those requests
logged; GET /v1/stats/coverage and /v1/stats/pushes agree; ``pufa coverage`` prints the table and
names the option at fault.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.api_keys import H, keyed_client

from .test_pushes import must_know

CONSTITUTION_DAY = dt.date(2026, 12, 4)
ORDINARY_DAY = dt.date(2026, 10, 15)



@pytest.fixture(scope="module")
def svc(sample_env):
    from recommender.service import PufaService

    return PufaService(sample_env["store"], sample_env["models"])


@pytest.fixture(scope="module")
def client(sample_env):
    with keyed_client(sample_env["url"], sample_env["models"]) as c:
        yield c


def test_a_replayed_constitution_day_for_the_public_counted_from_the_exposure_rows(svc, taxonomy):
    from recommender.coverage import campaign_items_per_request, replay_group_requests

    t0, t1 = replay_group_requests(svc, CONSTITUTION_DAY, ["public"], per_group=2)
    rows = list(svc.store.exposures.in_period(t0, t1))
    assert len(rows) == 2 and all(r.user_id is None and r.groups == ["public"] for r in rows)
    (got,) = svc.reports.pushes(t0, t1, "public").groups
    pushed = [i["item_id"] for r in rows for i in r.items]
    expected_must = must_know("public")
    on_must = sum(1 for i in pushed if i in expected_must)
    # Anonymous requests count: two requests, nobody.
    assert (got.requests, got.people, got.pushes, got.items) == (2, 0, len(pushed), len(set(pushed)))
    assert got.pushes == 20
    assert on_must > 0 and got.must_know_share == on_must / len(pushed)
    assert {m.item_id: m.title for m in got.must_know} == expected_must  # the list, with titles
    assert got.must_know_pushed == len(set(pushed) & set(expected_must))
    assert all(m.pushes == pushed.count(m.item_id) and m.people == 0 for m in got.must_know)
    plan = taxonomy.groups["public"].topics
    assert "constitution" in {t.topic for t in got.topics if t.pushes > 0}
    assert got.plan_share == sum(1 for r in rows for i in r.items
                                 if set(svc.engine.model.catalog.shown_topics(
                                     svc.engine.model.catalog.row_of[i["item_id"]])) & set(plan)) / 20
    cat = svc.engine.model.catalog
    reached = {t for r in rows for i in r.items for t in cat.shown_topics(cat.row_of[i["item_id"]])} & set(plan)
    assert got.plan_topics_reached == len(reached) and 0 < len(reached) <= len(plan)
    assert all(t.title for t in got.top_items)
    # The campaign of the day is in the top 10, bounded; on an ordinary day there is none.
    assert 1 <= campaign_items_per_request(svc, t0, t1, CONSTITUTION_DAY)["public"] <= 3
    o0, o1 = replay_group_requests(svc, ORDINARY_DAY, ["public"])
    assert campaign_items_per_request(svc, o0, o1, ORDINARY_DAY) == {"public": 0.0}


def test_all_fifteen_groups_by_default_and_the_table(svc, taxonomy):
    from recommender.coverage import HEADINGS, format_coverage, replay_group_requests

    t0, t1 = replay_group_requests(svc, ORDINARY_DAY)
    report = svc.reports.pushes(t0, t1)
    assert [g.group for g in report.groups] == list(taxonomy.groups) and len(report.groups) == 15
    for g in report.groups:
        assert (g.requests, g.people, g.pushes) == (1, 0, 10), g.group
        assert 0.0 <= g.must_know_share <= 1.0 and g.must_know_share == sum(m.pushes for m in g.must_know) / 10
    text = format_coverage(report)
    lines = text.splitlines()
    assert all(h in lines[1] for h in HEADINGS) and len(lines) == 2 + 15
    for g, line in zip(report.groups, lines[2:], strict=True):
        assert line.startswith(g.group) and g.name in line
        assert f"{g.must_know_pushed}/{len(g.must_know)}" in line and f"{g.plan_share:.0%}" in line
        assert g.top_items[0].title in line
    with pytest.raises(Exception, match="unknown group"):
        replay_group_requests(svc, ORDINARY_DAY, ["astronauts"])


def test_an_empty_period_has_no_pushes(svc):
    report = svc.reports.pushes(dt.date(2001, 1, 1), dt.date(2001, 1, 2))
    assert all((g.requests, g.pushes, g.plan_share, g.must_know_share, g.must_know_pushed) == (0, 0, 0.0, 0.0, 0)
               for g in report.groups)


def test_the_coverage_and_pushes_endpoints_agree(svc, client):
    from recommender.coverage import replay_group_requests

    t0, t1 = replay_group_requests(svc, CONSTITUTION_DAY, ["herders", "public"])
    params = {"start": t0.isoformat(), "end": t1.isoformat()}
    cov = client.get("/v1/stats/coverage", params=params, headers=H("analyst"))
    push = client.get("/v1/stats/pushes", params=params, headers=H("analyst"))
    assert cov.status_code == push.status_code == 200, (cov.text, push.text)
    covered, pushed = cov.json()["groups"], {g["group"]: g for g in push.json()["groups"]}
    assert list(covered) == list(pushed) and len(covered) == 15
    for group in ("herders", "public"):
        c, p = covered[group], pushed[group]
        assert (c["requests"], c["pushes"], c["people"]) == (p["requests"], p["pushes"], p["people"]) == (1, 10, 0)
        assert c["plan_share"] == p["plan_share"] and c["must_know_share"] == p["must_know_share"]
        assert c["topics"] == {t["topic"]: {k: t[k] for k in ("name", "plan_weight", "pushes", "share")}
                               for t in p["topics"]}
        assert c["must_know"]["rows"] == p["must_know"] and c["must_know"]["shown"] == p["must_know_pushed"]
        assert c["top_items"] == p["top_items"]
    assert covered["elderly"]["pushes"] == 0
    one = client.get("/v1/stats/coverage", params={**params, "group": "public"}, headers=H("analyst")).json()
    assert list(one["groups"]) == ["public"] and one["groups"]["public"] == covered["public"]
    empty = client.get("/v1/stats/coverage", params={"start": "2001-01-01", "end": "2001-01-02"},
                       headers=H("analyst")).json()
    assert all(g["pushes"] == 0 and g["plan_share"] == 0.0 and g["must_know_share"] == 0.0
               for g in empty["groups"].values())
    bad = client.get("/v1/stats/coverage", params={"group": "astronauts"}, headers=H("analyst"))
    assert bad.status_code == 422 and bad.json()["field"] == "group" and bad.json()["detail"].startswith("group")
    late = client.get("/v1/stats/coverage", params={"start": "2026-05-02", "end": "2026-05-01"},
                      headers=H("analyst"))
    assert late.status_code == 422 and late.json()["detail"].startswith("start")
    assert client.get("/v1/stats/coverage", headers=H("editor")).status_code == 403


def pufa_coverage(sample_env, capsys, *args: str) -> tuple[int, str, str]:
    from recommender.cli import main

    common = ["--db", sample_env["url"], "--models", str(sample_env["models"])]
    try:
        code = main(["coverage", *common, *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_pufa_coverage_replays_days_and_names_bad_options(sample_env, capsys, taxonomy):
    from recommender.coverage import HEADINGS

    code, out, _ = pufa_coverage(sample_env, capsys, "--replay-day", "2026-10-15", "--replay-day", "2026-12-04",
                                 "--per-group", "2", "--json")
    assert code == 0
    days = json.loads(out)
    assert [d["replay_day"] for d in days] == ["2026-10-15", "2026-12-04"]
    for d in days:
        assert [g["group"] for g in d["groups"]] == list(taxonomy.groups)
        assert all((g["requests"], g["people"], g["pushes"]) == (2, 0, 20) for g in d["groups"])
    code, out, err = pufa_coverage(sample_env, capsys, "--replay-day", "2026-12-04", "--group", "herders")
    assert code == 0 and "plan day 2026-12-04" in out and all(h in out for h in HEADINGS)
    assert "\nherders " in out and "农牧民" in out and "\npublic " not in out and "exposure log" in err
    code, out, _ = pufa_coverage(sample_env, capsys, "--start", "2001-01-01", "--end", "2001-01-02", "--json")
    assert code == 0 and all(g["pushes"] == 0 for g in json.loads(out)["groups"])
    for args, option in ((["--replay-day", "2026-12-40"], "--replay-day"), (["--start", "yesterday"], "--start"),
                         (["--group", "astronauts"], "--group"), (["--start", "2026-05-02", "--end", "2026-05-01"],
                                                                  "--start"),
                         (["--start", "2026-05-01", "--replay-day", "2026-12-04"], "--replay-day"),
                         (["--end", "0001-01-01"], "--end"), (["--per-group", "0"], "--per-group")):
        code, _, err = pufa_coverage(sample_env, capsys, *args)
        assert code == 2 and option in err, (args, err)
