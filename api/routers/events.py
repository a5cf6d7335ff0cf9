"""POST /v1/events: one event or a batch, validated by ``recommender.inputs.EventIn``, stored durably."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request
from pydantic import ValidationError

from corpus.schema import first_problem
from recommender.inputs import EventIn
from recommender.service import ServiceError
from recommender.vocab import MAX_EVENTS_PER_REQUEST

from ..deps import Platform, ServiceDep
from ..schemas import EventsOut

router = APIRouter(prefix="/v1", tags=["events"])

_BODY_SCHEMA = {"anyOf": [{"$ref": "#/components/schemas/EventIn"}, {"$ref": "#/components/schemas/EventsIn"}]}


@router.post("/events", response_model=EventsOut, status_code=202,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _BODY_SCHEMA}}}})
def post_events(request: Request, svc: ServiceDep, _: Platform, body: Any = Body(...)) -> dict[str, Any]:
    """One event, or ``{"events": [...]}`` (up to 10,000). Stored durably before the answer; the
    next recommendation for that person reflects them. An event ``id`` makes retries
    idempotent. In a batch each bad event is reported by index and the good ones are kept."""
    if isinstance(body, dict) and "events" in body:
        if set(body) != {"events"}:
            raise ServiceError(422, "a batch is {\"events\": [...]} and nothing else", "events")
        raw_events = body["events"]
        if not isinstance(raw_events, list):
            raise ServiceError(422, "events must be a list", "events")
        if len(raw_events) > MAX_EVENTS_PER_REQUEST:
            raise ServiceError(413, f"at most {MAX_EVENTS_PER_REQUEST} events per request", "events")
        events: list[EventIn] = []
        rejected: list[dict[str, Any]] = []
        positions: list[int] = []
        for n, raw in enumerate(raw_events):
            try:
                events.append(EventIn.model_validate(raw))
                positions.append(n)
            except ValidationError as exc:
                field, message = first_problem(exc, "event")
                rejected.append({"index": n, "field": field, "error": message})
        res = svc.people.ingest(events)
        _count(request, res.by_type)
        rejected += [{**r, "index": positions[r["index"]]} for r in res.rejected]
        rejected.sort(key=lambda r: r["index"])
        if raw_events and res.accepted == 0 and res.duplicates == 0:
            raise HTTPException(422, {"message": "no event was accepted", "rejected": rejected})
        return {"accepted": res.accepted, "duplicates": res.duplicates, "rejected": rejected}
    if not isinstance(body, dict):
        raise ServiceError(422, "the body must be an event object or {\"events\": [...]}", "body")
    try:
        event = EventIn.model_validate(body)
    except ValidationError as exc:
        field, message = first_problem(exc, "event")
        raise ServiceError(422, message, field) from exc
    res = svc.people.ingest([event], all_or_nothing=True)
    _count(request, res.by_type)
    return {"accepted": res.accepted, "duplicates": res.duplicates, "rejected": res.rejected}


def _count(request: Request, by_type: dict[str, int]) -> None:
    metrics = request.app.state.metrics
    if metrics is not None:
        metrics.events_ingested(by_type)
