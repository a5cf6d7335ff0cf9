"""Model versions (which one is active) and background build jobs."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from recommender.records import BuildJob, ModelVersion
from recommender.store.db import Database, aware_row, utcnow
from recommender.store.tables import build_jobs, model_versions

__all__ = ["ModelStore"]


class ModelStore:
    """The registry of built model versions and the build jobs that make them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, version: str, path: str, metrics: dict[str, Any] | None) -> None:
        with self.db.begin() as conn:
            conn.execute(model_versions.delete().where(model_versions.c.version == version))
            conn.execute(model_versions.insert(), [{"version": version, "path": path, "created_at": utcnow(),
                                                    "metrics": json.loads(json.dumps(metrics or {}, default=str)),
                                                    "active": False}])

    def activate(self, version: str) -> None:
        """Make ``version`` the one served; KeyError when it is not registered."""
        with self.db.begin() as conn:
            found = conn.execute(sa.select(model_versions.c.version).where(model_versions.c.version == version)).scalar()
            if found is None:
                raise KeyError(version)
            conn.execute(model_versions.update().values(active=False))
            conn.execute(model_versions.update().where(model_versions.c.version == version)
                         .values(active=True, activated_at=utcnow()))

    def active(self) -> ModelVersion | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(model_versions).where(model_versions.c.active == sa.true())).mappings().first()
        return ModelVersion(**aware_row(row)) if row else None

    def list(self) -> list[ModelVersion]:
        with self.db.connect() as conn:
            rows = conn.execute(sa.select(model_versions).order_by(model_versions.c.created_at.desc())).mappings().all()
        return [ModelVersion(**aware_row(r)) for r in rows]

    def create_job(self, job_id: str) -> None:
        with self.db.begin() as conn:
            conn.execute(build_jobs.insert(), [{"id": job_id, "status": "queued", "progress": 0.0,
                                                "started_at": utcnow()}])

    def update_job(self, job_id: str, *, status: str | None = None, progress: float | None = None,
                   message: str | None = None, version: str | None = None) -> None:
        fields: dict[str, Any] = {k: v for k, v in (("status", status), ("progress", progress),
                                                    ("message", message), ("version", version)) if v is not None}
        if status in ("done", "failed"):
            fields["finished_at"] = utcnow()
        with self.db.begin() as conn:
            conn.execute(build_jobs.update().where(build_jobs.c.id == job_id).values(**fields))

    def latest_job(self) -> BuildJob | None:
        """The build job started last (any process), or None before the first."""
        with self.db.connect() as conn:
            row = conn.execute(sa.select(build_jobs).order_by(build_jobs.c.started_at.desc()).limit(1)) \
                .mappings().first()
        return BuildJob(**aware_row(row)) if row else None

    def job(self, job_id: str) -> BuildJob | None:
        with self.db.connect() as conn:
            row = conn.execute(sa.select(build_jobs).where(build_jobs.c.id == job_id)).mappings().first()
        return BuildJob(**aware_row(row)) if row else None
