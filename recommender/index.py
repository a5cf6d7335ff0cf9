"""ItemIndex: TF-IDF (sparse) and dense vectors of items, and cosine top-k.

The index takes token lists (the tokenizer is injected, never owned), learns TF-IDF with
scikit-learn and reduces it to dense vectors with TruncatedSVD (LSA) by default, or with a
sentence-embedding model where one is configured locally. The mapping between item ids and
rows lives here and only here. ``save``/``load`` write a directory of arrays plus JSON (no
pickle), so a trained index loads fast and is self-describing.
"""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer

from recommender.embed import ENCODERS, EmbeddingCache, SentenceModel, embed_passages, sentence_model
from recommender.jsonconfig import JsonConfig

__all__ = ["DenseEncoder", "IndexConfig", "ItemIndex", "LsaEncoder", "SentenceEncoder"]

FORMAT_VERSION = 1


class IndexConfig(JsonConfig):
    """Hyper-parameters of the index; round-trips to JSON."""

    min_df: int = Field(2, ge=1)
    max_df: float = Field(0.5, gt=0.0, le=1.0)
    max_features: int | None = Field(200_000, ge=1)
    sublinear_tf: bool = True
    # "lsa" (TruncatedSVD of TF-IDF), or a sentence model shipped in its package: "e5"
    # (multilingual-e5-small, 4-bit) or "use" (USE multilingual v3); see recommender.embed.
    dense_backend: Literal["lsa", "e5", "use"] = "e5"
    dense_dim: int = Field(256, ge=1, le=4096)  # LSA's dimensions (a sentence model has its own)
    svd_iter: int = Field(5, ge=1, le=100)
    random_state: int = 0


def _identity(tokens: list[str]) -> list[str]:
    return tokens


class DenseEncoder(Protocol):
    """Maps items to dense unit vectors; fitted on the TF-IDF matrix and/or the raw texts."""

    name: str

    def fit(self, tfidf: sp.csr_matrix, texts: Sequence[str] | None) -> DenseEncoder: ...

    def encode(self, tfidf: sp.csr_matrix, texts: Sequence[str] | None) -> np.ndarray: ...

    def save(self, directory: Path) -> None: ...


class LsaEncoder:
    """Latent semantic analysis: TruncatedSVD of the TF-IDF matrix, rows L2-normalised."""

    name = "lsa"

    def __init__(self, dim: int = 256, n_iter: int = 5, random_state: int = 0) -> None:
        self.dim = dim
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, tfidf: sp.csr_matrix, texts: Sequence[str] | None = None) -> LsaEncoder:
        k = max(1, min(self.dim, tfidf.shape[0] - 1, tfidf.shape[1] - 1))
        svd = TruncatedSVD(n_components=k, n_iter=self.n_iter, random_state=self.random_state)
        svd.fit(tfidf)
        self.components_ = np.ascontiguousarray(svd.components_.T.astype(np.float32))  # (V, k)
        self.explained_variance_ratio_ = float(svd.explained_variance_ratio_.sum())
        return self

    def encode(self, tfidf: sp.csr_matrix, texts: Sequence[str] | None = None) -> np.ndarray:
        dense = np.asarray(tfidf @ self.components_, dtype=np.float32)
        return _l2(dense)

    def save(self, directory: Path) -> None:
        np.save(directory / "lsa_components.npy", self.components_)

    @classmethod
    def load(cls, directory: Path, meta: dict[str, Any]) -> LsaEncoder:
        enc = cls(meta.get("dim", 256))
        enc.components_ = np.load(directory / "lsa_components.npy", mmap_mode=None)
        enc.explained_variance_ratio_ = meta.get("explained_variance_ratio", float("nan"))
        return enc


class SentenceEncoder:
    """A multilingual sentence model shipped inside its package (``use`` or ``e5``, see
    :mod:`recommender.embed`): items are embedded as passages, people's words as queries.
    Vectors of item texts are cached by text, so a rebuild embeds only new texts."""

    def __init__(self, model: str, cache: EmbeddingCache | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.name = model
        self.cache = cache
        self.progress = progress

    def _model(self) -> SentenceModel:
        return sentence_model(self.name)

    @property
    def dim(self) -> int:
        return self._model().dim

    def fit(self, tfidf: sp.csr_matrix, texts: Sequence[str] | None = None) -> SentenceEncoder:
        self._model()
        return self

    def encode(self, tfidf: sp.csr_matrix, texts: Sequence[str] | None = None) -> np.ndarray:
        if texts is None:
            raise ValueError(f"the {self.name} encoder needs the raw texts")
        return embed_passages(self._model(), texts, self.cache, self.progress)

    def encode_query(self, text: str) -> np.ndarray:
        return _l2(sentence_model(self.name, role="query").query(text)[None, :])[0]

    def save(self, directory: Path) -> None:
        pass

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name, "cache": None, "progress": None}


def dense_floor(dense: np.ndarray, seed: int = 0, pairs: int = 4000) -> float:
    """The cosine of two unrelated items: the median over random pairs. A sentence model puts
    any two legal texts at 0.7-0.9 (its cosines are bunched), LSA near 0; scores rescale
    ``(cos - floor) / (1 - floor)`` so that one blend weight means the same for every backend."""
    n = dense.shape[0]
    if n < 3:
        return 0.0
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    keep = a != b
    sims = np.einsum("ij,ij->i", dense[a[keep]], dense[b[keep]])
    sims = sims[np.abs(sims) > 0]  # items with no vector say nothing
    return float(np.clip(np.median(sims), 0.0, 0.95)) if sims.size else 0.0


def _l2(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)


class ItemIndex:
    """TF-IDF and dense vectors for items; cosine top-k over either."""

    def __init__(self, config: IndexConfig | None = None) -> None:
        self.config = config or IndexConfig()
        self._cache: EmbeddingCache | None = None
        self._progress: Callable[[int, int], None] | None = None
        # The TF-IDF matrix by column (query terms pick columns), and the matrix it was made from.
        self._csc_cache: tuple[sp.csc_matrix, sp.csr_matrix] | None = None

    # -- fitting -----------------------------------------------------------------------------
    def fit(
        self, ids: Sequence[str], tokens: Sequence[list[str]], texts: Sequence[str] | None = None, *,
        cache: EmbeddingCache | None = None, progress: Callable[[int, int], None] | None = None,
        embed: Sequence[bool] | None = None,
    ) -> ItemIndex:
        """``cache`` keeps sentence vectors between builds; ``progress(done, total)`` follows
        the embedding of the texts (the slow part with a sentence model); ``embed`` marks the
        items a sentence model reads (the others, superseded texts that are never
        recommended, keep a zero vector: a tenth of the corpus and an hour saved)."""
        self._cache, self._progress = cache, progress
        if len(ids) != len(tokens):
            raise ValueError("ids and tokens must have the same length")
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be unique")
        cfg = self.config
        n = len(ids)
        vec = TfidfVectorizer(
            analyzer=_identity, lowercase=False, sublinear_tf=cfg.sublinear_tf,
            min_df=min(cfg.min_df, max(1, n // 2)), max_df=cfg.max_df if n > 20 else 1.0,
            max_features=cfg.max_features, dtype=np.float32,
        )
        tfidf = vec.fit_transform(tokens).tocsr()
        terms = vec.get_feature_names_out()
        self.terms_: list[str] = [str(t) for t in terms]
        self.vocabulary_: dict[str, int] = {t: i for i, t in enumerate(self.terms_)}
        self.idf_ = vec.idf_.astype(np.float32)
        self.tfidf_ = tfidf
        self.encoder_ = self._make_encoder().fit(tfidf, texts)
        if embed is not None and isinstance(self.encoder_, SentenceEncoder) and texts is not None:
            rows = np.flatnonzero(np.asarray(embed, dtype=bool))
            self.dense_ = np.zeros((n, self.encoder_.dim), dtype=np.float32)
            self.dense_[rows] = self.encoder_.encode(tfidf[rows], [texts[int(r)] for r in rows])
        else:
            self.dense_ = self.encoder_.encode(tfidf, texts)
        self.dense_floor_ = dense_floor(self.dense_, cfg.random_state)
        self.ids_: list[str] = list(ids)
        self.row_: dict[str, int] = {i: r for r, i in enumerate(self.ids_)}
        return self

    def _make_encoder(self) -> Any:
        cfg = self.config
        if cfg.dense_backend == "lsa":
            return LsaEncoder(cfg.dense_dim, cfg.svd_iter, cfg.random_state)
        if cfg.dense_backend in ENCODERS:
            return SentenceEncoder(cfg.dense_backend, self._cache, self._progress)
        raise ValueError(f"unknown dense_backend {cfg.dense_backend!r}: 'lsa' or one of {list(ENCODERS)}")

    # -- vectorising new text ------------------------------------------------------------------
    def vectorize(self, tokens_list: Sequence[list[str]]) -> sp.csr_matrix:
        """TF-IDF rows for token lists, with the learned vocabulary and idf.

        Written directly (not ``TfidfVectorizer.transform``) because one short query through
        scikit-learn costs about a millisecond of fixed overhead on the hot path.
        """
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        vocab, idf, sub = self.vocabulary_, self.idf_, self.config.sublinear_tf
        for tokens in tokens_list:
            counts = Counter(vocab[t] for t in tokens if t in vocab)
            row_idx = sorted(counts)
            vals = [((1.0 + math.log(counts[j])) if sub else float(counts[j])) * float(idf[j])
                    for j in row_idx]
            norm = math.sqrt(sum(v * v for v in vals)) or 1.0
            indices.extend(row_idx)
            data.extend(v / norm for v in vals)
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32),
             np.asarray(indptr, dtype=np.int64)),
            shape=(len(tokens_list), len(self.terms_)),
        )

    def embed(self, tokens_list: Sequence[list[str]], texts: Sequence[str] | None = None) -> np.ndarray:
        """Dense unit vectors for new items' text (zero vectors where no token is known)."""
        return self.encoder_.encode(self.vectorize(tokens_list), texts)

    def embed_query(self, tokens: list[str], text: str) -> np.ndarray:
        """The dense unit vector of a person's question or search (a sentence model reads it
        as a query, not as a passage)."""
        if isinstance(self.encoder_, SentenceEncoder):
            return self.encoder_.encode_query(text)
        return self.encoder_.encode(self.vectorize([tokens]), [text])[0]

    def rescale(self, cosines: np.ndarray) -> np.ndarray:
        """Cosines mapped to [0, 1] above the floor of unrelated items (see :func:`dense_floor`)."""
        floor = getattr(self, "dense_floor_", 0.0)
        return np.clip((cosines - floor) / (1.0 - floor), 0.0, 1.0)

    # -- rows and ids --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids_)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.row_

    def row(self, item_id: str) -> int:
        return self.row_[item_id]

    def rows(self, item_ids: Sequence[str]) -> np.ndarray:
        return np.fromiter((self.row_[i] for i in item_ids if i in self.row_), dtype=np.int64)

    def id_at(self, row: int) -> str:
        return self.ids_[row]

    def with_added(
        self, ids: Sequence[str], tokens: Sequence[list[str]], texts: Sequence[str] | None = None
    ) -> ItemIndex:
        """A new index with these items added (or replaced), using the fitted vocabulary and
        encoder. This index is left untouched, so requests reading it are never disturbed."""
        X = self.vectorize(tokens)
        D = self.encoder_.encode(X, texts)
        out = copy.copy(self)
        out.ids_ = list(self.ids_)
        out.row_ = dict(self.row_)
        dense = self.dense_
        tfidf = self.tfidf_
        new_rows: list[int] = []
        replaced: list[tuple[int, int]] = []  # (row, position in the batch)
        for j, item_id in enumerate(ids):
            if item_id in out.row_:
                replaced.append((out.row_[item_id], j))
            else:
                new_rows.append(j)
        if replaced:
            dense = dense.copy()
            n = tfidf.shape[0]
            keep = np.ones(n, dtype=np.float32)
            rows = np.array([r for r, _ in replaced])
            keep[rows] = 0.0
            for r, j in replaced:
                dense[r] = D[j]
            place = sp.csr_matrix((np.ones(len(replaced), dtype=np.float32),
                                   (rows, np.array([j for _, j in replaced]))), shape=(n, X.shape[0]))
            tfidf = (sp.diags(keep) @ tfidf + place @ X).tocsr()
        if new_rows:
            tfidf = sp.vstack([tfidf, X[new_rows]], format="csr")
            dense = np.vstack([dense, D[new_rows]])
            for j in new_rows:
                out.row_[ids[j]] = len(out.ids_)
                out.ids_.append(ids[j])
        out.tfidf_ = tfidf.astype(np.float32)
        out.dense_ = dense
        out._csc_cache = None
        return out

    # -- search --------------------------------------------------------------------------------
    def search_dense(self, query: np.ndarray, k: int = 10, rows: np.ndarray | None = None) -> list[tuple[str, float]]:
        """Exact cosine top-k of a dense unit vector (optionally within given rows)."""
        return self._topk(self.dense_ if rows is None else self.dense_[rows], query, k, rows)

    def sparse_scores(self, query: sp.csr_matrix, rows: np.ndarray | None = None) -> np.ndarray:
        """Cosine of a TF-IDF query row with every item (or the given rows).

        Reads only the query's columns of a column-major copy of the matrix, so the cost
        follows the query's terms, not the catalogue's size (0.07 ms on 70k items, where
        slicing 600 rows of the row-major matrix took 0.16 ms).
        """
        if query.nnz == 0:
            return np.zeros(self.tfidf_.shape[0] if rows is None else len(rows), dtype=np.float32)
        csc = self._csc()
        cols = query.indices
        scores = np.asarray(csc[:, cols] @ query.data.astype(np.float32)).ravel()
        return scores if rows is None else scores[rows]

    def _csc(self) -> sp.csc_matrix:
        cached = getattr(self, "_csc_cache", None)  # None also in an index saved before it existed
        if cached is None or cached[1] is not self.tfidf_:
            cached = self._csc_cache = (self.tfidf_.tocsc(), self.tfidf_)
        return cached[0]

    def search_sparse(self, query: sp.csr_matrix, k: int = 10) -> list[tuple[str, float]]:
        return self._top_from_scores(self.sparse_scores(query), k, None)

    def _topk(self, matrix: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[str, float]]:
        scores = matrix @ np.asarray(query, dtype=np.float32).ravel()
        return self._top_from_scores(scores, k, rows)

    def _top_from_scores(self, scores: np.ndarray, k: int, rows: np.ndarray | None) -> list[tuple[str, float]]:
        k = min(k, scores.shape[0])
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        real = rows[top] if rows is not None else top
        return [(self.ids_[int(r)], float(scores[t])) for r, t in zip(real, top, strict=True)]

    def top_terms(self, tokens: list[str], n: int = 10) -> list[str]:
        """The query's own terms ranked by TF-IDF weight (for readable reasons)."""
        row = self.vectorize([tokens])
        order = np.argsort(-row.data)[:n]
        return [self.terms_[row.indices[i]] for i in order]

    # -- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / "terms.json").write_text(json.dumps(self.terms_, ensure_ascii=False), encoding="utf-8")
        (d / "ids.json").write_text(json.dumps(self.ids_, ensure_ascii=False), encoding="utf-8")
        np.save(d / "idf.npy", self.idf_)
        sp.save_npz(d / "tfidf.npz", self.tfidf_, compressed=False)
        np.save(d / "dense.npy", self.dense_)
        self.encoder_.save(d)
        meta = {
            "format": FORMAT_VERSION, "config": self.config.to_dict(), "n_items": len(self.ids_),
            "n_terms": len(self.terms_), "dense_dim": int(self.dense_.shape[1]),
            "encoder": self.encoder_.name, "dense_floor": self.dense_floor_,
            "explained_variance_ratio": getattr(self.encoder_, "explained_variance_ratio_", None),
        }
        (d / "index.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> ItemIndex:
        d = Path(directory)
        meta = json.loads((d / "index.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{d}: index format {meta.get('format')} is not {FORMAT_VERSION}")
        idx = cls(IndexConfig.from_stored(meta["config"], str(d)))
        idx.terms_ = json.loads((d / "terms.json").read_text(encoding="utf-8"))
        idx.vocabulary_ = {t: i for i, t in enumerate(idx.terms_)}
        idx.ids_ = json.loads((d / "ids.json").read_text(encoding="utf-8"))
        idx.row_ = {i: r for r, i in enumerate(idx.ids_)}
        idx.idf_ = np.load(d / "idf.npy")
        idx.tfidf_ = sp.load_npz(d / "tfidf.npz").tocsr()
        idx.dense_ = np.load(d / "dense.npy")
        idx.dense_floor_ = float(meta.get("dense_floor", 0.0))
        if meta["encoder"] == "lsa":
            idx.encoder_ = LsaEncoder.load(d, {"dim": meta["dense_dim"], **meta})
        elif meta["encoder"] in ENCODERS:
            idx.encoder_ = SentenceEncoder(meta["encoder"])
        else:
            raise ValueError(f"{d}: unknown dense encoder {meta['encoder']!r}")
        return idx
