"""Wiring: a trained model version and the ranking pipeline, as one Engine.

``load_model(path)`` reads a version directory (tokenizer, index, classifier, catalog);
``Engine(model, events)`` answers recommendation requests for people and groups, reading
each person's events from an :class:`EventSource` (the database, or memory in offline
evaluation) at request time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from corpus.schema import Item
from corpus.taxonomy import Campaign, Taxonomy, load_taxonomy
from recommender.ann import IVFIndex
from recommender.answer import Answerer, AnswerModel, QueryView
from recommender.artifacts import ArtifactError, active_version, load_tokenizer, read_manifest
from recommender.bm25 import BM25Index
from recommender.catalog import Catalog, ItemMeta, serving_topics
from recommender.classify import QueryExpander, TopicClassifier, model_context, model_text
from recommender.config import PipelineConfig
from recommender.index import ItemIndex
from recommender.profiles import GroupPriors, ProfileBuilder, TextSignal, UserProfile
from recommender.rank import RankContext, Ranked, Ranker
from recommender.text import LegalTokenizer

__all__ = [
    "Engine",
    "EventSource",
    "MemoryEvents",
    "Model",
    "RecommendRequest",
    "RecommendResult",
    "load_active_model",
    "load_model",
]


@dataclass
class Model:
    version: str
    path: Path
    manifest: dict[str, Any]
    tokenizer: LegalTokenizer
    expander: QueryExpander
    index: ItemIndex
    classifier: TopicClassifier
    catalog: Catalog
    taxonomy: Taxonomy
    ivf: IVFIndex | None = None
    bm25: BM25Index | None = None  # None in versions built before the answer path
    answer: AnswerModel | None = None
    _answerer: Answerer | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def answerer(self) -> Answerer | None:
        """The answer path of this snapshot (built on first use; a changed catalogue is a new
        snapshot, so it never reads stale rows)."""
        if self.bm25 is None:
            return None
        if self._answerer is None:
            self._answerer = Answerer(self.catalog, self.index, self.bm25, self.answer, ivf=self.ivf)
        return self._answerer

    def classify(self, text: str, title: str | None = None, *, min_score: float = 0.2,
                 limit: int = 5) -> dict[str, Any]:
        """Topics with calibrated scores, and the keywords that drove them."""
        full = f"{title}\n{text}" if title else text
        topics = self.classifier.predict_topics(full, min_score=min_score, limit=limit)
        keywords = self.classifier.explain(full, [t for t, _ in topics[:3]]) if topics else []
        return {
            "topics": [{"id": t, "score": round(s, 4), "name": self.taxonomy.topic_name(t)} for t, s in topics],
            "keywords": keywords,
        }


def load_model(path: str | Path, *, taxonomy: Taxonomy | None = None) -> Model:
    d = Path(path)
    manifest = read_manifest(d)
    tokenizer = load_tokenizer(d)
    expander = QueryExpander.load(d / "lexicon.json")
    tax = taxonomy or load_taxonomy()
    missing = set(manifest["topic_ids"]) - set(tax.topic_ids)
    if missing:
        raise ArtifactError(f"{d}: model knows topics the taxonomy lacks: {sorted(missing)}")
    index = ItemIndex.load(d / "index")
    catalog = Catalog.load(d / "catalog")
    if index.ids_ != [m.id for m in catalog.metas]:
        raise ArtifactError(f"{d}: index and catalog rows do not match")
    bm25 = BM25Index.load(d / "bm25") if (d / "bm25" / "bm25.json").exists() else None
    answer = AnswerModel.load(d / "answer") if (d / "answer" / "answer.json").exists() else None
    return Model(
        version=manifest["version"], path=d, manifest=manifest, tokenizer=tokenizer, expander=expander,
        index=index, classifier=TopicClassifier.load(d / "classifier", tokenizer=tokenizer, expander=expander),
        catalog=catalog, taxonomy=tax, ivf=IVFIndex.load(d / "index"), bm25=bm25, answer=answer,
    )


def load_active_model(models_dir: str | Path, *, db_url: str | None = None) -> Model:
    """The active version: the database's choice when a URL is given, else ``ACTIVE``."""
    models = Path(models_dir)
    if db_url:
        from recommender.store import open_store

        row = open_store(db_url).active_model()
        if row:
            return load_model(row["path"])
    version = active_version(models)
    if version is None:
        raise ArtifactError(f"no active model version in {models}")
    return load_model(models / version)


# --------------------------------------------------------------------------- events

NOT_READ: Any = object()  # "the caller has not read the user record" (None means: no such user)


class EventSource(Protocol):
    """Where the engine reads people and their events (the Store implements it)."""

    def get_user(self, user_id: str) -> dict[str, Any] | None: ...

    def user_events(self, user_id: str, limit: int = 500) -> list[dict[str, Any]]: ...

    def co_reading(self, limit_events: int = 200_000) -> list[tuple[str, str, str]]: ...

    def user_groups(self, user_ids: Sequence[str]) -> dict[str, list[str]]: ...

    def list_campaigns(self) -> list[dict[str, Any]]: ...


class MemoryEvents:
    """An in-memory EventSource, for offline evaluation, notebooks and `pufa recommend --jsonl`."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.campaigns: list[dict[str, Any]] = []

    def put_user(self, user_id: str, **fields: Any) -> None:
        u = self.users.setdefault(user_id, {"id": user_id, "groups": [], "personalized": True, "minor": False,
                                            "region": None, "removed_tags": []})
        u.update({k: v for k, v in fields.items() if v is not None})

    def add_event(self, user_id: str, event: dict[str, Any]) -> None:
        self.put_user(user_id)
        self.events[user_id].append(event)

    def get_user(self, user_id: str) -> dict[str, Any] | None:
        return self.users.get(user_id)

    def user_events(self, user_id: str, limit: int = 500) -> list[dict[str, Any]]:
        evs = sorted(self.events.get(user_id, []), key=lambda e: e.get("ts") or dt.datetime.min.replace(tzinfo=dt.UTC))
        return evs[-limit:]

    def co_reading(self, limit_events: int = 200_000) -> list[tuple[str, str, str]]:
        out = []
        for uid, evs in self.events.items():
            for e in evs:
                if e.get("item_id") and e["type"] in ("view", "click", "like", "share", "complete"):
                    out.append((uid, e["item_id"], e["type"]))
        return out[-limit_events:]

    def user_groups(self, user_ids: Sequence[str]) -> dict[str, list[str]]:
        return {u: list(self.users[u].get("groups", [])) for u in user_ids if u in self.users}

    def list_campaigns(self) -> list[dict[str, Any]]:
        return list(self.campaigns)


# --------------------------------------------------------------------------- requests


@dataclass
class RecommendRequest:
    user_id: str | None = None
    groups: list[str] | None = None
    k: int = 10
    query: str | None = None
    date: dt.date | None = None
    region: str | None = None
    language: str | None = None
    exclude_seen: bool | None = None
    personalized: bool | None = None


@dataclass
class RecommendResult:
    request_id: str
    model_version: str
    items: list[dict[str, Any]]
    personalized: bool
    cold_start: bool
    fallback: str | None
    groups: list[str]
    profile: UserProfile | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "model_version": self.model_version, "items": self.items,
                "personalized": self.personalized, "cold_start": self.cold_start, "fallback": self.fallback,
                "groups": self.groups}


class _CoReading:
    """Items read together by people of the same group.

    Rebuilt from the newest ``limit_events`` positive events at most every ``ttl`` seconds,
    in a background thread: requests keep using the previous table meanwhile, and only one
    rebuild runs at a time (the very first one is done in line, so there is always a table).
    """

    def __init__(self, ttl: float = 60.0, limit_events: int = 50_000) -> None:
        self.ttl = ttl
        self.limit_events = limit_events
        self._at = -1e18
        self._lock = threading.Lock()
        self._running = False
        self.by_group: dict[str, dict[str, dict[str, float]]] = {}

    def refresh(self, source: EventSource, force: bool = False) -> None:
        if not force and time.monotonic() - self._at < self.ttl:
            return
        with self._lock:
            if self._running or (not force and time.monotonic() - self._at < self.ttl):
                return
            self._running = True
        first = self._at < 0
        if force or first:
            self._rebuild(source)
        else:
            threading.Thread(target=self._rebuild, args=(source,), name="co-reading", daemon=True).start()

    def _rebuild(self, source: EventSource) -> None:
        try:
            rows = source.co_reading(self.limit_events)
            per_user: dict[str, list[str]] = defaultdict(list)
            for uid, item_id, _ in rows:
                if item_id not in per_user[uid][-20:]:
                    per_user[uid].append(item_id)
            groups = source.user_groups(list(per_user)) if per_user else {}
            by_group: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(float)))
            for uid, items in per_user.items():
                items = items[-30:]
                for g in groups.get(uid) or ["public"]:
                    table = by_group[g]
                    for a in items:
                        for b in items:
                            if a != b:
                                table[a][b] += 1.0
            self.by_group = {g: {a: dict(bs) for a, bs in t.items()} for g, t in by_group.items()}
        except Exception:  # a failed rebuild keeps the previous table
            logging.getLogger("pufa.engine").exception("co-reading rebuild failed")
        finally:
            self._at = time.monotonic()
            self._running = False

    def scores(self, groups: Sequence[str], recent: Sequence[str], catalog: Catalog, limit: int = 200) -> dict[int, float]:
        acc: dict[str, float] = defaultdict(float)
        for g in groups:
            table = self.by_group.get(g)
            if not table:
                continue
            for a in recent[-20:]:
                for b, c in table.get(a, {}).items():
                    acc[b] += c
        if not acc:
            return {}
        top = sorted(acc.items(), key=lambda kv: -kv[1])[:limit]
        m = top[0][1]
        out = {}
        for item_id, c in top:
            r = catalog.row_of.get(item_id)
            if r is not None:
                out[r] = c / m
        return out


# --------------------------------------------------------------------------- the engine


class Engine:
    """Recommendations with reasons, for a person or a group, from one model version."""

    def __init__(self, model: Model, events: EventSource | None = None, config: PipelineConfig | None = None,
                 *, text_cache: int = 4096) -> None:
        self.model = model
        self.events: EventSource = events if events is not None else MemoryEvents()
        self.config = config or PipelineConfig()
        tax = model.taxonomy
        self.topic_ids = model.catalog.topic_ids
        self.priors = GroupPriors(tax, self.topic_ids)
        self.profiles = ProfileBuilder(self.config.profile, self.topic_ids)
        self.ranker = Ranker(self.config, tax, self.topic_ids)
        self.co_reading = _CoReading()
        self._text_cache: OrderedDict[str, TextSignal] = OrderedDict()
        self._text_cache_size = text_cache
        self._lock = threading.RLock()
        self._campaign_cache: tuple[float, list[dict[str, Any]]] | None = None
        self._result_cache: OrderedDict[tuple[Any, ...], tuple[float, RecommendResult]] = OrderedDict()
        self.result_cache_ttl = 30.0

    @property
    def version(self) -> str:
        return self.model.version

    def with_config(self, config: PipelineConfig) -> Engine:
        """The same model and events with another pipeline configuration (for tuning)."""
        return Engine(self.model, self.events, config)

    # -- reading people's words --------------------------------------------------------------
    def read_text(self, text: str) -> TextSignal:
        """A question or search in the engine's spaces: expanded with the colloquial lexicon,
        cut, TF-IDF and dense vectors, and topics (classifier plus lexicon hints)."""
        cached = self._text_cache.get(text)
        if cached is not None:
            self._text_cache.move_to_end(text)
            return cached
        m = self.model
        expanded = m.expander.expand(text)
        tokens = m.tokenizer.tokenize(expanded)
        sparse = m.index.vectorize([tokens])
        dense = m.index.embed_query(tokens, text)
        probs = m.classifier.predict_proba([text])[0].astype(np.float32)
        hints = np.zeros_like(probs)
        for _, _, topics in m.expander.matches(text):
            for t in topics:
                j = m.catalog.topic_index.get(t)
                if j is not None:
                    hints[j] = 0.6
        signal = TextSignal(text, tokens, sparse, dense, np.maximum(probs, hints),
                            own_tokens=m.tokenizer.tokenize(text))
        with self._lock:
            self._text_cache[text] = signal
            while len(self._text_cache) > self._text_cache_size:
                self._text_cache.popitem(last=False)
        return signal

    def event_topics(self, text: str, min_score: float = 0.2) -> list[dict[str, Any]]:
        """Topics of an event's text, stored with the event at ingestion."""
        sig = self.read_text(text)
        order = np.argsort(-sig.topics)[:5]
        return [{"id": self.topic_ids[j], "score": round(float(sig.topics[j]), 4)}
                for j in order if sig.topics[j] >= min_score]

    # -- profiles -------------------------------------------------------------------------------
    def profile(self, user_id: str, *, now: dt.datetime | None = None,
                groups: Sequence[str] | None = None, model: Model | None = None,
                user: Any = NOT_READ) -> UserProfile:
        """The person's profile from their events (an empty cold-start profile if unknown)."""
        m = model or self.model
        now = now or dt.datetime.now(dt.UTC)

        def item_topics(item_id: str) -> np.ndarray | None:
            r = m.catalog.row_of.get(item_id)
            return m.catalog.topics[r] if r is not None else None

        def item_dense(item_id: str) -> np.ndarray | None:
            r = m.index.row_.get(item_id)
            return m.index.dense_[r] if r is not None else None

        if user is NOT_READ:
            user = self.events.get_user(user_id)
        stored_groups = list(user.get("groups") or []) if user else []
        use_groups = list(groups) if groups else stored_groups
        if user is None:
            return self.profiles.empty(user_id, use_groups, reason="unknown user")
        events = self.events.user_events(user_id, self.config.profile.max_events)
        return self.profiles.build(
            user_id, events, groups=use_groups, item_topics=item_topics, item_dense=item_dense,
            read_text=self.read_text, now=now, removed_tags=user.get("removed_tags") or [],
            minor=bool(user.get("minor")), region=user.get("region"),
        )

    # -- campaigns ------------------------------------------------------------------------------
    def campaigns_on(self, day: dt.date, group_ids: Sequence[str], region: str | None) -> list[Campaign]:
        found = self.model.taxonomy.campaigns_on(day, group_ids=list(group_ids), region=region)
        seen = {c.id for c in found}
        for raw in self._stored_campaigns():
            c = campaign_from_dict(raw)
            if c.id in seen or not c.active_on(day):
                continue
            if c.groups and not set(c.groups) & set(group_ids):
                continue
            if c.region and region and c.region not in region and region not in c.region:
                continue
            found = [x for x in found if x.id != c.id] + [c]
        return found

    def invalidate_campaigns(self) -> None:
        """Re-read the editors' campaigns on the next request (this process changed them)."""
        self._campaign_cache = None

    def _stored_campaigns(self, ttl: float = 2.0) -> list[dict[str, Any]]:
        """The editors' campaigns, re-read at most every ``ttl`` seconds."""
        now = time.monotonic()
        cached = self._campaign_cache
        if cached is None or now - cached[0] > ttl:
            cached = self._campaign_cache = (now, self.events.list_campaigns())
        return cached[1]

    # -- recommend ------------------------------------------------------------------------------
    def recommend(self, req: RecommendRequest, *, now: dt.datetime | None = None,
                  shown_today: int | None = None, user: Any = NOT_READ) -> RecommendResult:
        """``user`` may carry the person's stored record when the caller has read it already."""
        now = now or dt.datetime.now(dt.UTC)
        day = req.date or now.date()
        cfg = self.config
        m = self.model  # one consistent snapshot for the whole request (items may be added meanwhile)
        if user is NOT_READ:
            user = self.events.get_user(req.user_id) if req.user_id else None
        personalized = req.personalized if req.personalized is not None else True
        if user is not None and user.get("personalized") is False:
            personalized = False
        fallback = None
        if personalized and req.user_id:
            profile = self.profile(req.user_id, now=now, groups=req.groups, model=m, user=user)
            groups = profile.groups
        else:
            # Non-personalised: no stored data about the person is used (PIPL art. 24); only
            # what the request itself says (its groups, query, date, region).
            groups = list(req.groups or [])
            profile = self.profiles.empty(req.user_id, groups, personalized=False,
                                          reason="personalisation off" if req.user_id else "anonymous")
            if user is not None and user.get("minor"):
                profile.minor = True  # protecting minors is a duty, not personalisation
        if not groups:
            groups = ["public"]
            fallback = "public"
        groups = [g for g in groups if g in m.taxonomy.groups] or ["public"]
        profile.groups = groups
        if req.query:
            sig = self.read_text(req.query)
            from recommender.profiles import QuerySignal

            profile.query = QuerySignal(sig, 1.0, "request", now)
        if profile.cold_start and personalized and req.user_id and fallback is None:
            fallback = "groups"
        exclude_seen = req.exclude_seen if req.exclude_seen is not None else cfg.filters.exclude_seen_default
        # A list that uses nothing about the person is the same for everyone who asks the same
        # thing: keep it briefly (until the catalogue, the model or the campaigns change).
        cache_key = None
        if not personalized or not req.user_id:
            if not profile.minor:
                self._stored_campaigns()
                cache_key = (id(m), id(self._campaign_cache), tuple(groups), req.k, req.query, day,
                             req.region, fallback)
                hit = self._result_cache.get(cache_key)
                if hit is not None and time.monotonic() - hit[0] < self.result_cache_ttl:
                    return dataclasses.replace(hit[1], request_id=uuid.uuid4().hex,
                                               items=[dict(i) for i in hit[1].items], profile=profile)
        co = {}
        if personalized and profile.recent_positive:
            self.co_reading.refresh(self.events)
            co = self.co_reading.scores(groups, profile.recent_positive, m.catalog)
        cap_left = None
        if profile.minor and shown_today is not None:
            cap_left = max(0, cfg.filters.minor_daily_cap - shown_today)
        region = req.region or (profile.region if personalized else None)
        ctx = RankContext(
            profile=profile, group_ids=groups, group_vector=self.priors.blend(groups),
            campaigns=self.campaigns_on(day, groups, region), day=day, k=max(1, min(req.k, 100)),
            exclude_seen=exclude_seen and personalized, region=region, co_reading=co,
            daily_cap_left=cap_left,
        )
        answer_signal = None
        if profile.query is not None and (profile.query.kind == "request" or profile.query_is_newest):
            answer_signal = profile.query.signal
        if answer_signal is not None and m.answerer is not None and cfg.answer.enabled:
            ranked = self._answer(ctx, m, answer_signal)
        else:
            ranked = self.ranker.rank(ctx, m.catalog, m.index, m.ivf)
        items = [self._entry(m.catalog, r) for r in ranked]
        result = RecommendResult(
            request_id=uuid.uuid4().hex, model_version=m.version, items=items,
            personalized=personalized, cold_start=profile.cold_start, fallback=fallback, groups=groups,
            profile=profile,
        )
        if cache_key is not None:
            with self._lock:
                self._result_cache[cache_key] = (time.monotonic(), result)
                while len(self._result_cache) > 2048:
                    self._result_cache.popitem(last=False)
        return result

    def _entry(self, cat: Catalog, r: Ranked) -> dict[str, Any]:
        meta = cat.metas[r.row]
        topics = [self.topic_ids[j] for j in np.argsort(-cat.topics[r.row])[:3] if cat.topics[r.row, j] >= 0.3]
        entry: dict[str, Any] = {"item_id": meta.id, "title": meta.title, "type": meta.type,
                                 "score": round(r.score, 4), "topics": topics, "reasons": r.reasons}
        if meta.law_title:
            entry["law_title"] = meta.law_title
        if meta.article_no is not None:
            entry["article_no"] = meta.article_no
        if meta.article_label:
            entry["article_label"] = meta.article_label
        if meta.snippet:
            entry["snippet"] = meta.snippet
        return entry

    # -- answers --------------------------------------------------------------------------------
    def query_view(self, signal: TextSignal) -> QueryView:
        own = signal.own_tokens if signal.own_tokens is not None else self.model.tokenizer.tokenize(signal.text)
        return QueryView(signal.text, own, signal.tokens, signal.dense, signal.sparse, signal.topics)

    def _answer(self, ctx: RankContext, m: Model, signal: TextSignal) -> list[Ranked]:
        """A question's list: the articles that answer it first, each saying which article
        it is; then at most ``answer.max_other`` explainers, cases or Q&A on the question (of
        which at most one may come from a campaign); the feed fills any place left."""
        cfg = self.config.answer
        cat = m.catalog
        answerer = m.answerer
        assert answerer is not None
        k = ctx.k if ctx.daily_cap_left is None else max(0, min(ctx.k, ctx.daily_cap_left))
        if k == 0:
            return []
        allowed = self.ranker.filters.allowed(ctx, cat)
        rows, scores = answerer.rank(self.query_view(signal), allowed)
        # Explanatory items on the question, scored by the feed's blend (over those few rows only).
        others: list[Ranked] = []
        expl = cat.explanatory_rows[allowed[cat.explanatory_rows]]
        from_campaign = 0
        if expl.size and k >= 5:
            total, comps = self.ranker.scorer.score(ctx, cat, m.index, expl)
            for i in np.argsort(-total, kind="stable")[:50]:
                if len(others) >= cfg.max_other:
                    break
                c = {name: float(v[i]) for name, v in comps.items()}
                reasons = self.ranker.explainer.reasons(ctx, cat, int(expl[i]), c)
                on_question = any(name.startswith("query_") and v > 0 for name, v in c.items()) and \
                    reasons[0].startswith("与您的")
                if not on_question:
                    if c.get("campaign", 0.0) <= 0 or from_campaign >= cfg.max_campaign:
                        continue
                    from_campaign += 1
                others.append(Ranked(int(expl[i]), float(total[i]), c, reasons))
        named = answerer.static.named_laws(signal.text)
        articles = _compose_articles(cat, rows, scores, k - len(others), cfg.max_law_run, named)
        out = [Ranked(int(r), float(s), {"answer": float(s)},
                      [f"与您的问题相关：{cat.metas[r].law_title}{cat.metas[r].article_label or ''}"])
               for r, s in articles]
        keys = {cat.text_keys[r.row] for r in out}
        fill = others
        if len(out) + len(others) < k:
            # Few articles answer (a catalogue of explainers): the feed fills the list.
            fill = others + self.ranker.rank(dataclasses.replace(ctx, k=2 * k, daily_cap_left=None), cat,
                                             m.index, m.ivf)
        for r in fill:
            if len(out) >= k:
                break
            if cat.text_keys[r.row] in keys:
                continue
            keys.add(cat.text_keys[r.row])
            out.append(r)
        # Scores read in list order (an explainer placed after the answer keeps its own
        # relevance, capped by the item above it).
        for i in range(1, len(out)):
            if out[i].score > out[i - 1].score:
                out[i] = dataclasses.replace(out[i], score=out[i - 1].score)
        return out

    # -- catalogue changes ----------------------------------------------------------------------
    def add_items(self, items: Sequence[Item], editor_tags: dict[str, list[str]] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Index and classify new or changed items at once with this model; returns the
        predicted topics per item."""
        if not items:
            return {}
        m = self.model
        editor_tags = editor_tags or {}
        texts = [model_text(it) for it in items]
        tokens = [m.tokenizer.tokenize(t) for t in texts]
        contexts = [model_context(it) for it in items]
        probs = m.classifier.predict_proba(texts, tokens, contexts)
        metas, topics = [], []
        predictions: dict[str, list[dict[str, Any]]] = {}
        for k, it in enumerate(items):
            vec, source = serving_topics(it, probs[k], m.catalog.topic_index, m.taxonomy, editor_tags.get(it.id))
            metas.append(ItemMeta.from_item(it, source))
            topics.append(vec)
            predictions[it.id] = [{"id": self.topic_ids[j], "score": round(float(probs[k, j]), 4)}
                                  for j in np.argsort(-probs[k])[:5] if probs[k, j] >= 0.2]
        with self._lock:
            # Copy-on-write: build the next index and catalogue, then swap the model in one
            # assignment; requests in flight keep the snapshot they started with.
            m = self.model
            new_ids = [it.id for it in items if it.id not in m.index.row_]
            index = m.index.with_added([it.id for it in items], tokens, texts)
            catalog = m.catalog.with_upserted(metas, np.asarray(topics, dtype=np.float32))
            ivf = m.ivf
            if ivf is not None and new_ids:
                ivf = ivf.with_added(index.dense_[[index.row_[i] for i in new_ids]])
            bm25 = m.bm25.with_added([index.row_[it.id] for it in items], tokens) if m.bm25 is not None else None
            self.model = dataclasses.replace(m, index=index, catalog=catalog, ivf=ivf, bm25=bm25)
        return predictions


def campaign_from_dict(raw: dict[str, Any]) -> Campaign:
    """A campaign stored through the API (dates may be YYYY-MM-DD or recurring MM-DD)."""
    return Campaign(
        id=str(raw["id"]), name=str(raw.get("name", raw["id"])), topics=tuple(raw.get("topics") or ()),
        start=str(raw["start"])[:10], end=str(raw["end"])[:10], boost=float(raw.get("boost", 0.3)),
        reason=str(raw.get("reason") or raw.get("name") or ""), groups=tuple(raw.get("groups") or ()),
        region=raw.get("region"),
    )


def _compose_articles(cat: Catalog, rows: np.ndarray, scores: np.ndarray, n: int, max_run: int,
                      named: set[int]) -> list[tuple[int, float]]:
    """The best ``n`` articles in ranker order, each text once, and no more than ``max_run``
    articles of one law in a row unless the question names that law (a later article of
    another law moves up; when none is left the run goes on)."""
    out: list[tuple[int, float]] = []
    keys: set[str] = set()
    pending: list[tuple[int, float]] = []
    for r, s in zip(rows[: max(4 * n, 50)], scores[: max(4 * n, 50)], strict=True):
        key = cat.text_keys[int(r)]
        if key not in keys:
            keys.add(key)
            pending.append((int(r), float(s)))
    while pending and len(out) < n:
        pick = 0
        if len(out) >= max_run:
            last = {int(cat.law_of[r]) for r, _ in out[-max_run:]}
            if len(last) == 1 and next(iter(last)) not in named:
                run_law = next(iter(last))
                pick = next((i for i, (r, _) in enumerate(pending) if int(cat.law_of[r]) != run_law), 0)
        out.append(pending.pop(pick))
    return out
