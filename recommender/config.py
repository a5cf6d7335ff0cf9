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
    """打散: MMR on dense similarity plus caps per law and per main topic."""

    mmr_lambda: float = 0.9  # 1 = relevance only
    max_per_law: int = 2
    max_per_topic: int = 5
    pool: int = 100  # MMR runs over the best this-many filtered candidates


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
    reasons: ReasonConfig = field(default_factory=ReasonConfig)
    answer: AnswerListConfig = field(default_factory=AnswerListConfig)
