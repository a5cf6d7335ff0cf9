"""Recommend latency in-process at 10k and 100k items, next to an exact brute-force scan.

The items are the real ones of the active model (the full shared corpus after `pufa import`
and `pufa build`, else whatever the model holds); where a size exceeds them, the items are
replicated with a little noise on their dense vectors (documented scaling: the catalogue
grows, the vectors keep the real distribution). Queries are profile-like vectors (the mean of
5-10 random items a simulated person read) and real question vectors.

For each size we report, in one run:
- the exact brute-force scan (dense @ query, top 10) — p50/p99 ms;
- the dense retrieval the engine uses (``recommender.ann.IVFIndex``, a faiss ``IndexIVFFlat``
  over the same vectors, ``IVFIndex.search`` at ``--nprobe``) — p50/p99 ms, and its recall@10
  against the exact scan;
- the engine's whole recommend() (candidates, scoring, filters, MMR, reasons) — p50/p99 ms,
  for a cold group request, a person with history and a question (the short-lived cache of
  non-personal lists is off here, so every request is ranked; questions take the feed's path
  at these synthetic sizes).

Before the sizes, the answer path on the real catalogue: ``recommend({"query": q, "k": 10})``
for distinct real questions in ``--passes`` passes (every pass reported, and the median pass),
each request split into reading the question (tokens, lexicon, topics, the sentence vector) and
the rest (first stages, features, ranker, the list). Goal (issue #13): p50 <= 30 ms, p99 <= 80 ms.

    .venv/bin/python bench/recommend.py [--models ./models] [--db sqlite:///./pufa.db] [--queries 300] [--passes 3]

Goal (issue #3): the retrieval <= 1/4 of the exact scan's time with recall@10 >= 0.95.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recommender.ann import IVFIndex  # noqa: E402
from recommender.catalog import Catalog  # noqa: E402
from recommender.config import PipelineConfig  # noqa: E402
from recommender.engine import Engine  # noqa: E402
from recommender.inputs import RecommendRequest  # noqa: E402
from recommender.model import Model, load_active_model  # noqa: E402
from recommender.sources import MemoryEvents  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def scaled_model(model: Model, n: int, seed: int = 0) -> Model:
    """The model's items replicated (vectors jittered) or subsampled to exactly n items."""
    rng = np.random.default_rng(seed)
    idx, cat = model.index, model.catalog
    base = len(cat)
    if n <= base:
        rows = np.sort(rng.choice(base, n, replace=False))
    else:
        rows = np.concatenate([np.arange(base), rng.integers(0, base, n - base)])
    new = copy.copy(model)
    ix = copy.copy(idx)
    dense = idx.dense_[rows].copy()
    dup = np.arange(n) >= min(base, n) if n > base else np.zeros(n, dtype=bool)
    dense[dup] += rng.normal(0, 0.05, size=(int(dup.sum()), dense.shape[1])).astype(np.float32)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True).clip(1e-9)
    ix.dense_ = dense.astype(np.float32)
    ix.tfidf_ = sp.csr_matrix(idx.tfidf_[rows])
    ids = [f"{idx.ids_[r]}#{k}" if dup[k] else idx.ids_[r] for k, r in enumerate(rows)]
    ix.ids_ = ids
    ix.row_ = {i: k for k, i in enumerate(ids)}
    metas = []
    for k, r in enumerate(rows):
        m = copy.copy(cat.metas[r])
        m.id = ids[k]
        metas.append(m)
    new.index = ix
    new.catalog = Catalog(cat.topic_ids, metas, cat.topics[rows].copy())
    new.bm25 = None  # the answer path is measured on the real items (bench_answers)
    new._answerer = None
    t = time.perf_counter()
    new.ivf = IVFIndex().fit(ix.dense_)
    new.ivf_fit_s = time.perf_counter() - t  # type: ignore[attr-defined]
    return new


def profile_queries(model: Model, n: int, rng: np.random.Generator, questions: list[str]) -> list[np.ndarray]:
    D = model.index.dense_
    out = []
    for _ in range(n // 2):
        rows = rng.choice(D.shape[0], int(rng.integers(5, 11)), replace=False)
        v = D[rows].mean(axis=0)
        out.append(v / (np.linalg.norm(v) or 1))
    eng = Engine(model, MemoryEvents())
    for q in questions[: n - len(out)]:
        v = eng.read_text(q).dense
        if np.any(v):
            out.append(v)
    return out


def bench_size(model: Model, n: int, queries: int, questions: list[str], nprobe: int) -> dict:
    rng = np.random.default_rng(1)
    m = scaled_model(model, n)
    D = m.index.dense_
    qs = profile_queries(m, queries, rng, questions)
    exact_t, ivf_t, recalls = [], [], []
    for q in qs:
        t = time.perf_counter()
        s = D @ q
        top = np.argpartition(-s, 9)[:10]
        exact = set(top[np.argsort(-s[top])].tolist())
        exact_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        rows, _ = m.ivf.search(D, q, 10, nprobe)
        ivf_t.append(time.perf_counter() - t)
        recalls.append(len(exact & set(rows.tolist())) / 10)
    cfg = PipelineConfig()
    cfg.candidates.ivf_nprobe = nprobe
    events = MemoryEvents()
    eng = Engine(m, events, cfg)
    eng.result_cache_ttl = 0.0  # measure the ranking itself, not the cache of non-personal lists
    now = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
    ids = m.index.ids_
    for u in range(50):
        events.put_user(f"p{u}", groups=["herders"] if u % 2 else ["migrant_workers"])
        for j, r in enumerate(rng.choice(len(ids), 8, replace=False)):
            events.add_event(f"p{u}", {"type": "view", "item_id": ids[int(r)], "ts": now - dt.timedelta(hours=j + 1)})
        if u % 3 == 0 and questions:
            text = questions[u % len(questions)]
            events.add_event(f"p{u}", {"type": "question", "text": text, "ts": now - dt.timedelta(minutes=5),
                                       "topics": eng.event_topics(text)})
    kinds: dict[str, list[float]] = {"group": [], "person": [], "query": []}
    reqs = []
    for i in range(queries):
        kind = ("group", "person", "query")[i % 3]
        if kind == "group":
            reqs.append((kind, RecommendRequest(groups=[["public"], ["herders"], ["youth"]][i % 3], k=10)))
        elif kind == "person":
            reqs.append((kind, RecommendRequest(user_id=f"p{i % 50}", k=10)))
        else:
            reqs.append((kind, RecommendRequest(query=questions[i % len(questions)] if questions else "劳动合同", k=10)))
    for _, req in reqs[:10]:
        eng.recommend(req, now=now)  # warm caches (text reading, csc matrix)
    for kind, req in reqs:
        t = time.perf_counter()
        eng.recommend(req, now=now)
        kinds[kind].append(time.perf_counter() - t)
    all_rec = [x for v in kinds.values() for x in v]
    return {
        "items": n, "queries": len(qs), "nprobe": nprobe, "dim": int(D.shape[1]), "ivf_cells": m.ivf.nlist_,
        "ivf_fit_s": round(m.ivf_fit_s, 1),
        "exact_scan_ms": {"p50": round(pct(exact_t, 50), 3), "p99": round(pct(exact_t, 99), 3)},
        "ivf_ms": {"p50": round(pct(ivf_t, 50), 3), "p99": round(pct(ivf_t, 99), 3)},
        "ivf_over_exact_p50": round(statistics.median(ivf_t) / statistics.median(exact_t), 3),
        "recall@10": round(float(np.mean(recalls)), 4),
        "recommend_ms": {"p50": round(pct(all_rec, 50), 2), "p99": round(pct(all_rec, 99), 2),
                         **{f"{k}_p50": round(pct(v, 50), 2) for k, v in kinds.items()}},
    }


def bench_answers(model: Model, questions: list[str], n: int, passes: int = 3) -> dict:
    """The answer path on the real catalogue: ``recommend({"query": q, "k": 10})`` for n
    distinct real questions (no cache of lists or of questions), in ``passes`` passes; each
    request's time is split into reading the question (tokens, lexicon, topics, the sentence
    vector) and the rest (first stages, features, ranker, the list and its reasons), measured
    in the same loop. The sentence model's time drifts by several ms between runs minutes
    apart on this machine: every pass is reported, and the median pass."""
    if model.answerer is None:
        return {}
    eng = Engine(model, MemoryEvents())
    eng.result_cache_ttl = 0.0
    day = dt.date(2026, 8, 20)
    now = dt.datetime(2026, 8, 20, 12, tzinfo=dt.UTC)
    qs = questions[:n]
    for q in questions[n:n + 10]:
        eng.recommend(RecommendRequest(query=q, k=10, date=day), now=now)  # warm up (models, matrices)
    runs = []
    for _ in range(max(1, passes)):
        eng._text_cache.clear()
        total, read, rest = [], [], []
        for q in qs:
            t0 = time.perf_counter()
            eng.read_text(q)
            t1 = time.perf_counter()
            eng.recommend(RecommendRequest(query=q, k=10, date=day), now=now)  # reads the question from the cache
            t2 = time.perf_counter()
            total.append(t2 - t0)
            read.append(t1 - t0)
            rest.append(t2 - t1)
        runs.append({name: {"p50": round(pct(v, 50), 2), "p99": round(pct(v, 99), 2)}
                     for name, v in (("recommend_ms", total), ("read_question_ms", read), ("answer_rank_ms", rest))})
    mid = sorted(runs, key=lambda r: r["recommend_ms"]["p50"])[len(runs) // 2]
    return {"items": len(model.catalog), "questions": len(qs), "passes": runs,
            "trained_ranker": bool(model.answer is not None and model.answer.booster is not None),
            "dense": model.index.encoder_.name, **mid}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=str(REPO / "models"))
    ap.add_argument("--db", default=None, help="database URL, to use its active model")
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--passes", type=int, default=3, help="passes over the questions for the answer path")
    ap.add_argument("--nprobe", type=int, default=PipelineConfig().candidates.ivf_nprobe)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    model = load_active_model(args.models, db_url=args.db)
    qpath = Path(args.shared) / "queries" / "real_questions.jsonl"
    questions = []
    if qpath.exists():
        with qpath.open(encoding="utf-8") as fh:
            questions = [json.loads(line)["text"] for line in fh][:400]
    answers = bench_answers(model, questions, args.queries, args.passes)
    results = [bench_size(model, int(n), args.queries, questions, args.nprobe)
               for n in args.sizes.split(",") if n]
    if args.json:
        print(json.dumps({"model": model.version, "base_items": len(model.catalog), "answers": answers,
                          "results": results}))
        return 0
    if answers:
        a = answers
        print(f"answers on the real catalogue ({a['items']} items, dense {a['dense']}, "
              f"{'trained ranker' if a['trained_ranker'] else 'rank fusion'}), {a['questions']} real questions:")
        print(f"  recommend(query, k=10)  p50 {a['recommend_ms']['p50']:7.2f} ms   p99 {a['recommend_ms']['p99']:7.2f} ms")
        print(f"    reading the question  p50 {a['read_question_ms']['p50']:7.2f} ms   "
              f"p99 {a['read_question_ms']['p99']:7.2f} ms (tokens, lexicon, topics, sentence vector)")
        print(f"    ranking and the list  p50 {a['answer_rank_ms']['p50']:7.2f} ms   "
              f"p99 {a['answer_rank_ms']['p99']:7.2f} ms (first stages, features, ranker, reasons)")
        print("    passes (p50/p99 ms):  " + ", ".join(
            f"{r['recommend_ms']['p50']:.1f}/{r['recommend_ms']['p99']:.1f}" for r in a["passes"]) + " (median pass above)")
    print(f"model {model.version} ({len(model.catalog)} real items); {args.queries} queries per size; medians of "
          f"single runs on this machine")
    for r in results:
        print(f"\n{r['items']} items (IVF {r['ivf_cells']} cells, nprobe {r['nprobe']}, fitted in {r['ivf_fit_s']} s)")
        print(f"  exact {r['dim']:>3}-d scan     p50 {r['exact_scan_ms']['p50']:7.3f} ms   p99 {r['exact_scan_ms']['p99']:7.3f} ms")
        print(f"  IVF retrieval        p50 {r['ivf_ms']['p50']:7.3f} ms   p99 {r['ivf_ms']['p99']:7.3f} ms   "
              f"= {r['ivf_over_exact_p50']:.3f} x exact, recall@10 {r['recall@10']:.3f}")
        rm = r["recommend_ms"]
        print(f"  recommend() overall  p50 {rm['p50']:7.2f} ms   p99 {rm['p99']:7.2f} ms   "
              f"(group {rm['group_p50']}, person {rm['person_p50']}, query {rm['query_p50']} ms p50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
