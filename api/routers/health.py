"""Liveness (/health), readiness (/ready) and the algorithm disclosure (/v1/about/algorithm)."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from recommender.store import unavailable

from ..deps import ServiceDep
from ..schemas import About, Health, Ready

router = APIRouter(tags=["health"])

RETRY_AFTER_SECONDS = 5


def _checks(svc: ServiceDep, write: bool) -> tuple[dict[str, str], str | None, int | None]:
    """Each part's state ("ok" or what is wrong), the active model version and the item count."""
    checks = {"database": "ok", "model": "ok"}
    items = None
    try:
        if write:
            svc.store.check_writable()
        items = svc.store.items.count()
    except sa.exc.SQLAlchemyError as exc:
        checks["database"] = unavailable(exc) or f"error: {type(exc).__name__}"
    version = svc.models.loaded_version()
    if version is None:
        checks["model"] = "no active model: run `pufa build` (or `pufa serve --bootstrap`)"
    return checks, version, items


@router.get("/health", response_model=Health)
def health(svc: ServiceDep) -> Health:
    """Liveness: 200 while the process answers, whatever the database does. The body says
    honestly what works: `status` is `degraded` and `problems` says why when the database
    cannot be read or no model is active (no key needed)."""
    checks, version, items = _checks(svc, write=False)
    problems = [f"{part}: {state}" for part, state in checks.items() if state != "ok"]
    return Health(status="degraded" if problems else "ok", model_version=version, items=items, problems=problems)


@router.get("/ready", response_model=Ready, responses={503: {"model": Ready, "description": "not ready"}})
def ready(svc: ServiceDep) -> Ready | JSONResponse:
    """Readiness: 200 when the database can be read and written (one row is written) and a
    model is loaded; otherwise 503 with `Retry-After` and the failing checks (no key needed)."""
    checks, _, _ = _checks(svc, write=True)
    if all(state == "ok" for state in checks.values()):
        return Ready(status="ready", checks=checks)
    body = Ready(status="not ready", checks=checks).model_dump()
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@router.get("/ping")
def ping() -> dict[str, bool]:
    """A bare endpoint (no database, no model): for load balancers and as the benchmark baseline."""
    return {"ok": True}


@router.get("/v1/about/algorithm", response_model=About)
def about(svc: ServiceDep) -> About:
    """算法推荐服务的基本原理、目的意图和主要运行机制 (算法推荐管理规定 art. 16)."""
    return About(**svc.reports.disclosure())
