"""TopicClassifier: multi-label topics of the taxonomy for any legal text, with reasons.

One linear model per topic (logistic regression on TF-IDF of words and word pairs), whose
decision values are calibrated into probabilities with a sigmoid (Platt) fitted on
out-of-fold scores, so a score of 0.7 means roughly "70 % of texts scored like this carry
the topic". Everyday words are first expanded with legal words from the colloquial lexicon
(老板不给工钱 -> 拖欠劳动报酬), so a person's question is read in the law's vocabulary.

Training labels are weak and come from several places (see :func:`training_set`): the
taxonomy's key-law -> topic mapping applied to those laws' articles, the authors' labels of
the bundled sample content, the guiding cases' official keywords matched against the topics'
seed keywords, the seed keywords themselves, and editor-confirmed tags where they exist.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from corpus.schema import Item
from corpus.taxonomy import Taxonomy
from recommender.jsonconfig import JsonConfig
from recommender.text import LegalTokenizer

__all__ = [
    "ClassifierConfig",
    "LabelledSet",
    "QueryExpander",
    "TopicClassifier",
    "evaluate_grouped_cv",
    "mix_context",
    "model_context",
    "model_text",
    "training_set",
]

FORMAT_VERSION = 1


@dataclass
class ClassifierConfig(JsonConfig):
    C: float = 4.0
    ngram_max: int = 2
    min_df: int = 2
    max_features: int = 300_000
    class_weight: str | None = "balanced"
    max_iter: int = 200
    cv_folds: int = 5
    expand_colloquial: bool = True
    # Weight of each training source (law articles are many and weakly labelled).
    weight_law: float = 1.0
    weight_sample: float = 3.0
    weight_case: float = 2.0
    weight_seed: float = 2.0
    weight_editor: float = 4.0
    max_negative_law_articles: int = 20_000
    random_state: int = 0
    n_jobs: int = 2
    # Articles are read together with their law's centroid (0 = each article alone).
    context_weight: float = 2.0



# --------------------------------------------------------------------------- expansion


class QueryExpander:
    """Adds the legal words of every colloquial phrase found in a text.

    Matching is by substring (people write without spaces and with typos, so a phrase such
    as 不给工钱 must match inside 老板一直不给工钱怎么办). All phrases go into one
    Aho-Corasick automaton, so a text is scanned once whatever the size of the lexicon.
    """

    def __init__(self, taxonomy: Taxonomy | None = None,
                 entries: Sequence[tuple[Sequence[str], Sequence[str], Sequence[str]]] | None = None) -> None:
        if entries is None:
            entries = [(e.colloquial, e.legal, e.topics) for e in (taxonomy.colloquial if taxonomy else [])]
        self.entries = [(tuple(c), tuple(lg), tuple(t)) for c, lg, t in entries]
        self._automaton: Any = None

    def _auto(self) -> Any:
        if self._automaton is None:
            import ahocorasick

            by_phrase: dict[str, list[int]] = {}
            for k, (coll, _, _) in enumerate(self.entries):
                for phrase in coll:
                    by_phrase.setdefault(phrase, []).append(k)
            auto = ahocorasick.Automaton()
            for phrase, ks in by_phrase.items():
                auto.add_word(phrase, (phrase, tuple(ks)))
            if by_phrase:
                auto.make_automaton()
            self._automaton = auto
        return self._automaton

    def __getstate__(self) -> dict[str, Any]:
        return {"entries": self.entries, "_automaton": None}

    def matches(self, text: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        """(phrase, legal words, topics) for each lexicon entry whose phrase occurs in text."""
        auto = self._auto()
        if not self.entries or auto.kind != 2:  # 2 == ahocorasick.AHOCORASICK (built)
            return []
        found: dict[int, str] = {}
        for _, (phrase, ks) in auto.iter(text):
            for k in ks:
                found.setdefault(k, phrase)
        return [(found[k], self.entries[k][1], self.entries[k][2]) for k in sorted(found)]

    def extra(self, text: str) -> str:
        """The legal words to add to ``text`` ("" when no phrase matches)."""
        return " ".join(dict.fromkeys(w for _, legal, _ in self.matches(text) for w in legal))

    def expand(self, text: str) -> str:
        extra = self.extra(text)
        return f"{text}\n{extra}" if extra else text

    def save(self, path: Path) -> None:
        rows = [{"colloquial": list(c), "legal": list(lg), "topics": list(t)} for c, lg, t in self.entries]
        path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> QueryExpander:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return cls(entries=[(r["colloquial"], r["legal"], r["topics"]) for r in rows])


# --------------------------------------------------------------------------- training data


@dataclass
class LabelledSet:
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


def model_text(item: Item) -> str:
    """The text the classifier reads for an item: a law article also names its place in the
    law (编/章/节), which often says more about its subject than the article itself."""
    if item.type == "law_article" and item.path:
        return f"{item.title} {' '.join(item.path)}\n{item.body}"
    return item.text


def model_context(item: Item) -> str | None:
    """Items read together (see :func:`mix_context`): the articles of one law version."""
    return item.parent_id if item.type == "law_article" else None


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


# --------------------------------------------------------------------------- the model


def _identity(tokens: list[str]) -> list[str]:
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
            analyzer=_identity, lowercase=False, sublinear_tf=True, min_df=cfg.min_df,
            max_features=cfg.max_features, dtype=np.float32,
        )
        X = mix_context(self.vectorizer_.fit_transform(analysed), contexts, cfg.context_weight)
        w = np.asarray(sample_weight if sample_weight is not None else np.ones(len(texts)), dtype=np.float64)
        self.coef_, self.intercept_ = fit_linear_models(X, Y, w, cfg, self.topic_ids, progress)
        self._coef_t = None
        decision = oof_scores if oof_scores is not None else self._decision(X)
        # Rows without an out-of-fold score (NaN: seed examples) do not calibrate.
        keep = ~np.isnan(decision).any(axis=1)
        self.calibration_ = _fit_platt(decision[keep], Y[keep])
        self.thresholds_ = _best_thresholds(_sigmoid(decision[keep], self.calibration_), Y[keep])
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
        return _sigmoid(self.decision_function(texts, tokens, contexts), self.calibration_)

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
        clf = cls(meta["topic_ids"], tokenizer, expander, ClassifierConfig.from_dict(meta["config"]))
        terms = json.loads((d / "terms.json").read_text(encoding="utf-8"))
        vec = TfidfVectorizer(analyzer=_identity, lowercase=False, sublinear_tf=True, dtype=np.float32)
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


def _tfidf_rows(counts: sp.csr_matrix, rows: np.ndarray, idf: np.ndarray, keep: np.ndarray) -> sp.csr_matrix:
    """Sublinear TF-IDF of some rows of a count matrix, restricted to kept columns, L2-normed."""
    X = counts[rows][:, keep].astype(np.float32)
    X.data = 1.0 + np.log(X.data)
    X = X.multiply(idf[keep]).tocsr()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.diags(1.0 / norms).dot(X).tocsr().astype(np.float32)


# --------------------------------------------------------------------------- calibration


def _sigmoid(decision: np.ndarray, ab: np.ndarray) -> np.ndarray:
    z = decision * ab[:, 0] + ab[:, 1]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


def _fit_platt(decision: np.ndarray, Y: np.ndarray) -> np.ndarray:
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


def _best_thresholds(prob: np.ndarray, Y: np.ndarray) -> np.ndarray:
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
    counts = CountVectorizer(analyzer=_identity, lowercase=False, dtype=np.float32).fit_transform(
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
        ab = _fit_platt(oof[other], Y[other].astype(np.int8))
        th = _best_thresholds(_sigmoid(oof[other], ab), Y[other].astype(np.int8))
        pred[mine] = _sigmoid(oof[mine], ab) >= th
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


def safe_float(x: float) -> float | None:
    return None if (x is None or (isinstance(x, float) and math.isnan(x))) else float(x)
