"""The 内容 (items) pages in a real browser: search, one item's status and tags, the form
(add, and a refused field shown in Chinese), bulk upload with its per-row report, and
retiring an item (下架), which takes it out of the recommendations."""

from __future__ import annotations

import uuid
from typing import Any

from tests.browser.conftest import sign_in

SAMPLE_ID = "sample-a-001"  # corpus/sample/items_a.jsonl: an explainer, author-tagged 习近平法治思想


def total(page: Any) -> int:
    return int(page.locator("#found [data-total]").get_attribute("data-total") or "0")


def search(page: Any, **fields: str) -> None:
    page.goto("/console/items")
    for name, value in fields.items():
        page.fill(f"form.filters [name={name}]", value)
    page.get_by_role("button", name="查找").click()
    page.wait_for_load_state()


def recommended(api: Any, group: str, item_id: str) -> bool:
    body = api("post", "/v1/recommendations", role="platform", json={"groups": [group], "k": 100}).json()
    return item_id in [i["item_id"] for i in body["items"]]


def test_search_finds_a_sample_item_by_words_and_by_law_title(page: Any, shot: Any) -> None:
    sign_in(page, "editor", next_url="/console/items")
    assert page.locator("h1").inner_text() == "内容"
    everything = total(page)
    assert everything >= 356
    search(page, q="拖着工钱")
    titles = page.locator("table.items-table tbody td a").all_inner_texts()
    assert "老板拖着工钱不给，我该去哪儿讨？" in titles
    assert 0 < total(page) < everything
    shot("words")
    search(page, law="中华人民共和国反家庭暴力法")  # the full name finds the short one
    laws = page.locator("table.items-table tbody tr td:nth-child(3)").all_inner_texts()
    assert laws and all("《反家庭暴力法》" in law for law in laws)
    page.select_option("form.filters [name=type]", "qa")
    page.get_by_role("button", name="查找").click()
    page.wait_for_load_state()
    kinds = page.locator("table.items-table tbody tr td:nth-child(2)").all_inner_texts()
    assert kinds and set(kinds) == {"问答"} and total(page) < len(laws)
    search(page, article="第三十X条")
    assert "条号" in page.locator(".error").inner_text()


def test_an_analyst_may_not_open_the_items_pages(page: Any) -> None:
    sign_in(page, "analyst")
    for url in ("/console/items", f"/console/items/{SAMPLE_ID}", "/console/items/new", "/console/items/upload"):
        response = page.goto(url)
        assert response is not None and response.status == 403, url
        assert page.locator("main form").count() == 0


def test_open_an_item_and_see_its_status_and_tags(page: Any, shot: Any) -> None:
    sign_in(page, "editor", next_url="/console/items")
    search(page, q="十一个坚持")
    page.locator(f"tr[data-item-id='{SAMPLE_ID}'] a").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/console/items/{SAMPLE_ID}")
    assert page.locator("#status").inner_text() == "现行有效"
    assert "现行有效" in page.locator(".status-line").inner_text()
    author = page.locator("#tags tr[data-source=author]")
    assert "习近平法治思想" in author.inner_text() and "正在使用" in author.inner_text()
    assert "%" in page.locator("#tags tr[data-source=predicted]").inner_text()  # with the model's score
    assert "还没有编辑确认过" in page.locator("#tags tr[data-source=editor]").inner_text()
    assert "依宪治国" in page.locator(".body-text").inner_text()  # the full text
    assert "首次加入" in page.locator("#versions").inner_text()


def test_add_a_qa_through_the_form_and_find_it(page: Any, api: Any, shot: Any) -> None:
    title = f"在牧区打工被拖欠工钱怎么办（{uuid.uuid4().hex[:6]}）"
    sign_in(page, "editor", next_url="/console/items")
    page.get_by_role("link", name="＋ 添加内容").click()
    page.wait_for_load_state()
    form = page.locator("form.item-form")
    form.get_by_label("问答").check()
    form.locator("[name=title]").fill(title)
    form.locator("[name=body]").fill("保存好考勤和聊天记录，可以向劳动保障监察机构投诉，也可以申请劳动仲裁，仲裁不收费。")
    form.locator("[name=region]").fill("巴彦淖尔市")
    form.locator("fieldset").filter(has_text="主题").get_by_label("劳动保障").check()
    form.locator("fieldset").filter(has_text="适用人群").get_by_label("农牧民工").check()
    shot("filled")
    form.get_by_role("button", name="保存").click()
    page.wait_for_load_state()
    assert "已添加" in page.locator(".flash").inner_text()
    item_id = page.url.split("/console/items/")[1].split("?")[0]
    stored = api("get", f"/v1/items/{item_id}").json()
    assert stored["type"] == "qa" and stored["title"] == title
    assert stored["topics"] == ["labour"] and stored["groups"] == ["migrant_workers"]
    assert stored["region"] == "巴彦淖尔市"
    assert "编辑（工作台）" in page.locator("#versions").inner_text()
    search(page, q=title[-7:])
    assert page.locator("table.items-table tbody td a").all_inner_texts() == [title]
    # Edit it: a url the service refuses is shown at its field; a new title is saved and recorded.
    page.locator(f"tr[data-item-id='{item_id}'] a").click()
    page.get_by_role("link", name="修改").click()
    page.wait_for_load_state()
    form = page.locator("form.item-form")
    assert form.locator("[name=title]").input_value() == title
    assert form.locator("fieldset").filter(has_text="主题").get_by_label("劳动保障").is_checked()
    form.locator("[name=url]").fill("javascript:alert(1)")
    form.get_by_role("button", name="保存").click()
    page.wait_for_load_state()
    assert "网址：应为以 http:// 或 https:// 开头的网址" in page.locator("#error-url").inner_text()
    assert page.locator("form.item-form [name=source]").input_value() == ""  # empty stays empty
    page.locator("form.item-form [name=url]").fill("")
    page.locator("form.item-form [name=title]").fill(title + "（修订）")
    page.locator("form.item-form").get_by_role("button", name="保存").click()
    page.wait_for_load_state()
    assert "已保存修改" in page.locator(".flash").inner_text()
    assert f"标题：“{title}” → “{title}（修订）”" in page.locator("#versions tbody tr").first.inner_text()
    assert api("get", f"/v1/items/{item_id}").json()["title"] == title + "（修订）"


def test_a_form_with_an_empty_title_shows_the_error_and_stores_nothing(page: Any, shot: Any) -> None:
    sign_in(page, "editor", next_url="/console/items")
    before = total(page)
    page.goto("/console/items/new?type=explainer")
    form = page.locator("form.item-form")
    body = f"没有标题的解读 {uuid.uuid4().hex[:6]}"
    form.locator("[name=body]").fill(body)
    with page.expect_navigation() as nav:
        form.get_by_role("button", name="保存").click()
    assert nav.value is not None and nav.value.status == 422
    assert page.locator("#error-title").inner_text() == "标题：不能为空，请填写"
    assert page.locator("form.item-form [name=body]").input_value() == body  # what was typed is kept
    assert form.get_by_role("radio", name="解读").is_checked()
    shot("refused")
    page.goto("/console/items")
    assert total(page) == before


def test_upload_a_csv_with_one_bad_row_shows_the_report(page: Any, api: Any, shot: Any) -> None:
    tag = uuid.uuid4().hex[:6]
    csv = (f"id,type,title,body,topics,groups\n"
           f"up-{tag}-1,qa,拖欠工资找谁（{tag}）,可以向劳动保障监察机构投诉。,劳动保障,农牧民工\n"
           f"up-{tag}-2,faq,这一行的类型写错了,正文,劳动保障,\n"
           f"up-{tag}-3,explainer,草场承包要签合同（{tag}）,承包草场应当签订书面合同。,三农三牧与乡村振兴,herders\n")
    file = {"name": "上传.csv", "mimeType": "text/csv", "buffer": csv.encode("utf-8")}
    sign_in(page, "editor", next_url="/console/items/upload")
    # First with "全部无误才导入": the bad row holds back the good ones.
    page.set_input_files("input[name=file]", files=[file])
    page.get_by_label("全部无误才导入").check()
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_load_state()
    assert "没有导入任何内容" in page.locator("#summary").inner_text()
    bad = page.locator("#report tr[data-row='3']")
    assert "第 3 行" in bad.inner_text() and f"up-{tag}-2" in bad.inner_text()
    assert "未导入：类型——不是可选的类型" in bad.inner_text()
    assert "无误，但未导入" in page.locator("#report tr[data-row='2']").inner_text()
    shot("held")
    assert api("get", f"/v1/items/up-{tag}-1").status_code == 404
    # Then as the API's rule has it: the good rows are stored, the bad one is not.
    assert page.get_by_label("全部无误才导入").is_checked()  # the page keeps the choice
    page.get_by_label("全部无误才导入").uncheck()
    page.set_input_files("input[name=file]", files=[file])
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_load_state()
    assert "新增 2 条" in page.locator("#summary").inner_text() and "有 1 行没有导入" in page.locator("#summary").inner_text()
    assert [r.get_attribute("data-row") for r in page.locator("#report tr.outcome-added").all()] == ["2", "4"]
    assert "类型" in page.locator("#report tr[data-row='3']").inner_text()
    shot("report")
    first = api("get", f"/v1/items/up-{tag}-1").json()
    assert first["topics"] == ["labour"] and first["groups"] == ["migrant_workers"]  # Chinese names became ids
    assert api("get", f"/v1/items/up-{tag}-3").json()["groups"] == ["herders"]
    assert api("get", f"/v1/items/up-{tag}-2").status_code == 404
    # The same file again changes nothing; an upload without the page's token is refused.
    page.set_input_files("input[name=file]", files=[file])  # the box stays as it was left: unticked
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_load_state()
    assert page.locator("#report tr.outcome-unchanged").count() == 2
    r = page.request.post("/console/items/upload", multipart={"file": file}, max_redirects=0)
    assert r.status == 403 and "操作没有执行" in r.text()


def test_retire_an_item_and_it_leaves_the_recommendations(page: Any, api: Any, shot: Any) -> None:
    item_id = f"t-retire-{uuid.uuid4().hex[:6]}"
    r = api("post", "/v1/items", json={
        "id": item_id, "type": "explainer", "title": "草场承包经营权受法律保护",
        "body": "嘎查村集体所有的草原可以由牧户承包经营，承包期内发包方不得随意收回或调整。被侵占的可以申请调解或起诉。",
        "topics": ["agriculture_rural"], "groups": ["herders"], "must_know_for": ["herders"]})
    assert r.status_code == 201, r.text
    assert recommended(api, "herders", item_id)
    sign_in(page, "editor", next_url=f"/console/items/{item_id}")
    page.locator("details.retire summary").click()
    shot("confirm")
    page.get_by_role("button", name="确认下架").click()
    page.wait_for_load_state()
    assert "已下架" in page.locator(".flash").inner_text()
    assert page.locator("#status").inner_text() == "已下架"
    assert "下架" in page.locator("#versions tbody tr").first.inner_text()
    assert api("get", f"/v1/items/{item_id}").json()["retired"] is True
    assert not recommended(api, "herders", item_id)
    page.get_by_role("button", name="重新上架").click()  # and back
    page.wait_for_load_state()
    assert page.locator("#status").inner_text() == "现行有效" and recommended(api, "herders", item_id)
