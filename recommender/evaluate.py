"""Offline evaluation: the engine against baselines, in one table.

(a) Real questions (``corpus/eval/real_questions_dev.jsonl``: ids and topic/law labels of
    questions people asked a legal-advice site; the texts are read from ``../shared``): each
    question becomes one ``question`` event of a new person; we report topic precision@5 of
    the recommendations and, where the label names a law, law-level hit@10.
(b) Simulated people — SYNTHETIC, documented here: each person belongs to one or two groups
    (drawn by a fixed mix) and has individual interests (the group blend plus Dirichlet noise
    plus one or two favourite topics); they read items drawn with probability growing with
    the match between their interests and the item's topics, two thirds from the explanatory
    content (explainers, Q&A, cases ...) and a third from law articles. Leave-last-out: the
    last ``holdout`` reads are hidden, the rest are events; we report precision, recall and
    NDCG at 10, MAP, catalogue coverage, intra-list diversity and novelty.
(c) Group conformance: for each group with no history, the share of its top-10 that is on
    one of the group's plan topics (taxonomy weights >= 0.5): an item is on a topic when its
    serving weight for it is >= 0.5 (or it is the item's only topic).
(d) Campaign check: on 2026-12-04 a ``public`` list carries constitution content.

Baselines: popularity (most read by the simulated population), group prior only (topic
match to the group blend), content only (dense similarity to the question or to what the
person read), and plain BM25 on the question (jieba without the legal dictionary or the
colloquial lexicon; for simulated people, on the titles they read); see :mod:`recommender.baselines`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender.baselines import Baselines
from recommender.config import PipelineConfig
from recommender.engine import Engine
from recommender.inputs import RecommendRequest
from recommender.model import Model
from recommender.sources import MemoryEvents
from recommender.vocab import DEFAULT_DB_URL

__all__ = [
    "EvalReport",
    "Population",
    "ap_at_k",
    "evaluate_all",
    "format_report",
    "load_labelled_questions",
    "ndcg_at_k",
    "simulate_population",
]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_QUESTIONS = REPO / "corpus" / "eval" / "real_questions_dev.jsonl"
SYSTEMS = ("engine", "popularity", "group_prior", "content", "bm25")
EXPLANATORY = ("explainer", "qa", "case", "quiz", "news", "video", "interpretation")


# --------------------------------------------------------------------------- data


def load_labelled_questions(labels: Path, shared: Path) -> list[dict[str, Any]]:
    """Join the labels (kept in the repo) with the question texts (read from ../shared)."""
    texts_path = shared / "queries" / "real_questions.jsonl"
    if not texts_path.exists():
        raise FileNotFoundError(f"{texts_path} is absent (the shared folder beside the checkout)")
    texts = {}
    with texts_path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            texts[row["id"]] = row["text"]
    out = []
    with labels.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if row["id"] in texts and row.get("topics"):
                    out.append({**row, "text": texts[row["id"]]})
    return out


# --------------------------------------------------------------------------- population


@dataclass
class Person:
    id: str
    groups: list[str]
    interest: np.ndarray
    reads: list[str] = field(default_factory=list)


@dataclass
class Population:
    people: list[Person]
    popularity: Counter  # item id -> reads in the training part
    holdout: int

    def train_reads(self, p: Person) -> list[str]:
        return p.reads[: -self.holdout]

    def test_reads(self, p: Person) -> list[str]:
        return p.reads[-self.holdout:]


GROUP_MIX = {"public": 0.2, "herders": 0.15, "migrant_workers": 0.1, "youth": 0.1, "officials": 0.06,
             "party_members": 0.05, "village_cadres": 0.05, "enterprises": 0.05, "women": 0.05, "elderly": 0.05,
             "teachers": 0.03, "law_enforcement": 0.03, "disabled": 0.03, "media": 0.02, "border_residents": 0.03}


def simulate_population(model: Model, n: int = 300, *, reads: tuple[int, int] = (8, 16), holdout: int = 3,
                        seed: int = 0) -> Population:
    """A synthetic population (see the module docstring); deterministic for a seed."""
    rng = np.random.default_rng(seed)
    cat = model.catalog
    from recommender.profiles import GroupPriors

    priors = GroupPriors(model.taxonomy, cat.topic_ids)
    ok = cat.recommendable & ~cat.adults_only
    types = np.array([m.type for m in cat.metas])
    pools = {"explanatory": np.flatnonzero(ok & np.isin(types, EXPLANATORY)),
             "law": np.flatnonzero(ok & (types == "law_article"))}
    groups = [g for g in GROUP_MIX if g in model.taxonomy.groups]
    mix = np.array([GROUP_MIX[g] for g in groups], dtype=float)
    mix /= mix.sum()
    people: list[Person] = []
    pop: Counter = Counter()
    n_topics = len(cat.topic_ids)
    for i in range(n):
        gs = list(rng.choice(groups, size=1 + int(rng.random() < 0.3), replace=False, p=mix))
        base = priors.blend(gs).astype(float)
        noise = rng.dirichlet(np.full(n_topics, 0.3))
        fav = np.zeros(n_topics)
        fav[rng.choice(n_topics, size=1 + int(rng.random() < 0.5), replace=False)] = 1.0
        interest = 0.5 * base / (base.max() or 1) + 0.3 * noise / noise.max() + 0.5 * fav
        interest /= np.linalg.norm(interest)
        person = Person(f"sim{i:04d}", [str(g) for g in gs], interest.astype(np.float32))
        m = int(rng.integers(reads[0], reads[1] + 1)) + holdout
        for pool_name, share in (("explanatory", 2 / 3), ("law", 1 / 3)):
            rows = pools[pool_name]
            if rows.size == 0:
                continue
            k = max(1, round(m * share)) if pools["law"].size else m
            sims = cat.topics_unit[rows] @ person.interest
            p = np.exp(8.0 * sims)
            p /= p.sum()
            picked = rng.choice(rows, size=min(k, rows.size), replace=False, p=p)
            person.reads += [cat.metas[int(r)].id for r in picked]
        order = rng.permutation(len(person.reads))
        person.reads = [person.reads[j] for j in order]
        people.append(person)
    for p in people:
        pop.update(p.reads[:-holdout])
    return Population(people, pop, holdout)


# --------------------------------------------------------------------------- metrics


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """nDCG@k with binary gains: sum of 1 / log2(rank + 1) over the relevant items in the top k,
    over the same for the ideal list (every relevant item first, at most k)."""
    dcg = sum(1 / math.log2(i + 2) for i, r in enumerate(ranked[:k]) if r in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def ap_at_k(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """Average precision at k: the precision at the rank of each relevant item in the top k,
    summed, over min(number relevant, k)."""
    hits, total = 0, 0.0
    for i, r in enumerate(ranked[:k]):
        if r in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / min(len(relevant), k) if relevant else 0.0


@dataclass
class EvalReport:
    questions: dict[str, dict[str, float]]
    simulated: dict[str, dict[str, float]]
    conformance: dict[str, float]
    campaign: dict[str, Any]
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"questions": self.questions, "simulated": self.simulated, "conformance": self.conformance,
                "campaign": self.campaign, "meta": self.meta}



def _item_topics(cat: Any, item_id: str, min_weight: float = 0.5) -> set[str]:
    r = cat.row_of.get(item_id)
    if r is None:
        return set()
    row = cat.topics[r]
    out = {cat.topic_ids[j] for j in np.flatnonzero(row >= min_weight)}
    if not out and row.max() > 0:
        out = {cat.topic_ids[int(row.argmax())]}
    return out


def _item_laws(engine: Engine, item_id: str) -> set[str]:
    meta = engine.model.catalog.meta(item_id)
    return {meta.law_title} if meta and meta.law_title else set()


def evaluate_questions(engine: Engine, systems: Baselines, questions: Sequence[dict[str, Any]],
                       now: dt.datetime) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, list[float]]] = {s: {"topic_p@5": [], "law_hit@10": []} for s in SYSTEMS}
    cat = engine.model.catalog
    for n, q in enumerate(questions):
        labels, laws = set(q["topics"]), set(q.get("laws") or [])
        events = MemoryEvents()
        uid = f"q{n}"
        events.add_event(uid, {"type": "question", "text": q["text"], "ts": now,
                               "topics": engine.event_topics(q["text"])})
        eng = Engine(engine.model, events, engine.config)
        eng._text_cache = engine._text_cache
        ranked = {
            "engine": [i["item_id"] for i in eng.recommend(RecommendRequest(user_id=uid, k=10), now=now).items],
            "popularity": systems.popularity(10),
            "group_prior": systems.group_prior(["public"], 10),
            "content": systems.content_text(q["text"], 10),
            "bm25": systems.bm25_text(q["text"], 10),
        }
        for s, ids in ranked.items():
            top5 = ids[:5]
            out[s]["topic_p@5"].append(sum(1 for i in top5 if _item_topics(cat, i) & labels) / 5)
            if laws:
                out[s]["law_hit@10"].append(float(any(_item_laws(engine, i) & laws for i in ids[:10])))
    return {s: {k: float(np.mean(v)) if v else float("nan") for k, v in m.items()} for s, m in out.items()}


def evaluate_population(engine: Engine, systems: Baselines, pop: Population,
                        now: dt.datetime) -> dict[str, dict[str, float]]:
    idx = engine.model.index
    n_items = int(engine.model.catalog.recommendable.sum())
    total_reads = sum(pop.popularity.values()) or 1
    metrics: dict[str, dict[str, list[float]]] = {s: {"p@10": [], "r@10": [], "ndcg@10": [], "map": [],
                                                       "ild": [], "novelty": []} for s in SYSTEMS}
    shown: dict[str, set[str]] = {s: set() for s in SYSTEMS}
    events = MemoryEvents()
    base = now - dt.timedelta(days=30)
    for p in pop.people:
        events.put_user(p.id, groups=p.groups)
        for j, item_id in enumerate(pop.train_reads(p)):
            events.add_event(p.id, {"type": "view", "item_id": item_id, "ts": base + dt.timedelta(hours=j)})
    eng = Engine(engine.model, events, engine.config)
    eng.co_reading.refresh(events, force=True)
    for p in pop.people:
        train, test = pop.train_reads(p), set(pop.test_reads(p))
        seen = set(train)
        metas = [engine.model.catalog.meta(i) for i in train]
        titles = " ".join(m.title for m in metas if m is not None)
        ranked = {
            "engine": [i["item_id"] for i in eng.recommend(RecommendRequest(user_id=p.id, k=10), now=now).items],
            "popularity": systems.popularity(10, seen),
            "group_prior": systems.group_prior(p.groups, 10, seen),
            "content": systems.content_history(train, 10),
            "bm25": systems.bm25_text(titles, 10, seen),
        }
        for s, ids in ranked.items():
            hits = sum(1 for i in ids[:10] if i in test)
            m = metrics[s]
            m["p@10"].append(hits / 10)
            m["r@10"].append(hits / len(test))
            m["ndcg@10"].append(ndcg_at_k(ids, test))
            m["map"].append(ap_at_k(ids, test))
            rows = [engine.model.catalog.row_of[i] for i in ids if i in engine.model.catalog.row_of]
            if len(rows) > 1:
                D = idx.dense_[rows]
                sims = D @ D.T
                k = len(rows)
                m["ild"].append(float(1 - (sims.sum() - np.trace(sims)) / (k * (k - 1))))
            m["novelty"].append(float(np.mean([-math.log2((pop.popularity.get(i, 0) + 1) / (total_reads + n_items))
                                               for i in ids])) if ids else 0.0)
            shown[s].update(ids)
    out = {}
    for s, m in metrics.items():
        out[s] = {k: float(np.mean(v)) if v else float("nan") for k, v in m.items()}
        out[s]["coverage"] = len(shown[s]) / max(n_items, 1)
    return out


def group_conformance(engine: Engine, day: dt.date) -> dict[str, float]:
    tax = engine.model.taxonomy
    cat = engine.model.catalog
    out = {}
    for g in tax.groups.values():
        plan = {t for t, w in g.topics.items() if w >= 0.5}
        res = engine.recommend(RecommendRequest(groups=[g.id], k=10, date=day))
        ids = [i["item_id"] for i in res.items]
        good = sum(1 for i in ids if _item_topics(cat, i) & plan)
        out[g.id] = good / max(len(ids), 1)
    return out


def campaign_check(engine: Engine) -> dict[str, Any]:
    cat = engine.model.catalog
    col = cat.topic_index["constitution"]

    def count(day: dt.date) -> tuple[int, list[str]]:
        res = engine.recommend(RecommendRequest(groups=["public"], k=10, date=day))
        ids = [i["item_id"] for i in res.items]
        n = sum(1 for i in ids if cat.topics[cat.row_of[i], col] >= 0.5)
        reasons = sorted({r for i in res.items for r in i["reasons"]})
        return n, reasons

    on, reasons_on = count(dt.date(2026, 12, 4))
    off, _ = count(dt.date(2026, 8, 12))
    return {"date": "2026-12-04", "constitution_in_top10": on, "ordinary_day_2026-08-12": off,
            "reasons": reasons_on, "passed": on >= 1 and on > off}


def evaluate_all(
    model: Model, *, questions: Sequence[dict[str, Any]] | None, config: PipelineConfig | None = None,
    people: int = 300, seed: int = 0, item_texts: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalReport:
    """The whole report. ``item_texts`` (row-aligned with the catalogue) feed the BM25
    baseline; without them BM25 reads titles only."""
    t0 = time.perf_counter()
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    engine = Engine(model, MemoryEvents(), config)  # None: the version's own pipeline config
    say = progress or (lambda s: None)
    say("simulating people")
    pop = simulate_population(model, people, seed=seed)
    systems = Baselines(engine, pop.popularity)
    systems.set_texts(item_texts if item_texts is not None else [m.title for m in model.catalog.metas])
    qres: dict[str, dict[str, float]] = {}
    if questions:
        say(f"{len(questions)} real questions")
        qres = evaluate_questions(engine, systems, questions, now)
    say(f"{people} simulated people")
    sres = evaluate_population(engine, systems, pop, now)
    say("group conformance")
    conf = group_conformance(engine, dt.date(2026, 8, 12))
    camp = campaign_check(engine)
    meta = {"items": len(model.catalog), "recommendable": int(model.catalog.recommendable.sum()),
            "model_version": model.version, "questions": len(questions or []), "people": people,
            "holdout": pop.holdout, "seed": seed, "seconds": round(time.perf_counter() - t0, 1)}
    return EvalReport(qres, sres, conf, camp, meta)


def format_report(rep: EvalReport) -> str:
    lines = []
    m = rep.meta
    lines.append(f"model {m['model_version']}: {m['items']} items ({m['recommendable']} recommendable); "
                 f"{m['questions']} labelled real questions; {m['people']} simulated people "
                 f"(synthetic, leave-last-{m['holdout']}-out, seed {m['seed']}); {m['seconds']} s")
    head = (f"{'system':<12}| {'topicP@5':>8} {'lawHit@10':>9} | {'P@10':>6} {'R@10':>6} {'NDCG@10':>7} "
            f"{'MAP':>6} {'cover':>6} {'ILD':>5} {'novel':>6}")
    lines += ["", "        (a) real questions  |  (b) simulated people", head, "-" * len(head)]
    for s in SYSTEMS:
        q = rep.questions.get(s, {})
        p = rep.simulated.get(s, {})

        def f(d: dict[str, float], k: str, w: int, nd: int = 3) -> str:
            v = d.get(k)
            return f"{v:>{w}.{nd}f}" if v is not None and not math.isnan(v) else f"{'-':>{w}}"

        lines.append(f"{s:<12}| {f(q, 'topic_p@5', 8)} {f(q, 'law_hit@10', 9)} | {f(p, 'p@10', 6)} "
                     f"{f(p, 'r@10', 6)} {f(p, 'ndcg@10', 7)} {f(p, 'map', 6)} {f(p, 'coverage', 6)} "
                     f"{f(p, 'ild', 5, 2)} {f(p, 'novelty', 6, 2)}")
    lines += ["", "(c) group conformance (share of a cold-start top-10 on the group's plan topics, on an ordinary day):"]
    worst = min(rep.conformance.values()) if rep.conformance else float("nan")
    lines.append("  " + ", ".join(f"{g} {v:.2f}" for g, v in rep.conformance.items()))
    lines.append(f"  minimum {worst:.2f} (goal >= 0.70)")
    c = rep.campaign
    lines += ["", f"(d) campaign check {c['date']}: {c['constitution_in_top10']} constitution items in the public "
              f"top-10 (ordinary day: {c['ordinary_day_2026-08-12']}); reasons: {', '.join(c['reasons'])}; "
              f"{'PASS' if c['passed'] else 'FAIL'}"]
    return "\n".join(lines)


def run_cli(args: Any, model: Model) -> int:
    """``pufa evaluate``; ``--questions stard`` (or any file of questions labelled with
    articles) evaluates the answer path instead (:mod:`recommender.answer_eval`)."""
    import sys

    from recommender.cli.configs import read_config_file

    shared = Path(args.shared) if args.shared else REPO.parent / "shared"
    if args.questions and (args.questions == "stard" or _labels_articles(Path(args.questions))):
        from recommender.answer_eval import run_answer_cli

        label_file = shared / "queries" / "stard_dev.jsonl" if args.questions == "stard" else Path(args.questions)
        if not label_file.exists():
            print(f"pufa: {label_file}: no such file (the shared folder beside the checkout, or --shared)",
                  file=sys.stderr)
            return 2
        return run_answer_cli(args, model, label_file, _item_texts(args, model, body_only=True))
    labels = Path(args.questions) if args.questions else DEFAULT_QUESTIONS
    questions = None
    try:
        questions = load_labelled_questions(labels, shared)
    except FileNotFoundError as exc:
        print(f"pufa: note: {exc}; skipping (a)", file=sys.stderr)
    cfg = read_config_file(args.config) if args.config else None  # None: the version's own
    texts = _item_texts(args, model)
    rep = evaluate_all(model, questions=questions, config=cfg, people=args.people, seed=args.seed, item_texts=texts,
                       progress=(lambda s: print(f"... {s}", file=sys.stderr)) if sys.stderr.isatty() else None)
    if args.json:
        print(json.dumps(rep.to_dict(), ensure_ascii=False))
    else:
        print(format_report(rep))
    return 0


def _labels_articles(path: Path) -> bool:
    """True when the file's questions are labelled with articles (STARD's format)."""
    try:
        with path.open(encoding="utf-8") as fh:
            first = next((line for line in fh if line.strip()), "")
        return "articles" in json.loads(first)
    except (OSError, ValueError):
        return False


def _item_texts(args: Any, model: Model, body_only: bool = False) -> list[str] | None:
    """Item texts (for BM25) from the database, row-aligned with the catalogue."""
    import os

    from recommender.store import open_store

    url = args.db or os.environ.get("PUFA_DB") or DEFAULT_DB_URL
    try:
        store = open_store(url, migrate_schema=False)
        items = store.items.get_many([m.id for m in model.catalog.metas])
    except Exception:
        return None
    if body_only:
        return [items[m.id].body if m.id in items else m.title for m in model.catalog.metas]
    return [items[m.id].text if m.id in items else m.title for m in model.catalog.metas]
