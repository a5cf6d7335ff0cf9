"""Input validated once, at the edge: the rules of an event and of a request, on their own."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from corpus.schema import first_problem
from recommender.inputs import EventIn, RecommendRequest
from recommender.vocab import EVENT_TYPES, K_MAX, TEXT_TYPES


def problem(model: type, data: dict) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return first_problem(info.value, "event")[1]


def test_each_event_type_needs_what_it_is_about():
    for etype in EVENT_TYPES:
        if etype in TEXT_TYPES:
            assert problem(EventIn, {"user_id": "u", "type": etype}).startswith("text:")
            assert problem(EventIn, {"user_id": "u", "type": etype, "text": " \x00 "}).startswith("text:")
            ev = EventIn.model_validate({"user_id": "u", "type": etype, "text": " 欠薪\x00怎么办 "})
            assert ev.text == "欠薪怎么办" and ev.item_id is None
        else:
            assert problem(EventIn, {"user_id": "u", "type": etype}) == f"item_id: Value error, a {etype} event needs an item_id"
            assert problem(EventIn, {"user_id": "u", "type": etype, "item_id": "a", "text": "x"}).startswith("text:")
            assert EventIn.model_validate({"user_id": "u", "type": etype, "item_id": "a"}).text is None


def test_event_time_dwell_and_ids():
    base = {"user_id": "u", "type": "view", "item_id": "a"}
    ev = EventIn.model_validate({**base, "ts": "2026-11-01T08:00:00+08:00"})
    assert ev.ts == dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC)
    assert "time zone" in problem(EventIn, {**base, "ts": "2026-11-01T08:00:00"})
    assert "future" in problem(EventIn, {**base, "ts": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()})
    assert "before 2000-01-01" in problem(EventIn, {**base, "ts": "1999-12-31T23:00:00Z"})
    assert problem(EventIn, {**base, "dwell_ms": True}).startswith("dwell_ms:")
    assert problem(EventIn, {**base, "dwell_ms": 86_400_001}).startswith("dwell_ms:")
    assert problem(EventIn, {**base, "user_id": "有空格 的id"}).startswith("user_id:")
    assert problem(EventIn, {**base, "type": "teleport"}).startswith("type:")
    assert problem(EventIn, {**base, "colour": "red"}).startswith("colour:")


def test_a_request_asks_for_1_to_k_max_items():
    assert RecommendRequest().k == 10
    assert RecommendRequest(k=K_MAX).k == K_MAX
    for bad in (0, K_MAX + 1, "5", 2.0, True):
        assert problem(RecommendRequest, {"k": bad}).startswith("k:")
    assert problem(RecommendRequest, {"language": "zh"}).startswith("language:")  # not the engine's business
