"""Loaders: known answers on small fixtures written here, then on the real shared corpus."""

from __future__ import annotations

import collections
import json
import sqlite3
from pathlib import Path

import pytest

from corpus.loaders import (
    cn_to_int,
    load_law_markdown,
    load_paths,
    load_plain_regulation,
    parse_articles,
    resolve_versions,
    short_law_title,
)
from corpus.schema import Item

from .conftest import need_shared


@pytest.mark.parametrize(
    ("text", "value"),
    [("一", 1), ("十", 10), ("十一", 11), ("二十", 20), ("一百零一", 101), ("一百二十", 120),
     ("二百一十三", 213), ("一千零七十九", 1079), ("一千二百六十", 1260), ("两千", 2000), ("12", 12),
     ("一万零一", 10001)],
)
def test_chinese_numerals(text, value):
    assert cn_to_int(text) == value


def test_chinese_numerals_reject_other_text():
    with pytest.raises(ValueError):
        cn_to_int("条")


def test_short_title_drops_prc_prefix():
    assert short_law_title("# 中华人民共和国劳动合同法") == "劳动合同法"
    assert short_law_title("中华人民共和国") == "中华人民共和国"
    assert short_law_title("保障农民工工资支付条例") == "保障农民工工资支付条例"


def test_articles_split_inline_and_tolerate_source_typos():
    body = [
        "## 第一章 总则",
        "第一条 为了保护劳动者的合法权益，制定本法。 第二条 本法适用于用人单位。",
        "第二条规定的情形除外。",  # a reference at a line start is text, not an article
        "### 第一节 一般规定",
        "笫三条 用人单位应当依法支付劳动报酬。",  # 笫 for 第, as in the source
        "第四 条 劳动者有权依照本法第十条 规定提出异议。",  # stray space; inline reference kept
        "第四条之一 新增的条文。",
        "第五条本条例自公布之日起施行。",  # no space after the label
    ]
    parsed = parse_articles(body)
    labels = [(a.no, a.sub) for a in parsed.articles]
    assert labels == [(1, 0), (2, 0), (3, 0), (4, 0), (4, 1), (5, 0)]
    assert "第二条规定的情形除外" in parsed.articles[1].text
    assert "第十条" in parsed.articles[3].text
    assert parsed.articles[2].path == ["第一章 总则", "第一节 一般规定"]
    assert parsed.articles[0].path == ["第一章 总则"]
    assert not parsed.anomalies


def _write_law(folder: Path, name: str, date: str | None, articles: list[str], title: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{name}({date})" if date else name
    head = f"# {title or '中华人民共和国' + name}\n\n2018年10月26日 第十三届全国人民代表大会常务委员会通过\n\n<!-- INFO END -->\n\n"
    body = "## 第一章 总则\n\n" + "\n\n".join(f"第{a}条 内容{k}。" for k, a in enumerate(articles, 1))
    path = folder / f"{stem}.md"
    path.write_text(head + body + "\n", encoding="utf-8")
    return path


def _write_index(root: Path, rows: list[tuple[str, str, int]]) -> None:
    con = sqlite3.connect(root / "index.sqlite3")
    con.execute("CREATE TABLE category (id TEXT PRIMARY KEY, name TEXT, folder TEXT, isSubFolder INTEGER, "
                "\"group\" TEXT, \"order\" INTEGER)")
    con.execute("CREATE TABLE law (id TEXT PRIMARY KEY, level TEXT, name TEXT, filename TEXT, publish DATE, "
                "expired INTEGER, \"order\" INTEGER, subtitle TEXT, valid_from DATE, ver INTEGER, tags TEXT, "
                "category_id TEXT)")
    con.execute("INSERT INTO category VALUES ('c1', '民法商法', '民法商法', 0, NULL, 1)")
    for k, (name, publish, expired) in enumerate(rows):
        con.execute("INSERT INTO law VALUES (?, '法律', ?, NULL, ?, ?, NULL, NULL, NULL, 1, NULL, 'c1')",
                    (f"id{k}", name, publish, expired))
    con.commit()
    con.close()


@pytest.fixture
def tiny_laws(tmp_path):
    root = tmp_path / "laws"
    folder = root / "民法商法"
    _write_law(folder, "公司法", "2018-10-26", ["一", "二", "三"])
    _write_law(folder, "公司法", "2023-12-29", ["一", "二", "三", "四"])
    _write_law(folder, "旧条例", "2001-01-01", ["一", "二"], title="旧条例")
    _write_index(root, [("公司法", "2018-10-26", 1), ("公司法", "2023-12-29", 0), ("旧条例", "2001-01-01", 1)])
    (folder / "_index.md").write_text("folder marker", encoding="utf-8")
    return root


def test_versions_resolved_newest_current_older_superseded_expired_repealed(tiny_laws):
    result = load_paths([tiny_laws])
    assert not result.rejected
    items = {it.id: it for it in result.items}
    for changed in resolve_versions(result.items):
        items[changed.id] = changed
    laws = {(it.law_title, it.version_date.isoformat()): it for it in items.values() if it.type == "law"}
    new, old = laws[("公司法", "2023-12-29")], laws[("公司法", "2018-10-26")]
    assert new.status == "current" and old.status == "superseded"
    assert new.supersedes == old.id and old.superseded_by == new.id
    assert laws[("旧条例", "2001-01-01")].status == "repealed"
    arts = [it for it in items.values() if it.parent_id == old.id]
    assert len(arts) == 3 and {a.status for a in arts} == {"superseded"}
    assert sorted(a.article_no for a in items.values() if a.parent_id == new.id) == [1, 2, 3, 4]
    assert any(p.endswith("_index.md") for p in result.ignored)


def test_a_law_file_held_in_two_folders_imports_once(tiny_laws):
    # The source keeps some files twice (职业病防治法 under 经济法/ and 社会法/); only one is in
    # its index. One law version is one item, with the index's metadata.
    other = tiny_laws / "社会法"
    _write_law(other, "公司法", "2023-12-29", ["一", "二", "三", "四"])
    result = load_paths([tiny_laws])
    laws = [it for it in result.items if it.type == "law" and it.law_title == "公司法"]
    assert sorted(it.version_date.isoformat() for it in laws) == ["2018-10-26", "2023-12-29"]
    new = next(it for it in laws if it.version_date.isoformat() == "2023-12-29")
    assert new.legal_level == "法律"
    arts = [it for it in result.items if it.type == "law_article" and it.law_title == "公司法"]
    assert len(arts) == 3 + 4 and len({a.id for a in arts}) == 7
    assert any("same text as" in w for w in result.warnings)


def test_interpretations_take_the_topics_of_the_law_they_name(taxonomy):
    assert "marriage_family" in taxonomy.topics_for_law("最高人民法院关于适用《中华人民共和国民法典》婚姻家庭编的解释（一）")
    assert "labour" in taxonomy.topics_for_law("最高人民法院关于适用《中华人民共和国劳动合同法》若干问题的解释")
    assert "domestic_violence" in taxonomy.topics_for_law("最高人民法院关于办理人身安全保护令案件适用法律若干问题的规定")
    assert taxonomy.topics_for_law("最高人民法院关于适用《中华人民共和国民法典》有关担保制度的解释") == {"civil_code"}


def test_bad_files_are_reported_not_fatal(tmp_path, tiny_laws):
    folder = tiny_laws / "民法商法"
    (folder / "坏文件(2020-01-01).md").write_bytes(b"\xff\xfe not utf-8 \x80")
    (folder / "无标记(2020-01-01).md").write_text("no marker and no articles here", encoding="utf-8")
    bad_jsonl = tmp_path / "items.jsonl"
    bad_jsonl.write_text(
        json.dumps({"id": "ok-1", "title": "好的", "body": "正文", "type": "explainer"}, ensure_ascii=False) + "\n"
        + "{not json\n"
        + json.dumps({"id": "bad id!", "title": "x", "type": "explainer"}) + "\n"
        + json.dumps({"id": "bad-type", "title": "x", "type": "poem"}) + "\n",
        encoding="utf-8")
    result = load_paths([tiny_laws, bad_jsonl])
    reasons = {Path(r.path.split(":")[0]).name: r.reason for r in result.rejected}
    assert "坏文件(2020-01-01).md" in reasons
    assert "无标记(2020-01-01).md" in reasons
    assert sum(1 for r in result.rejected if r.path.startswith(str(bad_jsonl))) == 3
    assert any("invalid JSON" in r.reason for r in result.rejected)
    assert any("type" in r.reason for r in result.rejected)
    ids = {it.id for it in result.items}
    assert "ok-1" in ids
    assert sum(1 for it in result.items if it.type == "law") == 3  # the good laws still import


def test_csv_items(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("id,title,body,type,topics,groups\n"
                    "c1,讨薪指南,老板不给工钱怎么办,qa,labour|dispute_resolution,migrant_workers\n"
                    "c2,,缺标题,qa,,\n", encoding="utf-8")
    result = load_paths([path])
    assert [it.id for it in result.items] == ["c1"]
    assert result.items[0].topics == ["labour", "dispute_resolution"]
    assert len(result.rejected) == 1 and "title" in result.rejected[0].reason


def test_plain_regulation(tmp_path):
    path = tmp_path / "内蒙古自治区测试条例.md"
    path.write_text("内蒙古自治区测试条例\n（2020年4月1日内蒙古自治区第十三届人民代表大会常务委员会第十九次会议通过）\n"
                    "第一条　为了测试，制定本条例。\n第二条　本条例适用于自治区。\n第三条　本条例自2020年5月1日起施行。\n",
                    encoding="utf-8")
    result = load_plain_regulation(path, corpus_kind="inner_mongolia")
    law = next(it for it in result.items if it.type == "law")
    assert law.region == "内蒙古" and law.legal_level == "地方性法规"
    assert law.version_date.isoformat() == "2020-04-01"
    assert [it.article_no for it in result.items if it.type == "law_article"] == [1, 2, 3]


def test_generic_item_ids_are_validated():
    with pytest.raises(ValueError):
        Item(id="中文id", title="t", type="qa")
    it = Item(id="a-b_c.d:e", title="标题", type="qa", published_at="2024-05-01T08:00:00+08:00")
    assert it.published_at.isoformat() == "2024-05-01"


# ----------------------------------------------------------------------------- real corpus


@pytest.mark.realdata
def test_every_shared_law_parses_all_its_articles(shared_corpus_items):
    result, items = shared_corpus_items
    laws_root = str(need_shared("corpus", "laws"))
    law_items = {it.id: it for it in items if it.type == "law" and it.source == "flk.npc.gov.cn"
                 and it.legal_level not in ("地方性法规",)}
    arts: dict[str, set[int]] = collections.defaultdict(set)
    for it in items:
        if it.type == "law_article" and it.parent_id in law_items:
            arts[it.parent_id].add(it.article_no)
    checked = 0
    for law_id, law in law_items.items():
        if "修正案" in law.law_title:
            continue  # amendments number their articles after the amended text's
        numbers = arts.get(law_id, set())
        if numbers:
            assert len(numbers) == max(numbers), f"{law.law_title} {law.version_date}: {len(numbers)} != {max(numbers)}"
            checked += 1
    assert checked > 1000
    assert not [r for r in result.rejected if r.path.startswith(laws_root)]


@pytest.mark.realdata
def test_company_law_versions_and_civil_code(shared_corpus_items):
    _, items = shared_corpus_items
    company = {it.version_date.isoformat(): it for it in items if it.type == "law" and it.law_title == "公司法"}
    assert company["2023-12-29"].status == "current"
    assert company["2018-10-26"].status == "superseded"
    assert company["2023-12-29"].supersedes == company["2018-10-26"].id
    old_articles = [it for it in items if it.parent_id == company["2018-10-26"].id]
    assert old_articles and all(a.status == "superseded" for a in old_articles)
    code = [it for it in items if it.type == "law" and it.law_title == "民法典"]
    assert len(code) == 1 and code[0].status == "current"
    code_articles = [it for it in items if it.parent_id == code[0].id]
    assert len(code_articles) == 1260
    a1079 = next(a for a in code_articles if a.article_no == 1079)
    assert a1079.path[0] == "婚姻家庭编" and "离婚" in a1079.body


@pytest.mark.realdata
def test_expired_law_without_newer_version_is_repealed(shared_corpus_items):
    _, items = shared_corpus_items
    petition = [it for it in items if it.type == "law" and it.law_title == "信访条例"]
    assert petition and all(it.status == "repealed" for it in petition)


@pytest.mark.realdata
def test_party_regulations_versions_and_compilations(shared_corpus_items):
    _, items = shared_corpus_items
    disc = sorted((it for it in items if it.type == "law" and it.law_title == "中国共产党纪律处分条例"),
                  key=lambda i: i.version_date)
    assert len(disc) == 5
    assert [it.status for it in disc] == ["superseded"] * 4 + ["current"]
    assert disc[-1].version_date.year == 2023
    compilations = [it for it in items if it.title in ("中国共产党党内法规体系", "违反中央八项规定精神清单80条处理依据大汇总")]
    assert len(compilations) == 2 and all(it.type == "explainer" for it in compilations)
    charter = next(it for it in items if it.type == "law" and it.law_title == "中国共产党章程")
    assert charter.status == "superseded" and "2022" in (charter.version_note or "")


@pytest.mark.realdata
def test_guiding_cases_keep_official_keywords(shared_corpus_items):
    _, items = shared_corpus_items
    cases = [it for it in items if it.type == "case"]
    assert len(cases) == 240
    c = next(it for it in cases if it.id == "case-spp-guiding-103")
    assert c.keywords == ["抢劫", "在校学生", "附条件不起诉", "调整考验期"]


@pytest.mark.realdata
def test_inner_mongolia_regulations(shared_corpus_items):
    _, items = shared_corpus_items
    regs = [it for it in items if it.type == "law" and it.legal_level == "地方性法规"]
    assert len(regs) == 10
    wage = next(it for it in regs if it.law_title == "内蒙古自治区保障农民工工资支付条例")
    assert wage.region == "内蒙古" and wage.status == "current"
    arts = [it for it in items if it.parent_id == wage.id]
    assert len(arts) == max(a.article_no for a in arts)


def test_law_markdown_loader_reports_unreadable(tmp_path):
    p = tmp_path / "x.md"
    p.write_text("# 标题\n没有标记\n", encoding="utf-8")
    result = load_law_markdown([p])
    assert result.rejected and "INFO END" in result.rejected[0].reason


def test_a_second_import_of_unchanged_versioned_laws_writes_nothing(tiny_laws, tmp_path):
    # Loaded files say "current" until their versions are resolved; a re-import used to
    # rewrite every superseded and repealed item (and add a row to item_versions for each).
    import sqlalchemy as sa

    from recommender.store import open_store
    from recommender.store.tables import item_versions

    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    first = store.items.upsert(load_paths([tiny_laws]).items)
    assert first.added == 3 + 3 + 4 + 2 and first.status_changed == 8 and first.by_status == {"current": 5, "superseded": 4, "repealed": 3}

    def versions() -> int:
        with store.db.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(item_versions)).scalar_one()

    before = versions()
    again = store.items.upsert(load_paths([tiny_laws]).items)
    assert (again.added, again.updated, again.status_changed) == (0, 0, 0)
    assert again.skipped == first.added and versions() == before
    assert again.by_status == first.by_status
    store.close()
