"""Variant experiments (admin) and the attribution report (analysts).

``POST /v1/admin/experiments`` serves a config-only version of the active one to a share of
the traffic (a stable hash of the person, or of the request when anonymous; requests without
personal data always get the control); ``POST /v1/admin/experiments/{id}:stop`` stops it.
``GET /v1/stats/attribution`` joins the exposure log to the events that carry a
recommendation's ``request_id``: click-through and completion by model version, variant,
group and reason phrase, with Wilson 95 % intervals.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StrictFloat

from recommender.service.experiments import MAX_SHARE, attribution
from recommender.service.reports import period

from ..deps import Admin, Analyst, ServiceDep

router = APIRouter(prefix="/v1", tags=["experiments"])

When = dt.date | dt.datetime | None
PERIOD = ("a date is a whole day in Beijing time (the end date included); a time carries its zone "
          "(without one, Beijing time)")


class ExperimentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: str = Field(min_length=1, max_length=64,
                         description="a config-only model version over the active version's trained arrays")
    # The range is checked by the service (422 naming ``share``), like every other rule of it.
    share: StrictFloat = Field(description=f"of the traffic, in (0, {MAX_SHARE}]")


class ExperimentOut(BaseModel):
    id: str
    variant: str
    control: str | None = Field(description="the active version when it started")
    share: float
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    running: bool
    created_by: str | None


@router.post("/admin/experiments", response_model=ExperimentOut, status_code=201)
def start(body: ExperimentIn, svc: ServiceDep, role: Admin) -> dict[str, Any]:
    """Start serving ``variant`` to ``share`` of the traffic: a person is in it by a stable hash
    of their id (never switching while it runs), an anonymous request by its request id;
    requests without personal data always get the control. 409 while one runs; 422 naming
    the field for a version that is not a config-only version of the active one."""
    return svc.experiments.start(body.variant, body.share, created_by=role)


@router.post("/admin/experiments/{experiment_id}:stop", response_model=ExperimentOut)
def stop(experiment_id: str, svc: ServiceDep, _: Admin) -> dict[str, Any]:
    """Stop it: from now on everyone gets the control."""
    return svc.experiments.stop(experiment_id)


@router.get("/admin/experiments", response_model=list[ExperimentOut])
def list_experiments(svc: ServiceDep, _: Analyst) -> list[dict[str, Any]]:
    """Every experiment, newest first (admin; analysts may read)."""
    return svc.experiments.list()


@router.get("/stats/attribution")
def attribution_report(svc: ServiceDep, _: Analyst,
                       start: When = Query(None, description=f"default: 30 days before end; {PERIOD}"),
                       end: When = Query(None, description=f"default: now; {PERIOD}")) -> dict[str, Any]:
    """Click-through and completion of the lists served in the period, joined to the events
    that carry their ``request_id``: ``overall`` and by ``model_version``, ``variant``,
    ``group`` and ``reason`` (phrase). ``list_ctr`` = lists with an item viewed, liked,
    shared or completed / lists; ``item_ctr`` = such items / items shown; ``completion`` =
    completed items / items shown; each ``{mean, low, high, n}`` (Wilson 95 %)."""
    t0, t1 = period(start, end)
    return attribution(svc.store, t0, t1)
