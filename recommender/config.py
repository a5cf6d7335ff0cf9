"""Typed configurations, one per component, each round-tripping to JSON.

Notebooks and operators tune these, not code: ``PipelineConfig.from_dict(json.load(f))``,
change one field, re-run. Every model version keeps the :class:`PipelineConfig` it serves with
(``pipeline_config.json``, see :mod:`recommender.artifacts`); ``pufa config schema`` prints
the JSON Schema. Unknown keys, values of the wrong type, out of range or not among the choices
are refused with a :class:`~recommender.jsonconfig.ConfigError` naming the field
(``diversity.mmr_lambda: must be at most 1, got 5.0``), so a typo never passes silently.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from corpus.schema import ItemType
from recommender.classify import ClassifierConfig
from recommender.index import IndexConfig
from recommender.jsonconfig import ConfigError, JsonConfig
from recommender.vocab import MINOR_DAILY_CAP, EventType

__all__ = [
    "AnswerListConfig",
    "CandidateConfig",
    "ClassifierConfig",
    "CoReadingConfig",
    "ConfigError",
    "DiversityConfig",
    "FilterConfig",
    "IndexConfig",
    "JsonConfig",
    "PipelineConfig",
    "ProfileConfig",
    "ReasonConfig",
    "ScoringConfig",
    "SlotConfig",
    "TaggingConfig",
]

Share = Annotated[float, Field(ge=0.0, le=1.0)]  # a fraction or a score in [0, 1]
Weight = Annotated[float, Field(ge=0.0, le=10.0)]  # a weight of the score blend
Days = Annotated[float, Field(gt=0.0, le=36_500.0)]  # a half-life in days
Strength = Annotated[float, Field(ge=-10.0, le=10.0)]
TypeWeight = Annotated[float, Field(ge=-1.0, le=1.0)]


def _strengths() -> dict[EventType, float]:
    return {"view": 1.0, "click": 1.5, "like": 3.0, "share": 3.0, "complete": 4.0,
            "dismiss": -3.0, "search": 3.0, "question": 5.0}


def _type_weights() -> dict[ItemType, float]:
    return {"explainer": 0.07, "qa": 0.07, "case": 0.06, "quiz": 0.04, "news": 0.02, "video": 0.05,
            "law_article": 0.0, "law": -0.1, "interpretation": 0.0}


class ProfileConfig(JsonConfig):
    """How events become interest. Strengths are per event type; dismiss is negative."""

    strengths: dict[EventType, Strength] = Field(default_factory=_strengths)  # an event type left out counts 0
    half_life_days: Days = 30.0  # interest from reading fades with this half-life
    query_half_life_days: Days = 3.0  # the latest question is a need of now
    max_events: int = Field(500, ge=1, le=100_000)  # the newest events read per person
    min_tag_weight: Share = 0.15  # a topic below this (after normalising) is not shown as a tag
    question_topics_min_score: Share = 0.2  # a question's stored topic counts from this score
    # An item's topic scored above this names where the person's interest in it came from.
    source_min_topic: Share = 0.05
    # A question or search counts this share of its strength towards the profile's confidence.
    text_confidence_share: Share = 0.5
    # confidence = 1 - exp(-evidence / confidence_scale): the evidence at which it reaches 63 %.
    confidence_scale: float = Field(3.0, gt=0.0, le=1000.0)
    recent_items: int = Field(50, ge=1, le=10_000)  # items read kept (newest) to look up co-readings
    # The topic score a match in the colloquial lexicon gives a question (老板不给工钱 -> labour).
    lexicon_hint: Share = 0.6
    # A question's sentence vector reads at most this many characters of it (its first 5/8 and
    # its last 3/8, where the question itself usually stands); the lexical stages read it all.
    # e5's time grows ~0.85 ms a character: this caps a long question's vector near 35 ms on
    # two threads. STARD CV unchanged (recall@10 0.650 -> 0.654, nDCG@10 0.521 -> 0.522).
    query_dense_chars: int = Field(64, ge=8, le=10_000)
    event_topics_min_score: Share = 0.2  # topics stored with a question or search from this score


class CandidateConfig(JsonConfig):
    """Candidate selection: which rows are scored at all."""

    per_source: int = Field(300, ge=1, le=100_000)  # top rows taken from each source (profile, query, group prior ...)
    per_law: int = Field(20, ge=1, le=100_000)  # of which at most this many articles of one law (a feed shows two in ten)
    max_candidates: int = Field(1500, ge=1, le=1_000_000)
    ann: Literal["exact", "ivf", "auto"] = "auto"  # "auto": IVF from ann_min_items (when the version has one)
    ann_min_items: int = Field(20_000, ge=0)
    ivf_nprobe: int = Field(20, ge=1, le=100_000)  # IVF cells read for a dense source
    # Each source first takes per_source x this many rows, so that the per-law cut leaves per_source.
    per_law_room: int = Field(4, ge=1, le=100)
    group_topic_share: Weight = 0.5  # the group prior's weight in the topic query
    min_profile_confidence: Share = 0.3  # the person's topics count with at least this confidence
    query_topic_boost: Weight = 2.0  # a question's topics (times its weight) in the topic query


class ScoringConfig(JsonConfig):
    """Weights of the score blend (each component is scaled to [0, 1] first)."""

    profile_topic: Weight = 1.0
    profile_dense: Weight = 0.3
    query_sparse: Weight = 1.2
    query_dense: Weight = 0.8
    query_topic: Weight = 1.0
    group_prior: Weight = 1.0
    written_for: Weight = 0.3  # items whose author named the group as their audience (the item's groups)
    group_dense: Weight = 1.0  # closeness to what the plan asks of the group (its description), in meaning
    must_know: Weight = 0.3
    campaign: Weight = 1.0  # times the campaign's own boost
    co_reading: Weight = 0.5
    freshness: Weight = 0.1
    freshness_half_life_days: Days = 365.0
    # A question's TF-IDF cosine times this, then clipped to [0, 1] (cosines of short texts are small).
    query_sparse_scale: float = Field(2.0, gt=0.0, le=100.0)
    type_weights: dict[ItemType, TypeWeight] = Field(default_factory=_type_weights)  # a type left out: 0
    elderly_anti_fraud: Weight = 0.3  # art. 19: favour anti-fraud content for the elderly


class FilterConfig(JsonConfig):
    exclude_types: list[ItemType] = Field(default_factory=list)  # item types never recommended
    exclude_seen_default: bool = True  # a request that does not say hides what the person has seen
    minor_daily_cap: int = Field(MINOR_DAILY_CAP, ge=0, le=1000)  # art. 18: pushed items a day for a minor


class DiversityConfig(JsonConfig):
    """打散 (see :mod:`recommender.variety`): MMR on dense similarity plus caps per law and per
    main topic in any window of ``window`` items."""

    mmr_lambda: float = Field(0.9, gt=0.0, le=1.0)  # 1 = relevance only
    window: int = Field(10, ge=1, le=1000)
    max_per_law: int = Field(2, ge=1, le=1000)  # articles of one law in any window
    max_per_topic: int = Field(4, ge=1, le=1000)  # items of one main topic in any window
    pool: int = Field(2000, ge=1, le=1_000_000)  # the list is chosen from the best this-many filtered candidates


class SlotConfig(JsonConfig):
    """The shares campaigns and must-know lists take of a feed (see :mod:`recommender.variety`).

    An item is a campaign's when its score on one of the campaign's topics reaches
    ``campaign_min_match``; such items take at most ``campaign_max`` places of any window of
    the list (``campaign_group_max`` when the campaign names the request's group), and one of
    them comes no later than place ``campaign_by``. An answer's list takes at most
    ``answer.max_campaign`` (:class:`AnswerListConfig`)."""

    campaign_max: int = Field(3, ge=0, le=1000)
    campaign_group_max: int = Field(5, ge=0, le=1000)
    campaign_by: int = Field(3, ge=1, le=1000)
    campaign_min_match: Share = 0.5
    campaign_other_share: Share = 0.5  # of a campaign with laws at its heart, other items of its topics earn this share of its boost
    campaign_gap: int = Field(3, ge=1, le=1000)  # a campaign's items are at least this many places apart
    must_know_max: int = Field(3, ge=0, le=1000)
    amendment_penalty: Weight = 0.3  # a historical amendment (宪法修正案（1993年）) ranks below the consolidated text


class ReasonConfig(JsonConfig):
    max_reasons: int = Field(3, ge=1, le=10)
    min_share: Share = 0.12  # a component below this share of the score is not named


class AnswerListConfig(JsonConfig):
    """A question's list (see ``recommender.answering.answer_list``): the answer articles first."""

    enabled: bool = True  # False: questions are ranked by the feed's blend (the engine before answers)
    max_other: int = Field(2, ge=0, le=100)  # explainers, cases, Q&A on the question after the articles
    max_campaign: int = Field(1, ge=0, le=100)  # of which from a campaign
    max_law_run: int = Field(3, ge=1, le=100)  # consecutive articles of one law, unless the question names it
    other_min_k: int = Field(5, ge=1, le=1000)  # explainers join a list only when k is at least this
    other_scan: int = Field(50, ge=1, le=10_000)  # the best this-many explanatory items are looked at
    # Articles considered for the list: the ranker's best max(article_factor x places, article_min).
    article_factor: int = Field(4, ge=1, le=100)
    article_min: int = Field(50, ge=1, le=10_000)
    fill_factor: int = Field(2, ge=1, le=100)  # too few articles: the feed's best k x this fill the places left


class CoReadingConfig(JsonConfig):
    """Items read together by people of the same group (see :mod:`recommender.coreading`)."""

    ttl_seconds: float = Field(60.0, ge=0.0, le=86_400.0)  # the table is rebuilt at most this often
    limit_events: int = Field(50_000, ge=1, le=10_000_000)  # the newest positive events it is built from
    per_user_items: int = Field(30, ge=1, le=10_000)  # a person's newest distinct items count as read together
    repeat_window: int = Field(20, ge=0, le=10_000)  # an item read again within this many reads counts once
    recent_items: int = Field(20, ge=1, le=10_000)  # the person's newest items whose co-readings are looked up
    limit: int = Field(200, ge=1, le=100_000)  # co-read items scored per request


class TaggingConfig(JsonConfig):
    """How an item's serving topics are decided (:func:`recommender.catalog.serving_topics`).

    Part of the build (``BuildConfig.tagging``): the catalogue of a version is tagged with it,
    and items added while it serves too, so it stays with the version's arrays."""

    min_predicted: Share = 0.15  # a predicted topic below this score is not served
    key_law_weight: Share = 0.7  # a law's articles carry its key topics (taxonomy) with at least this
    author_secondary: Share = 0.8  # an author's second and later topics weigh this (the first 1)
    prediction_min_score: Share = 0.2  # predicted topics stored for review from this score
    prediction_limit: int = Field(5, ge=1, le=100)  # ... at most this many


class PipelineConfig(JsonConfig):
    """Everything a request's ranking reads; saved with each model version."""

    profile: ProfileConfig = Field(default_factory=ProfileConfig)
    candidates: CandidateConfig = Field(default_factory=CandidateConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    diversity: DiversityConfig = Field(default_factory=DiversityConfig)
    slots: SlotConfig = Field(default_factory=SlotConfig)
    reasons: ReasonConfig = Field(default_factory=ReasonConfig)
    answer: AnswerListConfig = Field(default_factory=AnswerListConfig)
    co_reading: CoReadingConfig = Field(default_factory=CoReadingConfig)
