"""Group priors and personal profiles.

A group's prior is its topic weights from the taxonomy (the plan's sections 三 and 五); a
person in several groups gets their blend. A person's profile is computed from their recent
events at the moment it is needed, with time decay — so one event changes the very next
recommendation and there is no batch job in between. ``view``/``click``/``like``/``share``/
``complete`` raise interest in the item's topics by their strength; ``dismiss`` lowers the
item's topics and hides the item; ``search`` and ``question`` carry the person's own words,
which become interest through the classifier and the index, and the latest question is kept
apart as the strongest signal of present need.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from corpus.taxonomy import Taxonomy
from recommender.config import ProfileConfig
from recommender.records import Event
from recommender.vocab import POSITIVE_TYPES, TEXT_TYPES

__all__ = [
    "GroupPriors",
    "ProfileBuilder",
    "QuerySignal",
    "TextSignal",
    "UserProfile",
    "blocked_form",
    "is_blocked_text",
]


_BLOCKED_PATH = Path(__file__).resolve().parents[1] / "corpus" / "taxonomy" / "blocked_terms.txt"
_BLOCKED: tuple[str, ...] | None = None
_T2S: Any = None
_NOT_WORD = re.compile(r"[\W_]+")  # spaces, punctuation, symbols, zero-width marks


def blocked_form(text: str) -> str:
    """The form blocked words are matched in: compatibility forms folded (full-width, circled
    and styled letters; NFKC), traditional characters as simplified (OpenCC's tables), Latin
    lower-cased, and everything that is not a letter or digit dropped, so that "买 冰毒",
    "買冰毒", "买-冰-毒" and "买\u200b冰毒" all read "买冰毒"."""
    global _T2S
    if _T2S is None:
        from opencc import OpenCC

        _T2S = OpenCC("t2s")
    return _NOT_WORD.sub("", _T2S.convert(unicodedata.normalize("NFKC", text)).lower())


def is_blocked_text(text: str) -> bool:
    """True when text holds illegal or harmful words (算法推荐管理规定 art. 10): such text
    is never turned into interest or tags. Text and list are compared in :func:`blocked_form`;
    variants that no folding reaches (homophones, abbreviations) are listed as words."""
    global _BLOCKED
    if _BLOCKED is None:
        words: list[str] = []
        if _BLOCKED_PATH.exists():
            words = [blocked_form(w) for w in _BLOCKED_PATH.read_text(encoding="utf-8").splitlines()
                     if w.strip() and not w.startswith("#")]
        _BLOCKED = tuple(w for w in words if w)
    form = blocked_form(text)
    return any(w in form for w in _BLOCKED)


class GroupPriors:
    """Topic weights per group, from the taxonomy; blends for people in several groups."""

    def __init__(self, taxonomy: Taxonomy, topic_ids: Sequence[str]) -> None:
        self.topic_ids = list(topic_ids)
        col = {t: j for j, t in enumerate(self.topic_ids)}
        self.vectors: dict[str, np.ndarray] = {}
        for g in taxonomy.groups.values():
            v = np.zeros(len(self.topic_ids), dtype=np.float32)
            for t, w in g.topics.items():
                if t in col:
                    v[col[t]] = w
            self.vectors[g.id] = v

    def blend(self, group_ids: Sequence[str]) -> np.ndarray:
        """The mean of the groups' weights (max 1); ``public`` when no known group is given."""
        known = [g for g in group_ids if g in self.vectors] or (["public"] if "public" in self.vectors else [])
        if not known:
            return np.zeros(len(self.topic_ids), dtype=np.float32)
        v = np.mean([self.vectors[g] for g in known], axis=0)
        m = float(v.max())
        return (v / m).astype(np.float32) if m > 0 else v.astype(np.float32)


@dataclass
class TextSignal:
    """What a piece of the person's own text means in the engine's spaces."""

    text: str
    tokens: list[str]
    sparse: sp.csr_matrix
    dense: np.ndarray
    topics: np.ndarray  # calibrated probabilities, one per topic
    keywords: list[str] = field(default_factory=list)
    own_tokens: list[str] | None = None  # the text's tokens before the lexicon's rewriting


@dataclass
class QuerySignal:
    signal: TextSignal
    weight: float  # 1 for a question asked now, decaying with age
    kind: str  # "request", "question" or "search"
    ts: dt.datetime | None = None


@dataclass
class UserProfile:
    user_id: str | None
    groups: list[str]
    personalized: bool
    minor: bool
    region: str | None
    topic_weights: np.ndarray  # >= 0, max 1 (zeros when nothing is known)
    topic_sources: dict[int, dict[str, float]]  # topic column -> source -> contribution
    dense: np.ndarray | None
    confidence: float  # 0 for a cold start, towards 1 with more history
    query: QuerySignal | None
    seen: set[str]
    dismissed: set[str]
    completed: set[str]
    recent_positive: list[str]  # item ids, newest last (for co-reading)
    removed_tags: set[str]
    n_events: int
    cold_start: bool
    cold_start_reason: str | None = None
    query_is_newest: bool = False  # the person's newest event is that question or search

    def tags(self, topic_ids: Sequence[str], min_weight: float = 0.15) -> list[dict[str, Any]]:
        """Topics the engine believes the person cares about, strongest first, with the source
        that contributed most (reading, question, search)."""
        out = []
        for j in np.argsort(-self.topic_weights):
            w = float(self.topic_weights[j])
            if w < min_weight:
                break
            if topic_ids[j] in self.removed_tags:
                continue
            sources = self.topic_sources.get(int(j), {})
            source = max(sources, key=lambda s: sources[s]) if sources else "reading"
            out.append({"topic": topic_ids[j], "weight": round(w, 3), "source": source})
        return out


ItemTopics = Callable[[str], "np.ndarray | None"]
ItemDense = Callable[[str], "np.ndarray | None"]
TextReader = Callable[[str], TextSignal]


class ProfileBuilder:
    """Turns a person's events into a :class:`UserProfile` (time-decayed, at request time)."""

    def __init__(self, config: ProfileConfig, topic_ids: Sequence[str]) -> None:
        self.config = config
        self.topic_ids = list(topic_ids)
        self.col = {t: j for j, t in enumerate(self.topic_ids)}

    def empty(self, user_id: str | None, groups: Sequence[str], *, personalized: bool = True,
              minor: bool = False, region: str | None = None, reason: str | None = None) -> UserProfile:
        return UserProfile(
            user_id=user_id, groups=list(groups), personalized=personalized, minor=minor, region=region,
            topic_weights=np.zeros(len(self.topic_ids), dtype=np.float32), topic_sources={}, dense=None,
            confidence=0.0, query=None, seen=set(), dismissed=set(), completed=set(), recent_positive=[],
            removed_tags=set(), n_events=0, cold_start=True, cold_start_reason=reason,
        )

    def build(
        self,
        user_id: str | None,
        events: Sequence[Event],
        *,
        groups: Sequence[str],
        item_topics: ItemTopics,
        item_dense: ItemDense,
        read_text: TextReader,
        now: dt.datetime,
        removed_tags: Sequence[str] = (),
        minor: bool = False,
        region: str | None = None,
    ) -> UserProfile:
        cfg = self.config
        n = len(self.topic_ids)
        pos = np.zeros(n, dtype=np.float64)
        neg = np.zeros(n, dtype=np.float64)
        sources: dict[int, dict[str, float]] = {}
        dense_sum: np.ndarray | None = None
        total_positive = 0.0
        seen: set[str] = set()
        dismissed: set[str] = set()
        completed: set[str] = set()
        recent: list[str] = []
        latest_query: tuple[Event, float] | None = None
        events = list(events)[-cfg.max_events:]
        removed = set(removed_tags)
        removed_cols = {self.col[t] for t in removed if t in self.col}

        def about_removed(vec: np.ndarray | None) -> bool:
            """A removed tag stops acting at once: what mainly speaks of it (an item read, a
            question asked before) no longer steers the person's vector or answers."""
            return bool(removed_cols) and vec is not None and bool(np.any(vec > 0)) and int(np.argmax(vec)) in removed_cols

        def add_topics(vec: np.ndarray, w: float, source: str) -> None:
            nonlocal pos, neg
            if w >= 0:
                pos += w * vec
                for j in np.flatnonzero(vec > cfg.source_min_topic):
                    d = sources.setdefault(int(j), {})
                    d[source] = d.get(source, 0.0) + w * float(vec[j])
            else:
                neg += -w * vec

        strengths: dict[str, float] = {str(k): v for k, v in cfg.strengths.items()}  # a type left out counts 0
        for ev in events:
            etype = ev.type
            strength = strengths.get(etype, 0.0)
            ts = ev.ts or now
            age = max(0.0, (now - ts).total_seconds() / 86400.0)
            decay = 0.5 ** (age / cfg.half_life_days)
            w = strength * decay
            item_id = ev.item_id
            if item_id:
                if etype in POSITIVE_TYPES:
                    seen.add(item_id)
                    recent.append(item_id)
                if etype == "complete":
                    completed.add(item_id)
                if etype == "dismiss":
                    dismissed.add(item_id)
                vec = item_topics(item_id)
                if vec is not None:
                    add_topics(vec, w, "reading" if w >= 0 else "dismiss")
                if w > 0 and not about_removed(vec):
                    dv = item_dense(item_id)
                    if dv is not None and np.any(dv):
                        dense_sum = dv * w if dense_sum is None else dense_sum + dv * w
                        total_positive += w
            if etype in TEXT_TYPES and ev.text:
                text = ev.text
                if is_blocked_text(text):
                    continue
                stored = ev.topics
                if stored:
                    vec = np.zeros(n, dtype=np.float64)
                    for t in stored:
                        if t.get("id") in self.col and t.get("score", 0) >= cfg.question_topics_min_score:
                            vec[self.col[t["id"]]] = float(t["score"])
                    if about_removed(vec):
                        continue
                    add_topics(vec, w, etype)
                    total_positive += w * cfg.text_confidence_share
                elif removed_cols and about_removed(read_text(text).topics):
                    continue
                latest_query = (ev, age)
        weights = pos - neg
        for topic in removed:
            if topic in self.col:
                weights[self.col[topic]] = 0.0
        weights = np.clip(weights, 0.0, None)
        m = float(weights.max()) if weights.size else 0.0
        topic_weights = (weights / m).astype(np.float32) if m > 0 else np.zeros(n, dtype=np.float32)
        dense = None
        if dense_sum is not None:
            norm = float(np.linalg.norm(dense_sum))
            dense = (dense_sum / norm).astype(np.float32) if norm > 0 else None
        query = None
        query_is_newest = False
        if latest_query is not None:
            ev, age = latest_query
            weight = 0.5 ** (age / cfg.query_half_life_days)
            signal = read_text(str(ev.text))
            if dense is None and np.any(signal.dense):
                dense = signal.dense
            elif dense is not None and np.any(signal.dense):
                mixed = dense + signal.dense * weight
                dense = (mixed / (np.linalg.norm(mixed) or 1.0)).astype(np.float32)
            query = QuerySignal(signal, float(weight), ev.type, ev.ts)
            query_is_newest = ev is events[-1]
        confidence = 1.0 - math.exp(-total_positive / cfg.confidence_scale)
        cold = not events
        return UserProfile(
            user_id=user_id, groups=list(groups), personalized=True, minor=minor, region=region,
            topic_weights=topic_weights, topic_sources=sources, dense=dense, confidence=float(confidence),
            query=query, seen=seen, dismissed=dismissed, completed=completed, recent_positive=recent[-cfg.recent_items:],
            removed_tags=removed, n_events=len(events), cold_start=cold,
            cold_start_reason="no history yet" if cold else None, query_is_newest=query_is_newest,
        )
