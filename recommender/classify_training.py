"""What the topic classifier learns from, and how well it does on laws it never saw.

Training labels are weak and come from several places (see :func:`training_set`): the
taxonomy's key-law -> topic mapping applied to those laws' articles, the authors' labels of
the bundled sample content, the guiding cases' official keywords matched against the topics'
seed keywords, the seed keywords themselves, and editor-confirmed tags where they exist.
:func:`evaluate_grouped_cv` cross-validates :class:`recommender.classify.TopicClassifier`
grouped by law.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.model_selection import GroupKFold

from corpus.schema import Item
from corpus.taxonomy import Taxonomy
from recommender.classify import (
    ClassifierConfig,
    TopicClassifier,
    best_thresholds,
    fit_linear_models,
    fit_platt,
    identity_analyzer,
    mix_context,
    model_text,
    sigmoid,
)
from recommender.expander import QueryExpander
from recommender.text import LegalTokenizer

__all__ = ["CvReport", "LabelledSet", "case_topics", "evaluate_grouped_cv", "training_set"]


# --------------------------------------------------------------------------- training data


@dataclass
class LabelledSet:
    """Texts with their topics, row by row: where each comes from, its group and its weight."""

    texts: list[str]
    labels: list[set[str]]
    groups: list[str]
    sources: list[str]
    weights: list[float]
    ids: list[str] = field(default_factory=list)
    contexts: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def matrix(self, topic_ids: Sequence[str]) -> np.ndarray:
        col = {t: j for j, t in enumerate(topic_ids)}
        Y = np.zeros((len(self.labels), len(topic_ids)), dtype=np.int8)
        for i, labs in enumerate(self.labels):
            for t in labs:
                if t in col:
                    Y[i, col[t]] = 1
        return Y


def case_topics(item: Item, taxonomy: Taxonomy) -> set[str]:
    """Topics of a guiding case from its official keywords (and title) by seed keywords."""
    text = " ".join([*item.keywords, item.title])
    hits: dict[str, int] = {}
    for t in taxonomy.topics.values():
        n = sum(1 for kw in t.keywords if len(kw) >= 2 and kw in text)
        if n:
            hits[t.id] = n
    return set(hits)


def training_set(
    items: Sequence[Item],
    taxonomy: Taxonomy,
    *,
    editor_tags: dict[str, list[str]] | None = None,
    config: ClassifierConfig | None = None,
) -> LabelledSet:
    """Weakly labelled examples from the items, the taxonomy and the editors' tags."""
    cfg = config or ClassifierConfig()
    editor_tags = editor_tags or {}
    rng = np.random.default_rng(cfg.random_state)
    out = LabelledSet([], [], [], [], [], [], [])
    negatives: list[tuple[str, str, str, str | None]] = []

    def add(item_id: str, text: str, labels: set[str], group: str, source: str, weight: float,
            context: str | None = None) -> None:
        out.ids.append(item_id)
        out.contexts.append(context)
        out.texts.append(text)
        out.labels.append(labels)
        out.groups.append(group)
        out.sources.append(source)
        out.weights.append(weight)

    law_topics_cache: dict[tuple[str, str | None], set[str]] = {}
    for it in items:
        if it.status != "current" or it.retired:
            continue
        if it.id in editor_tags:
            add(it.id, it.text, set(editor_tags[it.id]), f"editor:{it.id}", "editor", cfg.weight_editor)
            continue
        if it.type == "law_article" and it.law_title:
            book = it.path[0] if it.law_title == "民法典" and it.path else None
            key = (it.law_title, book)
            if key not in law_topics_cache:
                law_topics_cache[key] = taxonomy.topics_for_law(it.law_title, book)
            labels = law_topics_cache[key]
            text = model_text(it)
            if labels:
                add(it.id, text, set(labels), f"law:{it.law_title}", "law", cfg.weight_law, it.parent_id)
            elif it.legal_level not in ("党内法规", "监察法规"):
                negatives.append((it.id, text, f"law:{it.law_title}", it.parent_id))
        elif it.topics and it.source == "pufa-sample":
            add(it.id, it.text, set(it.topics), f"sample:{it.id}", "sample", cfg.weight_sample)
        elif it.type == "case":
            labels = case_topics(it, taxonomy)
            if labels:
                add(it.id, it.text, labels, f"case:{it.id}", "case", cfg.weight_case)
        elif it.topics:
            add(it.id, it.text, set(it.topics), f"item:{it.id}", "item", cfg.weight_sample)
    if len(negatives) > cfg.max_negative_law_articles:
        keep = rng.choice(len(negatives), cfg.max_negative_law_articles, replace=False)
        negatives = [negatives[i] for i in sorted(keep)]
    for nid, text, group, ctx in negatives:
        add(nid, text, set(), group, "law-other", cfg.weight_law, ctx)
    # Seed keywords: short texts in everyday and legal words, labelled with their topic.
    for t in taxonomy.topics.values():
        kws = list(t.keywords)
        for start in range(0, len(kws), 4):
            chunk = " ".join(kws[start:start + 4])
            add(f"seed:{t.id}:{start}", chunk, {t.id}, f"seed:{t.id}", "seed", cfg.weight_seed)
        add(f"seed:{t.id}:desc", f"{t.name} {t.description}", {t.id}, f"seed:{t.id}", "seed", cfg.weight_seed)
    for e in taxonomy.colloquial:
        if e.topics:
            text = " ".join([*e.colloquial[:3], *e.legal[:2]])
            add(f"seed:lex:{e.colloquial[0]}", text, set(e.topics), f"seed:{e.topics[0]}", "seed", cfg.weight_seed)
    return out


def _tfidf_rows(counts: sp.csr_matrix, rows: np.ndarray, idf: np.ndarray, keep: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF-IDF of some rows of a count matrix, restricted to kept columns, L2-normed."""
    X = counts[rows][:, keep].astype(np.float32)
    X.data = 1.0 + np.log(X.data)
    X = X.multiply(idf[keep]).tocsr()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms).dot(X).tocsr().astype(np.float32)


# --------------------------------------------------------------------------- evaluation


@dataclass
class CvReport:
    per_topic: dict[str, dict[str, float]]
    macro_f1: float
    micro_f1: float
    n_examples: int
    n_groups: int
    folds: int
    by_source: dict[str, float]
    oof_decision: np.ndarray | None = None

    def weakest(self, n: int = 5) -> list[tuple[str, float]]:
        scored = [(t, m["f1"]) for t, m in self.per_topic.items() if m["support"] > 0]
        return sorted(scored, key=lambda kv: kv[1])[:n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "macro_f1": self.macro_f1, "micro_f1": self.micro_f1, "n_examples": self.n_examples,
            "n_groups": self.n_groups, "folds": self.folds, "per_topic": self.per_topic,
            "by_source_micro_f1": self.by_source, "weakest": self.weakest(),
        }


def _prf(pred: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tp = (pred & Y).sum(0).astype(float)
    p = np.divide(tp, pred.sum(0), out=np.zeros_like(tp), where=pred.sum(0) > 0)
    r = np.divide(tp, Y.sum(0), out=np.zeros_like(tp), where=Y.sum(0) > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros_like(tp), where=(p + r) > 0)
    return p, r, f


def evaluate_grouped_cv(
    data: LabelledSet,
    topic_ids: Sequence[str],
    *,
    tokenizer: LegalTokenizer,
    expander: QueryExpander | None,
    config: ClassifierConfig | None = None,
    tokens: Sequence[list[str]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CvReport:
    """Cross-validation grouped by law (no article of a test law is in training).

    Seed examples are always in training and never scored. Each fold's scores are turned
    into decisions with a calibration and thresholds fitted on the *other* folds'
    out-of-fold scores, the way the final model is calibrated, so no test example tunes
    its own cut. ``tokens`` may carry the texts' tokens to avoid cutting them again.
    """
    cfg = config or ClassifierConfig()
    Y = data.matrix(topic_ids).astype(bool)
    groups = np.asarray(data.groups)
    is_seed = np.asarray([s == "seed" for s in data.sources])
    scored = np.flatnonzero(~is_seed)
    folds = min(cfg.cv_folds, len(set(groups[scored])))
    gkf = GroupKFold(n_splits=folds)
    oof = np.full((len(data), len(topic_ids)), np.nan, dtype=np.float64)
    fold_of = np.full(len(data), -1)
    weights = np.asarray(data.weights)
    texts = data.texts
    if tokens is None:
        tokens = [tokenizer.tokenize(t) for t in texts]
    # Cut, expand and count every text once; each fold then takes its own document
    # frequencies and idf from its training rows only (what fitting a vectorizer per fold
    # would do, without recounting).
    reader = TopicClassifier(topic_ids, tokenizer, expander, cfg)
    counts = CountVectorizer(analyzer=identity_analyzer, lowercase=False, dtype=np.float32).fit_transform(
        [reader.analyse(t, k) for t, k in zip(texts, tokens, strict=True)]).tocsr()
    for k, (tr, te) in enumerate(gkf.split(scored, groups=groups[scored])):
        train_idx = np.concatenate([scored[tr], np.flatnonzero(is_seed)])
        test_idx = scored[te]
        df = np.asarray((counts[train_idx] > 0).sum(axis=0)).ravel()
        keep = np.flatnonzero(df >= cfg.min_df)
        idf_all = (np.log((1 + len(train_idx)) / (1 + df)) + 1).astype(np.float32)
        ctx = data.contexts or None
        X_tr = mix_context(_tfidf_rows(counts, train_idx, idf_all, keep),
                           [ctx[i] for i in train_idx] if ctx else None, cfg.context_weight)
        X_te = mix_context(_tfidf_rows(counts, test_idx, idf_all, keep),
                           [ctx[i] for i in test_idx] if ctx else None, cfg.context_weight)
        coef, intercept = fit_linear_models(X_tr, Y[train_idx].astype(np.int8), weights[train_idx], cfg, topic_ids)
        oof[test_idx] = np.asarray(X_te @ coef.T) + intercept
        fold_of[test_idx] = k
        if progress:
            progress(f"fold {k + 1}/{folds}")
    pred = np.zeros((len(data), len(topic_ids)), dtype=bool)
    for k in range(folds):
        other = scored[fold_of[scored] != k]
        mine = scored[fold_of[scored] == k]
        ab = fit_platt(oof[other], Y[other].astype(np.int8))
        th = best_thresholds(sigmoid(oof[other], ab), Y[other].astype(np.int8))
        pred[mine] = sigmoid(oof[mine], ab) >= th
    Ys, Ps = Y[scored], pred[scored]
    p, r, f = _prf(Ps, Ys)
    support = Ys.sum(0)
    per_topic = {
        t: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(support[j])}
        for j, t in enumerate(topic_ids)
    }
    with_support = [j for j in range(len(topic_ids)) if support[j] > 0]
    macro = float(np.mean(f[with_support])) if with_support else float("nan")
    tp, npred, ntrue = (Ps & Ys).sum(), Ps.sum(), Ys.sum()
    micro = float(2 * tp / (npred + ntrue)) if (npred + ntrue) else float("nan")
    by_source: dict[str, float] = {}
    srcs = np.asarray(data.sources)[scored]
    for s in sorted(set(srcs)):
        m = srcs == s
        tp_s, np_s, nt_s = (Ps[m] & Ys[m]).sum(), Ps[m].sum(), Ys[m].sum()
        by_source[s] = float(2 * tp_s / (np_s + nt_s)) if (np_s + nt_s) else float("nan")
    return CvReport(per_topic, macro, micro, len(scored), len(set(groups[scored])), folds, by_source, oof)

