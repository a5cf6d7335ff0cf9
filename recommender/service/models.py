"""The model lifecycle in a running service: which version serves, following the database.

A server process loads the active model version, applies items changed since (by this
process, by other workers, by imports) and swaps to a newly activated version when another
process activates one. Each version serves with its own pipeline config (saved in it); a
tuned config becomes a new *config-only* version sharing a trained version's arrays, which goes
live and comes back through the same activate and rollback. Builds run in a background thread
and report progress in their job row.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from corpus.taxonomy import Taxonomy
from recommender.artifacts import (
    ArtifactError,
    artifacts_dir,
    new_version_id,
    read_pipeline_config,
    save_config_version,
    set_active,
)
from recommender.config import PipelineConfig
from recommender.engine import Engine
from recommender.jsonconfig import ConfigError
from recommender.model import load_model
from recommender.service.errors import ServiceError
from recommender.store import Store

if TYPE_CHECKING:
    from recommender.build import BuildConfig

__all__ = ["ModelKeeper", "bootstrap"]

log = logging.getLogger("pufa.service")


def bootstrap(store: Store, models_dir: str | Path) -> None:
    """A fresh machine: import the bundled sample content into an empty database, and build
    and activate a first model when none is active."""
    from corpus.loaders import load_paths
    from recommender.build import BuildConfig, build_model

    if store.items.count() == 0:
        sample = Path(__file__).resolve().parents[2] / "corpus" / "sample"
        stats = store.items.upsert(load_paths([sample]).items, changed_by="bootstrap")
        log.warning("bootstrap: imported %d bundled sample items", stats.added)
    if store.models.active() is None:
        log.warning("bootstrap: no active model, building one from the database ...")
        report = build_model(store, models_dir, config=BuildConfig(evaluate=False))
        log.warning("bootstrap: model %s built and activated", report.version)


class ModelKeeper:
    """The engine of the active model version, kept in step with the database.

    ``config`` (None by default) replaces every version's own pipeline config; a
    ``minor_daily_cap`` given (the server's setting) replaces the version's ``filters.minor_daily_cap``."""

    def __init__(self, store: Store, models_dir: Path, config: PipelineConfig | None, taxonomy: Taxonomy,
                 sync_interval: float = 0.0, *, minor_daily_cap: int | None = None) -> None:
        self.store = store
        self.models_dir = models_dir
        self.config = config
        self.minor_daily_cap = minor_daily_cap
        self.taxonomy = taxonomy
        self.sync_interval = sync_interval
        self.current: Engine | None = None  # what serves now; None before the first load
        self._engine_seq = 0
        self._checked = 0.0
        self._lock = threading.RLock()
        self._build_job: str | None = None  # the newest build started by this process

    @property
    def engine(self) -> Engine:
        """The engine of the active model version (loaded on first use; kept in step)."""
        self._check_state()
        if self.current is None:
            raise ServiceError(503, "no active model: run `pufa build` (or POST /v1/admin/builds)")
        return self.current

    def loaded_version(self) -> str | None:
        """The active model version, following the database when it answers; while it does
        not, the version in memory (which keeps serving what needs no database)."""
        try:
            self._check_state()
        except (ServiceError, SQLAlchemyError):
            pass
        return self.current.version if self.current is not None else None

    def has_model(self) -> bool:
        try:
            self._check_state()
        except ServiceError:
            return False
        return self.current is not None

    def _check_state(self, force: bool = False) -> None:
        """Follow the database: the active model version and items changed elsewhere. One
        small query per request (two numbers); the work happens only when something moved."""
        now = time.monotonic()
        if not force and now - self._checked < self.sync_interval and self.current is not None:
            return
        self._checked = now
        if not force and self.current is not None:
            version, seq = self.store.state()
            if version == self.current.version and seq <= self._engine_seq:
                return
        with self._lock:
            active = self.store.models.active()
            if active is None:
                return
            if self.current is None or self.current.version != active.version:
                self._load(active.version, active.path)
            self.sync_items()

    def _load(self, version: str, path: str) -> None:
        try:
            model = load_model(path, taxonomy=self.taxonomy)
        except (ArtifactError, OSError, ValueError) as exc:
            log.error("cannot load model %s from %s: %s", version, path, exc)
            if self.current is None:
                raise ServiceError(503, f"the active model {version} cannot be loaded: {exc}") from exc
            return
        engine = Engine(model, self.store.people, self._serving_config(model.config), campaigns=self.store.campaigns)
        seq = int(model.manifest.get("catalog_seq") or 0)
        # Swap only when ready: requests in flight keep the engine they started with.
        self.current, self._engine_seq = engine, seq
        self.sync_items()
        log.info("model %s active (%d items)", version, len(model.catalog))

    def sync_items(self) -> dict[str, list[dict[str, Any]]]:
        """Apply items changed in the database since this engine's last look (this process,
        other workers, imports) to the engine: indexed and classified with the active model.
        Returns the predicted topics of the items it indexed."""
        engine = self.current
        preds: dict[str, list[dict[str, Any]]] = {}
        if engine is None:
            return preds
        with self._lock:
            while True:
                seq, ids = self.store.items.changes_since(self._engine_seq, limit=5000)
                if not ids:
                    return preds
                items = list(self.store.items.get_many(ids).values())
                new = engine.add_items(items, self.store.items.editor_tags([it.id for it in items]))
                self.store.items.set_predictions(new, engine.version)
                preds.update(new)
                self._engine_seq = seq

    def index_now(self, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Index and classify stored items with the active model right away; their predicted topics."""
        if not self.has_model():
            return {}
        self.sync_items()  # indexes and classifies every changed item, these included
        return self.store.items.predictions(ids)

    def activate(self, version: str) -> dict[str, Any]:
        models = {m.version: m for m in self.store.models.list()}
        if version not in models:
            raise ServiceError(404, f"no model version '{version}'", "version")
        try:
            load_model(models[version].path, taxonomy=self.taxonomy)  # refuse a broken version
        except (ArtifactError, OSError, ValueError) as exc:
            raise ServiceError(409, f"model {version} cannot be loaded: {exc}", "version") from exc
        self.store.models.activate(version)
        try:
            set_active(self.models_dir, version)
        except ArtifactError:
            pass  # the version lives outside this models directory; the database decides
        self._check_state(force=True)
        return {"version": version, "active": True}

    def rollback(self) -> dict[str, Any]:
        """Activate the version that was active before the current one."""
        models = self.store.models.list()
        current = next((m for m in models if m.active), None)
        older = sorted((m for m in models if not m.active and m.activated_at is not None),
                       key=lambda m: m.activated_at, reverse=True)  # type: ignore[arg-type, return-value]
        if current is None or not older:
            raise ServiceError(409, "no earlier activated model version to roll back to")
        return self.activate(older[0].version)

    def _serving_config(self, own: PipelineConfig) -> PipelineConfig:
        """What a version serves with: its own config, unless this keeper was given one; the
        server's minor cap, when set, over either."""
        cfg = self.config if self.config is not None else own
        if self.minor_daily_cap is not None and cfg.filters.minor_daily_cap != self.minor_daily_cap:
            cfg = cfg.merged({"filters": {"minor_daily_cap": self.minor_daily_cap}})
        return cfg

    def _version_path(self, version: str) -> Path:
        found = next((m for m in self.store.models.list() if m.version == version), None)
        if found is None:
            raise ServiceError(404, f"no model version '{version}'", "version")
        return Path(found.path)

    def config_of(self, version: str) -> PipelineConfig:
        """The pipeline config version ``version`` serves with (404 when unknown)."""
        try:
            return read_pipeline_config(self._version_path(version))
        except ArtifactError as exc:
            raise ServiceError(409, f"model {version}: {exc}", "version") from exc

    def derive_config_version(self, version: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A new, inactive version: ``version``'s pipeline config with ``patch`` (a full or
        partial config) written over it, sharing ``version``'s trained arrays (never copied).
        422 naming the field for a bad value, 404 for an unknown version."""
        parent = self._version_path(version)
        try:
            config = read_pipeline_config(parent).merged(patch)
        except ConfigError as exc:
            raise ServiceError(422, str(exc), exc.field) from exc
        except ArtifactError as exc:
            raise ServiceError(409, f"model {version}: {exc}", "version") from exc
        new = new_version_id(salt=version)
        try:
            out = save_config_version(self.models_dir, parent, config, new)
        except ArtifactError as exc:
            raise ServiceError(409, f"model {version} cannot be shared: {exc}", "version") from exc
        metrics = dict(next(m for m in self.store.models.list() if m.version == version).metrics or {})
        metrics.update(config_only=True, parent=version)
        self.store.models.register(new, str(out), metrics)
        log.info("config-only version %s made from %s (not active)", new, version)
        return {"version": new, "parent": version, "config_only": True, "active": False, "config": config.to_dict()}

    def _retrain_config(self) -> tuple[BuildConfig, PipelineConfig | None]:
        """The configurations the active version was built and serves with (a retrain changes
        the data, not the recipe); the defaults when there is no active version or it kept none."""
        from recommender.build import BuildConfig

        active = self.store.models.active()
        if active is None:
            return BuildConfig(), None
        build, pipeline = BuildConfig(), None
        try:
            home = Path(active.path)
            pipeline = read_pipeline_config(home)
            path = artifacts_dir(home) / "build_config.json"
            if path.exists():
                build = BuildConfig.from_stored_json(path.read_text(encoding="utf-8"), str(path))
        except (ArtifactError, OSError, ValueError, TypeError) as exc:
            log.warning("the active version's configs cannot be read (%s): defaults", exc)
        return build, pipeline

    def start_build(self, *, evaluate: bool = False, activate: bool = True,
                    on_done: Callable[[str], None] | None = None) -> str:
        """Build a new version in a background thread; progress is in the build job row.
        ``activate=False`` registers the version for an admin to compare and activate. One
        build at a time per process: 409 while one started here is queued or running."""
        from recommender.build import build_model

        jobs = self.store.models
        with self._lock:
            running = jobs.job(self._build_job) if self._build_job else None
            if running is not None and running.status in ("queued", "running"):
                raise ServiceError(409, f"a build is still {running.status}: job {running.id}")
            job_id = uuid.uuid4().hex[:12]
            jobs.create_job(job_id)
            self._build_job = job_id

        def run() -> None:
            jobs.update_job(job_id, status="running", message="starting")
            last = [0.0]

            def progress(stage: str, fraction: float) -> None:
                if fraction - last[0] >= 0.02 or fraction >= 1.0:
                    last[0] = fraction
                    jobs.update_job(job_id, progress=round(fraction, 3), message=stage)

            try:
                cfg, pipeline = self._retrain_config()
                cfg.evaluate = evaluate
                report = build_model(self.store, self.models_dir, config=cfg, taxonomy=self.taxonomy,
                                     activate=activate, progress=progress, pipeline=pipeline)
                self._check_state(force=True)  # serve the new version before saying "done"
                done = "done" if activate else "built; not active until an admin activates it"
                jobs.update_job(job_id, status="done", progress=1.0, message=done, version=report.version)
                if on_done:
                    on_done(report.version)
            except Exception as exc:  # the job reports any failure; the server keeps running
                log.exception("build %s failed", job_id)
                jobs.update_job(job_id, status="failed", message=str(exc)[:500])

        threading.Thread(target=run, name=f"build-{job_id}", daemon=True).start()
        return job_id
