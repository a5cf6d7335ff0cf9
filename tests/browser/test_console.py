"""The console in a real browser: sign-in per role, refusals of forged or cookie-less forms,
and the review queue (accept, correct in Chinese, and what that changes for a group)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.browser.conftest import KEYS, sign_in

NAV = {
    "editor": ["审核队列", "内容", "主题活动", "推送情况", "模型"],
    "admin": ["审核队列", "内容", "主题活动", "推送情况", "模型", "活动预览"],
    "analyst": ["推送情况", "模型", "活动预览"],
    "platform": [],
}
ROLE_NAMES = {"platform": "平台接入", "editor": "编辑", "analyst": "分析人员", "admin": "管理员"}


def new_item(api: Any, title: str, body: str) -> str:
    """An explainer an editor adds without topics: the model predicts them."""
    item_id = f"t-{uuid.uuid4().hex[:8]}"
    r = api("post", "/v1/items", json={"id": item_id, "type": "explainer", "title": title, "body": body})
    assert r.status_code == 201, r.text
    return item_id


def queued_ids(api: Any) -> list[str]:
    r = api("get", "/v1/review-queue", params={"limit": 500, "only_new": "true"})
    assert r.status_code == 200, r.text
    return [row["item_id"] for row in r.json()]


def editor_topics(api: Any, item_id: str) -> list[str] | None:
    return api("get", f"/v1/items/{item_id}").json()["editor_topics"]


def group_rank(api: Any, group: str, item_id: str) -> int | None:
    body = api("post", "/v1/recommendations", role="platform", json={"groups": [group], "k": 100}).json()
    ids = [i["item_id"] for i in body["items"]]
    return ids.index(item_id) if item_id in ids else None


@pytest.mark.parametrize("role", ["editor", "analyst", "admin", "platform"])
def test_each_role_signs_in_and_sees_its_nav(page: Any, role: str) -> None:
    sign_in(page, role)
    assert page.url.endswith("/console/")
    assert page.locator(".who .role").inner_text() == ROLE_NAMES[role]
    assert page.locator("nav.nav a").all_inner_texts() == NAV[role]
    cookie = next(c for c in page.context.cookies() if c["name"] == "pufa_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    if role == "platform":
        assert "此控制台供编辑和分析人员使用" in page.locator("h1").inner_text()
    if role in ("analyst", "platform"):  # a page the role may not use is refused, not just hidden
        response = page.goto("/console/review")
        assert response is not None and response.status == 403
        assert page.locator("main form").count() == 0
    else:
        response = page.goto("/console/review")
        assert response is not None and response.status == 200
        assert page.locator("h1").inner_text() == "审核队列"
    page.get_by_role("button", name="退出登录").click()  # signing out forgets the key
    page.wait_for_load_state()
    assert "/console/login" in page.url
    assert not [c for c in page.context.cookies() if c["name"] == "pufa_console"]
    page.goto("/console/")
    assert "/console/login" in page.url


def test_development_mode_signs_everyone_in_as_admin_and_says_so(page: Any, dev_server: Any) -> None:
    page.goto(f"{dev_server.url}/console/login")
    assert "开发模式" in page.locator(".notice").inner_text() and "管理员" in page.locator(".notice").inner_text()
    page.click("form[action='/console/login'] button[type=submit]")  # no key needed
    page.wait_for_load_state()
    assert page.locator(".who .role").inner_text() == "管理员"
    assert page.locator("nav.nav a").all_inner_texts() == NAV["admin"]
    assert "开发模式" in page.locator(".devmode").inner_text()


def test_a_wrong_key_is_refused(page: Any, shot: Any, server: Any) -> None:
    sign_in(page, None, key="not-a-key", next_url="/console/review")
    assert "/console/login" in page.url and "/console/review" not in page.url.split("?")[0]
    assert "密钥不正确" in page.locator(".error").inner_text()
    shot("refused")
    # A sign-in form posted from elsewhere (no nonce cookie of this browser) signs no one in.
    r = httpx.post(f"{server.url}/console/login", data={"key": KEYS["editor"], "csrf": "0" * 64},
                   follow_redirects=False)
    assert r.status_code == 403 and "pufa_console=" not in r.headers.get("set-cookie", "").replace(
        "pufa_console_login=", "")
    assert not [c for c in page.context.cookies() if c["name"] == "pufa_console"]
    page.goto("/console/review")
    assert "/console/login" in page.url  # still not signed in: sent to the sign-in page


def test_a_post_without_the_cookie_is_refused(page: Any, api: Any, server: Any) -> None:
    item_id = new_item(api, "邻居占了我家草场怎么办", "草场承包经营权受法律保护，被侵占可以找嘎查村委会调解，也可以起诉。")
    url = f"{server.url}/console/review/{item_id}/accept"
    # Straight from a client that never signed in.
    r = httpx.post(url, data={"topics": ["agriculture_rural"], "csrf": "0" * 64}, follow_redirects=False)
    assert r.status_code == 403 and "请先登录" in r.text
    # From another site, in a browser that is signed in: SameSite=Strict keeps the cookie home.
    sign_in(page, "editor")
    page.route("http://elsewhere.test/**", lambda route: route.fulfill(content_type="text/html", body=(
        f'<form id="f" method="post" action="{url}"><input name="topics" value="agriculture_rural">'
        '<input name="csrf" value="forged"></form><script>document.getElementById("f").submit()</script>')))
    with page.expect_navigation(url=url) as nav:
        page.goto("http://elsewhere.test/attack")
    assert nav.value is not None and nav.value.status == 403
    assert editor_topics(api, item_id) is None and item_id in queued_ids(api)


def test_a_post_with_a_forged_or_missing_token_is_refused(page: Any, api: Any, shot: Any) -> None:
    item_id = new_item(api, "网购商品有质量问题能退吗", "经营者提供的商品不符合质量要求的，消费者可以要求退货、更换或者修理。")
    sign_in(page, "editor", next_url="/console/review")
    row = page.locator(f"article[data-item-id='{item_id}']")
    token = row.locator("input[name=csrf]").first.get_attribute("value")
    url = f"/console/review/{item_id}/accept"
    attempts = {
        "forged": ({"topics": "consumer", "csrf": "f" * 64}, {}),
        "missing": ({"topics": "consumer"}, {}),
        "not-ascii": ({"topics": "consumer", "csrf": "伪造的令牌"}, {}),
        "other-site": ({"topics": "consumer", "csrf": token}, {"Origin": "http://elsewhere.test"}),
    }
    for what, (form, headers) in attempts.items():
        r = page.request.post(url, form=form, headers=headers, max_redirects=0)
        assert r.status == 403, (what, r.status)
        assert "操作没有执行" in r.text(), what
    assert editor_topics(api, item_id) is None and item_id in queued_ids(api)
    # The same request with the page's own token goes through: the token was the difference.
    r = page.request.post(url, form={"topics": "consumer", "csrf": token}, max_redirects=0)
    assert r.status == 303
    assert editor_topics(api, item_id) == ["consumer"]


def test_accept_a_queued_item_and_it_leaves_the_queue(page: Any, api: Any, shot: Any) -> None:
    item_id = new_item(api, "老板拖欠工资三个月，怎么讨薪", "可以向劳动保障监察机构投诉，也可以申请劳动仲裁，仲裁不收费。")
    sign_in(page, "editor", next_url="/console/review")
    rows = page.locator("article.row")
    assert rows.first.get_attribute("data-item-id") == item_id  # the newest editor-added item comes first
    assert "编辑新增" in rows.first.locator(".badge.new").inner_text()
    left = int(page.locator("#left [data-total]").get_attribute("data-total") or "0")
    row = page.locator(f"article[data-item-id='{item_id}']")
    proposed = [i.get_attribute("value") for i in row.locator("form[action$='/accept'] input[name=topics]").all()]
    assert "labour" in proposed
    assert row.locator(".topics .kw").first.inner_text().startswith("关键词：")  # the words behind a topic
    shot("before")
    row.locator("button.accept").click()
    page.wait_for_load_state()
    assert "已采纳主题标签" in page.locator(".flash").inner_text()
    assert page.locator(f"article[data-item-id='{item_id}']").count() == 0
    assert int(page.locator("#left [data-total]").get_attribute("data-total") or "0") == left - 1
    assert editor_topics(api, item_id) == proposed
    assert item_id not in queued_ids(api)


def test_correct_with_chinese_topic_names_changes_a_groups_recommendations(page: Any, api: Any, shot: Any) -> None:
    item_id = new_item(api, "包工头拖欠工钱怎么办",
                       "在工地干了半年活，包工头一直拖着工钱不给。可以先保存考勤和聊天记录，向劳动保障监察投诉，或者申请劳动仲裁。")
    assert api("get", f"/v1/items/{item_id}").json()["predicted_topics"][0]["id"] == "labour"
    herders_before = group_rank(api, "herders", item_id)
    sign_in(page, "editor", next_url="/console/review")
    row = page.locator(f"article[data-item-id='{item_id}']")
    row.locator("details.correct summary").click()
    form = row.locator("form[action$='/correct']")
    for box in form.locator("input[name=topics]:checked").all():
        box.uncheck()
    form.get_by_label("三农三牧与乡村振兴").check()
    form.get_by_label("生态文明").check()
    form.get_by_label("农牧民（嘎查村民）").check()
    shot("choosing")
    form.get_by_role("button", name="保存修改").click()
    page.wait_for_load_state()
    assert "已修改主题标签" in page.locator(".flash").inner_text()
    assert page.locator(f"article[data-item-id='{item_id}']").count() == 0
    stored = api("get", f"/v1/items/{item_id}").json()
    assert stored["editor_topics"] == ["agriculture_rural", "ecology"] and stored["groups"] == ["herders"]
    herders_after = group_rank(api, "herders", item_id)
    assert herders_after is not None and (herders_before is None or herders_after < herders_before), \
        (herders_before, herders_after)


def test_review_queue_api_orders_filters_and_pages(api: Any) -> None:
    """The JSON queue behind the page (no browser needed)."""
    older = new_item(api, "签劳动合同要注意什么", "用人单位自用工之日起一个月内应当与劳动者订立书面劳动合同。")
    newer = new_item(api, "电信诈骗常见套路", "冒充公检法、刷单返利都是诈骗，接到陌生来电要求转账的，请拨打96110核实。")
    r = api("get", "/v1/review-queue", params={"limit": 2, "only_new": "true"})
    assert r.status_code == 200 and [row["item_id"] for row in r.json()] == [newer, older]
    total = int(r.headers["x-total-count"])
    assert total >= 2
    second = api("get", "/v1/review-queue", params={"limit": 1, "offset": 1, "only_new": "true"}).json()
    assert [row["item_id"] for row in second] == [older]
    fraud = api("get", "/v1/review-queue", params={"topic": "anti_fraud", "limit": 500}).json()
    assert newer in [row["item_id"] for row in fraud] and older not in [row["item_id"] for row in fraud]
    cases = api("get", "/v1/review-queue", params={"type": "case", "scope": "all", "limit": 500}).json()
    assert cases and all(row["type"] == "case" for row in cases)
    bad = api("get", "/v1/review-queue", params={"topic": "no_such_topic"})
    assert bad.status_code == 422 and "topic" in bad.json()["detail"]
    assert api("put", f"/v1/items/{older}/topics", json={"topics": ["labour"], "editor": "t"}).status_code == 200
    assert older not in queued_ids(api)
    assert int(api("get", "/v1/review-queue", params={"only_new": "true"}).headers["x-total-count"]) == total - 1
    assert api("get", "/v1/review-queue", role="analyst").status_code == 403
