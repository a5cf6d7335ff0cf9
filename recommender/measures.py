"""The measures of the offline reports, on one ranked list: nDCG@k and AP@k (binary gains),
topic precision@k and law hit@k. Pinned to hand-worked values in ``tests/test_metrics.py`` and
``tests/test_compare.py``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = ["ap_at_k", "law_hit", "ndcg_at_k", "topic_precision"]


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """nDCG@k with binary gains: sum of 1 / log2(rank + 1) over the relevant items in the top k,
    over the same for the ideal list (every relevant item first, at most k)."""
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(ranked[:k]) if r in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def ap_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """Average precision at k: the precision at the rank of each relevant item in the top k,
    summed, over min(number relevant, k)."""
    hits, total = 0, 0.0
    for i, r in enumerate(ranked[:k]):
        if r in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / min(len(relevant), k) if relevant else 0.0


def topic_precision(ranked: Sequence[str], labels: set[str], topics_of: Callable[[str], set[str]], k: int = 5) -> float:
    """The share of the first ``k`` places (a short list counts its empty places as misses)
    held by an item on one of the question's labelled topics."""
    return sum(1 for i in ranked[:k] if topics_of(i) & labels) / k


def law_hit(ranked: Sequence[str], laws: set[str], laws_of: Callable[[str], set[str]], k: int = 10) -> float:
    """1.0 when an item of the top ``k`` is (an article) of one of the labelled laws, else 0.0."""
    return float(any(laws_of(i) & laws for i in ranked[:k]))
