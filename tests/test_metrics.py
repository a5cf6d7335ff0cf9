"""The figures the reports rest on, on inputs small enough to work out by hand: nDCG@k and
AP@k of ``pufa evaluate``, the answer path's recall / nDCG / MRR and bootstrap summaries, and
the plain BM25 baseline against the formula. Each expected value is derived in the comment
above it, so a wrong discount, denominator or idf changes the number."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recommender.answer_labels import LabelledQuestion, ranking_metrics, summarize
from recommender.baselines import PlainBM25
from recommender.evaluate import ap_at_k, ndcg_at_k

LOG2_3 = math.log2(3)  # 1.5849625...: the discount at rank 2

# --------------------------------------------------------------------------- nDCG@k


def test_ndcg_discounts_by_log2_of_rank_plus_one():
    # Relevant {a, b} at ranks 1 and 3: DCG = 1/log2(2) + 1/log2(4) = 1 + 1/2 = 1.5.
    # Ideal (both first, ranks 1 and 2): IDCG = 1 + 1/log2(3) = 1.6309297...
    # nDCG = 1.5 / 1.6309297... = 0.9197207...
    assert ndcg_at_k(["a", "x", "b"], {"a", "b"}) == pytest.approx(1.5 / (1 + 1 / LOG2_3))
    assert ndcg_at_k(["a", "x", "b"], {"a", "b"}) == pytest.approx(0.9197207891)
    # One relevant item at rank 4: DCG = 1/log2(5) = 0.4306766, IDCG = 1/log2(2) = 1.
    # (A discount of log2(rank) would give 1/log2(4) = 0.5; log2(rank + 2) 1/log2(6) = 0.387.)
    assert ndcg_at_k(["x", "y", "z", "a"], {"a"}) == pytest.approx(0.4306765581)


def test_ndcg_cuts_at_k_and_its_ideal_holds_at_most_k():
    ranked = [f"x{i}" for i in range(10)] + ["a"]
    # "a" is at rank 11: outside the top 10, inside the top 11 (DCG 1/log2(12), IDCG 1).
    assert ndcg_at_k(ranked, {"a"}, k=10) == 0.0
    assert ndcg_at_k(ranked, {"a"}, k=11) == pytest.approx(1 / math.log2(12))
    # Twelve relevant items, the first ten shown: the ideal list is cut at k too, so 1.0.
    relevant = {f"r{i}" for i in range(12)}
    assert ndcg_at_k([f"r{i}" for i in range(10)], relevant) == pytest.approx(1.0)
    # k = 2, relevant {a, b, c}, only "a" in the top 2 at rank 1:
    # DCG = 1, IDCG = 1 + 1/log2(3) (two places) = 1.6309297 -> 0.6131472.
    assert ndcg_at_k(["a", "x", "b"], {"a", "b", "c"}, k=2) == pytest.approx(1 / (1 + 1 / LOG2_3))
    assert ndcg_at_k(["a", "b"], set()) == 0.0
    assert ndcg_at_k([], {"a"}) == 0.0


# --------------------------------------------------------------------------- AP@k


def test_average_precision_at_k():
    # Relevant {a, b, c}; a at rank 1 (precision 1/1), b at rank 3 (precision 2/3); c missing.
    # AP@10 = (1 + 2/3) / min(3, 10) = (5/3) / 3 = 5/9 = 0.5556.
    assert ap_at_k(["a", "x", "b", "y"], {"a", "b", "c"}) == pytest.approx(5 / 9)
    # AP@2: only a (precision 1) within the top 2; denominator min(3, 2) = 2 -> 1/2.
    assert ap_at_k(["a", "x", "b", "y"], {"a", "b", "c"}, k=2) == pytest.approx(0.5)
    # A single relevant item at rank 4: precision 1/4, denominator 1 -> 0.25.
    assert ap_at_k(["x", "y", "z", "a"], {"a"}) == pytest.approx(0.25)
    # Every shown item relevant: precisions 1, 1, 1 over min(3, 10) = 3 -> 1.
    assert ap_at_k(["a", "b", "c"], {"a", "b", "c"}) == pytest.approx(1.0)
    assert ap_at_k(["x", "y"], {"a"}) == 0.0
    assert ap_at_k(["a"], set()) == 0.0


# --------------------------------------------------------------------------- answer metrics


def test_ranking_metrics_per_question():
    # q1: two of its three labelled articles are held ("a", "b"; n_labels 3 is the denominator).
    # Ranked: "a" at rank 2, "b" at rank 12.
    q1 = LabelledQuestion("q1", "…", gold=["a", "b"], n_labels=3)
    r1 = ["x", "a", *(f"n{i}" for i in range(9)), "b"]
    assert r1.index("b") == 11
    # q2: one label, first in the list; q3: no label matched (denominator max(0, 1) = 1), no hit.
    q2 = LabelledQuestion("q2", "…", gold=["c"], n_labels=1)
    q3 = LabelledQuestion("q3", "…", gold=[], n_labels=0)
    out = ranking_metrics([r1, ["c", "x"], ["z"]], [q1, q2, q3])
    # recall@10: q1 has "a" of 3 -> 1/3; q2 1/1; q3 0.  recall@100: q1 has "a" and "b" -> 2/3.
    assert out["recall@10"] == pytest.approx([1 / 3, 1.0, 0.0])
    assert out["recall@100"] == pytest.approx([2 / 3, 1.0, 0.0])
    # nDCG@10 of q1: DCG = 1/log2(3) ("a" at rank 2); the ideal places all 3 labels:
    # IDCG = 1 + 1/log2(3) + 1/log2(4) = 2.1309297 -> 0.6309297 / 2.1309297 = 0.2960819.
    assert out["ndcg@10"] == pytest.approx([0.2960819110, 1.0, 0.0])
    # MRR@10: first hit at rank 2 -> 1/2; rank 1 -> 1; none -> 0.
    assert out["mrr@10"] == pytest.approx([0.5, 1.0, 0.0])


def test_ranking_metrics_ndcg_agrees_with_evaluate_when_every_label_is_held():
    q = LabelledQuestion("q", "…", gold=["a", "b"], n_labels=2)
    ranked = ["a", "x", "b"]
    assert ranking_metrics([ranked], [q])["ndcg@10"][0] == pytest.approx(ndcg_at_k(ranked, {"a", "b"}))


def test_summarize_mean_and_bootstrap_interval():
    # A constant: every resample has the same mean, so the interval is the point.
    assert summarize([0.5, 0.5, 0.5, 0.5]) == {"mean": 0.5, "low": 0.5, "high": 0.5}
    # Rounded to 4 places.
    assert summarize([1 / 3] * 3) == {"mean": 0.3333, "low": 0.3333, "high": 0.3333}
    # [0, 1]: resample means are 0, 0.5 or 1 with chances 1/4, 1/2, 1/4; of 1000 resamples about
    # 250 are 0 and 250 are 1, far more than the 25 each tail holds: the interval is [0, 1].
    two = summarize([0.0, 1.0])
    assert two == {"mean": 0.5, "low": 0.0, "high": 1.0}
    # [0, 0, 0, 1]: mean 0.25. A resample of all zeros has chance (3/4)^4 = 32 % -> low 0;
    # means >= 0.75 have chance 13/256 = 5.1 % and mean 1 only 1/256 = 0.4 % -> high 0.75.
    skew = summarize([0, 0, 0, 1])
    assert skew == {"mean": 0.25, "low": 0.0, "high": 0.75}
    for s in (two, skew):
        assert s["low"] <= s["mean"] <= s["high"] and s["low"] < s["high"]
    assert summarize([0, 0, 0, 1], seed=3) == summarize([0, 0, 0, 1], seed=3)
    assert all(math.isnan(v) for v in summarize([]).values())


# --------------------------------------------------------------------------- BM25 baseline


def test_plain_bm25_matches_the_formula_by_hand():
    # N = 3 documents of lengths 3, 2, 1: avgdl = 2; k1 = 1.5, b = 0.75.
    docs = [["劳动", "合同", "劳动"], ["合同", "工资"], ["离婚"]]
    bm = PlainBM25(docs)
    # idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)):
    #   劳动 (df 1): ln(1 + 2.5/1.5) = ln(8/3);  合同 (df 2): ln(1 + 1.5/2.5) = ln(8/5).
    # norm(d) = k1 * (1 - b + b * |d| / avgdl): d0 1.5 * (0.25 + 1.125) = 33/16; d1 1.5 * 1 = 3/2.
    # term = idf * tf / (tf + norm):
    #   d0: 劳动 tf 2 -> ln(8/3) * 2 / (2 + 33/16) = ln(8/3) * 32/65;  合同 tf 1 -> ln(8/5) * 16/49
    #   d1: 合同 tf 1 -> ln(8/5) * 1 / (1 + 3/2) = ln(8/5) * 2/5;  d2: no query token -> 0.
    expected = [math.log(8 / 3) * 32 / 65 + math.log(8 / 5) * 16 / 49, math.log(8 / 5) * 2 / 5, 0.0]
    assert expected == pytest.approx([0.6363403589, 0.1880014517, 0.0])
    assert bm.scores(["劳动", "合同"]) == pytest.approx(expected, rel=1e-6)
    # A token the query repeats counts once; tokens no document has add nothing.
    assert bm.scores(["劳动", "合同", "劳动", "刑法"]) == pytest.approx(expected, rel=1e-6)
    assert bm.scores(["刑法"]).tolist() == [0.0, 0.0, 0.0]
    assert bm.scores([]).tolist() == [0.0, 0.0, 0.0]


def test_plain_bm25_counts_an_empty_document_with_length_zero():
    # N = 2, lengths 1 and 0: avgdl = 0.5. idf(a) = ln(1 + 1.5/1.5) = ln 2;
    # norm(d0) = 1.5 * (0.25 + 0.75 * 1/0.5) = 21/8; score = ln 2 * 1 / (1 + 21/8) = ln 2 * 8/29.
    bm = PlainBM25([["a"], []])
    assert bm.scores(["a"]) == pytest.approx([math.log(2) * 8 / 29, 0.0], rel=1e-6)
    # The token bm25s keeps for empty documents is never a query token.
    assert bm.scores([""]).tolist() == [0.0, 0.0]
    # Documents without any token: every score is 0.
    assert np.array_equal(PlainBM25([[], []]).scores(["a"]), np.zeros(2, dtype=np.float32))
