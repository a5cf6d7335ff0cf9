"""The list rules of :mod:`recommender.variety` on hand-made pools with known answers:
windows per law and per topic, one copy of each text, the campaign's and the must-know
shares, and scores that read in list order."""

from __future__ import annotations

import numpy as np

from recommender.config import DiversityConfig, SlotConfig
from recommender.variety import Diversifier, describe
from tests.test_ranking import item, make_catalog, make_index

# 24 rows: laws A (rows 0-7), B (8-15), C (16-19) and four explainers (20-23) with no law.
# Topics (labour, anti_fraud, marriage): A and B labour, C marriage, explainers anti_fraud.
# Scores fall with the row number, so relevance alone would list all of A first.
LAWS = ["甲法"] * 8 + ["乙法"] * 8 + ["丙法"] * 4 + [None] * 4
TOPICS = [[1.0, 0.0, 0.0]] * 16 + [[0.0, 0.0, 1.0]] * 4 + [[0.0, 1.0, 0.0]] * 4
CAT = make_catalog([
    (item(f"r{i}", "law_article" if law else "explainer", law_title=law), topics)
    for i, (law, topics) in enumerate(zip(LAWS, TOPICS, strict=True))
])
N = len(LAWS)
# Orthogonal-ish dense vectors: no redundancy between rows, so only the rules act.
INDEX = make_index([f"r{i}" for i in range(N)], np.eye(N, dtype=np.float32).tolist())
ROWS = np.arange(N)
SCORES = np.linspace(2.0, 1.0, N).astype(np.float32)


def pick(k: int, div: DiversityConfig | None = None, slots: SlotConfig | None = None, **kw):
    d = Diversifier(div or DiversityConfig(mmr_lambda=1.0), slots or SlotConfig())
    return d.pick(CAT, INDEX, ROWS, SCORES, k, **kw)


def longest_run(laws: list[str | None]) -> int:
    """Consecutive items of one law (["a", "a", None, "a", "b", "b", "b"] -> 3)."""
    best = run = 0
    for i, law in enumerate(laws):
        run = run + 1 if law is not None and i and laws[i - 1] == law else (1 if law else 0)
        best = max(best, run)
    return best


def test_at_most_two_of_one_law_and_four_of_one_topic_in_any_window_of_ten():
    # 16 places can be filled under the rules from this pool (at the 17th only 甲法 and 乙法
    # articles are left, and the caps are relaxed: see the last test).
    picks = pick(16)
    laws = [LAWS[p.row] for p in picks]
    topics = [int(np.argmax(TOPICS[p.row])) for p in picks]
    for start in range(len(picks) - 9):
        window = laws[start:start + 10]
        assert max(window.count(law) for law in set(window) if law) <= 2, window
        assert max(topics[start:start + 10].count(t) for t in set(topics)) <= 4
    assert longest_run(laws) <= 2
    # The first ten by hand: A0 A1 (labour 2), B8 B9 (labour 4: full), C16 C17 (marriage 2),
    # then only explainers may come (labour is full; C holds its two), E20 E21 E22 E23.
    assert [p.row for p in picks[:10]] == [0, 1, 8, 9, 16, 17, 20, 21, 22, 23]


def test_every_text_once_the_best_scored_copy_stays():
    cat = make_catalog([(item("x", "law_article", law_title="甲法", text_key="same"), [1, 0, 0]),
                        (item("y", "law_article", law_title="乙法", text_key="same"), [1, 0, 0]),
                        (item("z"), [0, 1, 0])])
    idx = make_index(["x", "y", "z"], [[1, 0], [0, 1], [0.7, 0.7]])
    picks = Diversifier(DiversityConfig(mmr_lambda=1.0)).pick(cat, idx, np.arange(3),
                                                            np.asarray([0.9, 1.0, 0.1]), 3)
    assert [p.row for p in picks] == [1, 2]  # y (the better copy), then z; x never


def test_scores_read_in_list_order():
    picks = pick(20)
    shown = [p.score for p in picks]
    assert shown == sorted(shown, reverse=True)
    # The first item shows its own relevance; a held-back item never shows more than the one above.
    assert shown[0] == SCORES[0]


def test_a_campaign_takes_one_to_three_places_of_ten_and_comes_early():
    # Rows 16-19 (丙法) and 22-23 are the campaign's; they score below most of the pool.
    camp = np.zeros(N, dtype=bool)
    camp[[16, 17, 18, 19, 22, 23]] = True
    picks = pick(20, campaign=camp)
    marks = [p.slot == "campaign" for p in picks]
    assert marks == [bool(camp[p.row]) for p in picks]
    for start in range(len(picks) - 9):
        assert 1 <= sum(marks[start:start + 10]) <= 3
    assert any(marks[:3])  # by place campaign_by (3)
    # A campaign that names the group may take more (campaign_max is the caller's).
    many = pick(10, campaign=camp, campaign_max=5)
    assert sum(p.slot == "campaign" for p in many) > 3
    # With a share of 0 it takes nothing.
    assert not any(p.slot for p in pick(10, campaign=camp, campaign_max=0))


def test_must_know_items_fill_a_share_not_the_list():
    must = np.zeros(N, dtype=bool)
    must[:16] = True  # every article of 甲法 and 乙法
    # Besides them the pool holds 6 items the caps allow (丙法 two, four explainers): 8 places.
    picks = pick(8, slots=SlotConfig(must_know_max=2), must=must)
    assert sum(p.slot == "must_know" for p in picks) == 2
    assert [p.row for p in picks][:2] == [0, 1]  # the best two must-know items, first


def test_when_the_rules_leave_nothing_the_topic_cap_goes_first_then_the_law_cap():
    only_a = make_catalog([(item(f"a{i}", "law_article", law_title="甲法"), [1, 0, 0]) for i in range(5)])
    idx = make_index([f"a{i}" for i in range(5)], np.eye(5).tolist())
    picks = Diversifier(DiversityConfig(mmr_lambda=1.0)).pick(only_a, idx, np.arange(5),
                                                            np.linspace(1, 0, 5), 5)
    assert [p.row for p in picks] == [0, 1, 2, 3, 4]  # a tiny catalogue still fills its list


def test_the_disclosure_states_the_settings():
    text = describe(DiversityConfig(window=10, max_per_law=2, max_per_topic=4), SlotConfig(campaign_max=3))
    assert "任意连续10条" in text and "不超过2条" in text and "不超过4条" in text and "最多占3条" in text
    other = describe(DiversityConfig(window=8, max_per_law=1, max_per_topic=3), SlotConfig(campaign_max=2))
    assert "任意连续8条" in other and "不超过1条" in other and "最多占2条" in other
