"""For analysts: coverage of each group, the exposure log and the active model's figures."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query

from recommender.records import Exposure

from ..deps import Analyst, ServiceDep

router = APIRouter(prefix="/v1", tags=["stats"])


@router.get("/stats/coverage")
def coverage(svc: ServiceDep, _: Analyst, group: str | None = None) -> dict[str, Any]:
    """Per group: how much of each topic and of its must-know list was shown and completed."""
    return svc.reports.coverage(group)


@router.get("/exposures", response_model=list[Exposure])
def exposures(svc: ServiceDep, _: Analyst, user_id: str | None = None, since: dt.datetime | None = None,
              limit: int = Query(100, ge=1, le=1000)) -> list[Exposure]:
    """The exposure log: every recommendation served (request, person, items, reasons,
    model version, time), kept for the configured period (算法推荐管理规定 art. 28)."""
    return svc.reports.exposures(user_id=user_id, since=since, limit=limit)


@router.get("/evaluation")
def evaluation(svc: ServiceDep, _: Analyst) -> dict[str, Any]:
    """The figures the active model's build measured."""
    return svc.reports.model_report()
