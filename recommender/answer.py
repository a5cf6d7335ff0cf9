"""The answer path: the law articles that answer a person's question, best first.

A question ("老板拖欠工资三个月了怎么办") is answered in two stages:

1. **Candidates** from four first stages over the current law articles, each taking its
   best ``per_source`` rows: BM25 on the question's tokens (:mod:`recommender.bm25`; each
   article is indexed with its law's title and its chapter headings), BM25 on the question
   rewritten with the colloquial→legal lexicon (工钱 → 劳动报酬), the dense index (a sentence
   model, see :mod:`recommender.embed`) and TF-IDF cosine; plus the articles that answered the
   most similar labelled questions.
2. **A learned ranker** (LightGBM LambdaMART) over features of each (question, article)
   pair: each first stage's score, its score relative to the best, the article's rank; the
   same for the article's *law* (the best score of any of its articles, and the law's rank),
   which is the law-level signal; the labelled questions most like this one (which articles
   and laws answered them) and how often an article or law answers labelled questions; the
   question's topics against the article's; the article's length, place in its law, the
   law's size and family (民法典, 司法解释), and whether the question names the law.

The ranker is trained by ``pufa build`` when labelled questions exist (``stard_dev.jsonl``:
real questions with the articles a legal team judged relevant), with cross-validation grouped
by question for its figures. Without labels the stages are fused by reciprocal rank, and
everything else works the same. The model is a text file of LightGBM trees plus arrays and
JSON (no pickles).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.ann import IVFIndex
from recommender.bm25 import BM25Index
from recommender.catalog import Catalog
from recommender.index import ItemIndex
from recommender.jsonconfig import JsonConfig

__all__ = [
    "AnswerConfig",
    "AnswerModel",
    "Answerer",
    "LabelledQuestion",
    "QuestionMemory",
    "load_article_labels",
    "ranking_metrics",
]

FORMAT_VERSION = 1
SOURCES = ("bm25", "bm25_lexicon", "dense", "tfidf")
FAMILIES = ("民法典", "司法解释", "其他法律法规")


@dataclass
class AnswerConfig(JsonConfig):
    """How answers are found and ranked; round-trips to JSON, stored with the model."""

    per_source: int = 100  # candidates from each first stage
    # ... except these (the dense stage is the strongest: more of its rows are worth scoring)
    per_source_overrides: dict[str, int] = field(default_factory=dict)
    rank_depth: int = 1000  # ranks deeper than this count as this
    dense_nprobe: int = 64  # IVF cells the dense stage reads (catalogues of ann_min_items or more)
    ann_min_items: int = 20_000
    knn: int = 10  # labelled questions consulted for a new one
    knn_candidates: int = 50  # articles those questions bring in as candidates
    rrf_k: float = 60.0  # reciprocal-rank fusion when no ranker is trained
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    # LightGBM LambdaMART; small trees and strong regularisation (a few hundred questions).
    n_estimators: int = 200
    learning_rate: float = 0.03
    num_leaves: int = 15
    min_child_samples: int = 50
    subsample: float = 0.8
    colsample: float = 0.7
    reg_lambda: float = 5.0
    truncation_level: int = 30
    cv_folds: int = 5
    seed: int = 0


# --------------------------------------------------------------------------- labels


@dataclass
class LabelledQuestion:
    id: str
    text: str
    gold: list[str]  # item ids of the current articles judged relevant
    n_labels: int  # articles the label names (some may not be current or held)
    source: str = ""


_SUB = re.compile(r"条之([一二三四五六七八九十]+)$")
_CN = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


def article_key(law_title: str, article_no: int, label: str | None) -> tuple[str, int, int]:
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
    if law_title == "民法典":
        return FAMILIES[0]
    if legal_level == "司法解释":
        return FAMILIES[1]
    return FAMILIES[2]


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


class _MemoryRows:
    """A memory resolved against one catalogue: gold rows, article and law counts."""

    def __init__(self, memory: QuestionMemory, catalog: Catalog) -> None:
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


# --------------------------------------------------------------------------- per-model arrays


class _Static:
    """Arrays of one catalogue that every answer reads (built once per catalogue)."""

    def __init__(self, catalog: Catalog) -> None:
        n = len(catalog)
        metas = catalog.metas
        law_of = catalog.law_of
        self.n_laws = len(catalog.law_ids)
        self.answerable = catalog.is_article & (law_of >= 0) & catalog.recommendable
        rows = np.flatnonzero(catalog.is_article & (law_of >= 0))
        order = rows[np.argsort(law_of[rows], kind="stable")]
        self.law_order = order
        laws_sorted = law_of[order]
        self.law_starts = np.flatnonzero(np.r_[True, laws_sorted[1:] != laws_sorted[:-1]]) if order.size else \
            np.zeros(0, dtype=np.int64)
        self.law_at_start = laws_sorted[self.law_starts] if order.size else np.zeros(0, dtype=np.int64)
        # Sections (the chapter an article stands in, within its law version) group the same way.
        sections: dict[tuple[str | None, str], int] = {}
        sec = np.full(n, -1, dtype=np.int64)
        for r in rows:
            meta = metas[r]
            sec[r] = sections.setdefault((meta.parent_id, meta.section or ""), len(sections))
        self.sec_of = sec
        self.n_secs = len(sections)
        order = rows[np.argsort(sec[rows], kind="stable")]
        self.sec_order = order
        secs_sorted = sec[order]
        self.sec_starts = np.flatnonzero(np.r_[True, secs_sorted[1:] != secs_sorted[:-1]]) if order.size else \
            np.zeros(0, dtype=np.int64)
        self.sec_at_start = secs_sorted[self.sec_starts] if order.size else np.zeros(0, dtype=np.int64)
        length = np.fromiter((m.length for m in metas), dtype=np.float32, count=n)
        no = np.fromiter((m.article_no or 0 for m in metas), dtype=np.float32, count=n)
        cur = rows[catalog.recommendable[rows]]
        law_max_no = np.ones(self.n_laws, dtype=np.float32)
        np.maximum.at(law_max_no, law_of[cur], no[cur])
        law_size = np.bincount(law_of[cur], minlength=self.n_laws).astype(np.float32)
        safe_law = np.where(law_of >= 0, law_of, 0)
        self.static = np.stack([
            np.log1p(length),
            np.where(law_of >= 0, no / law_max_no[safe_law], 0.0),
            np.where(law_of >= 0, np.log1p(law_size[safe_law]), 0.0),
            np.fromiter((m.law_title == "民法典" for m in metas), dtype=np.float32, count=n),
            np.fromiter((m.legal_level == "司法解释" for m in metas), dtype=np.float32, count=n),
        ], axis=1).astype(np.float32)
        self.law_titles = {t: k for t, k in catalog.law_ids.items()}
        self._automaton: Any = None

    def named_laws(self, text: str) -> set[int]:
        """Laws the question names by their full short title (劳动合同法, 民法典)."""
        if self._automaton is None:
            import ahocorasick

            auto = ahocorasick.Automaton()
            for title, k in self.law_titles.items():
                name = re.sub(r"[（(][^）)]*[）)]", "", title)
                if len(name) >= 3:
                    auto.add_word(name, (len(name), k))
            if len(auto):
                auto.make_automaton()
            self._automaton = auto
        auto = self._automaton
        if auto.kind != 2:  # not built (no law titles)
            return set()
        spans = [(end - ln + 1, end, k) for end, (ln, k) in auto.iter(text)]
        # A name inside a longer name (合同法 in 劳动合同法) is not named by itself.
        return {k for s, e, k in spans if not any(s2 <= s and e <= e2 and (s2, e2) != (s, e) for s2, e2, _ in spans)}

    def law_max(self, scores: np.ndarray) -> np.ndarray:
        """The best score of each law's articles."""
        out = np.full(self.n_laws, -np.inf, dtype=np.float32)
        if self.law_order.size:
            out[self.law_at_start] = np.maximum.reduceat(scores[self.law_order], self.law_starts)
        return out

    def section_max(self, scores: np.ndarray) -> np.ndarray:
        """The best score of each section's articles."""
        out = np.full(self.n_secs, -np.inf, dtype=np.float32)
        if self.sec_order.size:
            out[self.sec_at_start] = np.maximum.reduceat(scores[self.sec_order], self.sec_starts)
        return out


def _relative(scores: np.ndarray, best: float, floor: float) -> np.ndarray:
    """Where a score stands between the ``per_source``-th row's (0) and the best (1): sentence
    model cosines are bunched (0.8-0.9 for any legal text), so a ratio to the best says little."""
    span = best - floor if best > floor else 1.0
    return np.clip((np.where(np.isfinite(scores), scores, floor) - floor) / span, -1.0, 1.0).astype(np.float32)


def _group_rank(maxima: np.ndarray, best: float, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """Each group's best article, relative as :func:`_relative`, and the log of the group's
    rank (groups with no matching article rank last)."""
    hit = np.isfinite(maxima) & (maxima > 0)
    rank = np.full(maxima.size, float(maxima.size), dtype=np.float32)
    order = np.argsort(-np.where(hit, maxima, -np.inf), kind="stable")[: int(hit.sum())]
    rank[order] = np.arange(order.size, dtype=np.float32)
    return np.where(hit, _relative(maxima, best, floor), -1.0).astype(np.float32), np.log1p(rank)


def _static(catalog: Catalog) -> _Static:
    cached = getattr(catalog, "_answer_static", None)
    if cached is None:
        cached = _Static(catalog)
        catalog._answer_static = cached  # type: ignore[attr-defined]
    return cached


# --------------------------------------------------------------------------- features


PER_SOURCE = ("score", "rel", "log_rank", "law_rel", "law_log_rank", "section_rel", "section_log_rank")
FEATURE_NAMES: list[str] = [
    *(f"{s}_{f}" for s in SOURCES for f in PER_SOURCE),
    "knn_dense_article", "knn_dense_law", "knn_tfidf_article", "knn_tfidf_law",
    "prior_article", "prior_law", "knn_dense_section", "query_topic",
    "log_length", "position", "log_law_size", "civil_code", "interpretation", "law_named",
]


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
class _Prepared:
    """The first stages of one question: the candidate rows and their features that do not
    depend on labelled questions."""

    candidates: np.ndarray  # rows from the first stages
    rows: np.ndarray  # candidates plus any row labelled questions may bring in
    features: np.ndarray  # (len(rows), n source+static features)
    named: set[int]
    fused: np.ndarray  # reciprocal-rank fusion of the sources, per row of ``rows``


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
        self.static = _static(catalog)
        self._memory = _MemoryRows(model.memory, catalog) if model is not None and model.memory is not None else None

    # -- first stages ----------------------------------------------------------------------------
    def source_scores(self, q: QueryView) -> dict[str, np.ndarray]:
        """Each first stage's score for every row. In a large catalogue the dense stage reads
        the IVF's nearest cells only: rows it did not reach score -inf (``prepare`` fills in
        the exact score of every candidate)."""
        n = len(self.catalog)
        cfg = self.config
        if not np.any(q.dense):
            dense = np.zeros(n, dtype=np.float32)
        elif self.ivf is not None and n >= cfg.ann_min_items:
            dense = np.full(n, -np.inf, dtype=np.float32)
            rows, vals = self.ivf.search(self.index.dense_, q.dense, cfg.rank_depth, cfg.dense_nprobe)
            dense[rows] = vals
        else:
            dense = self.index.dense_ @ q.dense
        return {
            "bm25": self.bm25.scores(q.tokens),
            "bm25_lexicon": self.bm25.scores(q.lexicon_tokens),
            "dense": dense,
            "tfidf": self.index.sparse_scores(q.sparse),
        }

    def with_model(self, model: AnswerModel | None) -> Answerer:
        """The same first stages with another trained part (cross-validation folds)."""
        return Answerer(self.catalog, self.index, self.bm25, model, ivf=self.ivf)

    def prepare(self, q: QueryView, allowed: np.ndarray, extra_rows: np.ndarray | None = None) -> _Prepared:
        """Run the first stages: candidate rows, and for them (and ``extra_rows``) the features
        that do not read the labelled questions."""
        cfg = self.config
        st = self.static
        scores = self.source_scores(q)
        n = len(self.catalog)
        depth = min(cfg.rank_depth, int(allowed.sum()))
        picks: list[np.ndarray] = []
        ranked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in SOURCES:
            s = np.where(allowed, scores[name][:n], -np.inf).astype(np.float32)
            # Only rows with a positive score rank (BM25 and TF-IDF are zero for most rows,
            # the IVF leaves unread rows at -inf): select among those, not the whole catalogue.
            hits = np.flatnonzero(s > 0)
            top = hits
            if depth > 0 and hits.size > depth:
                top = hits[np.argpartition(-s[hits], depth - 1)[:depth]]
            top = top[np.argsort(-s[top], kind="stable")][:depth]
            ranked[name] = (s, top)
            picks.append(top[: cfg.per_source_overrides.get(name, cfg.per_source)])
        candidates = np.unique(np.concatenate(picks)) if picks else np.zeros(0, dtype=np.int64)
        rows = candidates if extra_rows is None else np.union1d(candidates, extra_rows[allowed[extra_rows]])
        dense = ranked["dense"][0]
        missing = rows[~np.isfinite(dense[rows])]
        if missing.size and np.any(q.dense):
            dense[missing] = self.index.dense_[missing] @ q.dense
        width = len(PER_SOURCE)
        feats = np.zeros((rows.size, width * len(SOURCES)), dtype=np.float32)
        fused = np.zeros(rows.size, dtype=np.float32)
        law, sec = self.catalog.law_of[rows], st.sec_of[rows]
        for k, name in enumerate(SOURCES):
            s, top = ranked[name]
            best = float(s[top[0]]) if top.size else 1.0
            floor = float(s[top[min(cfg.per_source, top.size) - 1]]) if top.size else 0.0
            rank = np.full(n, cfg.rank_depth, dtype=np.float32)
            rank[top] = np.arange(top.size, dtype=np.float32)
            v = np.where(np.isfinite(s[rows]), s[rows], 0.0)
            cols = [v, _relative(s[rows], best, floor), np.log1p(rank[rows])]
            for maxima, group in ((st.law_max(s), law), (st.section_max(s), sec)):
                rel, log_rank = _group_rank(maxima, best, floor)
                cols += [np.where(group >= 0, rel[np.where(group >= 0, group, 0)], -1.0),
                         np.where(group >= 0, log_rank[np.where(group >= 0, group, 0)], 0.0)]
            feats[:, width * k: width * (k + 1)] = np.stack(cols, axis=1)
            fused += 1.0 / (cfg.rrf_k + rank[rows])
        return _Prepared(candidates, rows, feats, st.named_laws(q.text), fused)

    # -- features that read the labelled questions ------------------------------------------------
    def neighbours(self, q: QueryView, mem: _MemoryRows | None, exclude: int | None = None) -> _Neighbours:
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

    def features(self, q: QueryView, p: _Prepared, nb: _Neighbours) -> tuple[np.ndarray, np.ndarray]:
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
        named = np.fromiter((int(x) in p.named for x in law), dtype=np.float32, count=rows.size)
        X = np.hstack([p.features[keep], memf, (self.catalog.topics_unit[rows] @ qt)[:, None],
                       self.static.static[rows], named[:, None]]).astype(np.float32)
        return rows, X

    # -- answering --------------------------------------------------------------------------------
    def rank(self, q: QueryView, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Answerable rows and their scores, best first."""
        allowed = allowed & self.static.answerable[: allowed.size]
        if not allowed.any():
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        nb = self.neighbours(q, self._memory)
        return self.rank_prepared(q, self.prepare(q, allowed, nb.brought), nb)

    def rank_prepared(self, q: QueryView, p: _Prepared, nb: _Neighbours) -> tuple[np.ndarray, np.ndarray]:
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
    or are among the nearest by meaning in a law that shares words with the question. A
    sentence model finds *some* nearest article, and *some* nearest labelled question, for any
    text; an article of a law the question has no word of is not an answer."""
    lexical = (X[:, _COL["bm25_score"]] > 0) | (X[:, _COL["bm25_lexicon_score"]] > 0) | (X[:, _COL["tfidf_score"]] > 0)
    labelled = vouched if vouched is not None else np.zeros(X.shape[0], dtype=bool)
    law_lexical = (X[:, _COL["bm25_law_rel"]] > -1) | (X[:, _COL["bm25_lexicon_law_rel"]] > -1)
    near = X[:, _COL["dense_log_rank"]] < np.log1p(per_source)
    return lexical | labelled | (near & law_lexical)


@dataclass
class _Neighbours:
    votes: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (article, law) per similarity
    brought: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    art_count: np.ndarray | None = None
    law_count: np.ndarray | None = None
    section_votes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    vouched: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # gold of close questions


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
        return cls(AnswerConfig.from_dict(meta["config"]), booster, QuestionMemory.load(d), report)


Progress = Callable[[str, float], None]


@dataclass
class TrainingSet:
    """Labelled questions read by one model version's first stages, ready for training."""

    questions: list[LabelledQuestion]
    views: list[QueryView]
    prepared: list[_Prepared]
    memory: QuestionMemory

    def subset(self, idx: Sequence[int]) -> TrainingSet:
        idx = list(idx)
        return TrainingSet([self.questions[i] for i in idx], [self.views[i] for i in idx],
                           [self.prepared[i] for i in idx], self.memory.subset(idx))


def prepare_training(answerer: Answerer, questions: Sequence[LabelledQuestion],
                     view: Callable[[str], QueryView], allowed: np.ndarray,
                     progress: Progress | None = None) -> TrainingSet:
    """Run the first stages once for every labelled question (the slow part of training)."""
    qs = [q for q in questions if q.gold]
    views = []
    for i, q in enumerate(qs):
        views.append(view(q.text))
        if progress and i % 50 == 0:
            progress("reading labelled questions", i / max(len(qs), 1) * 0.3)
    cat = answerer.catalog
    universe = np.unique(np.asarray([cat.row_of[g] for q in qs for g in q.gold if g in cat.row_of], dtype=np.int64))
    allowed = allowed & answerer.static.answerable[: allowed.size]
    prepared = []
    for i, v in enumerate(views):
        prepared.append(answerer.prepare(v, allowed, universe))
        if progress and i % 50 == 0:
            progress("first stages for labelled questions", 0.3 + 0.4 * i / max(len(views), 1))
    dense = np.vstack([v.dense for v in views]) if views else np.zeros((0, answerer.index.dense_.shape[1]), np.float32)
    sparse = sp.vstack([v.sparse for v in views], format="csr") if views else sp.csr_matrix((0, 1))
    memory = QuestionMemory([q.id for q in qs], dense.astype(np.float32), sparse, [list(q.gold) for q in qs])
    return TrainingSet(qs, views, prepared, memory)


def _fit_booster(answerer: Answerer, ts: TrainingSet, train: Sequence[int], config: AnswerConfig) -> tuple[Any, QuestionMemory]:
    import lightgbm as lgb

    memory = ts.memory.subset(train)
    mem = _MemoryRows(memory, answerer.catalog)
    Xs, ys, groups = [], [], []
    for local, i in enumerate(train):
        nb = answerer.neighbours(ts.views[i], mem, exclude=local)
        rows, X = answerer.features(ts.views[i], ts.prepared[i], nb)
        gold = set(answerer.catalog.row_of[g] for g in ts.questions[i].gold if g in answerer.catalog.row_of)
        y = np.fromiter((int(r) in gold for r in rows), dtype=np.int32, count=rows.size)
        if y.sum() == 0 or y.sum() == y.size:
            continue  # a question whose answers the first stages all missed teaches nothing
        Xs.append(X)
        ys.append(y)
        groups.append(rows.size)
    if not Xs:
        return None, memory
    params = {
        "objective": "lambdarank", "learning_rate": config.learning_rate, "num_leaves": config.num_leaves,
        "min_data_in_leaf": config.min_child_samples, "bagging_fraction": config.subsample, "bagging_freq": 1,
        "feature_fraction": config.colsample, "lambda_l2": config.reg_lambda,
        "lambdarank_truncation_level": config.truncation_level, "seed": config.seed, "deterministic": True,
        "num_threads": 2, "verbose": -1,
    }
    data = lgb.Dataset(np.vstack(Xs), np.concatenate(ys), group=groups, feature_name=FEATURE_NAMES,
                       free_raw_data=True)
    booster = lgb.train(params, data, num_boost_round=config.n_estimators)
    return booster, memory


def fit_answer_model(answerer: Answerer, ts: TrainingSet, config: AnswerConfig | None = None, *,
                     evaluate: bool = True, progress: Progress | None = None) -> AnswerModel:
    """Cross-validate (folds of questions, fixed seed) and then train on every question."""
    from sklearn.model_selection import KFold

    cfg = config or answerer.config
    n = len(ts.questions)
    report: dict[str, Any] = {"questions": n, "sources": sorted({q.source for q in ts.questions})}
    t0 = time.perf_counter()
    if evaluate and n >= cfg.cv_folds * 2:
        ranked: list[list[str] | None] = [None] * n
        folds = list(KFold(cfg.cv_folds, shuffle=True, random_state=cfg.seed).split(np.arange(n)))
        for f, (train, test) in enumerate(folds):
            booster, memory = _fit_booster(answerer, ts, train, cfg)
            fold_model = AnswerModel(cfg, booster, memory)
            fold = answerer.with_model(fold_model)
            for i in test:
                rows, _ = fold.rank_prepared(ts.views[i], ts.prepared[i], fold.neighbours(ts.views[i], fold._memory))
                ranked[i] = [answerer.catalog.metas[r].id for r in rows[:100]]
            if progress:
                progress(f"answer ranker cross-validation fold {f + 1}/{cfg.cv_folds}", 0.7 + 0.25 * (f + 1) / cfg.cv_folds)
        per_q = ranking_metrics([r or [] for r in ranked], ts.questions)
        report["cv"] = {"folds": cfg.cv_folds, "scheme": f"{cfg.cv_folds}-fold KFold over questions, seed {cfg.seed}",
                        **{k: summarize(v) for k, v in per_q.items()}}
        report["cv_seconds"] = round(time.perf_counter() - t0, 1)
    t = time.perf_counter()
    booster, memory = _fit_booster(answerer, ts, list(range(n)), cfg)
    report["fit_seconds"] = round(time.perf_counter() - t, 1)
    if booster is not None:
        gains = booster.feature_importance("gain")
        report["feature_gain"] = {name: round(float(g), 1) for g, name in sorted(zip(gains, FEATURE_NAMES, strict=True),
                                                                                 reverse=True)}
    return AnswerModel(cfg, booster, memory, report)


def summarize(values: Sequence[float], seed: int = 0, n_boot: int = 1000) -> dict[str, float]:
    """Mean and a 95 % bootstrap interval over questions."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan")}
    rng = np.random.default_rng(seed)
    boots = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    return {"mean": round(float(x.mean()), 4), "low": round(float(np.percentile(boots, 2.5)), 4),
            "high": round(float(np.percentile(boots, 97.5)), 4)}


def describe(report: dict[str, Any]) -> str:
    cv = report.get("cv")
    if not cv:
        return "no cross-validation"
    return ", ".join(f"{k} {cv[k]['mean']:.3f} [{cv[k]['low']:.3f}, {cv[k]['high']:.3f}]"
                     for k in ("recall@10", "recall@100", "ndcg@10", "mrr@10"))

