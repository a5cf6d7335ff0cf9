"""Wiring: a trained model version and the ranking pipeline, as one Engine.

``Engine(model, events)`` answers recommendation requests for people and groups, reading
each person's events from an :class:`EventSource` (the database, or memory in offline
evaluation) at request time. The loaded version is :mod:`recommender.model`; the parts the
engine wires live beside it: profiles (:mod:`recommender.profiles`), the feed's ranking
(:mod:`recommender.rank`), a question's list (:mod:`recommender.answering`), campaigns
(:mod:`recommender.campaigns`), co-reading (:mod:`recommender.coreading`) and the one cache
class all its caches use (:mod:`recommender.cache`).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from corpus.schema import Item
from corpus.taxonomy import Campaign
from recommender.answer import QueryView
from recommender.answering import answer_list
from recommender.cache import Cache
from recommender.campaigns import CampaignSource, StoredCampaigns, campaigns_on
from recommender.catalog import Catalog, ItemMeta, serving_topics, top_predictions
from recommender.classify import model_context, model_text
from recommender.config import PipelineConfig
from recommender.coreading import CoReading
from recommender.embed import dense_part
from recommender.inputs import RecommendRequest
from recommender.model import Model
from recommender.profiles import GroupPriors, ProfileBuilder, QuerySignal, TextSignal, UserProfile
from recommender.rank import RankContext, Ranked, Ranker
from recommender.records import User
from recommender.sources import MemoryEvents, PeopleSource

__all__ = [
    "Engine",
    "RecommendResult",
]


NOT_READ: Any = object()  # "the caller has not read the user record" (None means: no such user)


# --------------------------------------------------------------------------- results


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
    variant: str = "control"  # or the model version of the experiment's variant that served it

    def to_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "model_version": self.model_version, "items": self.items,
                "personalized": self.personalized, "cold_start": self.cold_start, "fallback": self.fallback,
                "groups": self.groups, "variant": self.variant}


# --------------------------------------------------------------------------- the engine


class Engine:
    """Recommendations with reasons, for a person or a group, from one model version."""

    def __init__(self, model: Model, events: PeopleSource | None = None, config: PipelineConfig | None = None,
                 *, text_cache: int = 4096, campaigns: CampaignSource | None = None) -> None:
        """``events`` is where people are read (the store's people room, or memory);
        ``campaigns`` where editors' campaigns are (by default those an in-memory source holds)."""
        self.model = model
        self.events: PeopleSource = events if events is not None else MemoryEvents()
        if campaigns is None:
            campaigns = self.events.campaigns if isinstance(self.events, MemoryEvents) else MemoryEvents().campaigns
        self._campaign_source = campaigns
        # The version's own pipeline config unless the caller gives one (tuning, evaluation).
        self.config = config if config is not None else model.config
        tax = model.taxonomy
        self.topic_ids = model.catalog.topic_ids
        self.priors = GroupPriors(tax, self.topic_ids)
        self.profiles = ProfileBuilder(self.config.profile, self.topic_ids)
        self.ranker = Ranker(self.config, tax, self.topic_ids)
        self.co_reading = CoReading(self.config.co_reading)
        self.stored_campaigns = StoredCampaigns(campaigns.list)
        # People's words read into the engine's spaces, and lists that use nothing about the
        # person (the same for everyone asking the same thing; kept 30 s).
        self._text_cache: Cache[str, TextSignal] = Cache(maxsize=text_cache)
        self._result_cache: Cache[tuple[Any, ...], RecommendResult] = Cache(maxsize=2048, ttl=30.0)
        self._lock = threading.RLock()  # one catalogue change at a time (add_items)

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def result_cache_ttl(self) -> float:
        """Seconds a non-personal list is kept (0: not at all)."""
        return self._result_cache.ttl or 0.0

    @result_cache_ttl.setter
    def result_cache_ttl(self, seconds: float) -> None:
        self._result_cache.ttl = seconds

    def with_config(self, config: PipelineConfig) -> Engine:
        """The same model and events with another pipeline configuration (for tuning; the
        model version's own is ``model.config``)."""
        return Engine(self.model, self.events, config, campaigns=self._campaign_source)

    # -- reading people's words --------------------------------------------------------------
    def read_text(self, text: str) -> TextSignal:
        """A question or search in the engine's spaces: expanded with the colloquial lexicon,
        cut, TF-IDF and dense vectors, and topics (classifier plus lexicon hints)."""
        cached = self._text_cache.get(text)
        if cached is not None:
            return cached
        m = self.model
        expanded = m.expander.expand(text)
        tokens = m.tokenizer.tokenize(expanded)
        sparse = m.index.vectorize([tokens])
        dense = m.index.embed_query(tokens, dense_part(text, self.config.profile.query_dense_chars))
        probs = m.classifier.predict_proba([text])[0].astype(np.float32)
        hints = np.zeros_like(probs)
        for _, _, topics in m.expander.matches(text):
            for t in topics:
                j = m.catalog.topic_index.get(t)
                if j is not None:
                    hints[j] = self.config.profile.lexicon_hint
        signal = TextSignal(text, tokens, sparse, dense, np.maximum(probs, hints),
                            own_tokens=m.tokenizer.tokenize(text))
        self._text_cache.put(text, signal)
        return signal

    def group_dense(self, group_ids: Sequence[str]) -> np.ndarray | None:
        """What the plan asks of these groups, in meaning: one unit vector per phrase of their
        descriptions in groups.yaml (学宪法讲宪法, 防范校园欺凌和性侵害, 远离毒品 ...). A feed
        scores an item by the phrase it is closest to, so each of the plan's asks is served."""
        phrases: list[str] = []
        for g in group_ids:
            group = self.model.taxonomy.groups.get(g)
            if group is not None and group.description:
                phrases += [p for p in re.split(r"[，。；、：]", group.description) if len(p) >= 4]
        if not phrases:
            return None
        return np.stack([self.read_text(p).dense for p in dict.fromkeys(phrases)]).astype(np.float32)

    def event_topics(self, text: str, min_score: float | None = None) -> list[dict[str, Any]]:
        """Topics of an event's text, stored with the event at ingestion (from
        ``profile.event_topics_min_score``)."""
        if min_score is None:
            min_score = self.config.profile.event_topics_min_score
        sig = self.read_text(text)
        order = np.argsort(-sig.topics)[:5]
        return [{"id": self.topic_ids[j], "score": round(float(sig.topics[j]), 4)}
                for j in order if sig.topics[j] >= min_score]

    # -- profiles -------------------------------------------------------------------------------
    def profile(self, user_id: str, *, now: dt.datetime | None = None,
                groups: Sequence[str] | None = None, model: Model | None = None,
                user: User | object | None = NOT_READ) -> UserProfile:
        """The person's profile from their events (an empty cold-start profile if unknown)."""
        m = model or self.model
        now = now or dt.datetime.now(dt.UTC)

        def item_topics(item_id: str) -> np.ndarray | None:
            r = m.catalog.row_of.get(item_id)
            return m.catalog.topics[r] if r is not None else None

        def item_dense(item_id: str) -> np.ndarray | None:
            r = m.catalog.row_of.get(item_id)  # the index has the catalogue's rows (checked at load)
            return m.index.dense_[r] if r is not None else None

        person = self.events.get(user_id) if user is NOT_READ else user
        assert person is None or isinstance(person, User)
        use_groups = list(groups) if groups else list(person.groups) if person else []
        if person is None:
            return self.profiles.empty(user_id, use_groups, reason="unknown user")
        events = self.events.events(user_id, self.config.profile.max_events)
        return self.profiles.build(
            user_id, events, groups=use_groups, item_topics=item_topics, item_dense=item_dense,
            read_text=self.read_text, now=now, removed_tags=person.removed_tags,
            minor=person.minor, region=person.region,
        )

    # -- campaigns ------------------------------------------------------------------------------
    def campaigns_on(self, day: dt.date, group_ids: Sequence[str], region: str | None) -> list[Campaign]:
        """The taxonomy's and the editors' campaigns in force (see :mod:`recommender.campaigns`)."""
        return campaigns_on(self.model.taxonomy, self.stored_campaigns.read()[1], day, group_ids, region)

    def invalidate_campaigns(self) -> None:
        """Re-read the editors' campaigns on the next request (this process changed them)."""
        self.stored_campaigns.invalidate()

    def without_campaign(self, campaign_id: str) -> Engine:
        """This engine as if no campaign had ``campaign_id`` (neither the taxonomy's nor an
        editor's): a campaign's preview compares its lists with this one's. It shares the
        model's arrays and the people; nothing of this engine changes, and its lists are
        cached apart."""
        twin = copy.copy(self)
        tax = self.model.taxonomy
        twin.model = dataclasses.replace(self.model, taxonomy=dataclasses.replace(
            tax, campaigns=[c for c in tax.campaigns if c.id != campaign_id]))
        stored = [c for c in self.stored_campaigns.read()[1] if c.get("id") != campaign_id]
        twin.stored_campaigns = StoredCampaigns(lambda: stored)
        twin._result_cache = Cache(maxsize=16, ttl=30.0)
        return twin

    # -- recommend ------------------------------------------------------------------------------
    def recommend(self, req: RecommendRequest, *, now: dt.datetime | None = None,
                  shown_today: int | None = None, user: User | object | None = NOT_READ) -> RecommendResult:
        """``user`` may carry the person's stored record when the caller has read it already."""
        now = now or dt.datetime.now(dt.UTC)
        day = req.date or now.date()
        cfg = self.config
        m = self.model  # one consistent snapshot for the whole request (items may be added meanwhile)
        if user is NOT_READ:
            user = self.events.get(req.user_id) if req.user_id else None
        assert user is None or isinstance(user, User)
        personalized = req.personalized if req.personalized is not None else True
        if user is not None and not user.personalized:
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
            if user is not None and user.minor:
                profile.minor = True  # protecting minors is a duty, not personalisation
        if not groups:
            groups = ["public"]
            fallback = "public"
        groups = [g for g in groups if g in m.taxonomy.groups] or ["public"]
        profile.groups = groups
        if req.query:
            profile.query = QuerySignal(self.read_text(req.query), 1.0, "request", now)
        if profile.cold_start and personalized and req.user_id and fallback is None:
            fallback = "groups"
        exclude_seen = req.exclude_seen if req.exclude_seen is not None else cfg.filters.exclude_seen_default
        # A list that uses nothing about the person is the same for everyone who asks the same
        # thing: keep it briefly. The key names the snapshot (version and revision), the
        # campaigns (by content) and the configuration by value, never by id(): a freed
        # object's id is reused by the next one, which would bring back an old list.
        campaigns_seen, stored = self.stored_campaigns.read()
        cache_key = None
        if (not personalized or not req.user_id) and not profile.minor:
            cache_key = (m.version, m.revision, campaigns_seen, repr(cfg), tuple(groups), req.k, req.query,
                         day, req.region, fallback)
            hit = self._result_cache.get(cache_key)
            if hit is not None:
                return dataclasses.replace(hit, request_id=uuid.uuid4().hex,
                                           items=[dict(i) for i in hit.items], profile=profile)
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
            group_dense=self.group_dense(groups),
            campaigns=campaigns_on(m.taxonomy, stored, day, groups, region), day=day, k=req.k,
            exclude_seen=exclude_seen and personalized, region=region, co_reading=co,
            daily_cap_left=cap_left,
        )
        answer_signal = None
        if profile.query is not None and (profile.query.kind == "request" or profile.query_is_newest):
            answer_signal = profile.query.signal
        if answer_signal is not None and m.answerer is not None and cfg.answer.enabled:
            ranked = answer_list(self.ranker, cfg.answer, ctx, m, self.query_view(answer_signal))
        else:
            ranked = self.ranker.rank(ctx, m.catalog, m.index, m.ivf)
        items = [self._entry(m.catalog, r) for r in ranked]
        result = RecommendResult(
            request_id=uuid.uuid4().hex, model_version=m.version, items=items,
            personalized=personalized, cold_start=profile.cold_start, fallback=fallback, groups=groups,
            profile=profile,
        )
        if cache_key is not None:
            self._result_cache.put(cache_key, result)
        return result

    def _entry(self, cat: Catalog, r: Ranked) -> dict[str, Any]:
        meta = cat.metas[r.row]
        topics = cat.shown_topics(r.row)
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
        if r.slot:
            entry["slot"] = r.slot
        return entry

    # -- answers --------------------------------------------------------------------------------
    def query_view(self, signal: TextSignal) -> QueryView:
        """A question as the answer path reads it (:func:`recommender.answering.answer_list`)."""
        own = signal.own_tokens if signal.own_tokens is not None else self.model.tokenizer.tokenize(signal.text)
        return QueryView(signal.text, own, signal.tokens, signal.dense, signal.sparse, signal.topics)

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
            vec, source = serving_topics(it, probs[k], m.catalog.topic_index, m.taxonomy, editor_tags.get(it.id),
                                         m.tagging)
            metas.append(ItemMeta.from_item(it, source))
            topics.append(vec)
            predictions[it.id] = top_predictions(probs[k], self.topic_ids, m.tagging)
        with self._lock:
            # Copy-on-write: build the next index and catalogue, then swap the model in one
            # assignment; requests in flight keep the snapshot they started with.
            m = self.model
            new_ids = [it.id for it in items if it.id not in m.catalog.row_of]
            index = m.index.with_added([it.id for it in items], tokens, texts)
            catalog = m.catalog.with_upserted(metas, np.asarray(topics, dtype=np.float32))
            # Both append new items in the order given and replace others in place: one row
            # numbering, the catalogue's (``row_of``), serves both.
            assert index.ids_[-len(new_ids):] == new_ids if new_ids else len(index.ids_) == len(catalog.metas)
            ivf = m.ivf
            if ivf is not None and new_ids:
                ivf = ivf.with_added(index.dense_[[catalog.row_of[i] for i in new_ids]])
            bm25 = m.bm25.with_added([catalog.row_of[it.id] for it in items], tokens) if m.bm25 is not None else None
            self.model = dataclasses.replace(m, index=index, catalog=catalog, ivf=ivf, bm25=bm25,
                                             revision=m.revision + 1)
        return predictions

