"""Related content: citations found in texts, related items of articles and cases, the API."""

from __future__ import annotations

import pytest

from recommender.related import (
    REASON_CASE,
    REASON_CHAPTER,
    REASON_CITED,
    REASON_EXPLAINER,
    REASON_SIBLING_CASE,
    extract_citations,
)
from tests.api_keys import H, keyed_client

LABOR_LAW = """# 中华人民共和国劳动合同法

{date} 第十届全国人民代表大会常务委员会第二十八次会议通过

<!-- INFO END -->

## 第三章 劳动合同的履行和变更

第二十九条 用人单位与劳动者应当按照劳动合同的约定，全面履行各自的义务。{mark}

第三十条 用人单位应当按照劳动合同约定和国家规定，向劳动者及时足额支付劳动报酬。{mark}

第三十一条 用人单位应当严格执行劳动定额标准，不得强迫或者变相强迫劳动者加班。{mark}

## 第四章 劳动合同的解除和终止

第三十六条 用人单位与劳动者协商一致，可以解除劳动合同。{mark}
"""

CASE_BODY = ("某公司拖欠劳动者工资三个月。仲裁委员会认为，依据《中华人民共和国劳动合同法》第三十条的规定，"
             "用人单位应当及时足额支付劳动报酬，裁决公司支付拖欠工资。")


# --------------------------------------------------------------------------- the extractor


@pytest.mark.parametrize(("text", "known", "expected"), [
    ("依据《劳动合同法》第三十条的规定", None, [("劳动合同法", 30, 0)]),
    ("依据《中华人民共和国劳动合同法》第三十条", None, [("劳动合同法", 30, 0)]),
    ("《刑法》第一百二十条之一", None, [("刑法", 120, 1)]),
    ("《民法典》第1079条", None, [("民法典", 1079, 0)]),
    ("《刑法（2020修正）》第二百六十四条", None, [("刑法", 264, 0)]),
    ("《中华人民共和国食品安全法》（2018年修订）第二条、第三十三条", None, [("食品安全法", 2, 0), ("食品安全法", 33, 0)]),
    ("根据劳动合同法第三十条", ["劳动合同法", "合同法"], [("劳动合同法", 30, 0)]),
    ("根据中华人民共和国劳动合同法第三十条", ["劳动合同法"], [("劳动合同法", 30, 0)]),
    ("《劳动合同法》第三十条第一款、第三十一条和第三十二条之一", None,
     [("劳动合同法", 30, 0), ("劳动合同法", 31, 0), ("劳动合同法", 32, 1)]),
    ("《民法典》第一千零七十九条至第一千零八十一条", None,
     [("民法典", 1079, 0), ("民法典", 1080, 0), ("民法典", 1081, 0)]),
    ("《劳动法》第五十条。本案于第三条所述日期发生", None, [("劳动法", 50, 0)]),
    ("根据某某规定第三十条", ["劳动合同法"], []),
    ("《劳动合同法》第三十条……依照该法第三十一条", None, [("劳动合同法", 30, 0), ("劳动合同法", 31, 0)]),
])
def test_extract_citations(text, known, expected):
    assert extract_citations(text, known) == expected


def test_a_citation_is_listed_once():
    assert extract_citations("《劳动合同法》第三十条 …… 《劳动合同法》第三十条") == [("劳动合同法", 30, 0)]


# --------------------------------------------------------------------------- a tiny corpus


@pytest.fixture(scope="module")
def labor_env(tmp_path_factory):
    """劳动合同法 in two versions (2007 superseded, 2012 current), a case citing article 30
    of it, an explainer citing 30 and 31, and an adults-only case citing 30."""
    from corpus.loaders import load_paths
    from corpus.schema import Item
    from recommender.build import BuildConfig, build_model
    from recommender.index import IndexConfig
    from recommender.store import open_store

    root = tmp_path_factory.mktemp("related_env")
    laws = root / "laws" / "社会法"
    laws.mkdir(parents=True)
    (laws / "劳动合同法(2007-06-29).md").write_text(
        LABOR_LAW.format(date="2007年6月29日", mark=""), encoding="utf-8")
    (laws / "劳动合同法(2012-12-28).md").write_text(
        LABOR_LAW.format(date="2012年12月28日", mark="（2012年修正）"), encoding="utf-8")
    url = f"sqlite:///{root / 'pufa.db'}"
    store = open_store(url)
    result = load_paths([root / "laws"])
    assert not result.rejected, result.rejected
    extra = [
        Item(id="case-wages", type="case", title="拖欠工资案", body=CASE_BODY),
        Item(id="exp-wages", type="explainer", title="工资要按时足额发",
             body="根据劳动合同法第三十条和第三十一条，用人单位应当及时足额支付劳动报酬，不得强迫加班。"),
        Item(id="case-adults", type="case", title="夜场拖欠工资案", audience="adults",
             body="依照《劳动合同法》第三十条，夜总会应当支付工资。"),
        Item(id="case-other", type="case", title="协商解除案", body="依照《劳动合同法》第三十六条，双方协商解除。"),
    ]
    store.items.upsert(result.items + extra)
    build_model(store, root / "models",
                config=BuildConfig(evaluate=False, index=IndexConfig(dense_backend="lsa", min_df=1)))
    items = {it.id: it for it in store.items.iter()}
    store.close()

    def article(no: int, current: bool = True):
        hits = [it for it in items.values() if it.type == "law_article" and it.law_title == "劳动合同法"
                and it.article_no == no and (it.status == "current") == current]
        assert len(hits) == 1, (no, current, hits)
        return hits[0].id

    return {"url": url, "models": root / "models", "article": article}


@pytest.fixture(scope="module")
def model(labor_env):
    from recommender.model import load_active_model

    return load_active_model(labor_env["models"], db_url=labor_env["url"])


def test_the_build_stores_links(model, labor_env):
    assert ("劳动合同法", 30, 0) in model.links["case-wages"]
    assert (model.path / "links.json").exists() or (model.path.parent / model.version / "links.json").exists()


def test_related_of_an_article(model, labor_env):
    art = labor_env["article"]
    got = {r.item_id: r.reason for r in model.related.related(art(30))}
    assert got["case-wages"] == REASON_CASE
    assert got["exp-wages"] == REASON_EXPLAINER
    assert got[art(29)] == REASON_CHAPTER and got[art(31)] == REASON_CHAPTER
    assert art(36) not in got  # another chapter
    assert "case-other" not in got
    assert art(30) not in got  # never itself
    assert not {art(n, current=False) for n in (29, 30, 31, 36)} & set(got)  # superseded never shown


def test_related_of_a_case(model, labor_env):
    art = labor_env["article"]
    got = {r.item_id: r.reason for r in model.related.related("case-wages")}
    assert got[art(30)] == REASON_CITED
    assert art(30, current=False) not in got
    assert got["exp-wages"] in ("相关解读",) and got.get("case-adults") == REASON_SIBLING_CASE
    assert "case-other" not in got


def test_minors_never_get_adults_only_items_and_k_is_kept(model, labor_env):
    art = labor_env["article"]
    assert "case-adults" in {r.item_id for r in model.related.related(art(30))}
    assert "case-adults" not in {r.item_id for r in model.related.related(art(30), minor=True)}
    assert len(model.related.related(art(30), k=2)) == 2
    assert model.related.related("no-such-item") is None


def test_a_superseded_article_leads_to_current_texts_only(model, labor_env):
    art = labor_env["article"]
    got = model.related.related(art(30, current=False))
    ids = {r.item_id for r in got}
    assert "case-wages" in ids
    assert not {art(n, current=False) for n in (29, 30, 31, 36)} & ids


def test_related_over_http(labor_env):
    art = labor_env["article"]
    with keyed_client(labor_env["url"], labor_env["models"]) as client:
        r = client.get(f"/v1/items/{art(30)}/related", params={"k": 5}, headers=H("platform"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["item_id"] == art(30) and body["personalized"] is False and body["model_version"]
        reasons = {x["item_id"]: x["reason"] for x in body["items"]}
        assert reasons["case-wages"] == REASON_CASE
        first = body["items"][0]
        assert {"item_id", "title", "type", "reason", "score"} <= set(first)
        assert client.get("/v1/items/nope/related", headers=H("platform")).status_code == 404
        bad = client.get(f"/v1/items/{art(30)}/related", params={"k": 0}, headers=H("platform"))
        assert bad.status_code == 422 and "k" in bad.json()["detail"]
        assert client.get(f"/v1/items/{art(30)}/related", headers=H(None)).status_code in (401, 403)
        # A minor gets no adults-only item.
        assert client.put("/v1/users/kid-1", json={"minor": True}, headers=H("platform")).status_code in (200, 201)
        kid = client.get(f"/v1/items/{art(30)}/related", params={"user_id": "kid-1", "k": 50},
                         headers=H("platform")).json()
        assert "case-adults" not in {x["item_id"] for x in kid["items"]}
        # Editors see an item's links with the item.
        item = client.get("/v1/items/case-wages", headers=H("editor")).json()
        assert item["links"]["cites"] == [art(30)]
        assert "case-wages" in client.get(f"/v1/items/{art(30)}", headers=H("editor")).json()["links"]["cited_by"]
        # ... and on the item's page of the console.
        from tests.api_keys import KEYS

        client.cookies.set("pufa_console", KEYS["editor"])
        page = client.get("/console/items/case-wages")
        assert page.status_code == 200 and "引用关系" in page.text and f"/console/items/{art(30)}" in page.text
        page = client.get(f"/console/items/{art(30)}")
        assert "引用本条的内容" in page.text and "拖欠工资案" in page.text


# --------------------------------------------------------------------------- real data


def test_real_guiding_cases_cite_real_articles():
    """The guiding cases of ../shared: most name the articles they apply, and the case citing
    劳动合同法第三十条 is related to that article of the real law."""
    import numpy as np

    from corpus.loaders import load_cases_jsonl, load_law_markdown
    from recommender.catalog import Catalog, ItemMeta
    from recommender.related import Related, citations_of_items
    from tests.conftest import need_shared

    cases = load_cases_jsonl(need_shared("corpus", "guiding_cases", "cases.jsonl")).items
    law = load_law_markdown([need_shared("corpus", "laws", "社会法", "劳动合同法(2012-12-28).md")]).items
    links = citations_of_items(cases, ["劳动合同法"])
    assert len(links) >= 0.8 * len(cases), f"{len(links)} of {len(cases)} cases cite an article"
    citing = [i for i, keys in links.items() if ("劳动合同法", 30, 0) in keys]
    assert citing
    items = law + cases
    catalog = Catalog(["t"], [ItemMeta.from_item(it, "predicted") for it in items],
                      np.zeros((len(items), 1), dtype=np.float32))
    article = next(it.id for it in law if it.type == "law_article" and it.article_no == 30)
    got = {r.item_id: r.reason for r in Related(catalog, links).related(article, 50)}
    assert got[citing[0]] == REASON_CASE
    assert REASON_CHAPTER in got.values()
