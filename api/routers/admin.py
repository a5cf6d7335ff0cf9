"""Model versions (list, activate, roll back), background builds and the exposure purge: the admin role."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from recommender.records import BuildJob, ModelVersion
from recommender.service import ServiceError

from ..deps import Admin, ServiceDep

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/models", response_model=list[ModelVersion])
def models(svc: ServiceDep, _: Admin) -> list[ModelVersion]:
    return svc.store.models.list()


@router.post("/models/{version}:activate")
def activate(version: str, svc: ServiceDep, _: Admin) -> dict[str, Any]:
    """Switch to a version atomically: requests in flight finish on the version they began with."""
    return svc.models.activate(version)


@router.post("/models:rollback")
def rollback(svc: ServiceDep, _: Admin) -> dict[str, Any]:
    """Back to the previously active version, in one call."""
    return svc.models.rollback()


@router.post("/builds", response_model=BuildJob, status_code=202)
def start_build(svc: ServiceDep, _: Admin, evaluate: bool = False) -> BuildJob:
    """Train a new version in the background; poll GET /v1/admin/builds/{id} for progress."""
    job_id = svc.models.start_build(evaluate=evaluate)
    job = svc.store.models.job(job_id)
    assert job is not None
    return job


@router.get("/builds/{job_id}", response_model=BuildJob)
def get_build(job_id: str, svc: ServiceDep, _: Admin) -> BuildJob:
    job = svc.store.models.job(job_id)
    if job is None:
        raise ServiceError(404, f"no build '{job_id}'", "job_id")
    return job


@router.post("/exposures:purge")
def purge(svc: ServiceDep, _: Admin) -> dict[str, int]:
    """Delete exposure records older than the retention period now (also done hourly)."""
    return {"deleted": svc.purge_exposures()}
