"""The answer path: the law articles that answer a person's question, best first.

A question ("老板拖欠工资三个月了怎么办") is answered in two stages:

1. **Candidates** from four first stages over the current law articles, each taking its
   best ``per_source`` rows: BM25 on the question's tokens (:mod:`recommender.bm25`; each
   article is indexed with its law's title and its chapter headings), BM25 on the question
   rewritten with the colloquial→legal lexicon (工钱 → 劳动报酬), the dense index (a sentence
   model, see :mod:`recommender.embed`) and TF-IDF cosine; with labelled questions, a fifth:
   the question's sentence vector through a query adapter fitted on them (it moves "吃了不合格
   食品腹泻" towards 健康权, the way labelled answers read), plus the articles that answered the
   most similar labelled questions; and all the articles of the chapters the stages rank first
   together.
2. **A learned ranker** (LightGBM LambdaMART) over features of each (question, article)
   pair: each first stage's score, its score relative to the best, the article's rank; the
   same for the article's *law* (the best score of any of its articles, and the law's rank),
   which is the law-level signal; the labelled questions most like this one (which articles
   and laws answered them) and how often an article or law answers labelled questions; the
   question's topics against the article's; the article's length, place in its law, the
   law's size and family (民法典, 司法解释), and whether the question names the law; the
   share of the question's words (idf-weighted, its own and the lexicon's) the article holds
   (BM25 rewards one rare word many times; a good answer holds most of them); and the
   question's meaning against its chapter's and its law's (the mean dense vector of their
   current articles), which finds the right chapter when the article's own words differ.

The ranker is trained by ``pufa build`` when labelled questions exist (``stard_dev.jsonl``:
real questions with the articles a legal team judged relevant), with cross-validation grouped
by question for its figures. Without labels the stages are fused by reciprocal rank, and
everything else works the same.

This module holds the first stages and the features (:class:`Answerer`); the trained part and
its files are :mod:`recommender.answer_model`, its training :mod:`recommender.answer_training`,
the labelled questions and the figures :mod:`recommender.answer_labels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from recommender.ann import IVFIndex
from recommender.answer_model import (
    FEATURE_NAMES,
    PER_SOURCE,
    STAGES,
    AnswerConfig,
    AnswerModel,
    MemoryRows,
)
from recommender.answer_static import GroupOrder, relative, static_arrays
from recommender.bm25 import BM25Index
from recommender.catalog import Catalog
from recommender.index import ItemIndex

__all__ = ["Answerer", "Prepared", "QueryView", "supported"]


@dataclass
class QueryView:
    """One question in the model's spaces."""

    text: str
    tokens: list[str]  # the question's own tokens
    lexicon_tokens: list[str]  # tokens of the question rewritten with the lexicon
    dense: np.ndarray
    sparse: sp.csr_matrix
    topics: np.ndarray  # calibrated topic probabilities


@dataclass
class Prepared:
    """The first stages of one question: the candidate rows and their features that do not
    depend on labelled questions."""

    candidates: np.ndarray  # rows from the first stages
    rows: np.ndarray  # candidates plus any row labelled questions may bring in
    features: np.ndarray  # (len(rows), n source+static features)
    named: set[int]
    fused: np.ndarray  # reciprocal-rank fusion of the sources, per row of ``rows``
    extra: np.ndarray  # (len(rows), 4): coverage of the question's words, own and lexicon's; section and law meaning


class Answerer:
    """Finds and ranks the articles that answer a question, for one model version."""

    def __init__(self, catalog: Catalog, index: ItemIndex, bm25: BM25Index, model: AnswerModel | None, *,
                 ivf: IVFIndex | None = None) -> None:
        self.catalog = catalog
        self.index = index
        self.bm25 = bm25
        self.model = model
        self.ivf = ivf
        self.config = model.config if model is not None else AnswerConfig()
        self.static = static_arrays(catalog)
        self.memory_rows = MemoryRows(model.memory, catalog, index.dense_, self.config.adapter_lambda) \
            if model is not None and model.memory is not None else None
        self._cent: tuple[np.ndarray, np.ndarray] | None = None

    # -- first stages ----------------------------------------------------------------------------
    def source_scores(self, q: QueryView) -> dict[str, np.ndarray]:
        """Each first stage's score for every row. In a large catalogue the dense stage reads
        the IVF's nearest cells only: rows it did not reach score -inf (``prepare`` fills in
        the exact score of every candidate)."""
        return {
            "bm25": self.bm25.scores(q.tokens),
            "bm25_lexicon": self.bm25.scores(q.lexicon_tokens),
            "dense": self._dense_scores(q.dense),
            "tfidf": self.index.sparse_scores(q.sparse),
        }

    def _dense_scores(self, vector: np.ndarray) -> np.ndarray:
        """Cosine of a unit vector with every row: through the IVF's nearest cells in a large
        catalogue (rows not reached -inf), exact otherwise; zeros for a zero vector."""
        n = len(self.catalog)
        cfg = self.config
        if not np.any(vector):
            return np.zeros(n, dtype=np.float32)
        if self.ivf is not None and n >= cfg.ann_min_items:
            out = np.full(n, -np.inf, dtype=np.float32)
            rows, vals = self.ivf.search(self.index.dense_, vector, cfg.rank_depth, cfg.dense_nprobe)
            out[rows] = vals
            return out
        return self.index.dense_ @ vector

    def with_model(self, model: AnswerModel | None) -> Answerer:
        """The same first stages with another trained part (cross-validation folds)."""
        out = Answerer(self.catalog, self.index, self.bm25, model, ivf=self.ivf)
        out._cent = self._cent
        return out

    def prepare(self, q: QueryView, allowed: np.ndarray, extra_rows: np.ndarray | None = None,
                adapted: np.ndarray | None = None) -> Prepared:
        """Run the first stages: candidate rows, and for them (and ``extra_rows``) the features
        that do not read the labelled questions. ``adapted``: the question through the query
        adapter (see :class:`MemoryRows`), a fifth stage whose nearest articles join the
        candidates."""
        cfg = self.config
        st = self.static
        scores = self.source_scores(q)
        # The adapted question's stage; without an adapter it finds nothing, like a stage of a
        # question with no known word.
        scores["adapted"] = self._dense_scores(adapted) if adapted is not None else np.zeros(len(self.catalog),
                                                                                           dtype=np.float32)
        n = len(self.catalog)
        depth = min(cfg.rank_depth, int(allowed.sum()))
        picks: list[np.ndarray] = []
        ranked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        orders: dict[str, tuple[GroupOrder, GroupOrder]] = {}
        overrides: dict[str, int] = {str(k): v for k, v in cfg.per_source_overrides.items()}
        overrides["adapted"] = cfg.adapter_candidates
        for name in STAGES:
            s = np.where(allowed, scores[name][:n], -np.inf).astype(np.float32)
            # Only rows with a positive score rank (BM25 and TF-IDF are zero for most rows,
            # the IVF leaves unread rows at -inf): select among those, not the whole catalogue.
            hits = np.flatnonzero(s > 0)
            top = hits
            if depth > 0 and hits.size > depth:
                top = hits[np.argpartition(-s[hits], depth - 1)[:depth]]
            top = top[np.argsort(-s[top], kind="stable")][:depth]
            ranked[name] = (s, top)
            orders[name] = (GroupOrder(self.catalog.law_of[top], s[top]), GroupOrder(st.sec_of[top], s[top]))
            picks.append(top[: overrides.get(name, cfg.per_source)])
        if cfg.expand_sections:
            picks.append(self._section_rows([orders[name][1] for name in STAGES], allowed))
        candidates = np.unique(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)
        rows = candidates if extra_rows is None else np.union1d(candidates, extra_rows[allowed[extra_rows]])
        for name, vector in (("dense", q.dense), ("adapted", adapted)):
            s = ranked[name][0]
            missing = rows[~np.isfinite(s[rows]) & allowed[rows]]
            if missing.size and vector is not None and np.any(vector):
                s[missing] = self.index.dense_[missing] @ vector
        width = len(PER_SOURCE)
        feats = np.zeros((rows.size, width * len(STAGES)), dtype=np.float32)
        fused = np.zeros(rows.size, dtype=np.float32)
        law, sec = self.catalog.law_of[rows], st.sec_of[rows]
        for k, name in enumerate(STAGES):
            s, top = ranked[name]
            best = float(s[top[0]]) if top.size else 1.0
            floor = float(s[top[min(cfg.per_source, top.size) - 1]]) if top.size else 0.0
            rank = np.full(n, cfg.rank_depth, dtype=np.float32)
            rank[top] = np.arange(top.size, dtype=np.float32)
            v = np.where(np.isfinite(s[rows]), s[rows], 0.0)
            cols = [v, relative(s[rows], best, floor), np.log1p(rank[rows])]
            for order, group, n_groups in ((orders[name][0], law, st.n_laws), (orders[name][1], sec, st.n_secs)):
                cols += order.features(group, n_groups, best, floor)
            feats[:, width * k: width * (k + 1)] = np.stack(cols, axis=1)
            fused += 1.0 / (cfg.rrf_k + rank[rows])
        extra = np.zeros((rows.size, 4), dtype=np.float32)
        extra[:, 0] = self.bm25.coverage(q.tokens, rows)
        extra[:, 1] = self.bm25.coverage(q.lexicon_tokens, rows)
        if np.any(q.dense):
            sec_c, law_c = self._centroids()
            extra[:, 2] = np.where(sec >= 0, sec_c[np.where(sec >= 0, sec, 0)] @ q.dense, 0.0)
            extra[:, 3] = np.where(law >= 0, law_c[np.where(law >= 0, law, 0)] @ q.dense, 0.0)
        return Prepared(candidates, rows, feats, st.named_laws(q.text), fused, extra)

    def _section_rows(self, orders: list[GroupOrder], allowed: np.ndarray) -> np.ndarray:
        """The allowed articles of the ``expand_sections`` chapters the stages rank first
        together (reciprocal-rank fusion of each stage's order of chapters), of chapters no
        longer than ``expand_max``."""
        st, cfg = self.static, self.config
        fused = np.zeros(st.n_secs, dtype=np.float32)
        for order in orders:
            fused[order.ordered] += 1.0 / (cfg.rrf_k + np.arange(order.ordered.size, dtype=np.float32))
        hit = np.flatnonzero((fused > 0) & (st.sec_size <= cfg.expand_max))
        best = hit[np.argsort(-fused[hit], kind="stable")][: cfg.expand_sections]
        if not best.size:
            return np.zeros(0, dtype=np.int64)
        out = np.concatenate([st.sec_rows[st.sec_ptr[c]: st.sec_ptr[c + 1]] for c in best])
        return out[allowed[out]]

    def _centroids(self) -> tuple[np.ndarray, np.ndarray]:
        """Unit mean dense vector of each section's and each law's current articles."""
        if self._cent is None:
            st = self.static
            dense = self.index.dense_
            n = min(dense.shape[0], st.sec_of.size)
            rows = np.flatnonzero(self.catalog.recommendable[:n] & (st.sec_of[:n] >= 0))
            out = []
            for groups, k in ((st.sec_of, st.n_secs), (self.catalog.law_of, st.n_laws)):
                member = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (groups[rows], np.arange(rows.size))),
                                       shape=(max(k, 1), rows.size))
                c = np.asarray(member @ dense[rows], dtype=np.float32)
                c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-9)
                out.append(c)
            self._cent = (out[0], out[1])
        return self._cent

    # -- features that read the labelled questions ------------------------------------------------
    def neighbours(self, q: QueryView, mem: MemoryRows | None, exclude: int | None = None) -> _Neighbours:
        """What the labelled questions most like this one say (``exclude``: a memory row left
        out, for training on the question itself)."""
        cfg = self.config
        nb = _Neighbours()
        if mem is None or not len(mem.memory):
            return nb
        m = mem.memory
        nb.vouched = np.zeros(len(self.catalog), dtype=bool)
        floors = m.floors or (0.0, 0.0)
        for sims, floor in zip((m.dense @ q.dense, np.asarray((m.sparse @ q.sparse.T).todense()).ravel()), floors,
                               strict=True):
            sims = sims.astype(np.float32)
            if exclude is not None:
                sims[exclude] = -np.inf
            art = np.zeros(len(self.catalog), dtype=np.float32)
            laws = np.zeros(self.static.n_laws, dtype=np.float32)
            for j in np.argsort(-sims)[: cfg.knn]:
                w = float(sims[j])
                if np.isfinite(w) and w > 0:
                    art[mem.gold_rows[j]] += w
                    laws[mem.gold_laws[j]] += w
                    if w > floor:
                        nb.vouched[mem.gold_rows[j]] = True
            nb.votes.append((art, laws))
            if not nb.section_votes.size:
                secs = np.zeros(self.static.n_secs, dtype=np.float32)
                voted = np.flatnonzero(art)
                np.add.at(secs, self.static.sec_of[voted][self.static.sec_of[voted] >= 0],
                          art[voted][self.static.sec_of[voted] >= 0])
                nb.section_votes = secs
        nb.adapted = mem.adapted(q.dense, exclude)
        art0 = nb.votes[0][0]
        voted = np.flatnonzero(art0)
        nb.brought = voted[np.argsort(-art0[voted], kind="stable")][: cfg.knn_candidates]
        nb.art_count, nb.law_count = mem.art_count, mem.law_count
        if exclude is not None:
            nb.art_count = nb.art_count.copy()
            nb.law_count = nb.law_count.copy()
            np.add.at(nb.art_count, mem.gold_rows[exclude], -1.0)
            np.add.at(nb.law_count, mem.gold_laws[exclude], -1.0)
        return nb

    def features(self, q: QueryView, p: Prepared, nb: _Neighbours) -> tuple[np.ndarray, np.ndarray]:
        """(candidate rows, their feature matrix, columns as ``FEATURE_NAMES``)."""
        keep = np.isin(p.rows, p.candidates) | np.isin(p.rows, nb.brought)
        rows = p.rows[keep]
        law = self.catalog.law_of[rows]
        safe_law = np.where(law >= 0, law, 0)
        memf = np.zeros((rows.size, 7), dtype=np.float32)
        for k, (art, laws) in enumerate(nb.votes):
            memf[:, 2 * k] = art[rows]
            memf[:, 2 * k + 1] = np.where(law >= 0, laws[safe_law], 0.0)
        if nb.art_count is not None and nb.law_count is not None:
            memf[:, 4] = np.log1p(np.maximum(nb.art_count[rows], 0))
            memf[:, 5] = np.where(law >= 0, np.log1p(np.maximum(nb.law_count[safe_law], 0)), 0.0)
        if nb.section_votes.size:
            sec = self.static.sec_of[rows]
            memf[:, 6] = np.where(sec >= 0, nb.section_votes[np.where(sec >= 0, sec, 0)], 0.0)
        qt = q.topics / (np.linalg.norm(q.topics) or 1.0)
        named = np.isin(law, np.fromiter(p.named, dtype=np.int64, count=len(p.named))).astype(np.float32)
        X = np.hstack([p.features[keep], memf, (self.catalog.topics_unit[rows] @ qt)[:, None],
                       self.static.static[rows], named[:, None], p.extra[keep]]).astype(np.float32)
        return rows, X

    # -- answering --------------------------------------------------------------------------------
    def rank(self, q: QueryView, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Answerable rows and their scores, best first."""
        allowed = allowed & self.static.answerable[: allowed.size]
        if not allowed.any():
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        nb = self.neighbours(q, self.memory_rows)
        return self.rank_prepared(q, self.prepare(q, allowed, nb.brought, nb.adapted), nb)

    def rank_prepared(self, q: QueryView, p: Prepared, nb: _Neighbours) -> tuple[np.ndarray, np.ndarray]:
        """Rank a question whose first stages have run (training and evaluation reuse them).
        Only supported articles are answers (see :func:`supported`)."""
        rows, X = self.features(q, p, nb)
        if self.model is None or self.model.booster is None:
            scores = p.fused[np.searchsorted(p.rows, rows)]
        else:
            scores = self.model.predict(X)
        keep = supported(X, self.config.per_source, nb.vouched[rows] if nb.vouched.size else None)
        rows, scores = rows[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")
        return rows[order], scores[order]


_COL = {name: j for j, name in enumerate(FEATURE_NAMES)}


def supported(X: np.ndarray, per_source: int, vouched: np.ndarray | None = None) -> np.ndarray:
    """Articles that can be an answer: they share words with the question (its own or the
    lexicon's), or answered a labelled question close to it (``vouched``, per row of ``X``),
    or are among the nearest by meaning (the question's or the adapted question's) in a law
    that shares words with the question. A sentence model finds *some* nearest article, and
    *some* nearest labelled question, for any text; an article of a law the question has no
    word of is not an answer."""
    lexical = (X[:, _COL["bm25_score"]] > 0) | (X[:, _COL["bm25_lexicon_score"]] > 0) | (X[:, _COL["tfidf_score"]] > 0)
    labelled = vouched if vouched is not None else np.zeros(X.shape[0], dtype=bool)
    law_lexical = (X[:, _COL["bm25_law_rel"]] > -1) | (X[:, _COL["bm25_lexicon_law_rel"]] > -1)
    near = (X[:, _COL["dense_log_rank"]] < np.log1p(per_source)) | (X[:, _COL["adapted_log_rank"]] < np.log1p(per_source))
    return lexical | labelled | (near & law_lexical)


@dataclass
class _Neighbours:
    votes: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (article, law) per similarity
    brought: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    art_count: np.ndarray | None = None
    law_count: np.ndarray | None = None
    section_votes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    vouched: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # gold of close questions
    adapted: np.ndarray | None = None  # the question through the memory's query adapter

