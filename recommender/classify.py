"""TopicClassifier: multi-label topics of the taxonomy for any legal text, with reasons.

One linear model per topic (logistic regression on TF-IDF of words and word pairs), whose
decision values are calibrated into probabilities with a sigmoid (Platt) fitted on
out-of-fold scores, so a score of 0.7 means roughly "70 % of texts scored like this carry
the topic". Everyday words are first expanded with legal words from the colloquial lexicon
(老板不给工钱 -> 拖欠劳动报酬, :mod:`recommender.expander`), so a person's question is read in
the law's vocabulary.

What it is trained on (weak labels from several places) and its grouped cross-validation are
in :mod:`recommender.classify_training`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp
from pydantic import Field
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from corpus.schema import Item
from recommender.expander import QueryExpander
from recommender.jsonconfig import JsonConfig
from recommender.text import LegalTokenizer

__all__ = [
    "ClassifierConfig",
    "TopicClassifier",
    "best_thresholds",
    "fit_linear_models",
    "fit_platt",
    "identity_analyzer",
    "mix_context",
    "model_context",
    "model_text",
    "sigmoid",
]

FORMAT_VERSION = 1


class ClassifierConfig(JsonConfig):
    """How the topic classifier is trained; round-trips to JSON, stored with the model."""

    C: float = Field(4.0, gt=0.0)  # inverse regularisation of each topic's logistic regression
    ngram_max: int = Field(2, ge=1, le=2)  # 2: words and word pairs
    min_df: int = Field(2, ge=1)
    max_features: int = Field(300_000, ge=1)
    class_weight: Literal["balanced"] | None = "balanced"
    max_iter: int = Field(200, ge=1)
    cv_folds: int = Field(5, ge=2, le=50)
    expand_colloquial: bool = True
    # Weight of each training source (law articles are many and weakly labelled).
    weight_law: float = Field(1.0, ge=0.0)
    weight_sample: float = Field(3.0, ge=0.0)
    weight_case: float = Field(2.0, ge=0.0)
    weight_seed: float = Field(2.0, ge=0.0)
    weight_editor: float = Field(4.0, ge=0.0)
    max_negative_law_articles: int = Field(20_000, ge=0)
    random_state: int = 0
    n_jobs: int = Field(2, ge=-1)  # -1: every core
    # Articles are read together with their law's centroid (0 = each article alone).
    context_weight: float = Field(2.0, ge=0.0)


# --------------------------------------------------------------------------- what it reads


def model_text(item: Item) -> str:
    """The text the classifier reads for an item: a law article also names its place in the
    law (编/章/节), which often says more about its subject than the article itself."""
    if item.type == "law_article" and item.path:
        return f"{item.title} {' '.join(item.path)}\n{item.body}"
    return item.text


def model_context(item: Item) -> str | None:
    """Items read together (see :func:`mix_context`): the articles of one law version."""
    return item.parent_id if item.type == "law_article" else None


# --------------------------------------------------------------------------- the model


def identity_analyzer(tokens: list[str]) -> list[str]:
    """The vectorizers' analyzer: the texts come as tokens already."""
    return tokens


def _with_pairs(tokens: list[str], n: int) -> list[str]:
    if n < 2:
        return tokens
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


class TopicClassifier(BaseEstimator):
    """Multi-label topic classifier with calibrated scores and keyword explanations.

    ``fit(texts, Y)`` with ``Y`` an (n, n_topics) 0/1 matrix; constructor parameters are
    stored as given (scikit-learn convention); learned state ends in ``_``.
    """

    def __init__(
        self,
        topic_ids: Sequence[str] = (),
        tokenizer: LegalTokenizer | None = None,
        expander: QueryExpander | None = None,
        config: ClassifierConfig | None = None,
    ) -> None:
        self.topic_ids = topic_ids
        self.tokenizer = tokenizer
        self.expander = expander
        self.config = config

    # -- features ------------------------------------------------------------------------------
    def _cfg(self) -> ClassifierConfig:
        return self.config or ClassifierConfig()

    def _tok(self) -> LegalTokenizer:
        if self.tokenizer is None:
            self.tokenizer = LegalTokenizer()
        return self.tokenizer

    def analyse(self, text: str, tokens: list[str] | None = None) -> list[str]:
        """Tokens (and token pairs) the model reads, after colloquial expansion.

        ``tokens`` may carry the text's tokens when the caller already has them.
        """
        if tokens is None:
            tokens = self._tok().tokenize(text)
        if self.expander is not None and self._cfg().expand_colloquial:
            extra = self.expander.extra(text)
            if extra:
                tokens = tokens + self._tok().tokenize(extra)
        return _with_pairs(tokens, self._cfg().ngram_max)

    def _features(
        self, texts: Sequence[str], tokens: Sequence[list[str]] | None = None,
        contexts: Sequence[str | None] | None = None,
    ) -> sp.csr_matrix:
        if tokens is None:
            X = self.vectorizer_.transform([self.analyse(t) for t in texts])
        else:
            X = self.vectorizer_.transform([self.analyse(t, k) for t, k in zip(texts, tokens, strict=True)])
        return mix_context(X, contexts, self._cfg().context_weight)

    # -- fit / predict ---------------------------------------------------------------------------
    def fit(
        self,
        texts: Sequence[str],
        Y: np.ndarray,
        sample_weight: Sequence[float] | None = None,
        *,
        oof_scores: np.ndarray | None = None,
        tokens: Sequence[list[str]] | None = None,
        contexts: Sequence[str | None] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> TopicClassifier:
        """Fit one model per topic; calibrate with ``oof_scores`` (out-of-fold decision values)
        when given, else with the in-sample decision values (optimistic)."""
        cfg = self._cfg()
        Y = np.asarray(Y)
        if Y.shape != (len(texts), len(self.topic_ids)):
            raise ValueError(f"Y must be ({len(texts)}, {len(self.topic_ids)}), got {Y.shape}")
        analysed = ([self.analyse(t) for t in texts] if tokens is None
                    else [self.analyse(t, k) for t, k in zip(texts, tokens, strict=True)])
        self.vectorizer_ = TfidfVectorizer(
            analyzer=identity_analyzer, lowercase=False, sublinear_tf=True, min_df=cfg.min_df,
            max_features=cfg.max_features, dtype=np.float32,
        )
        X = mix_context(self.vectorizer_.fit_transform(analysed), contexts, cfg.context_weight)
        w = np.asarray(sample_weight if sample_weight is not None else np.ones(len(texts)), dtype=np.float64)
        self.coef_, self.intercept_ = fit_linear_models(X, Y, w, cfg, self.topic_ids, progress)
        self._coef_t: np.ndarray | None = None
        decision = oof_scores if oof_scores is not None else self._decision(X)
        # Rows without an out-of-fold score (NaN: seed examples) do not calibrate.
        keep = ~np.isnan(decision).any(axis=1)
        self.calibration_ = fit_platt(decision[keep], Y[keep])
        self.thresholds_ = best_thresholds(sigmoid(decision[keep], self.calibration_), Y[keep])
        self.terms_ = np.asarray(self.vectorizer_.get_feature_names_out(), dtype=object)
        return self

    def _decision(self, X: sp.csr_matrix) -> np.ndarray:
        # A contiguous (terms x topics) copy: multiplying by coef_.T directly makes scipy copy
        # the whole coefficient matrix on every call (~10 ms for one short question).
        coef_t = getattr(self, "_coef_t", None)
        if coef_t is None or coef_t.shape != self.coef_.T.shape:
            coef_t = self._coef_t = np.ascontiguousarray(self.coef_.T)
        return np.asarray(X @ coef_t) + self.intercept_

    def decision_function(
        self, texts: Sequence[str], tokens: Sequence[list[str]] | None = None,
        contexts: Sequence[str | None] | None = None,
    ) -> np.ndarray:
        return self._decision(self._features(texts, tokens, contexts))

    def predict_proba(
        self, texts: Sequence[str], tokens: Sequence[list[str]] | None = None,
        contexts: Sequence[str | None] | None = None,
    ) -> np.ndarray:
        """Calibrated probability of each topic, shape (n, n_topics).

        ``contexts`` groups texts that belong together (the articles of one law): each text
        is then read together with the centroid of its group (see :func:`mix_context`).
        """
        return sigmoid(self.decision_function(texts, tokens, contexts), self.calibration_)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return (self.predict_proba(texts) >= self.thresholds_).astype(np.int8)

    def predict_topics(self, text: str, *, min_score: float = 0.2, limit: int = 5) -> list[tuple[str, float]]:
        p = self.predict_proba([text])[0]
        order = np.argsort(-p)
        return [(self.topic_ids[j], float(p[j])) for j in order[:limit] if p[j] >= min_score]

    def explain(self, text: str, topic_ids: Sequence[str] | None = None, n: int = 8) -> list[str]:
        """The terms that drove the decision: largest positive contributions to the topics."""
        x = self._features([text])
        if x.nnz == 0:
            return []
        if topic_ids is None:
            topic_ids = [t for t, _ in self.predict_topics(text, limit=3)]
        cols = [self.topic_ids.index(t) for t in topic_ids if t in self.topic_ids]
        if not cols:
            return []
        contrib: dict[str, float] = {}
        for j in cols:
            vals = x.data * self.coef_[j, x.indices]
            for term_idx, v in zip(x.indices, vals, strict=True):
                if v > 0:
                    term = str(self.terms_[term_idx])
                    contrib[term] = max(contrib.get(term, 0.0), float(v))
        ranked = sorted(contrib.items(), key=lambda kv: -kv[1])
        out: list[str] = []
        for term, _ in ranked:
            # A pair "a b" reads as "ab"; skip it when both halves are already listed.
            shown = term.replace(" ", "")
            if shown not in out:
                out.append(shown)
            if len(out) >= n:
                break
        return out

    # -- persistence -----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        nz = sp.csr_matrix(self.coef_)
        sp.save_npz(d / "coef.npz", nz, compressed=False)
        np.save(d / "intercept.npy", self.intercept_)
        np.save(d / "calibration.npy", self.calibration_)
        np.save(d / "thresholds.npy", self.thresholds_)
        np.save(d / "idf.npy", self.vectorizer_.idf_.astype(np.float32))
        (d / "terms.json").write_text(json.dumps(list(map(str, self.terms_)), ensure_ascii=False), encoding="utf-8")
        meta = {"format": FORMAT_VERSION, "topic_ids": list(self.topic_ids), "config": self._cfg().to_dict()}
        (d / "classifier.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(
        cls, directory: str | Path, *, tokenizer: LegalTokenizer | None = None,
        expander: QueryExpander | None = None,
    ) -> TopicClassifier:
        d = Path(directory)
        meta = json.loads((d / "classifier.json").read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{d}: classifier format {meta.get('format')} is not {FORMAT_VERSION}")
        clf = cls(meta["topic_ids"], tokenizer, expander, ClassifierConfig.from_stored(meta["config"], str(d)))
        terms = json.loads((d / "terms.json").read_text(encoding="utf-8"))
        vec = TfidfVectorizer(analyzer=identity_analyzer, lowercase=False, sublinear_tf=True, dtype=np.float32)
        vec.vocabulary_ = {t: i for i, t in enumerate(terms)}
        idf = np.load(d / "idf.npy")
        vec.idf_ = idf
        clf.vectorizer_ = vec
        clf.terms_ = np.asarray(terms, dtype=object)
        clf.coef_ = sp.load_npz(d / "coef.npz").toarray().astype(np.float32)
        clf.intercept_ = np.load(d / "intercept.npy")
        clf.calibration_ = np.load(d / "calibration.npy")
        clf.thresholds_ = np.load(d / "thresholds.npy")
        return clf


def _fit_one(X: sp.csr_matrix, y: np.ndarray, w: np.ndarray, cfg: ClassifierConfig) -> tuple[np.ndarray, float]:
    model = LogisticRegression(C=cfg.C, class_weight=cfg.class_weight, max_iter=cfg.max_iter, solver="liblinear")
    model.fit(X, y, sample_weight=w)
    return model.coef_[0].astype(np.float32), float(model.intercept_[0])


def fit_linear_models(
    X: sp.csr_matrix, Y: np.ndarray, w: np.ndarray, cfg: ClassifierConfig, topic_ids: Sequence[str],
    progress: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One logistic regression per topic (in parallel over ``cfg.n_jobs`` processes)."""
    from joblib import Parallel, delayed

    coef = np.zeros((Y.shape[1], X.shape[1]), dtype=np.float32)
    intercept = np.full(Y.shape[1], -10.0, dtype=np.float32)
    todo = [j for j in range(Y.shape[1]) if Y[:, j].min() != Y[:, j].max()]
    # A topic with no positive (or no negative) example never fires.
    results = Parallel(n_jobs=cfg.n_jobs, prefer="processes", max_nbytes=None)(
        delayed(_fit_one)(X, Y[:, j], w, cfg) for j in todo
    )
    for j, (c, b) in zip(todo, results, strict=True):
        coef[j], intercept[j] = c, b
    if progress:
        progress(f"{len(todo)} topics")
    return coef, intercept


def _top_terms_per_row(M: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest entries of each row (a centroid's characteristic terms)."""
    indptr, indices, data = [0], [], []
    for r in range(M.shape[0]):
        lo, hi = M.indptr[r], M.indptr[r + 1]
        vals = M.data[lo:hi]
        cols = M.indices[lo:hi]
        if len(vals) > k:
            top = np.argpartition(-vals, k - 1)[:k]
            vals, cols = vals[top], cols[top]
        indices.append(cols)
        data.append(vals)
        indptr.append(indptr[-1] + len(vals))
    return sp.csr_matrix((np.concatenate(data) if data else np.zeros(0, np.float32),
                          np.concatenate(indices) if indices else np.zeros(0, np.int32), indptr), shape=M.shape)


def mix_context(
    X: sp.csr_matrix, contexts: Sequence[str | None] | None, weight: float, top_terms: int = 48
) -> sp.csr_matrix:
    """Read each row with its group's centroid: ``normalise(x + weight * centroid(group))``,
    the centroid cut to its ``top_terms`` heaviest terms (which keeps rows sparse).

    An article alone often says little ("本法自公布之日起施行"); the law it belongs to says
    what it is about. Rows whose context is None are left as they are, so a question or a
    case is read on its own.
    """
    if contexts is None or weight <= 0 or X.shape[0] == 0:
        return X
    keys = {c: k for k, c in enumerate(dict.fromkeys(c for c in contexts if c is not None))}
    if not keys:
        return X
    rows = [i for i, c in enumerate(contexts) if c is not None]
    cols = [keys[contexts[i]] for i in rows]  # type: ignore[index]
    G = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (cols, rows)), shape=(len(keys), X.shape[0]))
    means = _top_terms_per_row((G @ X).tocsr(), top_terms)
    norms = np.sqrt(np.asarray(means.multiply(means).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    means = sp.diags(1.0 / norms).dot(means).tocsr()
    pick = sp.csr_matrix((np.full(len(rows), weight, dtype=np.float32), (rows, cols)),
                         shape=(X.shape[0], len(keys)))
    Y = (X + pick @ means).tocsr()
    n2 = np.sqrt(np.asarray(Y.multiply(Y).sum(axis=1)).ravel())
    n2[n2 == 0] = 1.0
    return sp.diags(1.0 / n2).dot(Y).tocsr().astype(np.float32)

# --------------------------------------------------------------------------- calibration


def sigmoid(decision: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Calibrated probabilities: sigmoid(a * d + b) with each topic's (a, b) of :func:`fit_platt`."""
    z = decision * ab[:, 0] + ab[:, 1]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def fit_platt(decision: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Per topic (a, b) so that sigmoid(a*d + b) estimates P(topic | d)."""
    ab = np.zeros((Y.shape[1], 2), dtype=np.float64)
    for j in range(Y.shape[1]):
        y = Y[:, j]
        if y.min() == y.max():
            ab[j] = (1.0, -10.0)
            continue
        lr = LogisticRegression(C=1e4, solver="lbfgs", max_iter=500)
        lr.fit(decision[:, j:j + 1], y)
        ab[j] = (lr.coef_[0, 0], lr.intercept_[0])
    return ab


def best_thresholds(prob: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The probability cut that maximises each topic's F1 on the calibration data (>= 0.2)."""
    out = np.full(Y.shape[1], 0.5)
    grid = np.arange(0.2, 0.91, 0.05)
    for j in range(Y.shape[1]):
        y = Y[:, j].astype(bool)
        if not y.any():
            continue
        best, best_f1 = 0.5, -1.0
        for th in grid:
            pred = prob[:, j] >= th
            tp = float((pred & y).sum())
            f1 = 2 * tp / (pred.sum() + y.sum()) if (pred.sum() + y.sum()) else 0.0
            if f1 > best_f1 + 1e-9:
                best, best_f1 = float(th), f1
        out[j] = best
    return out

