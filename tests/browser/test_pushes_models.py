"""The console's 推送情况 and 模型 pages in a real browser (issue 9, items 5-7).

Pushes are seeded through the JSON API (people put in a group, recommendations served to them,
one must-know item completed); each test uses a group no other browser test touches, so the
counts on the page are known exactly. A second model version is built with the CLI (LSA
vectors, seconds) and not activated, for the admin to activate and roll back.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.browser.conftest import sign_in
from tests.test_server import PUFA, REPO

BEIJING = dt.timezone(dt.timedelta(hours=8))


def seed(api: Any, group: str, people: int = 2) -> dict[str, Any]:
    """``people`` people in ``group``; the first gets two recommendations, the others one; the
    first completes one of the group's must-know items. What was served, for the asserts."""
    users = [f"pm-{group[:6]}-{uuid.uuid4().hex[:8]}" for _ in range(people)]
    served: list[tuple[str, list[dict[str, Any]]]] = []
    for user in users:
        assert api("put", f"/v1/users/{user}", role="platform", json={"groups": [group]}).status_code == 200
    for user in [users[0], *users]:
        r = api("post", "/v1/recommendations", role="platform", json={"user_id": user, "k": 5})
        assert r.status_code == 200, r.text
        served.append((user, r.json()["items"]))
    must = api("get", "/v1/stats/pushes", params={"group": group}).json()["groups"][0]["must_know"]
    assert must, f"the sample has must-know items for {group}"
    done = must[0]["item_id"]
    r = api("post", "/v1/events", role="platform", json={"user_id": users[0], "type": "complete", "item_id": done})
    assert r.status_code == 202, r.text
    return {"users": users, "served": served, "completed": done,
            "pushes": sum(len(items) for _, items in served)}


def image_width(page: Any, selector: str) -> int:
    page.wait_for_function(f"document.querySelector({selector!r}).complete", timeout=60_000)
    return int(page.eval_on_selector(selector, "img => img.naturalWidth"))


def active_version(api: Any) -> str:
    return next(m["version"] for m in api("get", "/v1/admin/models", role="admin").json() if m["active"])


# ------------------------------------------------------------------------------- 推送情况


def test_pushes_page_shows_the_groups_counts_and_the_heat_map(page: Any, api: Any, server: Any, shot: Any) -> None:
    group = "border_residents"
    seeded = seed(api, group)
    sign_in(page, "editor", next_url="/console/pushes")
    assert page.locator("h1").inner_text() == "推送情况"
    today = dt.datetime.now(BEIJING).date()
    assert page.locator("input[name=end]").input_value() == today.isoformat()  # the last 30 days by default
    assert page.locator("input[name=start]").input_value() == (today - dt.timedelta(days=29)).isoformat()
    row = page.locator(f"#summary tr[data-group='{group}']")
    assert row.locator("[data-field=requests]").inner_text() == str(len(seeded["served"]))
    assert row.locator("[data-field=pushes]").inner_text() == str(seeded["pushes"])
    assert row.locator("[data-field=people]").inner_text() == str(len(seeded["users"]))
    assert image_width(page, "#heatmap") > 0
    section = page.locator(f"section#group-{group}")
    titles = {i["item_id"]: i["title"] for _, items in seeded["served"] for i in items}
    top = section.locator(".top-items li").first
    assert top.get_attribute("data-item-id") in titles
    assert titles[top.get_attribute("data-item-id") or ""] in top.inner_text()  # titles, not ids
    done = section.locator(f".must-know tr[data-item-id='{seeded['completed']}'] td")
    assert done.nth(0).inner_text() and done.nth(3).inner_text() == "1"  # a title; one person completed it
    assert section.locator(".topics-share tr.plan").count() > 0  # the group's plan topics in the share table
    shot("report")
    # One group chosen from the list: only its section.
    page.select_option("select[name=group]", group)
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("section.group").count() == 1 and image_width(page, "#heatmap") > 0
    # An editor: the rule is stated, there is no per-person form, and its route is refused.
    rule = page.locator("#rule").inner_text()
    assert "个人推送记录" in rule and "分析员" in rule and "编辑" in rule
    assert page.locator("form[action='/console/pushes/person']").count() == 0
    response = page.goto(f"/console/pushes/person?user_id={seeded['users'][0]}")
    assert response is not None and response.status == 403
    assert "没有权限" in page.locator("h1").inner_text() and seeded["users"][0] not in page.content()
    # The image is the console's: without the cookie it is not served.
    r = httpx.get(f"{server.url}/console/pushes/heatmap.png", follow_redirects=False)
    assert r.status_code == 303 and "/console/login" in r.headers["location"]


def test_an_analyst_sees_exactly_what_the_log_holds_for_a_person(page: Any, api: Any, shot: Any) -> None:
    seeded = seed(api, "teachers")
    user = seeded["users"][0]
    logged = api("get", f"/v1/stats/pushes/people/{user}", role="analyst").json()["pushes"]
    assert len(logged) == 2
    sign_in(page, "analyst", next_url="/console/pushes")
    assert "个人推送记录" in page.locator("#rule").inner_text()
    page.fill("#person-id", user)
    page.click("form.person-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "个人推送记录"
    rows = page.locator("article.push")
    assert rows.count() == len(logged)
    for k, push in enumerate(logged):  # newest first, as the log holds them
        row = rows.nth(k)
        when = dt.datetime.fromisoformat(push["created_at"]).astimezone(BEIJING)
        assert when.strftime("%Y-%m-%d %H:%M:%S") in row.locator("h2").inner_text()
        assert "北京时间" in row.locator("h2").inner_text()
        assert push["model_version"] in row.locator(".meta").inner_text()
        assert ("个性化推荐" if push["personalized"] else "非个性化") in row.locator(".badge").inner_text()
        cells = row.locator("tbody tr")
        assert cells.count() == len(push["items"])
        for j, item in enumerate(push["items"]):
            text = cells.nth(j).inner_text()
            assert item["title"] in text and all(reason in text for reason in item["reasons"])
    assert page.locator(f"article.push:has-text('{seeded['users'][1]}')").count() == 0  # nobody else's rows
    shot("person")


# ------------------------------------------------------------------------------- 模型


def test_models_page_lists_the_versions_with_the_active_one_marked(page: Any, api: Any, shot: Any) -> None:
    active = active_version(api)
    sign_in(page, "analyst", next_url="/console/models")
    assert page.locator("h1").inner_text() == "模型"
    row = page.locator(f"#versions tr[data-version='{active}']")
    assert "当前生效" in row.locator(".active-badge").inner_text()
    assert page.locator("#versions .active-badge").count() == 1
    assert page.locator("#compare table.comparison tbody tr").count() > 0
    assert image_width(page, "#compare-chart") > 0
    # An analyst reads; no retrain, no activation, no rollback.
    assert page.locator("#retrain-button, button.activate, #rollback").count() == 0


def test_an_admin_activates_a_built_version_and_rolls_back(page: Any, api: Any, built: tuple[str, Path],
                                                           shot: Any) -> None:
    db, models = built
    before = active_version(api)
    done = subprocess.run([*PUFA, "build", "--db", db, "--models", str(models), "--config",
                           str(models.parent / "build.json"), "--no-eval", "--questions", "none", "--no-activate",
                           "--json"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    new = json.loads(done.stdout)["version"]
    assert active_version(api) == before  # registered, not active
    sign_in(page, "admin", next_url=f"/console/models?version={new}")
    assert page.locator("#compare").get_attribute("data-version") == new
    assert f"与当前版本 {before} 对比" in page.locator("#compare h2").inner_text()
    assert image_width(page, "#compare-chart") > 0
    shot("compare")
    page.click(f"button.activate[data-version='{new}']")
    page.wait_for_load_state()
    assert "已启用模型版本" in page.locator(".flash").inner_text()
    assert page.locator(f"#versions tr[data-version='{new}'] .active-badge").count() == 1
    assert active_version(api) == new
    shot("activated")
    page.click("#rollback")
    page.wait_for_load_state()
    assert "已回滚" in page.locator(".flash").inner_text()
    assert page.locator(f"#versions tr[data-version='{before}'] .active-badge").count() == 1
    assert active_version(api) == before


def test_an_editor_requests_a_retrain_but_cannot_activate(page: Any, api: Any, shot: Any) -> None:
    active = active_version(api)
    versions = [m["version"] for m in api("get", "/v1/admin/models", role="admin").json()]
    other = next((v for v in versions if v != active), active)
    sign_in(page, "editor", next_url="/console/models")
    assert page.locator("button.activate, #rollback").count() == 0
    assert "管理员" in page.locator("#retrain").inner_text()
    token = page.locator("#retrain input[name=csrf]").get_attribute("value")
    for url in (f"/console/models/{other}/activate", "/console/models/rollback"):  # the page's own token
        r = page.request.post(url, form={"csrf": token or ""}, max_redirects=0)
        assert r.status == 403 and "需要管理员身份" in r.text(), url
    assert active_version(api) == active
    page.uncheck("#retrain input[name=evaluate]")  # quicker; the job is what this test looks at
    page.click("#retrain-button")
    page.wait_for_load_state()
    assert "/console/models/builds/" in page.url
    build = page.locator("#build")
    job = build.get_attribute("data-job")
    assert job and build.get_attribute("data-status") in ("queued", "running", "done")
    assert api("get", f"/v1/builds/{job}").json()["id"] == job
    if build.get_attribute("data-status") != "done":
        assert page.locator("meta[http-equiv=refresh]").count() == 1  # the page follows the build
    shot("job")
    assert active_version(api) == active  # a retrain does not activate anything
