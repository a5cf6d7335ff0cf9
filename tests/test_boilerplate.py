"""Boilerplate articles (corpus/taxonomy/boilerplate.yaml): flagged at import, kept out of feeds
by ``catalog.boilerplate``, still stored and found by search."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import sqlalchemy as sa

from corpus.boilerplate import (
    BoilerplateRulesError,
    boilerplate_rule,
    flag_boilerplate,
    is_boilerplate,
    load_rules,
    rule_for_text,
    stored_boilerplate,
)
from corpus.schema import Item
from recommender.catalog import Catalog, ItemMeta

from .conftest import need_shared

# (text of the article, label removed or not, the rule it matches)
POSITIVES = [
    ("本法自公布之日起施行。", "effective"),
    ("第七十八条 本法自公布之日起施行。", "effective"),  # posted with its label
    ("本解释自2021年1月1日起施行。", "effective"),
    ("本法自２０１８年１月１日起施行。", "effective"),  # full-width digits
    ("本办法自发布之日起30日后施行。", "effective"),
    ("规则自发布之日起施行。", "effective"),  # the source dropped 本
    ("本条例自发布之日起施行。、", "effective"),  # the source's stray punctuation
    ("本条例自2020年1月1日起施行。1995年3月1日国务院发布的《城市绿化管理条例》同时废止。", "effective"),
    ("本条例自一九九四年五月一日起施行，《中国共产党纪律检查机关案件检查工作条例（试行）》同时废止。", "effective"),
    ("本规定自发布之日起施行，本院以前发布的司法解释与本规定不一致的，以本规定为准。", "effective"),
    ("本办法由财政部负责解释，自2016年7月1日起施行。《中央和国家机关会议费管理办法》（财行〔2013〕286号）同时废止。",
     "effective"),
    ("本规定自发布之日起施行。\n本文来源：监察法应用一本通", "effective"),
    ("本法由全国人民代表大会常务委员会负责解释。", "interpretation"),
    ("本法的解释权属于全国人民代表大会常务委员会。", "interpretation"),
    ("本条例由中央纪委会同中央组织部解释。", "interpretation"),
    ("本条例由国家工商行政管理局负责解释；施行细则由国家工商行政管理局制定。", "interpretation"),
    ("以前发布的司法解释与本解释不一致的，以本解释为准。", "repeal"),
    ("本解释公布施行后，最高人民法院于1992年7月14日发布的《关于适用〈中华人民共和国民事诉讼法〉若干问题的意见》"
     "同时废止；最高人民法院以前发布的司法解释与本解释不一致的，不再适用。", "repeal"),
    ("国务院根据本法制定实施条例。", "delegation"),
    ("省、自治区、直辖市人民政府可以根据本条例，结合本地实际情况，制定实施办法。", "delegation"),
    ("本条例的实施细则由国务院卫生行政部门负责制定。", "delegation"),
    ("（删除）", "deleted"),
    ("第十条 （删除）", "deleted"),
    ("（删去）", "deleted"),
    ("本法下列用语的含义：", "stub"),
    ("本法下列用语的含义", "stub"),  # as the loader stores it (no colon at an article's end)
    ("", "stub"),
    ("  \n ", "stub"),
]

# Texts that look like boilerplate but carry content: never flagged.
NEGATIVES = [
    "本法施行前已经取得许可证的，按照原规定处理。",  # a transitional rule
    "本解释施行后尚未终审的案件，适用本解释；本解释施行前已经终审，当事人申请再审或者按照审判监督程序决定再审的案件，"
    "不适用本解释。",
    "本法自2004年7月1日起施行。本法施行前有关行政许可的规定，制定机关应当依照本法规定予以清理；不符合本法规定的，"
    "自本法施行之日起停止执行。",  # effective date plus a duty
    "本规定自发布之日起施行。本规定发布以前，已经离休退休的高级专家，不再复职。",
    "本解释自2022年5月1日起施行。施行后发生的侵权行为引起的人身损害赔偿案件适用本解释。",
    "本条例规定的许可证自颁发之日起生效。",  # the licence takes effect, not the regulation
    "海关自公告规定实施之日起执行。",
    "法律应当明确规定施行日期。",
    "规章应当自公布之日起30日后施行；但是，涉及国家安全、外汇汇率、货币政策的确定以及公布后不立即施行将有碍规章"
    "施行的，可以自公布之日起施行。",
    "自本法施行之日起，依照本法规定征收环境保护税，不再征收排污费。",
    "违反本法规定，构成犯罪的，依法追究刑事责任。",
    "本条例适用于中国人民武装警察部队。",
    "香港特别行政区本地法律规定与本法不一致的，适用本法规定。",
    "法律解释权属于全国人民代表大会常务委员会。\n法律有以下情况之一的，由全国人民代表大会常务委员会解释：\n"
    "（一）法律的规定需要进一步明确具体含义的；\n（二）法律制定后出现新的情况，需要明确适用法律依据的。",
    "民族自治地方不能全部适用本法规定的，可以由自治区或者省的人民代表大会根据当地民族的政治、经济、文化的特点和"
    "本法规定的基本原则，制定变通或者补充的规定，报请全国人民代表大会常务委员会批准施行。",
    "本法下列用语的含义：\n（一）经营者，是指从事商品生产、经营或者提供服务的自然人、法人和非法人组织。",
    "采矿权人逾期不办理延续登记手续的，采矿许可证自行废止。",
    "行业标准在相应的国家标准实施后，自行废止。",
    "网络服务提供者接到通知后，应当及时删除。",
    "违反本条例规定的，处一千元以下罚款。",
    "中国人民解放军和中国人民武装警察部队开展监察工作，由中央军事委员会根据本法制定具体规定。",  # a carve-out  # 以下 is not a list lead-in
    "有下列情形之一的，不得担任公司的董事：\n（一）无民事行为能力；\n（二）因贪污被判处刑罚。",
    "本法自公布之日起施行。" * 40,  # longer than any rule allows
]


@pytest.mark.parametrize(("text", "rule"), POSITIVES)
def test_known_boilerplate_is_matched_by_its_rule(text, rule):
    assert rule_for_text(text) == rule
    item = Item(id="a1", title="某法 第一条", body=text, type="law_article")
    assert boilerplate_rule(item) == rule and is_boilerplate(item)


@pytest.mark.parametrize("text", NEGATIVES)
def test_articles_with_content_are_not_boilerplate(text):
    assert rule_for_text(text) is None
    assert not is_boilerplate(Item(id="a1", title="某法 第一条", body=text, type="law_article"))


def test_only_articles_can_be_boilerplate():
    text = "本法自公布之日起施行。"
    assert is_boilerplate(Item(id="i1", title="司法解释 第九条", body=text, type="interpretation"))
    for kind in ("law", "qa", "explainer", "case"):
        assert boilerplate_rule(Item(id="x1", title="标题", body=text, type=kind)) is None


def test_the_article_label_is_removed_before_matching():
    item = Item(id="a1", title="监察法 第七十八条", body="第七十八条　本法自公布之日起施行。", type="law_article",
                article_label="第七十八条")
    assert boilerplate_rule(item) == "effective"


def test_rules_file_is_well_formed_and_errors_name_the_rule(tmp_path):
    rules = load_rules()
    ids = [r.id for r in rules]
    assert set(ids) >= {"effective", "interpretation", "repeal", "delegation", "deleted", "stub"}
    assert len(ids) == len(set(ids)) and all(r.description and r.patterns for r in rules)
    assert load_rules() is rules  # read once
    bad = tmp_path / "boilerplate.yaml"
    bad.write_text("rules:\n  - id: x\n    description: 坏\n    max_chars: 10\n    patterns: ['{NOPE}']\n",
                   encoding="utf-8")
    with pytest.raises(BoilerplateRulesError, match=r"rule x: unknown fragment \{NOPE\}"):
        load_rules(bad)
    bad.write_text("rules:\n  - id: y\n    description: 坏\n    max_chars: 10\n    patterns: ['(']\n", encoding="utf-8")
    with pytest.raises(BoilerplateRulesError, match="rule y: bad regular expression"):
        load_rules(bad)


def test_an_explicit_flag_is_kept_and_a_missing_one_comes_from_the_rules():
    text = "本法自公布之日起施行。"
    ruled = flag_boilerplate(Item(id="a1", title="t", body=text, type="law_article"))
    assert ruled.boilerplate and "boilerplate" in ruled.model_fields_set
    kept = flag_boilerplate(Item.model_validate({"id": "a1", "title": "t", "body": text, "type": "law_article",
                                                 "boilerplate": False}))
    assert kept.boilerplate is False
    # Data stored before the flag existed has no key: the rules decide.
    old = Item.model_validate({"id": "a1", "title": "t", "body": text, "type": "law_article"})
    assert stored_boilerplate(old) and not stored_boilerplate(kept)


def test_the_flag_counts_in_the_content_hash_only_when_set():
    plain = Item(id="q1", title="问", body="答", type="qa")
    assert plain.content_hash() == plain.model_copy(update={"boilerplate": False}).content_hash()
    assert plain.content_hash() != plain.model_copy(update={"boilerplate": True}).content_hash()


TINY_LAW = """# 中华人民共和国样本测试法

2020年1月1日 第十三届全国人民代表大会常务委员会第十五次会议通过

<!-- INFO END -->

## 第一章 总则

第一条 为了测试，制定本法。

第二条 本法施行前已经签订的合同，按照签订时的规定处理。

第三条 本法下列用语的含义：

第四条 （删除）

第五条 本法由全国人民代表大会常务委员会负责解释。

第六条 本法自2020年1月1日起施行。
"""


def _import(url, *paths):
    """``pufa import --json PATH ...`` in this process."""
    from recommender.cli.content import cmd_import

    return cmd_import(argparse.Namespace(paths=[str(p) for p in paths], db=url, models=None, json=True,
                                         verbose=False))


def test_pufa_import_flags_boilerplate_and_stays_idempotent(tmp_path, sqlite_url, capsys):
    from recommender.store import open_store

    law = tmp_path / "样本测试法.md"
    law.write_text(TINY_LAW, encoding="utf-8")
    rows = tmp_path / "items.jsonl"
    rows.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        # An editor's flag is kept, either way.
        {"id": "ed-keep", "title": "某法 第九条", "body": "本法自公布之日起施行。", "type": "law_article",
         "boilerplate": False},
        {"id": "ed-mark", "title": "某法 第十条", "body": "公民有劳动的权利。", "type": "law_article",
         "boilerplate": True},
        {"id": "qa-1", "title": "什么时候施行", "body": "本法自公布之日起施行。", "type": "qa"},
    ]) + "\n", encoding="utf-8")
    assert _import(sqlite_url, law, rows) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["added"] == 10 and first["boilerplate"] == 5  # articles 3, 4, 5, 6 and ed-mark
    store = open_store(sqlite_url)
    flags = {it.article_no: it.boilerplate for it in store.items.iter(law_title="样本测试法", types=["law_article"])}
    assert flags == {1: False, 2: False, 3: True, 4: True, 5: True, 6: True}
    got = store.items.get_many(["ed-keep", "ed-mark", "qa-1"])
    assert [got[i].boilerplate for i in ("ed-keep", "ed-mark", "qa-1")] == [False, True, False]

    assert _import(sqlite_url, law, rows) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["added"] == 0 and again["updated"] == 0 and again["skipped"] == 10

    # Boilerplate stays findable by search.
    found, total = store.items.search(["自2020年1月1日起施行"], law_title="样本测试法")
    assert total == 1 and found[0].boilerplate


def test_a_database_stored_before_the_flag_is_read_by_the_rules(tmp_path, sqlite_url, capsys):
    from recommender.store import open_store
    from recommender.store.tables import items as items_table

    law = tmp_path / "样本测试法.md"
    law.write_text(TINY_LAW, encoding="utf-8")
    assert _import(sqlite_url, law) == 0
    capsys.readouterr()
    store = open_store(sqlite_url)
    # Make it look like an old database: no boilerplate key, the old hash.
    with store.items.db.begin() as conn:
        for item_id, data in conn.execute(sa.select(items_table.c.id, items_table.c.data)).all():
            data = {k: v for k, v in data.items() if k != "boilerplate"}
            old = Item.model_validate(data)
            conn.execute(items_table.update().where(items_table.c.id == item_id).values(
                data=data, content_hash=old.model_copy(update={"boilerplate": False}).content_hash()))
    stored = list(store.items.iter(law_title="样本测试法", types=["law_article"]))
    assert not any("boilerplate" in it.model_fields_set for it in stored)
    metas = {it.article_no: ItemMeta.from_item(it, "predicted") for it in stored}
    assert [metas[n].boilerplate for n in range(1, 7)] == [False, False, True, True, True, True]
    # A re-import writes the flagged articles only, once.
    assert _import(sqlite_url, law) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["updated"] == 4 and again["added"] == 0
    assert _import(sqlite_url, law) == 0
    assert json.loads(capsys.readouterr().out)["updated"] == 0


def _meta(item_id, body, **kw):
    return ItemMeta.from_item(Item(id=item_id, title=f"某法 {item_id}", body=body, type="law_article", **kw), "predicted")


def test_catalog_exposes_a_boilerplate_array_aligned_with_rows(tmp_path):
    metas = [_meta("a1", "公民有劳动的权利。"), _meta("a2", "本法自公布之日起施行。"), _meta("a3", "（删除）"),
             _meta("a4", "本法自公布之日起施行。", boilerplate=False)]  # an editor's "not boilerplate"
    metas.append(ItemMeta(id="q1", type="qa", title="问", status="current"))
    cat = Catalog(["labour"], metas, np.zeros((5, 1), np.float32))
    assert cat.boilerplate.dtype == bool and cat.boilerplate.tolist() == [False, True, True, False, False]
    assert cat.recommendable.all()  # still stored and current: only feeds leave them out
    more = cat.with_upserted([_meta("a1", "本法由国务院负责解释。")], np.zeros((1, 1), np.float32))
    assert more.boilerplate.tolist() == [True, True, True, False, False]
    cat.save(tmp_path / "cat")
    assert Catalog.load(tmp_path / "cat").boilerplate.tolist() == cat.boilerplate.tolist()
    # A catalogue saved before the flag existed: short articles are read from their snippet.
    lines = (tmp_path / "cat" / "items.jsonl").read_text(encoding="utf-8").splitlines()
    old = [json.dumps({k: v for k, v in json.loads(x).items() if k != "boilerplate"}, ensure_ascii=False)
           for x in lines]
    (tmp_path / "cat" / "items.jsonl").write_text("\n".join(old) + "\n", encoding="utf-8")
    assert Catalog.load(tmp_path / "cat").boilerplate.tolist() == [False, True, True, True, False]


def test_a_patch_lets_the_rules_read_a_changed_text_but_keeps_an_editors_flag():
    from recommender.service.content import _boilerplate_override

    text = "本法自公布之日起施行。"
    by_rules = Item.model_validate({"id": "a1", "title": "t", "body": text, "type": "law_article", "boilerplate": True})
    by_editor = by_rules.model_copy(update={"boilerplate": False})
    old = Item.model_validate({"id": "a1", "title": "t", "body": text, "type": "law_article"})
    assert not _boilerplate_override(by_rules) and _boilerplate_override(by_editor)
    assert not _boilerplate_override(old)


# --------------------------------------------------------------------------- the real corpus


def test_real_supervision_law_final_articles_are_flagged():
    """监察法 (2024) 第七十八条 "本法自公布之日起施行。《中华人民共和国行政监察法》同时废止。" and the
    2018 text's 第六十九条; 刑法 第一百九十九条 "（删去）"; the articles before them carry content."""
    from corpus.loaders import load_law_markdown

    laws = need_shared("corpus", "laws")
    result = load_law_markdown([laws / "宪法相关法" / "监察法(2024-12-25).md",
                                laws / "宪法相关法" / "监察法(2018-03-20).md", laws / "刑法" / "刑法.md"])
    arts = {(it.law_title, it.version_date.year if it.version_date else None, it.article_no): it
            for it in result.items if it.type == "law_article" and "之" not in (it.article_label or "")}
    new = {k[2]: v for k, v in arts.items() if k[0] == "监察法" and k[1] == 2024}
    assert new[78].body.startswith("本法自公布之日起施行") and boilerplate_rule(new[78]) == "effective"
    assert not any(is_boilerplate(new[n]) for n in range(1, 78))
    old = {k[2]: v for k, v in arts.items() if k[0] == "监察法" and k[1] == 2018}
    assert boilerplate_rule(old[max(old)]) == "effective"
    criminal = {k[2]: v for k, v in arts.items() if k[0] == "刑法"}
    assert boilerplate_rule(criminal[199]) == "deleted"
    assert not is_boilerplate(criminal[12])  # 本法施行以前的行为 … 适用当时的法律: content
    assert sum(is_boilerplate(a) for a in criminal.values()) <= 3
