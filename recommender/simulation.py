"""Simulated people for ``pufa evaluate`` — SYNTHETIC, a sanity check and not a result.

Each person belongs to one or two groups (drawn by a fixed mix) and has individual interests
(the group blend plus Dirichlet noise plus one or two favourite topics); they read items drawn
with probability growing with the match between their interests and the item's topics (the
engine's own tags, which favours the engine), two thirds from the explanatory content and a
third from law articles. Leave-last-out: the last ``holdout`` reads are hidden, the rest are
events; :func:`evaluate_population` measures each system on every person.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from recommender.baselines import Baselines
from recommender.engine import Engine
from recommender.inputs import RecommendRequest
from recommender.measures import ap_at_k, ndcg_at_k
from recommender.model import Model
from recommender.sources import MemoryEvents

__all__ = ["GROUP_MIX", "SYSTEMS", "Person", "Population", "Units", "evaluate_population", "simulate_population"]

SYSTEMS = ("engine", "popularity", "group_prior", "dense", "bm25")
EXPLANATORY = ("explainer", "qa", "case", "quiz", "news", "video", "interpretation")
Units = dict[str, float]  # unit (question id, person, group) -> value



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


def _fingerprint(p: Person) -> str:
    """A person's key across versions: the same seed and reads give the same key, so two
    versions' figures pair only when they were measured on the same simulated person."""
    return hashlib.blake2b("|".join(p.reads).encode(), digest_size=4).hexdigest()


def evaluate_population(engine: Engine, systems: Baselines | None, pop: Population, now: dt.datetime, *,
                        seed: int = 0) -> tuple[dict[str, dict[str, Units]], dict[str, float], dict[str, list[str]]]:
    """(system -> measure -> person key -> value, system -> catalogue coverage, person key ->
    groups). Leave-last-out on the simulated people (see the module docstring)."""
    idx = engine.model.index
    n_items = int(engine.model.catalog.recommendable.sum())
    total_reads = sum(pop.popularity.values()) or 1
    names = SYSTEMS if systems is not None else ("engine",)
    metrics: dict[str, dict[str, Units]] = {s: {"p@10": {}, "r@10": {}, "ndcg@10": {}, "map": {}, "ild": {},
                                               "novelty": {}} for s in names}
    shown: dict[str, set[str]] = {s: set() for s in names}
    groups_of: dict[str, list[str]] = {}
    events = MemoryEvents()
    base = now - dt.timedelta(days=30)
    for p in pop.people:
        events.put_user(p.id, groups=p.groups)
        for j, item_id in enumerate(pop.train_reads(p)):
            events.add_event(p.id, {"type": "view", "item_id": item_id, "ts": base + dt.timedelta(hours=j)})
    eng = Engine(engine.model, events, engine.config)
    eng.co_reading.refresh(events, force=True)
    for p in pop.people:
        key = f"{seed}:{p.id}:{_fingerprint(p)}"
        groups_of[key] = p.groups
        train, test = pop.train_reads(p), set(pop.test_reads(p))
        seen = set(train)
        ranked = {"engine": [i["item_id"] for i in eng.recommend(RecommendRequest(user_id=p.id, k=10), now=now).items]}
        if systems is not None:
            metas = [engine.model.catalog.meta(i) for i in train]
            titles = " ".join(m.title for m in metas if m is not None)
            ranked.update({"popularity": systems.popularity(10, seen), "group_prior": systems.group_prior(p.groups, 10, seen),
                           "dense": systems.content_history(train, 10), "bm25": systems.bm25_text(titles, 10, seen)})
        for s, ids in ranked.items():
            hits = sum(1 for i in ids[:10] if i in test)
            m = metrics[s]
            m["p@10"][key] = hits / 10
            m["r@10"][key] = hits / len(test)
            m["ndcg@10"][key] = ndcg_at_k(ids, test)
            m["map"][key] = ap_at_k(ids, test)
            rows = [engine.model.catalog.row_of[i] for i in ids if i in engine.model.catalog.row_of]
            if len(rows) > 1:
                D = idx.dense_[rows]
                sims = D @ D.T
                k = len(rows)
                m["ild"][key] = float(1 - (sims.sum() - np.trace(sims)) / (k * (k - 1)))
            m["novelty"][key] = float(np.mean([-math.log2((pop.popularity.get(i, 0) + 1) / (total_reads + n_items))
                                               for i in ids])) if ids else 0.0
            shown[s].update(ids)
    return metrics, {s: len(shown[s]) / max(n_items, 1) for s in names}, groups_of


