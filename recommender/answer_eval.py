"""``pufa evaluate --questions stard``: how well real questions get the right articles.

Questions labelled with the articles that answer them (``stard_dev.jsonl``: real layperson
questions, articles judged by a legal team) are asked as ``{"query": q, "k": 10}`` (and
``k: 100`` for recall@100) of:

- ``answer path``: the whole engine (``Engine.recommend``), whose ranker is cross-validated:
  the questions are split into folds once (KFold, fixed seed); each fold is answered by a
  ranker trained on the other folds, which also remember only those folds' questions;
- ``ranker``: the ranker's own order (no list composition: no explainers, no law runs);
- ``bm25``, ``bm25_lexicon``, ``dense``, ``tfidf``: each first stage alone, over every current
  article;
- ``fusion``: the first stages fused by reciprocal rank (what a build without labels serves);
- ``bm25 baseline``: plain BM25 (k1 1.5, b 0.75) over the article bodies cut by jieba's
  default dictionary — the issue's reference;
- ``previous engine``: the engine with the answer path switched off (the feed's blend).

Each figure is the mean over questions with a 95 % bootstrap interval; recall counts every
labelled article (a label naming a repealed text cannot be found and counts as missed).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender.answer_labels import (
    FAMILIES,
    LabelledQuestion,
    family_of,
    load_article_labels,
    ranking_metrics,
    summarize,
)
from recommender.answer_model import SOURCES
from recommender.answer_training import fit_answer_model, prepare_training
from recommender.bm25 import BM25Index
from recommender.config import PipelineConfig
from recommender.engine import Engine
from recommender.inputs import RecommendRequest
from recommender.model import Model
from recommender.sources import MemoryEvents

__all__ = ["AnswerEvalReport", "evaluate_answers", "format_answer_report", "run_answer_cli", "stored_folds"]

METRICS = ("recall@10", "recall@100", "ndcg@10", "mrr@10")
DATE = dt.date(2026, 8, 20)


@dataclass
class AnswerEvalReport:
    systems: dict[str, dict[str, dict[str, float]]]  # system -> metric -> {mean, low, high}
    families: dict[str, dict[str, dict[str, float]]]  # system -> family -> {recall@10, recall@100, n}
    meta: dict[str, Any] = field(default_factory=dict)
    # metric -> question id -> value, for the answer path (what recommender.compare pairs)
    units: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"systems": self.systems, "families": self.families, "meta": self.meta}


def _family_recall(ranked: Sequence[Sequence[str]], questions: Sequence[LabelledQuestion],
                   model: Model) -> dict[str, dict[str, float]]:
    cat = model.catalog
    hit10 = dict.fromkeys(FAMILIES, 0)
    hit100 = dict.fromkeys(FAMILIES, 0)
    total = dict.fromkeys(FAMILIES, 0)
    for ids, q in zip(ranked, questions, strict=True):
        top10, top100 = set(ids[:10]), set(ids[:100])
        for g in q.gold:
            meta = cat.meta(g)
            fam = family_of(meta.law_title if meta else None, meta.legal_level if meta else None)
            total[fam] += 1
            hit10[fam] += g in top10
            hit100[fam] += g in top100
    return {f: {"recall@10": round(hit10[f] / total[f], 4) if total[f] else float("nan"),
                "recall@100": round(hit100[f] / total[f], 4) if total[f] else float("nan"), "n": total[f]}
            for f in FAMILIES}


def _plain_bm25(model: Model, texts: Sequence[str] | None) -> tuple[BM25Index, np.ndarray, Callable[[str], list[str]]]:
    """BM25 with jieba's default dictionary over the current articles' bodies."""
    import jieba

    cat = model.catalog
    rows = np.flatnonzero(cat.is_article & cat.recommendable)
    seg = jieba.Tokenizer()
    seg.initialize()

    def cut(text: str) -> list[str]:
        return [w for w in seg.lcut(text) if w.strip()]

    bodies = [texts[int(r)] if texts is not None else cat.metas[r].snippet for r in rows]
    return BM25Index(k1=1.5, b=0.75).fit([cut(t) for t in bodies]), rows, cut


def evaluate_answers(
    model: Model, questions: Sequence[LabelledQuestion], *, config: PipelineConfig | None = None,
    folds: int = 5, seed: int = 0, item_bodies: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None, folds_of: Mapping[str, int] | None = None,
    baselines: bool = True,
) -> AnswerEvalReport:
    """Every system on the labelled questions (see the module's docstring). ``folds_of``
    (question id -> fold, e.g. :func:`stored_folds`) fixes the cross-validation folds; a
    question it does not name is dealt by its position. ``baselines=False``: the answer path
    and the ranker only (what a comparison of two versions needs)."""
    t0 = time.perf_counter()
    say = progress or (lambda s: None)
    cfg = config if config is not None else model.config
    if model.bm25 is None:
        raise ValueError(f"model {model.version} has no BM25 index (built before the answer path): rebuild it")
    engine = Engine(model, MemoryEvents(), cfg)
    answerer = model.answerer
    assert answerer is not None
    cat = model.catalog
    qs = [q for q in questions]
    answer_cfg = model.answer.config if model.answer is not None else None
    say("first stages for every question")
    ts = prepare_training(answerer, qs, lambda text: engine.query_view(engine.read_text(text)), cat.recommendable)
    tq = ts.questions  # questions with at least one label among the current articles
    n = len(tq)
    ranked: dict[str, list[list[str]]] = {}
    ids = [m.id for m in cat.metas]

    # First stages alone, and their fusion.
    allowed = cat.recommendable & answerer.static.answerable
    for name in SOURCES if baselines else ():
        lists = []
        for v in ts.views:
            s = np.where(allowed, answerer.source_scores(v)[name], -np.inf)
            top = np.argpartition(-s, 99)[:100]
            lists.append([ids[r] for r in top[np.argsort(-s[top], kind="stable")]])
        ranked[name] = lists
    if baselines:
        plain = answerer.with_model(None)
        ranked["fusion"] = [[ids[r] for r in plain.rank(v, ts.allowed)[0][:100]] for v in ts.views]
        say("plain BM25 baseline (jieba's default dictionary)")
        bm, rows, cut = _plain_bm25(model, item_bodies)
        lists = []
        for q in tq:
            s = bm.scores(list(dict.fromkeys(cut(q.text))))
            top = np.argsort(-s, kind="stable")[:100]
            lists.append([ids[rows[r]] for r in top])
        ranked["bm25 baseline"] = lists

    def ask(eng: Engine, text: str, k: int) -> list[str]:
        res = eng.recommend(RecommendRequest(query=text, k=k, date=DATE),
                            now=dt.datetime.combine(DATE, dt.time(12), tzinfo=dt.UTC))
        return [it["item_id"] for it in res.items]

    def both(eng: Engine, text: str) -> list[str]:
        top10 = ask(eng, text, 10)
        return top10 + [i for i in ask(eng, text, 100) if i not in set(top10)]

    if baselines:
        say("previous engine (answer path off)")
        off = PipelineConfig.from_dict(cfg.to_dict())
        off.answer.enabled = False
        eng_off = Engine(model, MemoryEvents(), off)
        ranked["previous engine"] = [both(eng_off, q.text) for q in tq]

    # The ranker and the whole answer path, cross-validated over questions.
    from sklearn.model_selection import KFold

    answer_lists: list[list[str]] = [[] for _ in range(n)]
    ranker_lists: list[list[str]] = [[] for _ in range(n)]
    if folds_of is not None:
        fold = np.array([folds_of.get(q.id, i) % folds for i, q in enumerate(tq)])
        splits = [(np.flatnonzero(fold != f).tolist(), np.flatnonzero(fold == f).tolist()) for f in range(folds)]
    else:
        splits = list(KFold(folds, shuffle=True, random_state=seed).split(np.arange(n)))
    for f, (train, test) in enumerate(splits):
        say(f"answer path, fold {f + 1}/{folds}")
        fold_model = fit_answer_model(answerer, ts.subset(train), answer_cfg, evaluate=False)
        fold_answerer = answerer.with_model(fold_model)
        for i in test:
            r, _ = fold_answerer.rank(ts.views[i], ts.allowed)
            ranker_lists[i] = [ids[x] for x in r[:100]]
        fold_engine = Engine(dataclasses.replace(model, answer=fold_model), MemoryEvents(), cfg)
        for i in test:
            answer_lists[i] = both(fold_engine, tq[i].text)
    ranked["ranker"] = ranker_lists
    ranked["answer path"] = answer_lists

    order = [s for s in ("answer path", "ranker", "fusion", *SOURCES, "bm25 baseline", "previous engine")
             if s in ranked]
    systems = {}
    families = {}
    for name in order:
        per_q = ranking_metrics(ranked[name], tq)
        systems[name] = {k: summarize(per_q[k], seed=seed) for k in METRICS}
        families[name] = _family_recall(ranked[name], tq, model)
    meta = {"model_version": model.version, "questions": len(questions), "questions_with_labels": n,
            "labels": sum(q.n_labels for q in questions), "matched": sum(len(q.gold) for q in questions),
            "cv": (f"{folds} fixed folds of question ids (corpus/eval/splits.json)" if folds_of is not None else
                   f"{folds}-fold KFold over questions (shuffled, seed {seed})")
            + "; ranker and its memory trained on the other folds",
            "date": DATE.isoformat(), "seconds": round(time.perf_counter() - t0, 1)}
    per_q = ranking_metrics(ranked["answer path"], tq)
    units = {k: {q.id: float(v) for q, v in zip(tq, per_q[k], strict=True)} for k in METRICS}
    return AnswerEvalReport(systems, families, meta, units)


def stored_folds(label_file: Path, splits: Path | None = None) -> dict[str, int] | None:
    """question id -> fold from ``corpus/eval/splits.json`` when the label file is the one the
    folds were made for (``stard_dev.jsonl``); None otherwise."""
    from recommender.evaluate import SPLITS

    path = splits or SPLITS
    if label_file.name != "stard_dev.jsonl" or not path.exists():
        return None
    folds = json.loads(path.read_text(encoding="utf-8")).get("stard", {}).get("folds") or []
    return {qid: f for f, ids in enumerate(folds) for qid in ids} or None


def format_answer_report(rep: AnswerEvalReport) -> str:
    m = rep.meta
    lines = [f"model {m['model_version']}: {m['questions']} labelled questions ({m['questions_with_labels']} with a "
             f"current article; {m['matched']} of {m['labels']} labels matched); {m['cv']}; {m['seconds']} s", ""]
    head = f"{'system':<16}" + "".join(f"{k:>22}" for k in METRICS)
    lines += [head, "-" * len(head)]
    for name, row in rep.systems.items():
        cells = "".join(f"{row[k]['mean']:>8.3f} [{row[k]['low']:.3f},{row[k]['high']:.3f}]" for k in METRICS)
        lines.append(f"{name:<16}{cells}")
    lines += ["", "recall@10 / recall@100 by law family (labelled articles):"]
    fam_head = f"{'system':<16}" + "".join(f"{f:>24}" for f in FAMILIES)
    lines += [fam_head]
    for name, fams in rep.families.items():
        lines.append(f"{name:<16}" + "".join(
            f"{fams[f]['recall@10']:>10.3f} / {fams[f]['recall@100']:.3f} ({fams[f]['n']:>3})" for f in FAMILIES))
    return "\n".join(lines)


def run_answer_cli(args: Any, model: Model, label_file: Path, item_bodies: Sequence[str] | None) -> int:
    """``pufa evaluate --questions stard|FILE``."""
    from recommender.cli.configs import read_config_file

    cfg = read_config_file(args.config) if getattr(args, "config", None) else None  # None: the version's own
    questions, stats = load_article_labels(label_file, model.catalog)
    say = (lambda s: print(f"... {s}", file=sys.stderr)) if sys.stderr.isatty() else None
    rep = evaluate_answers(model, questions, config=cfg, seed=args.seed, item_bodies=item_bodies, progress=say,
                           folds_of=stored_folds(label_file))
    rep.meta["label_file"] = str(label_file)
    rep.meta["label_stats"] = stats
    if args.json:
        print(json.dumps(_no_nan(rep.to_dict()), ensure_ascii=False))
    else:
        print(format_answer_report(rep))
    return 0


def _no_nan(obj: Any) -> Any:
    """NaN (a family with no labelled article) as null: JSON has no NaN."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_no_nan(v) for v in obj]
    return obj
