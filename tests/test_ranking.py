"""Each ranking stage on a hand-made catalogue of four to six items, with exact values.

The catalogue, index and profile are built directly (no training): topic weights, dense
vectors and TF-IDF rows are chosen so that every expected number below can be worked out
by hand, and the working is written beside it. A changed formula (a half-life off by 2x, a
weight applied twice, a missing normalisation) changes a number and fails a test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from corpus.taxonomy import Campaign
from recommender.catalog import Catalog, ItemMeta
from recommender.config import (
    CandidateConfig,
    DiversityConfig,
    FilterConfig,
    PipelineConfig,
    ProfileConfig,
    ReasonConfig,
    ScoringConfig,
)
from recommender.index import ItemIndex
from recommender.profiles import ProfileBuilder, QuerySignal, TextSignal, UserProfile
from recommender.rank import (
    CandidateSelector,
    Explainer,
    Filters,
    RankContext,
    Ranker,
    Scorer,
)
from recommender.variety import Diversifier

TOPICS = ["labour", "anti_fraud", "marriage_family"]  # real taxonomy ids (for names in reasons)
DAY = dt.date(2003, 1, 1)  # the request's day; 2002 and 2001 have 365 days each


def make_catalog(rows: list[tuple[ItemMeta, list[float]]]) -> Catalog:
    return Catalog(TOPICS, [m for m, _ in rows], np.asarray([t for _, t in rows], dtype=np.float32))


def make_index(ids: list[str], dense: list[list[float]], tfidf: list[list[float]] | None = None,
               floor: float = 0.0) -> ItemIndex:
    """An index with the given vectors (what ``fit`` would have learned)."""
    idx = ItemIndex()
    idx.ids_ = list(ids)
    idx.row_ = {i: r for r, i in enumerate(ids)}
    idx.dense_ = np.asarray(dense, dtype=np.float32)
    idx.dense_floor_ = floor
    idx.tfidf_ = sp.csr_matrix(np.asarray(tfidf if tfidf is not None else [[0.0]] * len(ids), dtype=np.float32))
    return idx


def item(id: str, type: str = "qa", **kw: Any) -> ItemMeta:
    return ItemMeta(id=id, type=type, title=f"标题{id}", status=kw.pop("status", "current"), **kw)


# The standard catalogue:
#   row  id  type         topics (labour, anti_fraud, marriage)  published    law     must-know for
#   0    a   qa           1.0  0    0                            2002-01-01   -       migrant_workers
#   1    b   explainer    0    1.0  0                            2001-01-01   -       -
#   2    c   law_article  0.6  0    0.8  (a unit vector)         -            劳动法  migrant_workers
#   3    d   law_article  0    0    0                            2003-06-01   劳动法  -
CATALOG = make_catalog([
    (item("a", published_at="2002-01-01", must_know_for=["migrant_workers"]), [1.0, 0.0, 0.0]),
    (item("b", "explainer", published_at="2001-01-01"), [0.0, 1.0, 0.0]),
    (item("c", "law_article", law_title="劳动法", must_know_for=["migrant_workers"]), [0.6, 0.0, 0.8]),
    (item("d", "law_article", law_title="劳动法", published_at="2003-06-01"), [0.0, 0.0, 0.0]),
])
# Dense vectors: a=(1,0) b=(0,1) c=(0.6,0.8) d=(-1,0); the floor of unrelated items is 0.2, so
# a cosine c rescales to clip((c - 0.2) / 0.8, 0, 1). TF-IDF rows over two terms.
INDEX = make_index(["a", "b", "c", "d"], [[1, 0], [0, 1], [0.6, 0.8], [-1, 0]],
                   tfidf=[[0.3, 0.0], [0.8, 0.6], [0.0, 1.0], [0.0, 0.0]], floor=0.2)
ALL = np.arange(4)

# Every blend weight 1, so a weighted component equals the component itself.
UNIT = ScoringConfig(profile_topic=1.0, profile_dense=1.0, query_sparse=1.0, query_dense=1.0, query_topic=1.0,
                     group_prior=1.0, must_know=1.0, campaign=1.0, co_reading=1.0, freshness=1.0,
                     freshness_half_life_days=365.0, type_weights={"qa": 0.1, "explainer": 0.2},
                     elderly_anti_fraud=1.0)


def profile(**fields: Any) -> UserProfile:
    p = ProfileBuilder(ProfileConfig(), TOPICS).empty("u", ["public"])
    for name, value in fields.items():
        setattr(p, name, value)
    return p


def context(p: UserProfile | None = None, *, groups: tuple[str, ...] = ("public",),
            group_vector: list[float] | None = None, day: dt.date = DAY, **kw: Any) -> RankContext:
    gv = np.asarray(group_vector if group_vector is not None else [0.0, 0.0, 0.0], dtype=np.float32)
    kw.setdefault("campaigns", [])
    kw.setdefault("k", 10)
    kw.setdefault("exclude_seen", False)
    return RankContext(profile=p or profile(), group_ids=list(groups), group_vector=gv, day=day, **kw)


def query(sparse: list[float], dense: list[float], topics: list[float], weight: float = 0.5,
          kind: str = "search") -> QuerySignal:
    sig = TextSignal("问题", ["问题"], sp.csr_matrix(np.asarray([sparse], dtype=np.float32)),
                     np.asarray(dense, dtype=np.float32), np.asarray(topics, dtype=np.float32))
    return QuerySignal(sig, weight, kind)


def campaign(id: str, topics: tuple[str, ...], boost: float) -> Campaign:
    return Campaign(id=id, name=id, topics=topics, start="01-01", end="12-31", boost=boost, reason=f"{id}专题")


def score(ctx: RankContext, config: ScoringConfig = UNIT) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return Scorer(config, TOPICS).score(ctx, CATALOG, INDEX, ALL)


def close(values: np.ndarray, expected: list[float]) -> bool:
    return bool(np.allclose(values, expected, atol=1e-6))


# --------------------------------------------------------------------------- scoring


def test_freshness_halves_every_half_life_counted_from_the_request_day():
    """Bug: ages were counted from the day the catalogue was built (``date.today()``), so a
    list asked for another day (``RecommendRequest.date``, or a catalogue loaded long ago)
    used the wrong ages. Half-life 365 days:
      2003-01-01: a is 365 days old -> 0.5; b 730 -> 0.25; c has no date -> 0; d is dated in
      the future -> age 0 -> 1.
      2004-01-01: a 730 -> 0.25; b 1095 -> 0.125; d 214 days (2003-06-01 .. 2004-01-01)."""
    _, comps = score(context(day=dt.date(2003, 1, 1)))
    assert close(comps["freshness"], [0.5, 0.25, 0.0, 1.0])
    _, comps = score(context(day=dt.date(2004, 1, 1)))
    assert close(comps["freshness"], [0.25, 0.125, 0.0, 0.5 ** (214 / 365)])


def test_without_a_person_only_freshness_and_type_score():
    # type: qa 0.1, explainer 0.2, law_article not listed -> 0 (weight of "type" is always 1).
    total, comps = score(context())
    assert set(comps) == {"freshness", "type"}
    assert close(comps["type"], [0.1, 0.2, 0.0, 0.0])
    assert close(total, [0.5 + 0.1, 0.25 + 0.2, 0.0, 1.0])


def test_profile_topic_is_the_cosine_with_the_persons_topics_times_confidence():
    # weights (1, 0, 0.75) have norm 1.25 -> unit (0.8, 0, 0.6). Cosines with the unit item
    # topics: a 0.8, b 0, c 0.6*0.8 + 0.8*0.6 = 0.96, d 0 (no topics). Times confidence 0.5.
    _, comps = score(context(profile(topic_weights=np.asarray([1.0, 0.0, 0.75], dtype=np.float32), confidence=0.5)))
    assert close(comps["profile_topic"], [0.4, 0.0, 0.48, 0.0])


def test_profile_dense_is_the_rescaled_cosine_times_confidence():
    # Person (1, 0): cosines a 1, b 0, c 0.6, d -1 -> rescaled above the floor 0.2:
    # (1-0.2)/0.8 = 1, 0 -> clipped to 0, (0.6-0.2)/0.8 = 0.5, -1 -> 0. Times confidence 0.5.
    _, comps = score(context(profile(dense=np.asarray([1.0, 0.0], dtype=np.float32), confidence=0.5)))
    assert close(comps["profile_dense"], [0.5, 0.0, 0.25, 0.0])


def test_query_components_each_times_the_query_weight():
    q = query(sparse=[1.0, 0.0], dense=[0.0, 1.0], topics=[0.0, 0.3, 0.4], weight=0.5)
    _, comps = score(context(profile(query=q)))
    # sparse: TF-IDF cosines a 0.3, b 0.8, c 0, d 0; doubled and clipped to 1: 0.6, 1, 0, 0; x 0.5.
    assert close(comps["query_sparse"], [0.3, 0.5, 0.0, 0.0])
    # dense: cosines with (0, 1): 0, 1, 0.8, 0 -> rescaled: 0, 1, 0.75, 0; x 0.5.
    assert close(comps["query_dense"], [0.0, 0.5, 0.375, 0.0])
    # topics (0, 0.3, 0.4) -> unit (0, 0.6, 0.8): a 0, b 0.6, c 0.8*0.8 = 0.64, d 0; x 0.5.
    assert close(comps["query_topic"], [0.0, 0.3, 0.32, 0.0])


def test_group_prior_must_know_campaign_co_reading_and_elderly():
    p = profile(completed={"a"})
    ctx = context(p, groups=("migrant_workers",), group_vector=[0.0, 2.0, 0.0],
                  campaigns=[campaign("c1", ("anti_fraud",), 0.4), campaign("c2", ("labour", "marriage_family"), 0.5)],
                  co_reading={1: 1.0, 2: 0.5})
    _, comps = score(ctx)
    # The group vector is normalised: (0, 2, 0) -> (0, 1, 0); only b is on anti_fraud.
    assert close(comps["group_prior"], [0.0, 1.0, 0.0, 0.0])
    # Must-know for migrant workers: a and c, but a is completed already.
    assert close(comps["must_know"], [0.0, 0.0, 1.0, 0.0])
    # Per campaign: the item's strongest weight on its topics times its boost; the best
    # campaign counts: c1 gives b 0.4; c2 gives a 1*0.5, c 0.8*0.5 = 0.4.
    assert close(comps["campaign"], [0.5, 0.4, 0.4, 0.0])
    assert close(comps["co_reading"], [0.0, 1.0, 0.5, 0.0])
    assert "elderly_anti_fraud" not in comps
    _, comps = score(context(groups=("elderly",)))
    assert close(comps["elderly_anti_fraud"], [0.0, 1.0, 0.0, 0.0])  # the item's anti_fraud weight


def test_the_blend_is_the_weighted_sum_of_components():
    cfg = ScoringConfig(profile_topic=2.0, group_prior=0.5, freshness=0.2, freshness_half_life_days=365.0,
                        type_weights={"qa": 0.1, "explainer": 0.2})
    p = profile(topic_weights=np.asarray([1.0, 0.0, 0.75], dtype=np.float32), confidence=0.5)
    total, weighted = score(context(p, group_vector=[0.0, 1.0, 0.0]), cfg)
    # profile_topic 2 x (0.4, 0, 0.48, 0); group_prior 0.5 x (0, 1, 0, 0);
    # freshness 0.2 x (0.5, 0.25, 0, 1); type (0.1, 0.2, 0, 0).
    assert close(weighted["profile_topic"], [0.8, 0.0, 0.96, 0.0])
    assert close(weighted["group_prior"], [0.0, 0.5, 0.0, 0.0])
    assert close(weighted["freshness"], [0.1, 0.05, 0.0, 0.2])
    assert close(total, [0.8 + 0.1 + 0.1, 0.5 + 0.05 + 0.2, 0.96, 0.2])


# --------------------------------------------------------------------------- filters


def test_filters_status_audience_type_seen_dismissed_and_region(taxonomy):
    cat = make_catalog([
        (item("ok"), [1, 0, 0]),
        (item("old", "law_article", status="superseded"), [1, 0, 0]),
        (item("retired", retired=True), [1, 0, 0]),
        (item("adult", audience="adults"), [1, 0, 0]),
        (item("nm", "news", region="内蒙古"), [1, 0, 0]),
        (item("bj", "quiz", region="北京市"), [1, 0, 0]),
    ])
    allowed = Filters(FilterConfig(), taxonomy).allowed
    assert allowed(context(), cat).tolist() == [True, False, False, True, True, True]
    assert allowed(context(profile(minor=True)), cat).tolist() == [True, False, False, False, True, True]
    assert Filters(FilterConfig(exclude_types=["news"]), taxonomy).allowed(context(), cat).tolist() == \
        [True, False, False, True, False, True]
    assert allowed(context(profile(dismissed={"ok"})), cat)[0] == False  # noqa: E712
    assert allowed(context(profile(seen={"ok"})), cat)[0] == True  # noqa: E712  (seen, not excluded)
    assert allowed(context(profile(seen={"ok"}), exclude_seen=True), cat)[0] == False  # noqa: E712
    # A city of Inner Mongolia sees the region's items, not Beijing's; items with no region stay.
    assert allowed(context(region="巴彦淖尔市"), cat).tolist() == [True, False, False, True, True, False]
    assert allowed(context(region="内蒙古自治区"), cat).tolist() == [True, False, False, True, True, False]
    assert allowed(context(region="北京"), cat).tolist() == [True, False, False, True, False, True]


def test_regions_nest_for_items(taxonomy):
    cat = make_catalog([
        (item("nm", "news", region="内蒙古自治区"), [1, 0, 0]),
        (item("byne", "news", region="巴彦淖尔市"), [1, 0, 0]),
        (item("lh", "news", region="临河区"), [1, 0, 0]),
        (item("bt", "news", region="包头市"), [1, 0, 0]),
    ])
    allowed = Filters(FilterConfig(), taxonomy).allowed
    # A person in 临河区 gets the region's, the city's and the district's own; not 包头's.
    assert allowed(context(region="临河区"), cat).tolist() == [True, True, True, False]
    # One in 巴彦淖尔市 (no district given) gets the region's and the city's, not a district's.
    assert allowed(context(region="巴彦淖尔市"), cat).tolist() == [True, True, False, False]
    assert allowed(context(region="乌拉特前旗"), cat).tolist() == [True, True, False, False]
    assert allowed(context(region="包头市"), cat).tolist() == [True, False, False, True]


def test_boilerplate_articles_leave_feeds_but_stay_in_answers(taxonomy):
    cat = make_catalog([
        (item("rule", "law_article", law_title="监察法"), [1, 0, 0]),
        (item("ends", "law_article", law_title="监察法", boilerplate=True), [1, 0, 0]),
    ])
    allowed = Filters(FilterConfig(), taxonomy).allowed
    assert allowed(context(), cat).tolist() == [True, False]
    assert allowed(dataclasses.replace(context(), feed=False), cat).tolist() == [True, True]


# --------------------------------------------------------------------------- candidates


def select(ctx: RankContext, per_source: int, allowed: list[bool] | None = None) -> list[int]:
    mask = np.asarray(allowed if allowed is not None else [True] * 4)
    sel = CandidateSelector(CandidateConfig(per_source=per_source, ann="exact"))
    return sel.select(ctx, CATALOG, INDEX, mask, None).tolist()


def test_candidates_take_the_best_few_of_each_source():
    # Topic source: the group vector (0.1, 1, 0) halved; item cosines a 0.0995, b 0.995,
    # c 0.06, d 0 -> the best one is b, the best two b and a.
    assert select(context(group_vector=[0.1, 1.0, 0.0]), per_source=1) == [1]
    assert select(context(group_vector=[0.1, 1.0, 0.0]), per_source=2) == [0, 1]
    # Adding a search on term 2 (TF-IDF scores a 0, b 0.6, c 1, d 0): its best two are c and b.
    q = query(sparse=[0.0, 1.0], dense=[0.0, 0.0], topics=[0.0, 0.0, 0.0], weight=1.0)
    assert select(context(profile(query=q), group_vector=[0.1, 1.0, 0.0]), per_source=2) == [0, 1, 2]
    # A campaign on labour alone: a (1.0) beats c (0.6).
    assert select(context(campaigns=[campaign("c", ("labour",), 0.5)]), per_source=1) == [0]


def test_must_know_and_co_reading_rows_always_join_when_allowed():
    ctx = context(groups=("migrant_workers",), group_vector=[0.0, 1.0, 0.0], co_reading={3: 1.0})
    assert select(ctx, per_source=1) == [0, 1, 2, 3]  # b (topics) + a, c (must-know) + d (co-reading)
    assert select(ctx, per_source=1, allowed=[True, True, True, False]) == [0, 1, 2]


def test_without_any_source_the_allowed_rows_are_candidates():
    assert select(context(), per_source=10) == [0, 1, 2, 3]
    assert select(context(), per_source=10, allowed=[True, False, True, True]) == [0, 2, 3]


# --------------------------------------------------------------------------- diversity


# a and b say the same thing (same dense vector) and are of one law; c is apart; e between.
DIV_CATALOG = make_catalog([
    (item("a", "law_article", law_title="劳动法"), [1.0, 0.0, 0.0]),
    (item("b", "law_article", law_title="劳动法"), [0.0, 1.0, 0.0]),
    (item("c"), [0.0, 0.0, 1.0]),
    (item("e"), [0.0, 0.0, 0.0]),
])
DIV_INDEX = make_index(["a", "b", "c", "e"], [[1, 0], [1, 0], [0, 1], [0.6, 0.8]])
DIV_SCORES = np.asarray([1.0, 0.9, 0.5, 0.0], dtype=np.float32)


def pick(k: int, **cfg: Any) -> list[int]:
    cfg.setdefault("max_per_law", 5)
    cfg.setdefault("max_per_topic", 5)
    return [p.row for p in Diversifier(DiversityConfig(**cfg)).pick(DIV_CATALOG, DIV_INDEX, ALL, DIV_SCORES, k)]


def test_mmr_lets_a_different_item_pass_a_near_copy():
    # Relevance (min-max scaled): 1, 0.9, 0.5, 0. lambda 0.5: mmr = 0.5 rel - 0.5 max_sim.
    # 1st: 0.5, 0.45, 0.25, 0 -> a. Similarities to a: b 1, c 0, e 0.6.
    # 2nd: b 0.45-0.5 = -0.05, c 0.25-0 = 0.25, e 0-0.3 = -0.3 -> c. Max sims: b 1, e 0.8.
    # 3rd: b -0.05, e -0.4 -> b; then e.
    assert pick(3, mmr_lambda=0.5) == [0, 2, 1]
    assert pick(4, mmr_lambda=0.5) == [0, 2, 1, 3]
    assert pick(3, mmr_lambda=1.0) == [0, 1, 2]  # relevance only


def test_caps_per_law_and_topic_then_filled_when_short():
    # One article per law: b is skipped; with k=4 the list is short and b fills the end.
    assert pick(3, mmr_lambda=1.0, max_per_law=1) == [0, 2, 3]
    assert pick(4, mmr_lambda=1.0, max_per_law=1) == [0, 2, 3, 1]
    # The pool holds only the best two rows.
    assert pick(3, mmr_lambda=1.0, pool=2) == [0, 1]


def test_topic_cap_counts_main_topics():
    cat = make_catalog([(item("a"), [1.0, 0.0, 0.0]), (item("b"), [0.9, 0.1, 0.0]),
                        (item("c"), [0.0, 1.0, 0.0]), (item("e"), [0.0, 0.0, 0.0])])
    div = Diversifier(DiversityConfig(mmr_lambda=1.0, max_per_law=5, max_per_topic=1))
    # a and b both have labour as main topic; e has none (never capped).
    assert [p.row for p in div.pick(cat, DIV_INDEX, ALL, DIV_SCORES, 3)] == [0, 2, 3]


# --------------------------------------------------------------------------- reasons


@pytest.fixture(scope="module")
def explainer(taxonomy):
    return Explainer(ReasonConfig(max_reasons=3, min_share=0.12), taxonomy, TOPICS)


def test_reasons_name_the_strong_components_in_order(explainer):
    q = query(sparse=[1.0, 0.0], dense=[0.0, 0.0], topics=[0.0, 0.0, 0.0], kind="search")
    p = profile(query=q, topic_weights=np.asarray([1.0, 0.0, 0.0], dtype=np.float32))
    # Positive total 0.93. query_sparse 0.5 (54%) and profile_topic 0.3 (32%) are named;
    # co_reading 0.01 (1%) is under the 12% share; type and freshness are never named.
    comps = {"query_sparse": 0.5, "profile_topic": 0.3, "type": 0.07, "freshness": 0.05, "co_reading": 0.01}
    assert explainer.reasons(context(p), CATALOG, 0, comps) == ["与您的搜索相关", "您关注劳动保障"]
    p.query = query(sparse=[1.0, 0.0], dense=[0.0, 0.0], topics=[0.0, 0.0, 0.0], kind="question")
    assert explainer.reasons(context(p), CATALOG, 0, {"query_dense": 1.0}) == ["与您的提问相关"]


def test_reasons_for_groups_campaigns_co_reading_and_the_fallback(explainer):
    ctx = context(groups=("migrant_workers",), campaigns=[campaign("c1", ("anti_fraud",), 0.4),
                                                          campaign("c2", ("labour",), 0.5)])
    comps = {"must_know": 0.3, "campaign": 0.5, "co_reading": 0.2, "elderly_anti_fraud": 0.1}
    # Strongest first: campaign (row a's is c2: 1.0 x 0.5 beats 0 x 0.4), must-know for
    # migrant workers, co-reading; at most three reasons (elderly_anti_fraud would be fourth).
    assert explainer.reasons(ctx, CATALOG, 0, comps) == ["c2专题", "农牧民工应知应会", "同群体的人也在读"]
    assert explainer.reasons(context(), CATALOG, 0, {"elderly_anti_fraud": 1.0}) == ["防骗提醒"]
    # The strongest nameable component is named even under the 12% share (5% here: freshness
    # dominates the total but is never a reason).
    assert explainer.reasons(context(), CATALOG, 0, {"freshness": 0.9, "co_reading": 0.05}) == ["同群体的人也在读"]
    assert explainer.reasons(context(), CATALOG, 3, {"freshness": 0.1}) == ["社会公众普法推荐"]
    assert explainer.reasons(context(groups=("migrant_workers",)), CATALOG, 3, {}) == ["为农牧民工推荐"]


# --------------------------------------------------------------------------- the pipeline


def test_ranker_runs_the_stages_in_order(taxonomy):
    config = PipelineConfig(scoring=ScoringConfig(group_prior=1.0, freshness=0.1, freshness_half_life_days=365.0,
                                                  type_weights={}),
                            diversity=DiversityConfig(mmr_lambda=1.0, max_per_law=5, max_per_topic=5))
    ranker = Ranker(config, taxonomy, TOPICS)
    # group_prior (0, 1, 0, 0) + 0.1 x freshness (0.5, 0.25, 0, 1) = 0.05, 1.025, 0, 0.1.
    ctx = context(group_vector=[0.0, 1.0, 0.0], k=2)
    ranked = ranker.rank(ctx, CATALOG, INDEX)
    assert [(r.row, round(r.score, 6)) for r in ranked] == [(1, 1.025), (3, 0.1)]
    assert ranked[0].components == pytest.approx({"group_prior": 1.0, "freshness": 0.025, "type": 0.0})
    assert ranked[1].reasons == ["社会公众普法推荐"]  # freshness alone is never a reason
    # Seen items go when asked; a minor's daily cap shortens the list; a spent cap empties it.
    ctx = context(profile(seen={"b"}), group_vector=[0.0, 1.0, 0.0], k=2, exclude_seen=True)
    assert [r.row for r in ranker.rank(ctx, CATALOG, INDEX)] == [3, 0]
    assert [r.row for r in ranker.rank(context(group_vector=[0.0, 1.0, 0.0], k=2, daily_cap_left=1),
                                       CATALOG, INDEX)] == [1]
    assert ranker.rank(context(k=2, daily_cap_left=0), CATALOG, INDEX) == []


def test_over_the_candidate_limit_the_best_of_each_source_stay_not_the_lowest_rows():
    """Bug: over ``max_candidates`` the union was cut by row number (``np.unique(rows)[:n]``),
    so the items imported last were dropped however well they matched."""
    ctx = context(profile(query=query(sparse=[0.0, 1.0], dense=[0.0, 0.0], topics=[0.0, 0.0, 0.0], weight=1.0)),
                  group_vector=[0.1, 1.0, 0.0])
    # Topic source, best first: b (0.995), a (0.0995); search source: c (1.0), b (0.6).
    # Two candidates: each source's best, b and c -- not rows 0 and 1.
    sel = CandidateSelector(CandidateConfig(per_source=2, max_candidates=2, ann="exact"))
    assert sel.select(ctx, CATALOG, INDEX, np.ones(4, dtype=bool), None).tolist() == [1, 2]
