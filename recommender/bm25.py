"""BM25 over the items' tokens: ``bm25s`` builds and scores the index; items added between
builds are scored with the same formula and the build's statistics.

The variant is Lucene's (bm25s ``method="lucene"``)::

    score(q, d) = sum over query tokens t of  idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

bm25s keeps the per (token, item) weights as a column-compressed matrix, so a query costs
the postings of its tokens, not the catalogue's size. It has no way to add a document to a
built index; an item added or edited through the API after a build gets its row here, with
the build's idf and average length, until the next build re-indexes everything.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = ["BM25Index"]

FORMAT_VERSION = 1


def _idf(n: int, df: Any) -> Any:
    """Lucene's idf of tokens in ``df`` documents of ``n`` (a number or an array of them)."""
    return np.log1p((n - df + 0.5) / (df + 0.5))


class BM25Index:
    """Okapi BM25 scores of token lists against every indexed row."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b

    def fit(self, tokens: Sequence[list[str]]) -> BM25Index:
        import bm25s

        if not tokens:
            raise ValueError("BM25 needs at least one document")
        retriever = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        # bm25s cannot index an empty document list element; an item with no token gets a
        # placeholder that no query contains.
        retriever.index([list(t) or ["\x00"] for t in tokens], show_progress=False)
        self._set(retriever, n_base=len(tokens),
                  avgdl=float(np.mean([max(len(t), 1) for t in tokens])))
        return self

    def _set(self, retriever: Any, *, n_base: int, avgdl: float) -> None:
        self.retriever_ = retriever
        self.vocab_: dict[str, int] = retriever.vocab_dict
        self.n_base_ = n_base
        self.avgdl_ = avgdl
        indptr = np.asarray(retriever.scores["indptr"])
        self.df_ = np.diff(indptr).astype(np.int64)  # documents per token
        self.extra_rows_ = np.zeros(0, dtype=np.int64)
        self.extra_ = sp.csr_matrix((0, len(self.vocab_)), dtype=np.float32)
        self.n_rows_ = n_base

    def __len__(self) -> int:
        return self.n_rows_

    def idf(self, token: str) -> float:
        j = self.vocab_.get(token)
        if j is None:
            return 0.0
        return float(_idf(self.n_base_, self.df_[j]))

    def token_ids(self, tokens: Sequence[str]) -> list[int]:
        return [self.vocab_[t] for t in tokens if t in self.vocab_ and t != "\x00"]

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 of the query tokens against every row (repeated tokens count again)."""
        ids = self.token_ids(tokens)
        out = np.zeros(self.n_rows_, dtype=np.float32)
        if not ids:
            return out
        out[: self.n_base_] = self.retriever_.get_scores_from_ids(ids)
        if self.extra_rows_.size:
            q = np.bincount(ids, minlength=len(self.vocab_)).astype(np.float32)
            out[self.extra_rows_] = self.extra_ @ q
        return out

    def coverage(self, tokens: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """For each of ``rows``: the share of the query's distinct known tokens, weighted by
        idf, that the row contains (BM25 saturates on one frequent word; this says whether
        the article has *all* the question's words)."""
        ids = sorted(set(self.token_ids(tokens)))
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros(rows.size, dtype=np.float32)
        if not ids or not rows.size:
            return out
        w = np.zeros(max(len(self.vocab_), self.df_.size), dtype=np.float32)
        w[ids] = _idf(self.n_base_, self.df_[ids])
        base = rows < self.n_base_
        presence = self._presence()
        out[base] = presence[rows[base]] @ w[: presence.shape[1]]
        if self.extra_rows_.size:  # items added since the build: their own rows of weights
            where = {int(r): k for k, r in enumerate(self.extra_rows_)}
            hit = np.fromiter((int(r) in where for r in rows), dtype=bool, count=rows.size)
            if hit.any():
                k = np.asarray([where[int(r)] for r in rows[hit]], dtype=np.int64)
                present = self.extra_[k].copy()
                present.data[:] = 1.0
                out[hit] = present @ w[: present.shape[1]]
        return out / float(w.sum())

    def _presence(self) -> sp.csr_matrix:
        """Which tokens each built row holds (rows x tokens, ones), made once from the index."""
        if getattr(self, "presence_", None) is None:
            sc = self.retriever_.scores
            indptr, indices = np.asarray(sc["indptr"]), np.asarray(sc["indices"])
            ones = np.ones(indices.size, dtype=np.float32)
            self.presence_ = sp.csc_matrix((ones, indices, indptr), shape=(self.n_base_, indptr.size - 1)).tocsr()
        return self.presence_

    def _weights(self, tokens: Sequence[list[str]]) -> sp.csr_matrix:
        indptr, indices, data = [0], [], []
        for toks in tokens:
            counts = Counter(self.vocab_[t] for t in toks if t in self.vocab_)
            dl = max(len(toks), 1)
            norm = self.k1 * (1 - self.b + self.b * dl / self.avgdl_)
            for j, tf in sorted(counts.items()):
                idf = float(_idf(self.n_base_, self.df_[j]))
                indices.append(j)
                data.append(idf * tf / (tf + norm))
            indptr.append(len(indices))
        return sp.csr_matrix((np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int64),
                              np.asarray(indptr, dtype=np.int64)), shape=(len(tokens), len(self.vocab_)))

    def with_added(self, rows: Sequence[int], tokens: Sequence[list[str]]) -> BM25Index:
        """A new index where these rows (existing ones replaced, new ones appended at the end,
        in the order of ``rows``) score the given tokens; this one is left untouched."""
        out = BM25Index(self.k1, self.b)
        out.retriever_, out.vocab_, out.n_base_, out.avgdl_, out.df_ = (
            self.retriever_, self.vocab_, self.n_base_, self.avgdl_, self.df_)
        keep = {int(r): k for k, r in enumerate(self.extra_rows_)}
        new_rows = [int(r) for r in rows]
        old = [k for r, k in keep.items() if r not in set(new_rows)]
        W = self._weights(tokens)
        out.extra_rows_ = np.asarray([int(self.extra_rows_[k]) for k in old] + new_rows, dtype=np.int64)
        out.extra_ = sp.vstack([self.extra_[old], W], format="csr") if old else W
        out.n_rows_ = max(self.n_rows_, (max(new_rows) + 1) if new_rows else 0)
        return out

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.retriever_.save(str(d), show_progress=False, allow_pickle=False)
        np.save(d / "extra_rows.npy", self.extra_rows_)
        sp.save_npz(d / "extra.npz", self.extra_.tocsr(), compressed=False)
        meta = {"format": FORMAT_VERSION, "k1": self.k1, "b": self.b, "n_base": self.n_base_,
                "n_rows": self.n_rows_, "avgdl": self.avgdl_}
        (d / "bm25.json").write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> BM25Index:
        import bm25s

        d = Path(directory)
        meta = json.loads((d / "bm25.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{d}: BM25 format {meta.get('format')} is not {FORMAT_VERSION}")
        out = cls(meta["k1"], meta["b"])
        retriever = bm25s.BM25.load(str(d), mmap=False, load_corpus=False)
        out._set(retriever, n_base=meta["n_base"], avgdl=meta["avgdl"])
        out.extra_rows_ = np.load(d / "extra_rows.npy")
        out.extra_ = sp.load_npz(d / "extra.npz").tocsr().astype(np.float32)
        out.n_rows_ = meta["n_rows"]
        return out
