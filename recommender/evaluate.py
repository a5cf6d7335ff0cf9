"""Offline evaluation: the engine against baselines, with intervals, on a fixed split.

(a) Real questions (``corpus/eval/real_questions_dev.jsonl``: ids and topic/law labels of
    questions people asked a legal-advice site; the texts are read from ``../shared``). They
    are split once into ``dev`` (tune on it) and ``test`` (report it), stored as ids in
    ``corpus/eval/splits.json`` (``scripts/make_splits.py``); ``pufa evaluate`` reports
    ``test`` unless told otherwise. Each question becomes one ``question`` event of a new
    person; we report topic precision@5 and, where the label names a law, law-level hit@10,
    each a mean over questions with a 95 % bootstrap interval. Baselines that read the
    question: plain BM25 (jieba without the legal dictionary or the colloquial lexicon) and
    dense similarity only; and the group prior of ``public`` (the askers' groups are unknown).
(b) Simulated people — SYNTHETIC, a sanity check and not a result: each person belongs to one
    or two groups (drawn by a fixed mix) and has individual interests (the group blend plus
    Dirichlet noise plus one or two favourite topics); they read items drawn with probability
    growing with the match between their interests and the item's topics (the engine's own
    tags, which favours the engine), two thirds from the explanatory content and a third from
    law articles. Leave-last-out: the last ``holdout`` reads are hidden, the rest are events;
    precision, recall and NDCG at 10, MAP, catalogue coverage, intra-list diversity and novelty,
    over several seeds (populations), pooled with intervals over people and shown by seed.
    Baselines: popularity, the group prior of the person's real groups, dense similarity to
    what they read, BM25 on the titles they read.
(c) By group: each group's anonymous top 10 on an ordinary day and on 12·4 against the laws
    judged for the group by hand (:mod:`recommender.feed_eval`, independent of the engine's
    tags), with Wilson intervals; the campaign items in the 12·4 top 10; and the figures of
    the group's simulated people.
(d) Campaign check (sanity, on the engine's tags): on 2026-12-04 a ``public`` list carries
    constitution content.

:mod:`recommender.compare` runs this for two versions and pairs their figures.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender.baselines import Baselines
from recommender.config import PipelineConfig
from recommender.engine import Engine
from recommender.feed_eval import ORDINARY_DAY, ItemReader
from recommender.inputs import RecommendRequest
from recommender.intervals import bootstrap_mean, wilson
from recommender.measures import ap_at_k, law_hit, ndcg_at_k, topic_precision
from recommender.model import Model
from recommender.simulation import (
    Population,
    Units,
    evaluate_population,
    simulate_population,
)
from recommender.sources import MemoryEvents

__all__ = [
    "EvalReport",
    "Population",
    "ap_at_k",
    "evaluate_all",
    "format_report",
    "law_hit",
    "load_labelled_questions",
    "load_split",
    "ndcg_at_k",
    "simulate_population",
    "topic_precision",
]

REPO = Path(__file__).resolve().parents[1]
DEFAULT_QUESTIONS = REPO / "corpus" / "eval" / "real_questions_dev.jsonl"
SPLITS = REPO / "corpus" / "eval" / "splits.json"
CONSTITUTION_DAY = dt.date(2026, 12, 4)


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


@dataclass
class EvalReport:
    """``questions``/``simulated``: system -> measure -> mean (floats, as the build report and
    the workbench read them); ``intervals``: section -> system -> measure -> 95 % interval;
    ``groups``: group -> measure -> interval (judged@10 of its anonymous list on an ordinary day
    and on 12·4, Wilson; its simulated people's figures, bootstrap); ``seeds``: the simulated
    figures of each population alone; ``units``: the per-unit values behind every engine
    figure (what :mod:`recommender.compare` pairs across versions; not serialised)."""

    questions: dict[str, dict[str, float]]
    simulated: dict[str, dict[str, float]]
    groups: dict[str, dict[str, dict[str, Any]]]
    campaign: dict[str, Any]
    meta: dict[str, Any]
    intervals: dict[str, dict[str, dict[str, dict[str, Any]]]] = field(default_factory=dict)
    seeds: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    units: dict[str, Units] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"questions": self.questions, "simulated": self.simulated, "groups": self.groups,
                "campaign": self.campaign, "intervals": self.intervals, "seeds": self.seeds, "meta": self.meta}


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


def evaluate_questions(engine: Engine, systems: Baselines | None, questions: Sequence[dict[str, Any]],
                       now: dt.datetime) -> dict[str, dict[str, Units]]:
    """system -> measure -> question id -> value. Each question is the only event (a
    ``question``) of a new person. Baselines (when ``systems``): BM25 and dense similarity on
    the question, and the group prior of ``public`` (the askers' groups are not known)."""
    names = ("engine", "bm25", "dense", "group_prior") if systems is not None else ("engine",)
    out: dict[str, dict[str, Units]] = {s: {"topic_p@5": {}, "law_hit@10": {}} for s in names}
    cat = engine.model.catalog
    for n, q in enumerate(questions):
        labels, laws = set(q["topics"]), set(q.get("laws") or [])
        events = MemoryEvents()
        uid = f"q{n}"
        events.add_event(uid, {"type": "question", "text": q["text"], "ts": now,
                               "topics": engine.event_topics(q["text"])})
        eng = Engine(engine.model, events, engine.config)
        eng._text_cache = engine._text_cache
        ranked = {"engine": [i["item_id"] for i in eng.recommend(RecommendRequest(user_id=uid, k=10), now=now).items]}
        if systems is not None:
            ranked.update({"bm25": systems.bm25_text(q["text"], 10), "dense": systems.content_text(q["text"], 10),
                           "group_prior": systems.group_prior(["public"], 10)})
        qid = str(q.get("id", n))
        for s, ids in ranked.items():
            out[s]["topic_p@5"][qid] = topic_precision(ids, labels, lambda i: _item_topics(cat, i))
            if laws:
                out[s]["law_hit@10"][qid] = law_hit(ids, laws, lambda i: _item_laws(engine, i))
    return out


def group_feeds(engine: Engine, days: Sequence[dt.date] = (ORDINARY_DAY, CONSTITUTION_DAY),
                read_items: ItemReader | None = None) -> dict[str, dict[str, Any]]:
    """Each group's anonymous top 10 on each day against the laws judged for it by hand
    (:mod:`recommender.feed_eval`, independent of the engine's tags): judged@10 with Wilson's
    interval, and on a campaign day the campaign items in the top 10. ``read_items`` (the
    store's bodies) lets an explainer that quotes a judged law count; without it titles and
    snippets stand in."""
    from recommender.feed_eval import evaluate_feeds

    rep = evaluate_feeds(engine, days=days, read_items=read_items)
    out: dict[str, dict[str, Any]] = {}
    for d in rep.days:
        for row in d.rows:
            g = out.setdefault(row.group, {})
            g[f"judged@10 {d.day.isoformat()}"] = wilson(row.judged10_n, min(row.n, 10)).to_dict()
            if not d.ordinary:
                g[f"campaign@10 {d.day.isoformat()}"] = row.campaign10
            g[f"run@30 {d.day.isoformat()}"] = row.run30
    return out


def campaign_check(engine: Engine) -> dict[str, Any]:
    """A sanity check: on 12·4 a ``public`` top 10 carries 1 to 3 items of the constitution
    campaign (slotted as such or with its reason), on an ordinary day none."""
    from recommender.feed_eval import campaign_items

    def count(day: dt.date) -> tuple[int, list[str]]:
        res = engine.recommend(RecommendRequest(groups=["public"], k=10, date=day),
                               now=dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC))
        reasons = {c.reason for c in engine.campaigns_on(day, ["public"], None) if c.reason}
        return max(campaign_items(res.items[:10], reasons)), sorted({r for i in res.items for r in i["reasons"]})

    on, reasons_on = count(CONSTITUTION_DAY)
    off, _ = count(ORDINARY_DAY)
    return {"date": CONSTITUTION_DAY.isoformat(), "campaign_items_in_top10": on, "ordinary_day": ORDINARY_DAY.isoformat(),
            "ordinary_day_campaign_items": off, "reasons": reasons_on, "passed": 1 <= on <= 3 and off == 0}


def load_split(name: str = "real_questions", part: str = "test", path: Path = SPLITS) -> set[str] | None:
    """The ids of one part (``dev``, ``test``) of the fixed split (``corpus/eval/splits.json``);
    None for ``all``."""
    if part == "all":
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if part not in data[name]:
        raise ValueError(f"split '{name}' has no part '{part}' (it has {', '.join(data[name])})")
    return set(data[name][part])


def _summaries(units: dict[str, dict[str, Units]], seed: int) -> tuple[dict[str, dict[str, float]],
                                                                      dict[str, dict[str, dict[str, Any]]]]:
    means: dict[str, dict[str, float]] = {}
    cis: dict[str, dict[str, dict[str, Any]]] = {}
    for system, by_metric in units.items():
        means[system], cis[system] = {}, {}
        for metric, values in by_metric.items():
            iv = bootstrap_mean(list(values.values()), seed=seed)
            means[system][metric] = iv.mean
            cis[system][metric] = iv.to_dict()
    return means, cis


def evaluate_all(
    model: Model, *, questions: Sequence[dict[str, Any]] | None, config: PipelineConfig | None = None,
    people: int = 300, seed: int = 0, seeds: int = 1, item_texts: Sequence[str] | None = None,
    baselines: bool = True, feeds: bool = True, read_items: ItemReader | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalReport:
    """The whole report. ``questions`` are the part of the split to report (see
    :func:`load_split`); ``seeds`` simulated populations (seeds ``seed .. seed + seeds - 1``)
    are pooled, each also reported alone. ``item_texts`` (row-aligned with the catalogue) feed
    the BM25 baseline; without them BM25 reads titles only. ``baselines=False`` measures the
    engine alone (what a comparison of two versions needs)."""
    t0 = time.perf_counter()
    now = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    engine = Engine(model, MemoryEvents(), config)  # None: the version's own pipeline config
    say = progress or (lambda s: None)
    units: dict[str, Units] = {}
    intervals: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    qres: dict[str, dict[str, float]] = {}
    pops = [simulate_population(model, people, seed=seed + j) for j in range(seeds)]
    systems: Baselines | None = None
    if baselines:
        systems = Baselines(engine, pops[0].popularity)
        systems.set_texts(item_texts if item_texts is not None else [m.title for m in model.catalog.metas])
    if questions:
        say(f"{len(questions)} real questions")
        per_q = evaluate_questions(engine, systems, questions, now)
        qres, intervals["questions"] = _summaries(per_q, seed)
        units.update({f"questions.{m}": v for m, v in per_q["engine"].items()})
    sim_units: dict[str, dict[str, Units]] = {}
    coverage: dict[str, list[float]] = {}
    seed_means: dict[str, dict[str, dict[str, float]]] = {}
    groups_of: dict[str, list[str]] = {}
    for j, pop in enumerate(pops):
        say(f"{people} simulated people, seed {seed + j}")
        if systems is not None:
            systems.set_popularity(pop.popularity)
        per_p, cov, g_of = evaluate_population(engine, systems, pop, now, seed=seed + j)
        groups_of.update(g_of)
        seed_means[str(seed + j)] = {s: {m: float(np.mean(list(v.values()))) if v else float("nan")
                                         for m, v in ms.items()} | {"coverage": cov[s]} for s, ms in per_p.items()}
        for s, ms in per_p.items():
            for m, v in ms.items():
                sim_units.setdefault(s, {}).setdefault(m, {}).update(v)
            coverage.setdefault(s, []).append(cov[s])
    sres, intervals["simulated"] = _summaries(sim_units, seed)
    for s in sres:
        sres[s]["coverage"] = float(np.mean(coverage[s]))
    units.update({f"simulated.{m}": v for m, v in sim_units["engine"].items()})
    groups: dict[str, dict[str, Any]] = {}
    if feeds:
        say("each group's feed against its judged laws")
        groups = group_feeds(engine, read_items=read_items)
        for day in (ORDINARY_DAY, CONSTITUTION_DAY):
            units[f"feeds.judged@10 {day.isoformat()}"] = {g: v[f"judged@10 {day.isoformat()}"]["mean"]
                                                           for g, v in groups.items()}
        units[f"feeds.campaign 1-3@10 {CONSTITUTION_DAY.isoformat()}"] = {
            g: float(1 <= v.get(f"campaign@10 {CONSTITUTION_DAY.isoformat()}", 0) <= 3) for g, v in groups.items()}
    for g in model.taxonomy.groups:
        keys = [k for k, gs in groups_of.items() if g in gs]
        if keys:
            for m in ("ndcg@10", "p@10"):
                groups.setdefault(g, {})[f"simulated {m}"] = bootstrap_mean(
                    [sim_units["engine"][m][k] for k in keys], seed=seed).to_dict()
    camp = campaign_check(engine)
    meta = {"items": len(model.catalog), "recommendable": int(model.catalog.recommendable.sum()),
            "model_version": model.version, "questions": len(questions or []), "people": people,
            "seeds": [seed + j for j in range(seeds)], "holdout": pops[0].holdout, "seed": seed,
            "seconds": round(time.perf_counter() - t0, 1)}
    return EvalReport(qres, sres, groups, camp, meta, intervals, seed_means, units)


def _ci(d: dict[str, Any] | None, nd: int = 3) -> str:
    if not d or d.get("mean") is None or (isinstance(d["mean"], float) and math.isnan(d["mean"])):
        return "-"
    return f"{d['mean']:.{nd}f} [{d['low']:.{nd}f}, {d['high']:.{nd}f}]"


def format_report(rep: EvalReport) -> str:
    lines = []
    m = rep.meta
    split = m.get("split", "all")
    lines.append(f"model {m['model_version']}: {m['items']} items ({m['recommendable']} recommendable); "
                 f"{m['questions']} labelled real questions (split: {split}); {m['people']} simulated people x "
                 f"{len(m.get('seeds', [m['seed']]))} seeds; {m['seconds']} s")
    lines += ["", f"(a) real questions, {split} part of corpus/eval/splits.json: mean [95 % bootstrap interval "
              "over questions]"]
    if rep.questions:
        head = f"{'system':<12}| {'topic P@5':>22} | {'law hit@10':>22}"
        lines += [head, "-" * len(head)]
        for s in rep.questions:
            iv = rep.intervals.get("questions", {}).get(s, {})
            lines.append(f"{s:<12}| {_ci(iv.get('topic_p@5')):>22} | {_ci(iv.get('law_hit@10')):>22}")
        lines.append("  (the askers' groups are unknown: group_prior ranks for 'public')")
    else:
        lines.append("  (no labelled questions: the shared folder is absent)")
    lines += ["", "(b) SANITY CHECK, NOT A RESULT: simulated people (synthetic; their reading is drawn from the "
              "engine's own topic weights, so the engine is favoured). Leave-last-out; mean [95 % interval over "
              "people, seeds pooled]"]
    head = f"{'system':<12}| {'NDCG@10':>22} | {'P@10':>22} | {'MAP':>6} {'cover':>6} {'ILD':>5} {'novel':>6}"
    lines += [head, "-" * len(head)]
    for s in rep.simulated:
        p = rep.simulated[s]
        iv = rep.intervals.get("simulated", {}).get(s, {})
        lines.append(f"{s:<12}| {_ci(iv.get('ndcg@10')):>22} | {_ci(iv.get('p@10')):>22} | {p['map']:>6.3f} "
                     f"{p['coverage']:>6.3f} {p.get('ild', float('nan')):>5.2f} {p.get('novelty', float('nan')):>6.2f}")
    if len(rep.seeds) > 1:
        lines.append("  engine NDCG@10 by seed: " + ", ".join(f"{k}: {v['engine']['ndcg@10']:.3f}"
                                                             for k, v in rep.seeds.items()))
    lines += ["", "(c) by group: judged@10 = share of the anonymous top 10 that is of the laws judged for the group "
              "(corpus/eval/group_laws.yaml; Wilson 95 %); simulated people of the group (sanity check)"]
    od, cd = ORDINARY_DAY.isoformat(), CONSTITUTION_DAY.isoformat()
    head = f"{'group':<18}| {'judged@10 ' + od:>24} | {'judged@10 ' + cd:>24} | {'camp@10':>7} | {'sim NDCG@10':>22}"
    lines += [head, "-" * len(head)]
    for g, v in rep.groups.items():
        lines.append(f"{g:<18}| {_ci(v.get('judged@10 ' + od), 2):>24} | {_ci(v.get('judged@10 ' + cd), 2):>24} | "
                     f"{v.get('campaign@10 ' + cd, '-'):>7} | {_ci(v.get('simulated ndcg@10')):>22}")
    c = rep.campaign
    lines += ["", f"(d) campaign check {c['date']}: {c['campaign_items_in_top10']} campaign items in the public "
              f"top 10 (goal 1-3; {c['ordinary_day']}: {c['ordinary_day_campaign_items']}, goal 0); reasons: "
              f"{', '.join(c['reasons'])}; {'PASS' if c['passed'] else 'FAIL'}"]
    return "\n".join(lines)

