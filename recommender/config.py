"""Typed configurations, one per component, each round-tripping to JSON.

Notebooks and operators tune these, not code: ``PipelineConfig.from_dict(json.load(f))``,
change one field, re-run. Unknown keys are an error naming the key, so a typo never passes
silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recommender.classify import ClassifierConfig
from recommender.index import IndexConfig
from recommender.jsonconfig import JsonConfig
from recommender.vocab import EVENT_TYPES, MINOR_DAILY_CAP

__all__ = [
    "AnswerListConfig",
    "CandidateConfig",
    "ClassifierConfig",
    "DiversityConfig",
    "FilterConfig",
    "IndexConfig",
    "JsonConfig",
    "PipelineConfig",
    "ProfileConfig",
    "ReasonConfig",
    "ScoringConfig",
    "SlotConfig",
]

@dataclass
class ProfileConfig(JsonConfig):
    """How events become interest. Strengths are per event type; dismiss is negative."""

    strengths: dict[str, float] = field(default_factory=lambda: {
        "view": 1.0, "click": 1.5, "like": 3.0, "share": 3.0, "complete": 4.0,
        "dismiss": -3.0, "search": 3.0, "question": 5.0,
    })
    half_life_days: float = 30.0  # interest from reading fades with this half-life
    query_half_life_days: float = 3.0  # the latest question is a need of now
    max_events: int = 500
    min_tag_weight: float = 0.15  # a topic below this (after normalising) is not shown as a tag
    question_topics_min_score: float = 0.2

    def __post_init__(self) -> None:
        unknown = sorted(set(self.strengths) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"profile.strengths: unknown event type(s) {unknown} (known: {', '.join(EVENT_TYPES)})")


@dataclass
class CandidateConfig(JsonConfig):
    """Candidate selection: which rows are scored at all."""

    per_source: int = 300  # top rows taken from each source (profile, query, group prior ...)
    per_law: int = 20  # of which at most this many articles of one law (a feed shows two in ten)
    max_candidates: int = 1500
    ann: str = "auto"  # "exact", "ivf" or "auto" (IVF above ann_min_items)
    ann_min_items: int = 20_000
    ivf_nprobe: int = 20


@dataclass
class ScoringConfig(JsonConfig):
    """Weights of the score blend (each component is scaled to [0, 1] first)."""

    profile_topic: float = 1.0
    profile_dense: float = 0.3
    query_sparse: float = 1.2
    query_dense: float = 0.8
    query_topic: float = 1.0
    group_prior: float = 1.0
    written_for: float = 0.3  # items whose author named the group as their audience (the item's groups)
    group_dense: float = 1.0  # closeness to what the plan asks of the group (its description), in meaning
    must_know: float = 0.3
    campaign: float = 1.0  # times the campaign's own boost
    co_reading: float = 0.5
    freshness: float = 0.1
    freshness_half_life_days: float = 365.0
    type_weights: dict[str, float] = field(default_factory=lambda: {
        "explainer": 0.07, "qa": 0.07, "case": 0.06, "quiz": 0.04, "news": 0.02, "video": 0.05,
        "law_article": 0.0, "law": -0.1, "interpretation": 0.0,
    })
    elderly_anti_fraud: float = 0.3  # art. 19: favour anti-fraud content for the elderly


@dataclass
class FilterConfig(JsonConfig):
    exclude_types: list[str] = field(default_factory=list)
    exclude_seen_default: bool = True
    minor_daily_cap: int = MINOR_DAILY_CAP  # art. 18: pushed items a day for a minor


@dataclass
class DiversityConfig(JsonConfig):
    """打散 (see :mod:`recommender.variety`): MMR on dense similarity plus caps per law and per
    main topic in any window of ``window`` items."""

    mmr_lambda: float = 0.9  # 1 = relevance only
    window: int = 10
    max_per_law: int = 2  # articles of one law in any window
    max_per_topic: int = 4  # items of one main topic in any window
    pool: int = 2000  # the list is chosen from the best this-many filtered candidates

    def __post_init__(self) -> None:
        if not 0.0 < self.mmr_lambda <= 1.0:
            raise ValueError(f"diversity.mmr_lambda: {self.mmr_lambda} is not in (0, 1]")
        for name in ("window", "max_per_law", "max_per_topic", "pool"):
            if getattr(self, name) < 1:
                raise ValueError(f"diversity.{name}: must be at least 1, not {getattr(self, name)}")


@dataclass
class SlotConfig(JsonConfig):
    """The shares campaigns and must-know lists take of a feed (see :mod:`recommender.variety`).

    An item is a campaign's when its score on one of the campaign's topics reaches
    ``campaign_min_match``; such items take at most ``campaign_max`` places of any window of
    the list (``campaign_group_max`` when the campaign names the request's group), and one of
    them comes no later than place ``campaign_by``. An answer's list takes at most
    ``answer.max_campaign`` (:class:`AnswerListConfig`)."""

    campaign_max: int = 3
    campaign_group_max: int = 5
    campaign_by: int = 3
    campaign_min_match: float = 0.5
    campaign_other_share: float = 0.5  # of a campaign with laws at its heart, other items of its topics earn this share of its boost
    campaign_gap: int = 3  # a campaign's items are at least this many places apart
    must_know_max: int = 3
    amendment_penalty: float = 0.3  # a historical amendment (宪法修正案（1993年）) ranks below the consolidated text

    def __post_init__(self) -> None:
        for name in ("campaign_max", "campaign_group_max", "must_know_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"slots.{name}: must not be negative, not {getattr(self, name)}")
        for name in ("campaign_by", "campaign_gap"):
            if getattr(self, name) < 1:
                raise ValueError(f"slots.{name}: must be at least 1, not {getattr(self, name)}")
        if not 0.0 <= self.campaign_other_share <= 1.0:
            raise ValueError(f"slots.campaign_other_share: {self.campaign_other_share} is not in [0, 1]")
        if not 0.0 <= self.campaign_min_match <= 1.0:
            raise ValueError(f"slots.campaign_min_match: {self.campaign_min_match} is not in [0, 1]")


@dataclass
class ReasonConfig(JsonConfig):
    max_reasons: int = 3
    min_share: float = 0.12  # a component below this share of the score is not named


@dataclass
class AnswerListConfig(JsonConfig):
    """A question's list (see ``recommender.answering.answer_list``): the answer articles first."""

    enabled: bool = True  # False: questions are ranked by the feed's blend (the engine before answers)
    max_other: int = 2  # explainers, cases, Q&A on the question after the articles (when k >= 5)
    max_campaign: int = 1  # of which from a campaign
    max_law_run: int = 3  # consecutive articles of one law, unless the question names it


@dataclass
class PipelineConfig(JsonConfig):
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    filters: FilterConfig = field(default_factory=FilterConfig)
    diversity: DiversityConfig = field(default_factory=DiversityConfig)
    slots: SlotConfig = field(default_factory=SlotConfig)
    reasons: ReasonConfig = field(default_factory=ReasonConfig)
    answer: AnswerListConfig = field(default_factory=AnswerListConfig)
