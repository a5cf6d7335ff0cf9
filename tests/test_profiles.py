"""Group priors and personal profiles, with exact values on hand-made events.

Three topics, three or four items with chosen topic and dense vectors, events at chosen
ages: every expected weight below is worked out beside it, so a changed half-life, event
strength or normalisation fails a test.
"""

from __future__ import annotations

import datetime as dt
import math
import types
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from recommender.config import ProfileConfig
from recommender.profiles import GroupPriors, ProfileBuilder, TextSignal, UserProfile
from recommender.records import Event

TOPICS = ["labour", "anti_fraud", "marriage_family"]
NOW = dt.datetime(2026, 8, 12, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

CONFIG = ProfileConfig(
    strengths={"view": 1.0, "click": 1.5, "like": 3.0, "share": 3.0, "complete": 4.0, "dismiss": -3.0,
               "search": 3.0, "question": 5.0},
    half_life_days=30.0, query_half_life_days=3.0, max_events=500, question_topics_min_score=0.2,
)
ITEM_TOPICS = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.0, 0.0, 0.5], "m": [0.0, 0.0, 1.0]}
ITEM_DENSE = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [0.6, 0.8], "m": [0.0, 0.0]}
# What the classifier reads in people's words (when no topics were stored with the event).
TEXT_TOPICS = {"工资被拖欠": [0.9, 0.0, 0.0], "网上刷单被骗": [0.0, 0.8, 0.0]}


def read_text(text: str) -> TextSignal:
    read_text.calls.append(text)  # type: ignore[attr-defined]
    topics = np.asarray(TEXT_TOPICS.get(text, [0.0, 0.0, 0.0]), dtype=np.float32)
    return TextSignal(text, [text], sp.csr_matrix((1, 2), dtype=np.float32),
                      np.asarray([0.0, 1.0], dtype=np.float32), topics)


def build(events: list[Event], config: ProfileConfig = CONFIG, **kw: Any) -> UserProfile:
    read_text.calls = []  # type: ignore[attr-defined]

    def vec(table: dict[str, list[float]]) -> Any:
        return lambda item_id: np.asarray(table[item_id], dtype=np.float32) if item_id in table else None

    return ProfileBuilder(config, TOPICS).build(
        "u", events, groups=["public"], item_topics=vec(ITEM_TOPICS), item_dense=vec(ITEM_DENSE),
        read_text=read_text, now=NOW, **kw)


def ev(type: str, item_id: str | None = None, age_days: float | None = 0.0, **kw: Any) -> Event:
    return Event(type=type, item_id=item_id, ts=None if age_days is None else NOW - age_days * DAY, **kw)


def flat(sources: dict[int, dict[str, float]]) -> dict[tuple[int, str], float]:
    return {(j, s): v for j, d in sources.items() for s, v in d.items()}


def close(values: Any, expected: list[float]) -> bool:
    return bool(np.allclose(np.asarray(values, dtype=np.float64), expected, atol=1e-5))


# --------------------------------------------------------------------------- decay


def test_interest_halves_every_half_life():
    # Oldest first, as the store returns them. Half-life 30 days:
    #   complete c, 60 days ago: 4 x 0.25 = 1.0 on (0, 0, 0.5) -> 0.5 on marriage_family
    #   like b, 30 days ago:     3 x 0.5  = 1.5 on anti_fraud
    #   view a, now:             1 x 1    = 1.0 on labour
    # Raw interest (1.0, 1.5, 0.5), divided by its maximum 1.5: (2/3, 1, 1/3).
    # (A half-life of 60 days would give (1, 2.12, 1) / 2.12 = (0.47, 1, 0.47).)
    p = build([ev("complete", "c", 60), ev("like", "b", 30), ev("view", "a", 0)])
    assert close(p.topic_weights, [2 / 3, 1.0, 1 / 3])
    # Confidence grows with the decayed positive weight of items with a vector: 1 - e^(-3.5/3).
    assert p.confidence == pytest.approx(1 - math.exp(-3.5 / 3))
    # The person's vector: the weighted sum 1.0 x (0.6, 0.8) + 1.5 x (0, 1) + 1.0 x (1, 0) = (1.6, 2.3), as a unit vector.
    assert close(p.dense, [1.6 / math.hypot(1.6, 2.3), 2.3 / math.hypot(1.6, 2.3)])
    assert p.seen == {"a", "b", "c"} and p.completed == {"c"} and p.recent_positive == ["c", "b", "a"]
    assert flat(p.topic_sources) == pytest.approx({(0, "reading"): 1.0, (1, "reading"): 1.5, (2, "reading"): 0.5})
    assert not p.cold_start and p.n_events == 3 and p.query is None
    assert p.tags(TOPICS) == [{"topic": "anti_fraud", "weight": 1.0, "source": "reading"},
                              {"topic": "labour", "weight": 0.667, "source": "reading"},
                              {"topic": "marriage_family", "weight": 0.333, "source": "reading"}]
    assert [t["topic"] for t in p.tags(TOPICS, min_weight=0.5)] == ["anti_fraud", "labour"]


def test_each_event_type_has_its_strength():
    # All now: view a 1.0 (labour), click b 1.5 (anti_fraud), complete m 4.0 (marriage_family):
    # (1, 1.5, 4) / 4 = (0.25, 0.375, 1). Item m has a zero dense vector: it adds no confidence.
    p = build([ev("view", "a"), ev("click", "b"), ev("complete", "m")])
    assert close(p.topic_weights, [0.25, 0.375, 1.0])
    assert p.confidence == pytest.approx(1 - math.exp(-2.5 / 3))
    # like and share weigh the same (3): equal interest in labour and anti_fraud.
    assert close(build([ev("like", "a"), ev("share", "b")]).topic_weights, [1.0, 1.0, 0.0])


def test_an_event_without_a_time_or_from_the_future_counts_as_now():
    # view a with no time (1.0) and like b "tomorrow" (3.0, not more): (1, 3, 0) / 3.
    p = build([ev("view", "a", None), ev("like", "b", -1)])
    assert close(p.topic_weights, [1 / 3, 1.0, 0.0])


def test_dismiss_lowers_the_items_topics_and_hides_it():
    # view a 1.0, view b 1.0, then dismiss a: -3.0 on labour. Interest (1-3, 1, 0) -> clipped
    # at 0 -> (0, 1, 0). The dismissal lowers interest; it adds nothing to the vector.
    p = build([ev("view", "a"), ev("view", "b"), ev("dismiss", "a")])
    assert close(p.topic_weights, [0.0, 1.0, 0.0])
    assert p.dismissed == {"a"} and p.seen == {"a", "b"}
    assert p.confidence == pytest.approx(1 - math.exp(-2 / 3))
    # A dismissal 30 days old weighs half: (1 - 1.5) still below zero; 60 days: 1 - 0.75 = 0.25.
    assert close(build([ev("view", "a"), ev("view", "b"), ev("dismiss", "a", 60)]).topic_weights, [0.25, 1.0, 0.0])


def test_only_the_newest_max_events_count():
    config = ProfileConfig(**{**CONFIG.to_dict(), "max_events": 2})
    p = build([ev("complete", "a"), ev("view", "b"), ev("view", "c")], config)
    assert close(p.topic_weights, [0.0, 1.0, 0.5]) and p.n_events == 2 and "a" not in p.seen


def test_no_events_is_a_cold_start():
    p = build([])
    assert p.cold_start and p.cold_start_reason == "no history yet"
    assert p.confidence == 0.0 and not p.topic_weights.any() and p.dense is None and p.query is None


# --------------------------------------------------------------------------- questions


def test_the_latest_question_is_the_query_decaying_with_its_own_half_life():
    # A question 3 days ago with stored topics (labour 0.1 is under the 0.2 floor):
    #   interest weight 5 x 0.5^(3/30); on anti_fraud 0.9 of it; confidence adds half of it.
    #   query weight 0.5^(3/3) = 0.5 (the query half-life is 3 days).
    w = 5 * 0.5 ** (3 / 30)
    q = ev("question", age_days=3, text="网上刷单被骗",
           topics=[{"id": "anti_fraud", "score": 0.9}, {"id": "labour", "score": 0.1}])
    p = build([q])
    assert close(p.topic_weights, [0.0, 1.0, 0.0])
    assert flat(p.topic_sources) == pytest.approx({(1, "question"): 0.9 * w})
    assert p.confidence == pytest.approx(1 - math.exp(-(w * 0.5) / 3))
    assert p.query is not None and p.query.kind == "question" and p.query.weight == pytest.approx(0.5)
    assert p.query_is_newest and p.query.signal.text == "网上刷单被骗"
    assert close(p.dense, [0.0, 1.0])  # no item read: the question's vector is the person's
    assert p.tags(TOPICS) == [{"topic": "anti_fraud", "weight": 1.0, "source": "question"}]


def test_the_query_mixes_into_the_reading_vector_and_the_newest_text_wins():
    # A question 3 days ago, a search 1 day ago, then view a now (vector (1, 0)). The newest
    # text event is the query, whatever its kind: the search, weight 0.5^(1/3).
    s = ev("search", age_days=1, text="工资被拖欠")
    q = ev("question", age_days=3, text="网上刷单被骗")
    p = build([q, s, ev("view", "a")])
    wq = 0.5 ** (1 / 3)
    assert p.query is not None and p.query.kind == "search" and p.query.weight == pytest.approx(wq)
    assert not p.query_is_newest  # the view came after it
    # (1, 0) + wq x (0, 1), as a unit vector.
    assert close(p.dense, [1 / math.hypot(1, wq), wq / math.hypot(1, wq)])
    # Text without stored topics adds no interest (only items and stored topics do).
    assert close(p.topic_weights, [1.0, 0.0, 0.0])


def test_blocked_words_never_become_interest_or_query():
    p = build([ev("search", age_days=0, text="哪里可以买冰毒", topics=[{"id": "anti_fraud", "score": 0.9}])])
    assert p.query is None and not p.topic_weights.any() and p.confidence == 0.0
    assert read_text.calls == []  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- removed tags


def test_a_removed_tag_stops_acting_at_once():
    removed = {"removed_tags": ["labour"]}
    # Reading a labour item: its topic is zeroed and the item no longer steers the vector or
    # the confidence; it still counts as seen.
    p = build([ev("view", "a"), ev("view", "b")], **removed)
    assert close(p.topic_weights, [0.0, 1.0, 0.0])
    assert close(p.dense, [0.0, 1.0]) and p.confidence == pytest.approx(1 - math.exp(-1 / 3))
    assert p.seen == {"a", "b"} and p.removed_tags == {"labour"}
    # A question mainly about the removed topic is dropped (stored topics, or read now).
    stored = ev("question", age_days=0, text="拖欠工资", topics=[{"id": "labour", "score": 0.9}])
    assert build([stored], **removed).query is None
    assert build([ev("search", age_days=0, text="工资被拖欠")], **removed).query is None
    kept = build([ev("search", age_days=0, text="网上刷单被骗")], **removed)
    assert kept.query is not None and kept.query.signal.text == "网上刷单被骗"
    # Without the removal the same events give labour full weight.
    assert close(build([ev("view", "a"), ev("view", "b")]).topic_weights, [1.0, 1.0, 0.0])


# --------------------------------------------------------------------------- group priors


def test_group_priors_blend_is_the_mean_scaled_to_a_maximum_of_one():
    group = types.SimpleNamespace
    tax = types.SimpleNamespace(groups={
        "x": group(id="x", topics={"labour": 1.0, "not_a_topic": 1.0}),
        "y": group(id="y", topics={"labour": 0.5, "anti_fraud": 1.0}),
        "public": group(id="public", topics={"marriage_family": 0.4}),
    })
    priors = GroupPriors(tax, TOPICS)
    assert close(priors.vectors["x"], [1.0, 0.0, 0.0])
    # mean of (1, 0, 0) and (0.5, 1, 0) = (0.75, 0.5, 0), over its maximum 0.75.
    assert close(priors.blend(["x", "y"]), [1.0, 2 / 3, 0.0])
    assert close(priors.blend(["y"]), [0.5, 1.0, 0.0])
    # Unknown groups fall back to the public: (0, 0, 0.4) / 0.4.
    assert close(priors.blend(["martians"]), [0.0, 0.0, 1.0])
    assert close(GroupPriors(types.SimpleNamespace(groups={}), TOPICS).blend(["x"]), [0.0, 0.0, 0.0])
