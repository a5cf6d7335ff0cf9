"""The baselines ``pufa evaluate`` measures the engine against (:mod:`recommender.evaluate`):
popularity (most read by the simulated population), group prior only (topic match to the group
blend), content only (dense similarity to the question or to what the person read), and plain
BM25 on the question (jieba without the legal dictionary or the colloquial lexicon; for simulated
people, on the titles they read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from recommender.engine import Engine

__all__ = ["Baselines", "PlainBM25"]


class PlainBM25:
    """Okapi BM25 over token lists (k1=1.5, b=0.75), Lucene's variant, scored by ``bm25s``::

        score(q, d) = sum over distinct tokens t of q of  idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
        idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

    An empty document counts in ``avgdl`` with length 0. Unlike the answer path's
    :class:`recommender.bm25.BM25Index`, a token the query repeats counts once. (The textbook
    form multiplies every term by k1 + 1, which ranks the same.)
    """

    def __init__(self, docs: Sequence[list[str]], k1: float = 1.5, b: float = 0.75) -> None:
        import bm25s

        self.n_docs = len(docs)
        self.retriever: Any = None
        if any(docs):  # bm25s cannot index documents without a single token
            self.retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
            self.retriever.index([list(d) for d in docs], show_progress=False)

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 of the query's distinct tokens against every document."""
        vocab = self.retriever.vocab_dict if self.retriever is not None else {}
        # bm25s adds "" to the vocabulary (its token for empty documents): never a query token.
        ids = [vocab[t] for t in dict.fromkeys(query) if t and t in vocab]
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.retriever.get_scores_from_ids(ids), dtype=np.float32)


class Baselines:
    """The engine and the baselines behind one interface: rank(person or question) -> ids."""

    def __init__(self, engine: Engine, popularity: Mapping[str, int] | None = None) -> None:
        self.engine = engine
        m = engine.model
        self.cat = m.catalog
        self.ok = self.cat.recommendable & ~self.cat.adults_only
        self.set_popularity(popularity or {})
        import logging

        import jieba

        jieba.setLogLevel(logging.WARNING)
        self._plain = jieba.Tokenizer()
        self._plain.initialize()
        # BM25 reads the raw item texts, which the caller gives (set_texts).
        self.bm25: PlainBM25 | None = None

    def set_popularity(self, counts: Mapping[str, int]) -> None:
        """Reads per item id, what the popularity baseline ranks by (one simulated population's)."""
        self.pop_counts = counts
        self._popular = np.array([counts.get(meta.id, 0) for meta in self.cat.metas], dtype=np.float32)

    def set_texts(self, texts: Sequence[str]) -> None:
        toks = [[t for t in self._plain.cut(x) if t.strip() and len(t) > 1] for x in texts]
        self.bm25 = PlainBM25(toks)

    def _top(self, scores: np.ndarray, k: int, exclude: AbstractSet[str] = frozenset()) -> list[str]:
        scores = np.where(self.ok, scores, -np.inf)
        for item_id in exclude:
            r = self.cat.row_of.get(item_id)
            if r is not None:
                scores[r] = -np.inf
        top = np.argpartition(-scores, k)[: k + len(exclude)]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [self.cat.metas[int(r)].id for r in top if np.isfinite(scores[r])][:k]

    def popularity(self, k: int, exclude: AbstractSet[str] = frozenset()) -> list[str]:
        # Ties (unread items) fall back to the catalogue order, deterministic.
        return self._top(self._popular + 1e-6 * np.linspace(1, 0, len(self._popular)), k, exclude)

    def group_prior(self, groups: Sequence[str], k: int, exclude: AbstractSet[str] = frozenset()) -> list[str]:
        g = self.engine.priors.blend(groups)
        return self._top(self.cat.topics_unit @ (g / (np.linalg.norm(g) or 1)), k, exclude)

    def content_text(self, text: str, k: int) -> list[str]:
        sig = self.engine.read_text(text)
        return self._top(self.engine.model.index.dense_ @ sig.dense, k)

    def content_history(self, read: Sequence[str], k: int) -> list[str]:
        idx = self.engine.model.index
        rows = [self.cat.row_of[i] for i in read if i in self.cat.row_of]
        if not rows:
            return self.popularity(k, set(read))
        v = idx.dense_[rows].mean(axis=0)
        return self._top(idx.dense_ @ (v / (np.linalg.norm(v) or 1)), k, set(read))

    def bm25_text(self, text: str, k: int, exclude: AbstractSet[str] = frozenset()) -> list[str]:
        assert self.bm25 is not None
        toks = [t for t in self._plain.cut(text) if t.strip() and len(t) > 1]
        return self._top(self.bm25.scores(toks), k, exclude)
