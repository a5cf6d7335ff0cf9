"""POST /v1/recommendations: ranked items with readable reasons."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ..deps import Platform, ServiceDep
from ..observability import note_recommendation
from ..schemas import RecommendIn, RecommendOut

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.post("/recommendations", response_model=RecommendOut)
def recommend(body: RecommendIn, svc: ServiceDep, _: Platform, request: Request) -> dict[str, Any]:
    """Ranked items with readable reasons. An unknown user is a cold start; ``personalized:
    false`` (or the person's own setting) uses no personal data (PIPL art. 24)."""
    out = svc.recommend(body).to_dict()
    note_recommendation(request, out)  # metrics by variant; the access line's model version
    return out
