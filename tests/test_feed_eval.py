"""The feed evaluation (``pufa evaluate --feeds``): the judged laws, the rule that says whether an
item is of or about one, the metrics on hand-computed lists, and one run on the sample content."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3

import pytest

from recommender.catalog import ItemMeta
from recommender.feed_eval import (
    DEFAULT_DAYS,
    DEFAULT_LAWS,
    DayReport,
    FeedReport,
    FeedRow,
    LawMatcher,
    campaign_items,
    distinct_laws,
    duplicate_texts,
    evaluate_feeds,
    format_listing,
    format_report,
    judged,
    load_group_laws,
    longest_run,
    share,
    targets,
)
from tests.conftest import SAMPLE_DIR, need_shared

GROUPS = {"officials", "law_enforcement", "party_members", "youth", "herders", "village_cadres", "migrant_workers",
          "enterprises", "women", "elderly", "disabled", "media", "teachers", "border_residents", "public"}


# --------------------------------------------------------------------------- the judged laws


def test_judged_laws_load_and_name_every_group_with_reasons():
    laws = load_group_laws()
    assert set(laws) == GROUPS
    for group, entries in laws.items():
        assert 6 <= len(entries) <= 15, group
        names = [e.law for e in entries]
        assert len(names) == len(set(names)), f"{group}: a law twice"
        for e in entries:
            assert e.reason.strip() and "\n" not in e.reason, f"{group} {e.law}: a one-line reason"
            assert not e.law.startswith("中华人民共和国"), f"{group}: {e.law} (short titles, as items carry them)"
        # The plan asks everyone to learn the Constitution and the Civil Code.
        assert {"宪法", "民法典"} <= set(names), group
    assert "草原法" in {e.law for e in laws["herders"]}
    assert "中国共产党章程" in {e.law for e in laws["party_members"]}
    header = DEFAULT_LAWS.read_text(encoding="utf-8").split("groups:")[0]
    assert "NOT derived from the engine" in header


def _norm(name: str) -> str:
    """A title as the sources spell it and as items carry it, made comparable."""
    return re.sub(r"[\s_（）()《》]", "", name.replace("中华人民共和国", ""))


def _sample_law_titles() -> set[str]:
    out = set()
    for path in SAMPLE_DIR.glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and (title := json.loads(line).get("law_title")):
                out.add(title)
    return out


def test_every_judged_law_exists_in_the_shared_corpus_or_the_sample():
    corpus = need_shared("corpus")
    known = {_norm(t) for t in _sample_law_titles()}
    with sqlite3.connect(f"file:{corpus / 'laws' / 'index.sqlite3'}?mode=ro", uri=True) as db:
        for (name,) in db.execute("select name from law"):
            known |= {_norm(name), _norm(name.split()[0])}  # 民法典 合同编 -> 民法典
    for folder in ("inner_mongolia", "party_regulations"):
        for path in (corpus / folder).rglob("*.md"):
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            first = lines[0].strip("# ").replace("（全文）", "") if lines else ""
            known |= {_norm(path.stem), _norm(first)}  # the file's name and its title line
    missing = sorted({e.law for entries in load_group_laws().values() for e in entries if _norm(e.law) not in known})
    assert not missing, f"judged laws not in ../shared/corpus nor in corpus/sample: {missing}"


# --------------------------------------------------------------------------- judged()


def _meta(type_: str, title: str = "标题", law_title: str | None = None) -> ItemMeta:
    return ItemMeta(id="x", type=type_, title=title, status="current", law_title=law_title)


HERDERS = {"草原法", "农村土地承包法", "民法典", "土地管理法"}


@pytest.mark.parametrize(("meta", "text", "expected"), [
    (_meta("law_article", law_title="草原法"), "", True),
    (_meta("law_article", law_title="草原防火条例"), "依照《中华人民共和国草原法》制定", False),  # articles: by law
    (_meta("law", law_title="土地管理法实施条例"), "", True),
    (_meta("law_article", law_title="最高人民法院关于适用《中华人民共和国民法典》婚姻家庭编的解释（一）"), "", True),
    # An interpretation whose title does not quote the law is its own law (list it to count it).
    (_meta("law_article", law_title="最高人民法院关于审理涉及农村土地承包纠纷案件适用法律问题的解释"), "", False),
    (_meta("explainer", title="草畜平衡：一片草场能养多少羊"), "依照《中华人民共和国草原法》第四十五条", True),
    (_meta("qa", title="禁牧区里偷偷放牧，会有什么后果？"), "草原法规定，禁牧区内不得放牧。", True),
    (_meta("explainer", title="《农村土地承包法》十问"), "", True),
    (_meta("case", title="羊群啃了邻居的玉米地", law_title="人民调解法"), "邻里纠纷调解了结", False),
    (_meta("case", title="离婚分草场", law_title="农村土地承包法"), "", True),  # linked to a judged law
    (_meta("news", title="巡回法庭开进牧区"), "草场纠纷在嘎查当场审结", False),
])
def test_judged_on_known_items(meta, text, expected):
    assert judged(meta, HERDERS, text) is expected


def test_judged_reads_recommendation_entries_and_parent_laws():
    entry = {"item_id": "a", "type": "explainer", "title": "读懂反家暴", "law_title": "反家庭暴力法"}
    assert judged(entry, {"反家庭暴力法"})
    assert not judged({"type": "explainer", "title": "读懂"}, {"反家庭暴力法"})
    assert judged({"type": "explainer", "title": "读懂"}, {"反家庭暴力法"}, parent_law="反家庭暴力法")


def test_a_law_named_inside_a_longer_title_is_not_named():
    matcher = LawMatcher({"教育法"}, known={"义务教育法", "家庭教育促进法"})
    assert matcher.named("义务教育法规定适龄儿童应当入学") == set()
    assert matcher.named("依照教育法和义务教育法") == {"教育法"}
    assert not judged(_meta("qa"), {"教育法"}, "义务教育法第五条", matcher=matcher)
    assert judged(_meta("qa"), {"教育法"}, "《中华人民共和国教育法》第二十九条", matcher=matcher)


# --------------------------------------------------------------------------- metrics


def test_longest_run():
    assert longest_run(["a", "a", None, "b", "b", "b", "a"]) == 3
    assert longest_run(["a", "b", "a", "b"]) == 1
    assert longest_run(["a", None, "a"]) == 1  # an item without a law breaks the run
    assert longest_run([None, None]) == 0
    assert longest_run([]) == 0


def test_duplicate_texts_ignore_whitespace_and_empty_bodies():
    assert duplicate_texts(["甲 乙", "甲乙", "丙", None, "", "", "丙\n", "丁"]) == 2
    assert duplicate_texts(["a", "b"]) == 0


def test_shares_and_distinct_laws():
    assert share([True, False, True, True], 2) == 0.5
    assert share([True] * 3 + [False] * 27, 10) == 0.3
    assert share([True, True, False], 10) == pytest.approx(2 / 3)  # a short list: of what there is
    assert share([], 10) == 0.0
    assert distinct_laws(["a", "b", None, "a", "c"], 4) == 2
    assert distinct_laws(["a", "b", None, "a", "c"], 30) == 3


def test_campaign_items_by_slot_and_by_reason():
    entries = [{"slot": "campaign", "reasons": ["为党员推荐"]}, {"reasons": ["国家宪法日专题", "为党员推荐"]},
               {"reasons": ["为党员推荐"]}, {"slot": "campaign", "reasons": ["国家宪法日专题"]}]
    assert campaign_items(entries, {"国家宪法日专题"}) == (2, 2)
    assert campaign_items(entries, set()) == (2, 0)


def _row(group: str, **kw: object) -> FeedRow:
    base: dict = {"n": 30, "judged10": 0.6, "judged30": 0.5, "judged10_n": 6, "laws10": 6, "laws30": 12, "run30": 2,
                  "campaign10": 0, "campaign10_slot": 0, "campaign10_reason": 0, "dup30": 0, "boilerplate30": 0}
    return FeedRow(group=group, **{**base, **kw})


def test_targets_on_a_hand_made_report():
    ordinary = DayReport(dt.date(2026, 10, 15), True, [_row("herders"), _row("public", judged10_n=5, run30=3)])
    campaign = DayReport(dt.date(2026, 12, 4), False, [
        _row("herders", campaign10=2, campaigns=["国家宪法日·宪法宣传周"], dup30=1),
        _row("public", campaign10=4, campaigns=["国家宪法日·宪法宣传周"], boilerplate30=None)])
    report = FeedReport([ordinary, campaign], [], {})
    got = {t["target"]: t for t in targets(report)}
    camp = got["1-3 campaign items in the top 10 on campaign days"]
    assert (camp["met"], camp["checked"], camp["failed"]) == (False, 2, ["public@2026-12-04"])
    assert got["longest run of one law <= 2 in the top 30"]["failed"] == ["public@2026-10-15"]
    assert got["0 duplicate texts in the top 30"]["failed"] == ["herders@2026-12-04"]
    boiler = got["0 boilerplate items in the top 30"]
    assert boiler["met"] is True and boiler["checked"] == 3
    judged_t = got[">= 6 of the top 10 of or about judged laws on an ordinary day"]
    assert (judged_t["checked"], judged_t["failed"]) == (2, ["public@2026-10-15"])
    unmeasured = FeedReport([DayReport(dt.date(2026, 12, 4), False, [_row("herders", boilerplate30=None)])], [], {})
    assert {t["target"]: t["met"] for t in targets(unmeasured)}["0 boilerplate items in the top 30"] is None


# --------------------------------------------------------------------------- a run on the sample content


@pytest.fixture(scope="module")
def sample_report(sample_env):
    from recommender.engine import Engine
    from recommender.model import load_model
    from recommender.sources import MemoryEvents

    engine = Engine(load_model(sample_env["models"] / sample_env["version"]), MemoryEvents())
    return evaluate_feeds(engine, read_items=sample_env["store"].items.get_many, show=["herders"])


def test_report_on_the_sample_content(sample_report):
    report = sample_report
    assert [d.day for d in report.days] == list(DEFAULT_DAYS)
    assert [d.ordinary for d in report.days] == [True, False, False]
    for d in report.days:
        assert {r.group for r in d.rows} == GROUPS and len(d.rows) == 15
        for r in d.rows:
            assert 0 < r.n <= 30
            assert 0.0 <= r.judged10 <= 1.0 and 0.0 <= r.judged30 <= 1.0
            assert r.judged10_n <= min(r.n, 10)
            assert 0 <= r.laws10 <= r.laws30 <= r.n
            assert 0 <= r.run30 <= r.n
            assert 0 <= r.campaign10 <= min(r.n, 10) and r.campaign10 == max(r.campaign10_slot, r.campaign10_reason)
            assert r.dup30 is not None and 0 <= r.dup30 < r.n
            assert r.boilerplate30 is None or 0 <= r.boilerplate30 <= r.n
            assert bool(r.campaigns) is not d.ordinary
    herders = next(r for r in report.days[0].rows if r.group == "herders")
    assert herders.judged10 >= 0.5, "the sample has herders' explainers on 草原法 and land contracts"
    assert "国家宪法日·宪法宣传周" in report.days[1].rows[0].campaigns

    text = format_report(report)
    for d in report.days:
        block = text.split(d.day.isoformat(), 1)[1]
        assert all(re.search(rf"^{g}\s", block, re.M) for g in GROUPS)
    assert text.count("\nmean ") == 3 and "targets:" in text
    assert len(re.findall(r"^  .*: (MET|NOT MET|not measured)", text, re.M)) == 5
    data = json.loads(json.dumps(sample_report.to_dict(), ensure_ascii=False, default=str))
    assert len(data["days"]) == 3 and all(len(d["rows"]) == 15 for d in data["days"])
    assert len(data["targets"]) == 5 and "listings" in data
    listing = format_listing(report, "herders")
    assert "== herders 2026-10-15 ==" in listing and " 1. " in listing


def test_cli_evaluate_feeds(sample_env, capsys):
    from recommender.cli import main

    common = ["--db", sample_env["url"], "--models", str(sample_env["models"])]
    assert main(["evaluate", "--feeds", *common, "--json", "--date", "2026-12-04"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["date"] for d in data["days"]] == ["2026-12-04"]
    assert len(data["days"][0]["rows"]) == 15
    assert main(["evaluate", "--feeds", *common, "--date", "2026-10-15", "--show", "women"]) == 0
    out = capsys.readouterr().out
    assert "2026-10-15 (ordinary day)" in out and "== women 2026-10-15 ==" in out
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--feeds", *common, "--show", "nobody"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", *common, "--show", "women"])  # --show without --feeds
    assert exc.value.code == 2
