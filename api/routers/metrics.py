"""GET /metrics: Prometheus text format (api/metrics.py says what is counted)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request, Response

from ..deps import ServiceDep, SettingsDep, role_of_key
from ..metrics import exposition

router = APIRouter(tags=["operations"])

READERS = ("analyst", "admin")


@router.get("/metrics", response_class=Response,
            responses={200: {"description": "Prometheus text format (OpenMetrics when asked for)",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       401: {"description": "PUFA_METRICS=key and no valid key"},
                       403: {"description": "PUFA_METRICS=key and a key of another role"}})
def get_metrics(request: Request, svc: ServiceDep, settings: SettingsDep,
                x_api_key: Annotated[str | None, Header()] = None) -> Response:
    """Request counts and latencies by route and status, recommendations by variant, events
    ingested, the model version and the newest build, summed over every worker. Open to
    anyone by default (operations data, nothing about people); ``PUFA_METRICS=key`` asks for
    an analyst's or admin's key."""
    if settings.metrics == "key":
        role, problem = role_of_key(settings, x_api_key)
        if role is None:
            raise HTTPException(401, problem, headers={"WWW-Authenticate": "ApiKey"})
        if role not in READERS:
            raise HTTPException(403, f"the '{role}' role may not read /metrics; needs one of {list(READERS)}")
    body, content_type = exposition(request.app.state.metrics, svc, request.headers.get("accept"))
    return Response(body, media_type=content_type)
