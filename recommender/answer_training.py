"""Training the answer ranker: the labelled questions read once in a model version's spaces
(:class:`TrainingSet`), then LightGBM LambdaMART fitted on them, with cross-validation over
folds of questions for its figures (:func:`fit_answer_model`).

The first stages run for each question each time a ranker is fitted or tested (~4 ms): what a
question's candidates are depends on the labelled questions the ranker remembers (the articles
they bring, the query adapter fitted on them), so a question is prepared the way it would be
served by the model being trained, and a test question by the fold's model alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommender.answer import Answerer, QueryView
from recommender.answer_labels import LabelledQuestion, ranking_metrics, summarize
from recommender.answer_model import FEATURE_NAMES, AnswerConfig, AnswerModel, MemoryRows, QuestionMemory

__all__ = ["Progress", "TrainingSet", "fit_answer_model", "prepare_training"]

Progress = Callable[[str, float], None]


@dataclass
class TrainingSet:
    """Labelled questions read in one model version's spaces, ready for training."""

    questions: list[LabelledQuestion]
    views: list[QueryView]
    allowed: np.ndarray  # the rows that may answer (current, answerable articles)
    memory: QuestionMemory

    def subset(self, idx: Sequence[int]) -> TrainingSet:
        idx = list(idx)
        return TrainingSet([self.questions[i] for i in idx], [self.views[i] for i in idx], self.allowed,
                           self.memory.subset(idx))


def prepare_training(answerer: Answerer, questions: Sequence[LabelledQuestion],
                     view: Callable[[str], QueryView], allowed: np.ndarray,
                     progress: Progress | None = None) -> TrainingSet:
    """Read every labelled question once (its tokens, sentence vector, topics)."""
    qs = [q for q in questions if q.gold]
    views = []
    for i, q in enumerate(qs):
        views.append(view(q.text))
        if progress and i % 50 == 0:
            progress("reading labelled questions", i / max(len(qs), 1) * 0.2)
    allowed = allowed & answerer.static.answerable[: allowed.size]
    dense = np.vstack([v.dense for v in views]) if views else np.zeros((0, answerer.index.dense_.shape[1]), np.float32)
    sparse = sp.vstack([v.sparse for v in views], format="csr") if views else sp.csr_matrix((0, 1))
    memory = QuestionMemory([q.id for q in qs], dense.astype(np.float32), sparse, [list(q.gold) for q in qs])
    return TrainingSet(qs, views, allowed, memory)


def _fit_booster(answerer: Answerer, ts: TrainingSet, train: Sequence[int], config: AnswerConfig) -> tuple[Any, QuestionMemory]:
    import lightgbm as lgb

    memory = ts.memory.subset(train)
    mem = MemoryRows(memory, answerer.catalog, answerer.index.dense_, config.adapter_lambda)
    answerer = answerer.with_model(AnswerModel(config))  # first stages with the config being trained
    Xs, ys, groups = [], [], []
    for local, i in enumerate(train):
        nb = answerer.neighbours(ts.views[i], mem, exclude=local)
        p = answerer.prepare(ts.views[i], ts.allowed, nb.brought, nb.adapted)
        rows, X = answerer.features(ts.views[i], p, nb)
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
                rows, _ = fold.rank(ts.views[i], ts.allowed)
                ranked[i] = [answerer.catalog.metas[r].id for r in rows[:100]]
            if progress:
                progress(f"answer ranker cross-validation fold {f + 1}/{cfg.cv_folds}", 0.2 + 0.65 * (f + 1) / cfg.cv_folds)
        per_q = ranking_metrics([r or [] for r in ranked], ts.questions)
        report["cv"] = {"folds": cfg.cv_folds, "scheme": f"{cfg.cv_folds}-fold KFold over questions, seed {cfg.seed}",
                        **{k: summarize(v) for k, v in per_q.items()}}
        report["cv_seconds"] = round(time.perf_counter() - t0, 1)
    t = time.perf_counter()
    if progress:
        progress("answer ranker on every labelled question", 0.85 if evaluate else 0.2)
    booster, memory = _fit_booster(answerer, ts, list(range(n)), cfg)
    report["fit_seconds"] = round(time.perf_counter() - t, 1)
    if booster is not None:
        gains = booster.feature_importance("gain")
        report["feature_gain"] = {name: round(float(g), 1) for g, name in sorted(zip(gains, FEATURE_NAMES, strict=True),
                                                                                 reverse=True)}
    return AnswerModel(cfg, booster, memory, report)
