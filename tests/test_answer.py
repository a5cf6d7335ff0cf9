"""The answer path: questions get the articles that answer them, on small data with known
answers; BM25 against hand-computed scores; the ranker's round trip; list composition."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest

from recommender.answer import Answerer
from recommender.answer_labels import load_article_labels, ranking_metrics
from recommender.answer_model import AnswerModel
from recommender.bm25 import BM25Index
from recommender.engine import Engine
from recommender.inputs import RecommendRequest
from recommender.model import load_model
from recommender.sources import MemoryEvents

from .conftest import SAMPLE_DIR

NOW = dt.datetime(2026, 8, 20, 12, 0, tzinfo=dt.UTC)

# Real articles (laws are outside copyright, Copyright Law art. 5), a few of each law.
LAWS = {
    "社会法/劳动合同法(2012-12-28).md": ("中华人民共和国劳动合同法", "## 第四章 劳动合同的履行和变更", [
        ("三十", "用人单位应当按照劳动合同约定和国家规定，向劳动者及时足额支付劳动报酬。用人单位拖欠或者未足额支付劳动报酬的，劳动者可以依法向当地人民法院申请支付令，人民法院应当依法发出支付令。"),
        ("三十一", "用人单位应当严格执行劳动定额标准，不得强迫或者变相强迫劳动者加班。用人单位安排加班的，应当按照国家有关规定向劳动者支付加班费。"),
        ("三十八", "用人单位有下列情形之一的，劳动者可以解除劳动合同：（一）未按照劳动合同约定提供劳动保护或者劳动条件的；（二）未及时足额支付劳动报酬的；（三）未依法为劳动者缴纳社会保险费的。"),
        ("八十二", "用人单位自用工之日起超过一个月不满一年未与劳动者订立书面劳动合同的，应当向劳动者每月支付二倍的工资。"),
        ("八十五", "用人单位未按照劳动合同的约定或者国家规定及时足额支付劳动者劳动报酬的，由劳动行政部门责令限期支付劳动报酬、加班费或者经济补偿；逾期不支付的，责令用人单位按应付金额百分之五十以上百分之一百以下的标准向劳动者加付赔偿金。"),
    ]),
    "社会法/劳动法(2018-12-29).md": ("中华人民共和国劳动法", "## 第五章 工资", [
        ("四十八", "国家实行最低工资保障制度。用人单位支付劳动者的工资不得低于当地最低工资标准。"),
        ("五十", "工资应当以货币形式按月支付给劳动者本人。不得克扣或者无故拖欠劳动者的工资。"),
    ]),
    "民法典/民法典(2020-05-28).md": ("中华人民共和国民法典", "## 第五编 婚姻家庭", [
        ("一千零六十七", "父母不履行抚养义务的，未成年子女或者不能独立生活的成年子女，有要求父母给付抚养费的权利。成年子女不履行赡养义务的，缺乏劳动能力或者生活困难的父母，有要求成年子女给付赡养费的权利。"),
        ("一千零七十六", "夫妻双方自愿离婚的，应当签订书面离婚协议，并亲自到婚姻登记机关申请离婚登记。"),
        ("一千零七十九", "夫妻一方要求离婚的，可以由有关组织进行调解或者直接向人民法院提起离婚诉讼。人民法院审理离婚案件，应当进行调解；如果感情确已破裂，调解无效的，应当准予离婚。"),
        ("一千零八十四", "父母与子女间的关系，不因父母离婚而消除。离婚后，子女无论由父或者母直接抚养，仍是父母双方的子女。离婚后，不满两周岁的子女，以由母亲直接抚养为原则。"),
        ("一千零八十五", "离婚后，子女由一方直接抚养的，另一方应当负担部分或者全部抚养费。负担费用的多少和期限的长短，由双方协议；协议不成的，由人民法院判决。"),
        ("一千零八十七", "离婚时，夫妻的共同财产由双方协议处理；协议不成的，由人民法院根据财产的具体情况，按照照顾子女、女方和无过错方权益的原则判决。"),
        ("一千零九十一", "有下列情形之一，导致离婚的，无过错方有权请求损害赔偿：（一）重婚；（二）与他人同居；（三）实施家庭暴力；（四）虐待、遗弃家庭成员。"),
    ]),
    "经济法/草原法(2021-04-29).md": ("中华人民共和国草原法", "## 第三章 草原权属", [
        ("十三", "集体所有的草原或者依法确定给集体经济组织使用的国家所有的草原，可以由本集体经济组织内的家庭或者联户承包经营。在草原承包经营期内，不得对承包经营者使用的草原进行调整。"),
        ("十五", "草原承包经营权受法律保护，可以按照自愿、有偿的原则依法转让。草原承包经营权转让的受让方必须具有从事畜牧业生产的能力。"),
        ("十六", "草原所有权、使用权的争议，由当事人协商解决；协商不成的，由有关人民政府处理。"),
    ]),
    "刑法/刑法(2020-12-26).md": ("中华人民共和国刑法", "## 第五章 侵犯财产罪", [
        ("二百六十四", "盗窃公私财物，数额较大的，或者多次盗窃、入户盗窃、携带凶器盗窃、扒窃的，处三年以下有期徒刑、拘役或者管制，并处或者单处罚金。"),
        ("二百六十六", "诈骗公私财物，数额较大的，处三年以下有期徒刑、拘役或者管制，并处或者单处罚金。"),
        ("二百七十六", "由于泄愤报复或者其他个人目的，毁坏机器设备、残害耕畜或者以其他方法破坏生产经营的，处三年以下有期徒刑、拘役或者管制；情节严重的，处三年以上七年以下有期徒刑。"),
        ("二百七十六条之一", "以转移财产、逃匿等方法逃避支付劳动者的劳动报酬或者有能力支付而不支付劳动者的劳动报酬，数额较大，经政府有关部门责令支付仍不支付的，处三年以下有期徒刑或者拘役，并处或者单处罚金。"),
    ]),
}

QUESTIONS = [
    ("老板拖欠工资三个月了怎么办", [("劳动合同法", 30), ("劳动法", 50)]),
    ("公司一直不发工资，我可以辞职吗", [("劳动合同法", 38)]),
    ("工作半年了公司不跟我签劳动合同", [("劳动合同法", 82)]),
    ("老板欠薪跑路了，会坐牢吗", [("刑法", 276, "之一")]),
    ("工资比最低工资还低合法吗", [("劳动法", 48)]),
    ("公司天天让加班不给加班费", [("劳动合同法", 31)]),
    ("劳动监察部门能帮我要回工资吗", [("劳动合同法", 85)]),
    ("我想离婚，对方不同意怎么办", [("民法典", 1079)]),
    ("协议离婚要去哪里办手续", [("民法典", 1076)]),
    ("离婚后孩子的抚养费谁出", [("民法典", 1085)]),
    ("两岁以下的孩子离婚后跟谁", [("民法典", 1084)]),
    ("老公家暴，离婚能要赔偿吗", [("民法典", 1091)]),
    ("离婚时房子怎么分", [("民法典", 1087)]),
    ("子女不给父母赡养费怎么办", [("民法典", 1067)]),
    ("承包的草场能转让给别人吗", [("草原法", 15)]),
    ("草场被邻居占了怎么办", [("草原法", 16)]),
    ("嘎查要调整我家承包的草场", [("草原法", 13)]),
    ("被人骗了五千块钱算诈骗罪吗", [("刑法", 266)]),
    ("偷东西多少钱会判刑", [("刑法", 264)]),
    ("包工头不给钱跑了找谁", [("劳动合同法", 30)]),
]


def _write_laws(root):
    for rel, (title, heading, arts) in LAWS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        body = "\n\n".join(f"第{no}{'' if no.endswith('之一') else '条'} {text}" for no, text in arts)
        path.write_text(f"# {title}\n\n2020年1月1日 通过\n\n<!-- INFO END -->\n\n{heading}\n\n{body}\n",
                        encoding="utf-8")


def _write_labels(path):
    with path.open("w", encoding="utf-8") as fh:
        for k, (text, arts) in enumerate(QUESTIONS):
            rows = [{"law": a[0], "article_no": a[1], **({"suffix": a[2]} if len(a) > 2 else {})} for a in arts]
            fh.write(json.dumps({"id": f"t{k}", "text": text, "articles": rows}, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def law_env(tmp_path_factory):
    """The sample content plus five small laws; one model without labels, one whose ranker
    was trained on 20 labelled questions (4-fold cross-validated)."""
    from corpus.loaders import load_paths
    from recommender.answer_model import AnswerConfig
    from recommender.build import BuildConfig, build_model
    from recommender.store import open_store

    root = tmp_path_factory.mktemp("answer_env")
    _write_laws(root / "laws")
    labels = root / "labels.jsonl"
    _write_labels(labels)
    store = open_store(f"sqlite:///{root / 'p.db'}")
    result = load_paths([SAMPLE_DIR, root / "laws"])
    assert not result.rejected, result.rejected
    store.items.upsert(result.items)
    plain = build_model(store, root / "models", config=BuildConfig(evaluate=False, questions=[]))
    trained = build_model(store, root / "models", config=BuildConfig(
        evaluate=True, questions=[str(labels)], answer=AnswerConfig(cv_folds=4, min_child_samples=5, num_leaves=7)))
    store.close()
    return {"plain": load_model(root / "models" / plain.version), "trained": load_model(root / "models" / trained.version),
            "report": trained, "labels": labels, "db": f"sqlite:///{root / 'p.db'}", "models": root / "models"}


def test_bm25_matches_hand_computed_scores():
    docs = [["工资", "拖欠", "工资"], ["劳动", "合同"], ["工资", "合同", "解除", "劳动"]]
    bm = BM25Index(k1=1.2, b=0.75).fit(docs)
    n, avgdl = 3, (3 + 2 + 4) / 3

    def by_hand(query, doc):
        total = 0.0
        for t in query:
            df = sum(t in d for d in docs)
            if df:
                tf = doc.count(t)
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                total += idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * len(doc) / avgdl))
        return total

    for q in (["工资"], ["工资", "合同"], ["合同", "解除"], ["没有的词"]):
        assert np.allclose(bm.scores(q), [by_hand(q, d) for d in docs], atol=1e-5), q
    # A document added after the build scores as it would have inside it (same statistics).
    added = bm.with_added([3], [["工资", "拖欠", "工资"]])
    assert np.allclose(added.scores(["工资"])[[0, 3]], [by_hand(["工资"], docs[0])] * 2, atol=1e-5)
    assert len(added) == 4 and len(bm) == 3


def test_bm25_coverage_is_the_idf_share_of_the_question_words_held():
    docs = [["工资", "拖欠", "工资"], ["劳动", "合同"], ["工资", "合同", "解除", "劳动"]]
    bm = BM25Index().fit(docs)
    idf = {t: math.log(1 + (3 - df + 0.5) / (df + 0.5)) for t, df in (("工资", 2), ("合同", 2), ("解除", 1), ("拖欠", 1))}
    q = ["工资", "解除", "解除", "没有的词"]  # repeats count once; unknown words are not the question's
    want = [idf["工资"] / (idf["工资"] + idf["解除"]), 0.0, 1.0]
    assert np.allclose(bm.coverage(q, np.arange(3)), want, atol=1e-6)
    assert np.allclose(bm.coverage(q, np.array([2, 0])), [1.0, want[0]], atol=1e-6)
    assert not bm.coverage(["没有的词"], np.arange(3)).any()
    # An item added after the build: its own words, the build's idf.
    added = bm.with_added([1, 3], [["解除", "劳动"], ["工资"]])
    assert np.allclose(added.coverage(q, np.arange(4)), [want[0], 1 - want[0], 1.0, want[0]], atol=1e-6)


def test_labels_match_current_articles(law_env):
    qs, stats = load_article_labels(law_env["labels"], law_env["plain"].catalog)
    assert stats["questions"] == len(QUESTIONS) and stats["unmatched"] == 0
    sub = next(q for q in qs if q.id == "t3")
    assert law_env["plain"].catalog.meta(sub.gold[0]).article_label == "第二百七十六条之一"


@pytest.mark.parametrize("which", ["plain", "trained"])
def test_a_wage_question_gets_labour_law_articles_first(law_env, which):
    engine = Engine(law_env[which], MemoryEvents())
    res = engine.recommend(RecommendRequest(query="老板拖欠工资三个月了还不给，怎么办", k=10), now=NOW)
    first = res.items[0]
    assert first["type"] == "law_article" and first["law_title"] in ("劳动合同法", "劳动法"), res.items[:3]
    assert first["reasons"][0].startswith("与您的问题相关：") and first["reasons"][0].endswith("条")
    assert first["article_no"] and first["snippet"] and len(first["snippet"]) <= 81
    laws = [i.get("law_title") for i in res.items[:3] if i["type"] == "law_article"]
    assert laws.count("劳动合同法") + laws.count("劳动法") >= 2, res.items[:3]


def test_grassland_and_divorce_questions_get_their_law(law_env):
    engine = Engine(law_env["trained"], MemoryEvents())
    res = engine.recommend(RecommendRequest(query="我家承包的草场，村里想收回去重新分", k=5), now=NOW)
    assert res.items[0]["law_title"] == "草原法", res.items[0]
    res = engine.recommend(RecommendRequest(query="离婚以后孩子抚养费怎么算", k=5), now=NOW)
    assert res.items[0]["law_title"] == "民法典", res.items[0]


def test_trained_ranker_reports_cross_validation_and_beats_chance(law_env):
    cv = law_env["report"].answer["cv"]
    assert cv["folds"] == 4 and "KFold" in cv["scheme"]
    assert cv["recall@10"]["mean"] > 0.5 and cv["recall@10"]["low"] <= cv["recall@10"]["mean"] <= cv["recall@10"]["high"]


def test_ranker_round_trip_gives_identical_scores(law_env, tmp_path):
    model = law_env["trained"]
    assert model.answer is not None and model.answer.booster is not None
    model.answer.save(tmp_path / "answer")
    again = AnswerModel.load(tmp_path / "answer")
    engine = Engine(model, MemoryEvents())
    view = engine.query_view(engine.read_text("公司拖欠工资不发怎么办"))
    allowed = model.catalog.recommendable.copy()
    a = Answerer(model.catalog, model.index, model.bm25, model.answer).rank(view, allowed)
    b = Answerer(model.catalog, model.index, model.bm25, again).rank(view, allowed)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_campaign_takes_at_most_one_place_and_never_the_answer(law_env):
    model = law_env["trained"]
    events = MemoryEvents()
    events.campaigns.append({"id": "wage-week", "name": "根治欠薪宣传周", "topics": ["labour", "constitution"],
                             "start": "2026-08-01", "end": "2026-08-31", "boost": 0.6, "reason": "根治欠薪专题"})
    engine = Engine(model, events)
    res = engine.recommend(RecommendRequest(query="协议离婚要去哪里办手续", k=10), now=NOW)
    assert res.items[0]["law_title"] == "民法典"
    campaign = [i for i in res.items if any("专题" in r for r in i["reasons"]) and i["type"] != "law_article"]
    assert len(campaign) <= 1
    # 12·4: the built-in Constitution Day campaign adds at most one item to an answer.
    res = engine.recommend(RecommendRequest(query="离婚时房子怎么分", k=10, date=dt.date(2026, 12, 4)), now=NOW)
    assert res.items[0]["type"] == "law_article"
    assert sum(1 for i in res.items if "国家宪法日专题" in i["reasons"]) <= 1


def test_an_explainer_takes_an_article_place_only_when_as_close_to_the_question(law_env):
    from recommender.answering import _earns_a_place

    model = law_env["trained"]
    engine = Engine(model, MemoryEvents())
    res = engine.recommend(RecommendRequest(query="老板拖欠工资三个月了怎么办", k=10), now=NOW)
    kinds = [i["type"] for i in res.items]
    assert kinds[0] == "law_article" and "law_article" not in kinds[kinds.index(next(k for k in kinds if k != "law_article")):]
    others = [i["title"] for i in res.items if i["type"] != "law_article"]
    assert any("工钱" in t or "工资" in t for t in others), others  # the sample's wage Q&A follows the articles
    view = engine.query_view(engine.read_text("老板拖欠工资三个月了怎么办"))
    rows, _ = model.answerer.rank(view, model.catalog.recommendable.copy())
    cat = model.catalog
    wage = next(r for r in cat.explanatory_rows if "工钱" in cat.metas[r].title)
    anthem = next(r for r in cat.explanatory_rows if "国歌" in cat.metas[r].title)
    comps = {"query_sparse": 0.1}
    assert _earns_a_place(model, view, int(wage), comps, rows, 7)
    assert not _earns_a_place(model, view, int(anthem), comps, rows, 7)  # on the anthem: never before a wage article
    assert not _earns_a_place(model, view, int(wage), {"query_sparse": 0.0}, rows, 7)  # no word of the question
    assert _earns_a_place(model, view, int(anthem), comps, rows[:3], 7)  # fewer articles than places: none pushed out


def test_no_long_runs_of_one_law_unless_the_question_names_it(law_env):
    engine = Engine(law_env["trained"], MemoryEvents())
    res = engine.recommend(RecommendRequest(query="离婚的时候孩子和财产怎么处理", k=10), now=NOW)
    laws = [i.get("law_title") if i["type"] == "law_article" else None for i in res.items]
    runs = max(len(list(g)) for _, g in __import__("itertools").groupby(laws))
    assert runs <= 3, laws
    res = engine.recommend(RecommendRequest(query="民法典关于离婚时孩子和财产怎么规定", k=10), now=NOW)
    laws = [i.get("law_title") for i in res.items[:5]]
    assert laws.count("民法典") >= 4, laws


def test_every_text_once_and_scores_in_list_order(law_env):
    engine = Engine(law_env["trained"], MemoryEvents())
    res = engine.recommend(RecommendRequest(query="公司不发工资还天天加班", k=20), now=NOW)
    ids = [i["item_id"] for i in res.items]
    assert len(ids) == len(set(ids))
    scores = [i["score"] for i in res.items]
    assert scores == sorted(scores, reverse=True)


def test_ranking_metrics_by_hand():
    from recommender.answer_labels import LabelledQuestion

    q = LabelledQuestion("q", "x", ["a", "b"], 3)
    m = ranking_metrics([["z", "a", "y", "b"]], [q])
    assert m["recall@10"] == [2 / 3] and m["mrr@10"] == [0.5]
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@10"][0] == pytest.approx(dcg / idcg)


def test_answer_evaluation_table_on_labelled_questions(law_env):
    from recommender.answer_eval import evaluate_answers, format_answer_report

    model = law_env["trained"]
    qs, _ = load_article_labels(law_env["labels"], model.catalog)
    rep = evaluate_answers(model, qs, folds=4)
    assert list(rep.systems) == ["answer path", "ranker", "fusion", "bm25", "bm25_lexicon", "dense", "tfidf",
                                 "bm25 baseline", "previous engine"]
    ans = rep.systems["answer path"]
    assert ans["recall@10"]["mean"] >= 0.7 and ans["recall@100"]["mean"] >= ans["recall@10"]["mean"]
    assert ans["recall@10"]["mean"] >= rep.systems["previous engine"]["recall@10"]["mean"]
    assert rep.families["answer path"]["民法典"]["n"] == 7
    text = format_answer_report(rep)
    assert "answer path" in text and "民法典" in text and "KFold" in text


def test_pufa_evaluate_questions_prints_the_table_and_json(law_env, capsys):
    from recommender.cli import main

    assert main(["evaluate", "--db", law_env["db"], "--models", str(law_env["models"]),
                 "--questions", str(law_env["labels"]), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["meta"]["questions"] == len(QUESTIONS) and rep["meta"]["label_stats"]["unmatched"] == 0
    assert rep["systems"]["answer path"]["ndcg@10"]["mean"] > 0.5
    assert rep["families"]["answer path"]["司法解释"]["recall@10"] is None  # no interpretation is labelled here
    assert main(["evaluate", "--db", law_env["db"], "--models", str(law_env["models"]),
                 "--questions", str(law_env["labels"])]) == 0
    out = capsys.readouterr().out
    assert "recall@100" in out and "previous engine" in out


def test_a_question_no_law_speaks_to_gets_no_article(law_env):
    # The sentence model finds *some* nearest article for any text; without a shared word or a
    # similar labelled question it is not an answer.
    engine = Engine(law_env["trained"], MemoryEvents())
    res = engine.recommend(RecommendRequest(query="周末天气很好，去哪个公园散步看花", k=10), now=NOW)
    assert not [i for i in res.items if any(r.startswith("与您的问题相关：") for r in i["reasons"])], res.items[:3]


def test_the_chapters_the_stages_rank_first_bring_all_their_articles(law_env):
    """A question on overtime shares words with one article of 劳动合同法's chapter on
    performance; expanding the best chapter brings its other articles in as candidates (the
    general ones an answer cites), and a chapter longer than ``expand_max`` is not expanded."""
    from recommender.answer_model import AnswerConfig

    m = law_env["plain"]
    engine = Engine(m, MemoryEvents())
    view = engine.query_view(engine.read_text("公司天天让加班不给加班费"))
    allowed = m.catalog.recommendable & m.answerer.static.answerable
    chapter = {m.catalog.metas[r].article_label for r in np.flatnonzero(allowed)
               if m.catalog.metas[r].law_title == "劳动合同法"}
    assert len(chapter) == 5

    def candidates(**over):
        cfg = AnswerConfig(per_source=1, **over)
        a = Answerer(m.catalog, m.index, m.bm25, AnswerModel(cfg), ivf=m.answerer.ivf)
        rows = a.prepare(view, allowed).candidates
        return {m.catalog.metas[r].article_label for r in rows if m.catalog.metas[r].law_title == "劳动合同法"}

    assert "第三十一条" in candidates(expand_sections=0)
    assert candidates(expand_sections=0) != chapter
    assert candidates(expand_sections=1) == chapter
    assert candidates(expand_sections=1, expand_max=4) == candidates(expand_sections=0)


def test_the_query_adapter_moves_questions_towards_the_articles_that_answered_them(law_env):
    """The memory's adapter (a ridge map of question vectors towards their gold articles')
    brings remembered questions closer to their answers, also with the map fitted without the
    question itself (what training reads), and is rebuilt identically when the model loads."""
    m = law_env["trained"]
    mem = m.answerer.memory_rows
    assert mem is not None and mem.adapter is not None and len(mem.fold_adapters) == 5
    dense = m.index.dense_
    raw, adapted, held_out = [], [], []
    for i, q in enumerate(mem.memory.dense):
        gold = dense[mem.gold_rows[i]].mean(axis=0)
        gold /= np.linalg.norm(gold)
        raw.append(float(q @ gold))
        adapted.append(float(mem.adapted(q) @ gold))
        held_out.append(float(mem.adapted(q, exclude=i) @ gold))
    assert np.mean(adapted) > np.mean(held_out) > np.mean(raw), (np.mean(raw), np.mean(held_out), np.mean(adapted))
    again = load_model(law_env["models"] / m.version).answerer.memory_rows
    assert np.array_equal(again.adapter, mem.adapter)
    off = Answerer(m.catalog, m.index, m.bm25, m.answer.__class__(m.answer.config.model_copy(update={"adapter_lambda": 0.0}),
                                                                  m.answer.booster, m.answer.memory))
    assert off.memory_rows is not None and off.memory_rows.adapted(mem.memory.dense[0]) is None


def test_the_adapted_question_is_a_fifth_stage_that_brings_its_nearest_articles(law_env):
    """The adapted question's nearest articles join the candidates (``adapter_candidates`` of
    them) with their rank there as features; without an adapter that stage finds nothing."""
    from recommender.answer_model import FEATURE_NAMES, AnswerConfig

    m = law_env["plain"]
    engine = Engine(m, MemoryEvents())
    view = engine.query_view(engine.read_text("公司天天让加班不给加班费"))
    allowed = m.catalog.recommendable & m.answerer.static.answerable
    grass = next(r for r in np.flatnonzero(allowed)
                 if m.catalog.metas[r].law_title == "草原法" and m.catalog.metas[r].article_label == "第十六条")
    towards = m.index.dense_[grass]  # an "adapted" question that reads like 草原法 第十六条
    col = {name: j for j, name in enumerate(FEATURE_NAMES)}

    def prepared(adapted, **over):
        cfg = AnswerConfig(per_source=1, expand_sections=0, **over)
        a = Answerer(m.catalog, m.index, m.bm25, AnswerModel(cfg), ivf=m.answerer.ivf)
        return a.prepare(view, allowed, adapted=adapted)

    plain = prepared(None, adapter_candidates=3)
    assert grass not in plain.candidates
    assert np.all(plain.features[:, col["adapted_score"]] == 0)
    assert np.all(plain.features[:, col["adapted_log_rank"]] == np.float32(np.log1p(1000)))
    off = prepared(towards, adapter_candidates=0)
    assert np.array_equal(off.candidates, plain.candidates)
    on = prepared(towards, adapter_candidates=3)
    nearest = np.argsort(-np.where(allowed, m.index.dense_ @ towards, -np.inf), kind="stable")[:3]
    assert set(nearest) <= set(on.candidates) and set(on.candidates) - set(plain.candidates) <= set(nearest)
    k = int(np.flatnonzero(on.rows == grass)[0])
    assert on.features[k, col["adapted_log_rank"]] == 0.0
    assert on.features[k, col["adapted_score"]] == pytest.approx(1.0, abs=1e-4)
