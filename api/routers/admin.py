"""Model versions (list, compare, configs, activate, roll back), builds and the exposure purge.

Activation and rollback are the admin's; editors and analysts may compare a version with the
active one and read its pipeline config, and editors may request a retrain (POST /v1/builds):
its version is registered, not activated, until an admin activates it. An admin puts a tuned
pipeline config live by making a config-only version of it (POST .../{version}/config) and
activating that; rollback brings the previous one back.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from recommender.config import PipelineConfig
from recommender.records import BuildJob, ModelComparison, ModelVersion
from recommender.service import ServiceError
from recommender.service.reports import MODEL_READERS, RETRAIN_ROLES

from ..deps import Admin, Analyst, ServiceDep, require
from ..schemas import ConfigVersionOut, ModelComparisonOut

router = APIRouter(prefix="/v1", tags=["admin"])

ModelReader = Annotated[str, Depends(require(*MODEL_READERS))]
Retrainer = Annotated[str, Depends(require(*RETRAIN_ROLES))]
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


@router.get("/admin/models", response_model=list[ModelVersion])
def models(svc: ServiceDep, _: Admin) -> list[ModelVersion]:
    return svc.store.models.list()


@router.get("/admin/models/{version}/compare", response_model=ModelComparisonOut)
def compare(version: str, svc: ServiceDep, _: ModelReader) -> ModelComparison:
    """The version's figures (classifier and answer cross-validation, offline evaluation where
    stored, sizes) beside the active version's: difference and better/worse for each."""
    return svc.reports.compare_models(version)


@router.get("/admin/models/{version}/compare.png", response_class=Response, responses=PNG)
def compare_png(version: str, svc: ServiceDep, _: ModelReader) -> Response:
    """The comparison as a bar chart: the version's figures against the active one's."""
    from recommender.plots import comparison_chart  # matplotlib is loaded when a chart is first asked for

    return Response(comparison_chart(svc.reports.compare_models(version)), media_type="image/png")


class EvaluationRequest(BaseModel):
    """What to measure: the candidate against ``against`` (``active`` or a version)."""

    model_config = ConfigDict(extra="forbid")
    against: str = Field("active", min_length=1, max_length=64, description="'active' or a model version")
    answers: bool = Field(False, description="also the answers on stard_dev.jsonl, cross-validated (minutes)")
    people: int = Field(300, ge=20, le=2000, description="simulated people per seed (a sanity check)")
    seeds: int = Field(3, ge=1, le=10, description="simulated populations")


class EvaluationJob(BaseModel):
    version: str
    against: str
    state: Literal["queued", "running", "done", "failed"]
    progress: float
    message: str
    answers: bool
    people: int
    seeds: int
    questions: int = Field(description="labelled real questions of the test split measured")
    started_at: str
    finished_at: str | None = None
    comparison: dict[str, Any] | None = Field(
        None, description="when done: one row per measure with both means, their 95 % bootstrap intervals, "
                          "the difference (candidate - active) with its interval and a verdict")
    table: str | None = Field(None, description="when done: the same as a text table")


@router.post("/admin/models/{version}/evaluation", response_model=EvaluationJob, status_code=202)
def start_evaluation(version: str, svc: ServiceDep, _: Analyst,
                     body: Annotated[EvaluationRequest | None, Body()] = None) -> dict[str, Any]:
    """Measure a version against the active one (or another) on every offline measure, in the
    background: real questions of the test split, each group's feed against its judged laws,
    simulated people (a sanity check), optionally the answers. Analysts and admins. Read the
    result with GET on the same path."""
    req = body or EvaluationRequest()
    return svc.evaluations.start(version, against=req.against, answers=req.answers, people=req.people,
                                 seeds=req.seeds)


@router.get("/admin/models/{version}/evaluation", response_model=EvaluationJob)
def get_evaluation(version: str, svc: ServiceDep, _: ModelReader) -> dict[str, Any]:
    """The newest evaluation of a version against another: its progress, then its table."""
    return svc.evaluations.get(version)


@router.get("/admin/models/{version}/config", response_model=PipelineConfig)
def get_config(version: str, svc: ServiceDep, _: ModelReader) -> PipelineConfig:
    """The pipeline config the version serves with (its pipeline_config.json; the defaults for
    a version built before configs were saved). Its JSON Schema is PipelineConfig's."""
    return svc.models.config_of(version)


ConfigPatch = Annotated[dict[str, Any], Body(
    description="A full or partial PipelineConfig (see GET /v1/admin/models/{version}/config), written over "
                "the version's config section by section. Unknown fields, wrong types and values out of range "
                "are 422 naming the field.",
    openapi_examples={"one list rule": {"value": {"diversity": {"max_per_law": 1}}},
                      "no Q&A": {"value": {"filters": {"exclude_types": ["qa"]}}}})]


@router.post("/admin/models/{version}/config", response_model=ConfigVersionOut, status_code=201)
def derive_config(version: str, patch: ConfigPatch, svc: ServiceDep, _: Admin) -> dict[str, Any]:
    """A new config-only version: this version's pipeline config with the body written over it,
    sharing its trained arrays (nothing is copied or retrained). It is registered, not active:
    POST /v1/admin/models/{new}:activate puts it live, /v1/admin/models:rollback takes it back."""
    return svc.models.derive_config_version(version, patch)


@router.post("/admin/models/{version}:activate")
def activate(version: str, svc: ServiceDep, _: Admin) -> dict[str, Any]:
    """Switch to a version atomically: requests in flight finish on the version they began with."""
    return svc.models.activate(version)


@router.post("/admin/models:rollback")
def rollback(svc: ServiceDep, _: Admin) -> dict[str, Any]:
    """Back to the previously active version, in one call."""
    return svc.models.rollback()


@router.post("/admin/builds", response_model=BuildJob, status_code=202)
def start_build(svc: ServiceDep, _: Admin, evaluate: bool = False) -> BuildJob:
    """Train a new version in the background and activate it when done; poll GET
    /v1/admin/builds/{id} for progress."""
    job_id = svc.models.start_build(evaluate=evaluate)
    job = svc.store.models.job(job_id)
    assert job is not None
    return job


@router.get("/admin/builds/{job_id}", response_model=BuildJob)
def get_build(job_id: str, svc: ServiceDep, _: Admin) -> BuildJob:
    return _job(svc, job_id)


@router.post("/builds", response_model=BuildJob, status_code=202, tags=["builds"])
def request_build(svc: ServiceDep, _: Retrainer, evaluate: bool = True) -> BuildJob:
    """An editor's retrain: train a new version in the background, cross-validated by default so
    that it can be compared with the active one (GET /v1/admin/models/{version}/compare). It is
    not activated: only an admin activates or rolls back. 409 while a build requested here runs."""
    return svc.reports.request_build(evaluate=evaluate)


@router.get("/builds/{job_id}", response_model=BuildJob, tags=["builds"])
def get_requested_build(job_id: str, svc: ServiceDep, _: Retrainer) -> BuildJob:
    """A build's progress (status, fraction done, stage, the version it made)."""
    return _job(svc, job_id)


def _job(svc: ServiceDep, job_id: str) -> BuildJob:
    job = svc.store.models.job(job_id)
    if job is None:
        raise ServiceError(404, f"no build '{job_id}'", "job_id")
    return job


@router.post("/admin/exposures:purge")
def purge(svc: ServiceDep, _: Admin) -> dict[str, int]:
    """Delete exposure records older than the retention period now (also done hourly)."""
    return {"deleted": svc.purge_exposures()}
