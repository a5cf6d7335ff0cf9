"""The trained part of the answer path, as ``pufa build`` stores it: the ranker's config
(:class:`AnswerConfig`), the features it reads (:data:`FEATURE_NAMES`), the labelled questions
it remembers (:class:`QuestionMemory`) and the LightGBM ranker itself (:class:`AnswerModel`).

The model is a text file of LightGBM trees plus arrays and JSON (no pickles). How answers are
found and ranked is :mod:`recommender.answer`; how the ranker is trained is
:mod:`recommender.answer_training`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recommender.catalog import Catalog
from recommender.jsonconfig import JsonConfig

__all__ = [
    "FEATURE_NAMES",
    "PER_SOURCE",
    "SOURCES",
    "STAGES",
    "AnswerConfig",
    "AnswerModel",
    "MemoryRows",
    "QuestionMemory",
]

FORMAT_VERSION = 1
Source = Literal["bm25", "bm25_lexicon", "dense", "tfidf"]  # the first stages
SOURCES: tuple[str, ...] = get_args(Source)
# ... and the question through the query adapter (see ``MemoryRows``), when the model has one
STAGES: tuple[str, ...] = (*SOURCES, "adapted")


class AnswerConfig(JsonConfig):
    """How answers are found and ranked; round-trips to JSON, stored with the model."""

    per_source: int = Field(100, ge=1, le=100_000)  # candidates from each first stage
    # ... except these (the dense stage is the strongest: more of its rows are worth scoring)
    per_source_overrides: dict[Source, Annotated[int, Field(ge=1, le=100_000)]] = Field(default_factory=dict)
    rank_depth: int = Field(1000, ge=1)  # ranks deeper than this count as this
    # IVF cells the dense and the adapted stages read (catalogues of ann_min_items or more; 528
    # cells on 70k items): 32 reads in 0.76 ms what 64 read in 1.4 ms, with the same CV figures
    # (recall@10 0.641 -> 0.649, recall@100 0.861 -> 0.859, nDCG@10 0.512 -> 0.513 on the stored
    # folds); 16 (0.60 ms) still the same (with the adapted stage: recall@100 0.876 -> 0.873,
    # nDCG@10 0.534 both). 20, the ranking's own default.
    dense_nprobe: int = Field(20, ge=1, le=100_000)
    ann_min_items: int = Field(20_000, ge=0)
    # The chapters the stages rank first together bring all their articles in (chapters of at
    # most expand_max articles): the general articles of a chapter an answer cites (民法典's
    # 健康权, 合同的效力) seldom share the question's words. Stored STARD folds, ranker alone:
    # recall@100 0.853 (none) -> 0.861 (10 chapters, +80 candidates, ~1 ms) -> 0.865 (20, ~2 ms)
    # -> 0.864 (40); the articles held by the candidates 0.828 -> 0.846 -> 0.860 -> 0.870.
    expand_sections: int = Field(10, ge=0, le=1000)
    expand_max: int = Field(40, ge=1, le=100_000)
    # A query adapter fitted on the labelled questions (see ``MemoryRows``): ridge strength
    # towards the identity map; 0 turns it off. Stored folds, ranker alone: nDCG@10 0.519 ->
    # 0.530, MRR@10 0.529 -> 0.544, recall@100 0.858 -> 0.863 (λ 0.3, the adapter as two features).
    adapter_lambda: float = Field(0.3, ge=0.0, le=1000.0)
    # The adapted question is a fifth first stage (``adapted``, searched through the IVF like
    # the dense stage; its chapters join the expansion): its nearest articles bring this many
    # candidates (0: it only scores). Stored folds, ranker alone, 3 LightGBM seeds: recall@100
    # 0.861 (features only) -> 0.876 (100) -> 0.878 (200, ~70 more candidates); nDCG@10 0.524 ->
    # 0.532 -> 0.536; the labels the candidates hold 0.885 -> 0.905 -> 0.919.
    adapter_candidates: int = Field(100, ge=0, le=100_000)
    knn: int = Field(10, ge=1, le=1000)  # labelled questions consulted for a new one
    knn_candidates: int = Field(50, ge=0, le=100_000)  # articles those questions bring in as candidates
    rrf_k: float = Field(60.0, gt=0.0)  # reciprocal-rank fusion when no ranker is trained
    bm25_k1: float = Field(1.2, gt=0.0, le=10.0)
    bm25_b: float = Field(0.75, ge=0.0, le=1.0)
    # LightGBM LambdaMART; small trees and strong regularisation (a few hundred questions).
    # 120 trees and half the features per tree: on the stored STARD folds, over 2-3 LightGBM seeds,
    # nDCG@10 0.501 (200 trees, 0.7) -> 0.508 (200, 0.5) -> 0.512 (120, 0.5); 300 trees 0.499.
    # With the fifth stage, half the step and twice the trees (learning rate 0.015, 240 trees; means
    # over LightGBM seeds 0-2, each seed better): recall@10 0.660 -> 0.665, nDCG@10 0.531 -> 0.535,
    # MRR@10 0.542 -> 0.546, recall@100 0.875 -> 0.877; 0.02 with 240 trees no better than 0.03/120.
    n_estimators: int = Field(240, ge=1, le=100_000)
    learning_rate: float = Field(0.015, gt=0.0, le=1.0)
    num_leaves: int = Field(15, ge=2, le=100_000)
    min_child_samples: int = Field(50, ge=1)
    subsample: float = Field(0.8, gt=0.0, le=1.0)
    colsample: float = Field(0.5, gt=0.0, le=1.0)
    reg_lambda: float = Field(5.0, ge=0.0)
    truncation_level: int = Field(30, ge=1)
    cv_folds: int = Field(5, ge=2, le=50)
    seed: int = 0


# --------------------------------------------------------------------------- features


# The ranker's columns, in the order :meth:`recommender.answer.Answerer.features` writes them.
PER_SOURCE = ("score", "rel", "log_rank", "law_rel", "law_log_rank", "section_rel", "section_log_rank")
FEATURE_NAMES: list[str] = [
    *(f"{s}_{f}" for s in STAGES for f in PER_SOURCE),
    "knn_dense_article", "knn_dense_law", "knn_tfidf_article", "knn_tfidf_law",
    "prior_article", "prior_law", "knn_dense_section", "query_topic",
    "log_length", "position", "log_law_size", "civil_code", "interpretation", "chapter_place",
    "log_chapter_size", "law_named",
    "bm25_coverage", "bm25_lexicon_coverage", "dense_section", "dense_law",
]


# --------------------------------------------------------------------------- memory


@dataclass
class QuestionMemory:
    """Labelled questions in the model's spaces: which articles answered questions like
    this one, and how often each article and law answers one."""

    ids: list[str]
    dense: np.ndarray  # (m, d) unit vectors
    sparse: sp.csr_matrix  # (m, V) TF-IDF rows
    gold: list[list[str]]
    # How similar (dense, sparse) a labelled question must be to vouch for its articles as
    # answers: the 90th percentile of the similarity of two labelled questions. e5 puts any two
    # questions near 0.85 ("中午吃什么" is 0.865 from a food-safety question); a real neighbour
    # is about 0.93 (median over the STARD questions).
    floors: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.floors is None:
            self.floors = (_pair_quantile(self.dense), _pair_quantile(self.sparse))

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: Sequence[int]) -> QuestionMemory:
        idx = list(idx)
        return QuestionMemory([self.ids[i] for i in idx], self.dense[idx], self.sparse[idx],
                              [self.gold[i] for i in idx], self.floors)

    def save(self, d: Path) -> None:
        np.save(d / "memory_dense.npy", self.dense)
        sp.save_npz(d / "memory_sparse.npz", self.sparse.tocsr(), compressed=True)
        (d / "memory.json").write_text(json.dumps({"ids": self.ids, "gold": self.gold, "floors": self.floors},
                                                  ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, d: Path) -> QuestionMemory | None:
        if not (d / "memory.json").exists():
            return None
        meta = json.loads((d / "memory.json").read_text(encoding="utf-8"))
        floors = meta.get("floors")
        return cls(meta["ids"], np.load(d / "memory_dense.npy"), sp.load_npz(d / "memory_sparse.npz").tocsr(),
                   meta["gold"], tuple(floors) if floors else None)


def _pair_quantile(x: np.ndarray | sp.csr_matrix, q: float = 90.0, pairs: int = 20_000, seed: int = 0) -> float:
    """The ``q``-th percentile of the similarity of two different rows (random pairs)."""
    m = x.shape[0]
    if m < 3:
        return 0.0
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, m, pairs), rng.integers(0, m, pairs)
    a, b = a[a != b], b[a != b]
    if sp.issparse(x):
        sims = np.asarray(x[a].multiply(x[b]).sum(axis=1)).ravel()
    else:
        sims = np.einsum("ij,ij->i", x[a], x[b])
    return float(np.percentile(sims, q))


ADAPTER_FOLDS = 5


class MemoryRows:
    """A memory resolved against one catalogue: gold rows, article and law counts, and the
    query adapter.

    The adapter is a linear map W of question vectors towards the mean vector of their gold
    articles, ridge-regularised towards the identity: W = (QᵀQ + λI)⁻¹(QᵀA + λI), fitted on the
    remembered questions (a few ms for 500). A question's adapted vector reads the articles the
    way labelled answers did: "吃了不合格食品腹泻" moves towards 健康权. For a remembered
    question itself (training), W comes from the other ``ADAPTER_FOLDS - 1`` fifths of the
    memory, so the ranker learns how far an adapted vector can be trusted on a new question."""

    def __init__(self, memory: QuestionMemory, catalog: Catalog, dense: np.ndarray | None = None,
                 adapter_lambda: float = 0.0) -> None:
        self.memory = memory
        n_laws = len(catalog.law_ids)
        self.gold_rows = [np.asarray([catalog.row_of[i] for i in g if i in catalog.row_of], dtype=np.int64)
                          for g in memory.gold]
        self.gold_laws = [np.unique(catalog.law_of[r][catalog.law_of[r] >= 0]) for r in self.gold_rows]
        self.art_count = np.zeros(len(catalog), dtype=np.float32)
        self.law_count = np.zeros(n_laws, dtype=np.float32)
        for r, laws in zip(self.gold_rows, self.gold_laws, strict=True):
            np.add.at(self.art_count, r, 1.0)
            np.add.at(self.law_count, laws, 1.0)
        self.adapter: np.ndarray | None = None
        self._fold_adapters: list[np.ndarray] = []
        if dense is not None and adapter_lambda > 0 and len(memory) and memory.dense.shape[1] == dense.shape[1]:
            has = np.fromiter((r.size > 0 for r in self.gold_rows), dtype=bool, count=len(self.gold_rows))
            target = np.zeros_like(memory.dense, dtype=np.float32)
            for i in np.flatnonzero(has):
                target[i] = dense[self.gold_rows[i]].mean(axis=0)
            target /= np.maximum(np.linalg.norm(target, axis=1, keepdims=True), 1e-9)
            # a memory row's fifth is its index modulo ADAPTER_FOLDS (what ``adapted(exclude=i)`` reads)
            self._fit = (memory.dense[has], target[has], np.flatnonzero(has) % ADAPTER_FOLDS, adapter_lambda)
            self.adapter = _ridge_map(memory.dense[has], target[has], adapter_lambda)

    @property
    def fold_adapters(self) -> list[np.ndarray]:
        """The maps fitted without each fifth of the memory (made when training first asks)."""
        if self.adapter is not None and not self._fold_adapters:
            q, target, part, lam = self._fit
            self._fold_adapters = [_ridge_map(q[part != k], target[part != k], lam) for k in range(ADAPTER_FOLDS)]
        return self._fold_adapters

    def adapted(self, query: np.ndarray, exclude: int | None = None) -> np.ndarray | None:
        """The question's adapted unit vector (for remembered question ``exclude``: by the map
        fitted without its fifth of the memory), or None without an adapter."""
        if self.adapter is None or not np.any(query):
            return None
        w = self.adapter if exclude is None else self.fold_adapters[exclude % ADAPTER_FOLDS]
        v = np.asarray(query, dtype=np.float32) @ w
        return (v / max(float(np.linalg.norm(v)), 1e-9)).astype(np.float32)


def _ridge_map(q: np.ndarray, target: np.ndarray, lam: float) -> np.ndarray:
    """argmin_W |QW - A|² + λ|W - I|²."""
    eye = np.eye(q.shape[1], dtype=np.float64)
    q64 = q.astype(np.float64)
    return np.linalg.solve(q64.T @ q64 + lam * eye, q64.T @ target.astype(np.float64) + lam * eye).astype(np.float32)


# --------------------------------------------------------------------------- the trained part


@dataclass
class AnswerModel:
    """What ``pufa build`` learns for answers: the ranker, its config and the labelled
    questions it remembers, with its cross-validated figures."""

    config: AnswerConfig
    booster: Any = None  # lightgbm.Booster, or None (fusion by reciprocal rank)
    memory: QuestionMemory | None = None
    report: dict[str, Any] = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(X, num_threads=1), dtype=np.float32)

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        if self.booster is not None:
            self.booster.save_model(str(d / "ranker.txt"))
        if self.memory is not None:
            self.memory.save(d)
        meta = {"format": FORMAT_VERSION, "config": self.config.to_dict(), "features": FEATURE_NAMES,
                "trained": self.booster is not None, "report": self.report}
        (d / "answer.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: str | Path) -> AnswerModel:
        d = Path(directory)
        meta = json.loads((d / "answer.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{d}: answer model format {meta.get('format')} is not {FORMAT_VERSION}")
        report = meta.get("report", {})
        trained = meta["trained"]
        if trained and meta["features"] != FEATURE_NAMES:
            # A version built by an older release: serve it, but fuse the first stages until
            # it is rebuilt (a ranker read with other features would rank at random).
            logging.getLogger("pufa.answer").warning(
                "%s: the answer ranker was trained on other features; answers fuse the first stages "
                "until the model is rebuilt", d)
            report = {**report, "disabled": "trained on other features; rebuild the model"}
            trained = False
        booster = None
        if trained:
            import lightgbm as lgb

            booster = lgb.Booster(model_file=str(d / "ranker.txt"))
        return cls(AnswerConfig.from_stored(meta["config"], str(d)), booster, QuestionMemory.load(d), report)


