"""For analysts and editors: coverage of each group, what was pushed (aggregates; one person's
rows for the roles allowed), the exposure log and the active model's figures."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from recommender.records import Exposure, PersonPushes
from recommender.service.reports import (
    PERSONAL_ROW_READERS,
    PUSH_READERS,
    may_read_personal_rows,
    personal_rows_rule,
)

from ..deps import Analyst, ServiceDep, require
from ..schemas import MustKnowOut, PersonPushesOut, PushReportOut, TopItemOut

router = APIRouter(prefix="/v1", tags=["stats"])

PushReader = Annotated[str, Depends(require(*PUSH_READERS))]
PersonalReader = Annotated[str, Depends(require(*PERSONAL_ROW_READERS))]
When = dt.date | dt.datetime | None
PERIOD = ("a date is a whole day in Beijing time (the end date included); a time carries its zone "
          "(without one, Beijing time)")
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


class CoverageMustKnowOut(BaseModel):
    items: int = Field(description="items on the group's must-know list")
    shown: int = Field(description="of them, pushed at least once")
    completed: int = Field(description="of them, completed by someone of the group")
    pushes: int
    share: float = Field(description="pushes of must-know items / the group's pushes")
    rows: list[MustKnowOut]


class CoverageTopicOut(BaseModel):
    name: str
    plan_weight: float
    pushes: int
    share: float


class CoverageGroupOut(BaseModel):
    name: str
    requests: int
    pushes: int
    items: int
    people: int
    users: int = Field(description="= people (the first version's name)")
    shown_items: int = Field(description="= items (the first version's name)")
    plan_share: float
    plan_topics_reached: int
    must_know_share: float
    topics: dict[str, CoverageTopicOut] = Field(description="by topic id: plan topics by weight, then others")
    must_know: CoverageMustKnowOut
    top_items: list[TopItemOut]


class CoverageOut(BaseModel):  # GET /v1/stats/pushes keyed by group: the same figures, the same function
    start: dt.datetime
    end: dt.datetime = Field(description="exclusive")
    groups: dict[str, CoverageGroupOut]


@router.get("/stats/coverage", response_model=CoverageOut)
def coverage(svc: ServiceDep, _: Analyst,
             start: When = Query(None, description=f"default: 30 days before end; {PERIOD}"),
             end: When = Query(None, description=f"default: now; {PERIOD}"), group: str | None = None,
             top: int = Query(10, ge=1, le=100, description="how many of the items pushed most")) -> dict[str, Any]:
    """Coverage in a period, per group: the share of the pushes on the group's plan topics and on
    its must-know list, each topic's share, the must-know list (with titles, pushed, completed)
    and the items pushed most; requests made for a group without a person count. The figures of
    /v1/stats/pushes (the same function), keyed by group and topic."""
    return svc.reports.coverage(start, end, group, top)


@router.get("/stats/pushes", response_model=PushReportOut)
def pushes(svc: ServiceDep, role: PushReader,
           start: When = Query(None, description=f"default: 30 days before end; {PERIOD}"),
           end: When = Query(None, description=f"default: now; {PERIOD}"), group: str | None = None,
           top: int = Query(10, ge=1, le=100, description="how many of the items pushed most")) -> dict[str, Any]:
    """What was pushed in a period, per group: recommendations, items, people; each topic's share
    of the items pushed (plan topics first); the must-know list with titles, pushed and
    completed; the items pushed most. Aggregates only; one person's rows are under
    /v1/stats/pushes/people/{user_id}, for the roles ``personal_rows_rule`` names."""
    report = svc.reports.pushes(start, end, group, top)
    return {**report.to_dict(), "personal_rows_rule": personal_rows_rule(),
            "caller_may_read_personal_rows": may_read_personal_rows(role)}


@router.get("/stats/pushes.png", response_class=Response, responses=PNG)
def pushes_png(svc: ServiceDep, _: PushReader, start: When = Query(None, description=PERIOD),
               end: When = Query(None, description=PERIOD), group: str | None = None) -> Response:
    """The heat map of coverage: groups by topics, each cell the share of the group's pushes on
    the topic; the group's plan topics framed."""
    from recommender.plots import coverage_heatmap  # matplotlib is loaded when a chart is first asked for

    return Response(coverage_heatmap(svc.reports.pushes(start, end, group)), media_type="image/png")


@router.get("/stats/pushes/people/{user_id}", response_model=PersonPushesOut)
def person_pushes(user_id: str, svc: ServiceDep, _: PersonalReader,
                  start: When = Query(None, description=f"default: the beginning of the log; {PERIOD}"),
                  end: When = Query(None, description=f"default: now; {PERIOD}")) -> PersonPushes:
    """Exactly what the exposure log holds for one person (time, items with titles and reasons,
    model version, personalised or not), newest first. Personal data: analyst and admin only."""
    return svc.reports.person_pushes(user_id, start, end)


@router.get("/exposures", response_model=list[Exposure])
def exposures(svc: ServiceDep, _: PersonalReader, user_id: str | None = None, since: dt.datetime | None = None,
              limit: int = Query(100, ge=1, le=1000)) -> list[Exposure]:
    """The exposure log: every recommendation served (request, person, items, reasons,
    model version, time), kept for the configured period (算法推荐管理规定 art. 28)."""
    return svc.reports.exposures(user_id=user_id, since=since, limit=limit)


@router.get("/evaluation")
def evaluation(svc: ServiceDep, _: Analyst) -> dict[str, Any]:
    """The figures the active model's build measured."""
    return svc.reports.model_report()
