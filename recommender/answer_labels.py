"""Questions labelled with the articles that answer them, and the figures of a ranking
against those labels: recall, nDCG and MRR per question, means with bootstrap intervals,
and the law family (民法典, 司法解释, others) an article belongs to.

The labels are STARD's (``stard_dev.jsonl``: real questions with the articles a legal team
judged relevant); :mod:`recommender.answer_training` trains the answer ranker on them and
:mod:`recommender.answer_eval` reports how well the answer path finds them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recommender.catalog import Catalog
from recommender.intervals import bootstrap_mean

__all__ = [
    "FAMILIES",
    "LabelledQuestion",
    "article_key",
    "describe",
    "family_of",
    "load_article_labels",
    "ranking_metrics",
    "summarize",
]

FAMILIES = ("民法典", "司法解释", "其他法律法规")


# --------------------------------------------------------------------------- labels


@dataclass
class LabelledQuestion:
    """A question and the current articles judged to answer it."""

    id: str
    text: str
    gold: list[str]  # item ids of the current articles judged relevant
    n_labels: int  # articles the label names (some may not be current or held)
    source: str = ""


_SUB = re.compile(r"条之([一二三四五六七八九十]+)$")
_CN = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


def article_key(law_title: str, article_no: int, label: str | None) -> tuple[str, int, int]:
    """(law, article number, 之N suffix as a number) of an article: 第十条之二 is (…, 10, 2)."""
    m = _SUB.search(label or "")
    sub = sum(_CN.get(c, 0) for c in m.group(1)) if m else 0
    return (law_title, int(article_no), sub)


def load_article_labels(path: str | Path, catalog: Catalog) -> tuple[list[LabelledQuestion], dict[str, int]]:
    """Questions labelled with articles, in STARD's format (one JSON object a line):
    ``{"id", "text", "articles": [{"law", "article_no", "suffix"?}]}`` where ``law`` is the
    law's title without 中华人民共和国 and ``suffix`` ("之一", "之二" ...) marks 第N条之一.

    Labels are matched to the *current* articles of the catalogue; a label naming a
    repealed text or an article not held is counted, not matched.
    """
    p = Path(path)
    by_key: dict[tuple[str, int, int], str] = {}
    for m in catalog.metas:
        if m.type == "law_article" and m.recommendable and m.law_title and m.article_no is not None:
            by_key.setdefault(article_key(m.law_title, m.article_no, m.article_label), m.id)
    out: list[LabelledQuestion] = []
    stats = {"questions": 0, "labels": 0, "matched": 0, "unmatched": 0, "no_match_at_all": 0}
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text = str(row["text"]).strip()
                qid = str(row.get("id") or f"{p.stem}:{lineno}")
                arts = row["articles"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{p}:{lineno}: not a labelled question ({exc})") from exc
            gold: list[str] = []
            for a in arts:
                key = article_key(str(a["law"]), int(a["article_no"]), f"条{a['suffix']}" if a.get("suffix") else None)
                item_id = by_key.get(key)
                stats["labels"] += 1
                if item_id is None:
                    stats["unmatched"] += 1
                elif item_id not in gold:
                    gold.append(item_id)
                    stats["matched"] += 1
            stats["questions"] += 1
            if not gold:
                stats["no_match_at_all"] += 1
            out.append(LabelledQuestion(qid, text, gold, len(arts), p.name))
    return out, stats


# --------------------------------------------------------------------------- metrics


def ranking_metrics(ranked: Sequence[Sequence[str]], questions: Sequence[LabelledQuestion]) -> dict[str, list[float]]:
    """Per question: recall@10, recall@100, nDCG@10 and MRR@10 of ranked item ids against
    the labels (the denominator counts every labelled article, matched or not)."""
    out: dict[str, list[float]] = {"recall@10": [], "recall@100": [], "ndcg@10": [], "mrr@10": []}
    for ids, q in zip(ranked, questions, strict=True):
        gold = set(q.gold)
        n = max(q.n_labels, 1)
        ids = list(ids)
        out["recall@10"].append(len(gold & set(ids[:10])) / n)
        out["recall@100"].append(len(gold & set(ids[:100])) / n)
        dcg = sum(1 / math.log2(i + 2) for i, x in enumerate(ids[:10]) if x in gold)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(n, 10)))
        out["ndcg@10"].append(dcg / idcg)
        out["mrr@10"].append(next((1 / (i + 1) for i, x in enumerate(ids[:10]) if x in gold), 0.0))
    return out


def family_of(law_title: str | None, legal_level: str | None) -> str:
    """The family of :data:`FAMILIES` an article's law belongs to."""
    if law_title == "民法典":
        return FAMILIES[0]
    if legal_level == "司法解释":
        return FAMILIES[1]
    return FAMILIES[2]


def summarize(values: Sequence[float], seed: int = 0, n_boot: int = 1000) -> dict[str, float]:
    """Mean and a 95 % bootstrap interval over questions (:func:`recommender.intervals.bootstrap_mean`)."""
    res = bootstrap_mean(values, seed=seed, n_boot=n_boot)
    if res.n == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan")}
    return {"mean": round(res.mean, 4), "low": round(res.low, 4), "high": round(res.high, 4)}


def describe(report: dict[str, Any]) -> str:
    """One line of an answer model's cross-validated figures (its ``report``)."""
    cv = report.get("cv")
    if not cv:
        return "no cross-validation"
    return ", ".join(f"{k} {cv[k]['mean']:.3f} [{cv[k]['low']:.3f}, {cv[k]['high']:.3f}]"
                     for k in ("recall@10", "recall@100", "ndcg@10", "mrr@10"))

