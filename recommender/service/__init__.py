"""The service: the engine, the store and the model lifecycle behind one object.

The HTTP API (``api/``) and the CLI call this; it holds no HTTP knowledge. Input arrives
validated in shape (``recommender.inputs``); the service checks what needs data (raising
:class:`ServiceError` naming the field), keeps the engine in step with the database, logs
every recommendation it serves (the exposure log) and carries the duties of a recommendation
service: non-personal mode, tag removal, erasure, minors' protection. Its rooms:

- ``models``    :class:`~recommender.service.models.ModelKeeper`: the active version, builds
- ``people``    :class:`~recommender.service.people.People`: events, profiles, tags, erasure
- ``content``   :class:`~recommender.service.content.Content`: items, editor tags, review
- ``campaigns`` :class:`~recommender.service.content.Campaigns`
- ``reports``   :class:`~recommender.service.reports.Reports`: coverage, model report, disclosure
- ``experiments`` :class:`~recommender.service.experiments.Experiments`: variants and their share
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from pathlib import Path

from corpus.taxonomy import load_taxonomy
from recommender.config import PipelineConfig
from recommender.engine import Engine, RecommendResult
from recommender.inputs import RecommendRequest
from recommender.service.content import Campaigns, Content
from recommender.service.errors import Checks, ServiceError
from recommender.service.evaluations import Evaluations
from recommender.service.experiments import CONTROL, Experiments
from recommender.service.models import ModelKeeper, bootstrap
from recommender.service.people import EventResult, People
from recommender.service.reports import Reports
from recommender.store import Store, utcnow
from recommender.vocab import EXPOSURE_RETENTION_DAYS

__all__ = ["EventResult", "PufaService", "ServiceError", "bootstrap"]


class PufaService:
    def __init__(self, store: Store, models_dir: str | Path, *, config: PipelineConfig | None = None,
                 exposure_retention_days: int = EXPOSURE_RETENTION_DAYS, minor_daily_cap: int | None = None,
                 sync_interval: float = 0.0) -> None:
        self.store = store
        self.models_dir = Path(models_dir)
        # None: each model version serves with its own pipeline config (saved in it); a config
        # given here replaces them all (tests, experiments). ``minor_daily_cap`` (the server's
        # setting), when given, replaces the version's ``filters.minor_daily_cap``.
        self.config = config
        self.exposure_retention_days = exposure_retention_days
        self.taxonomy = load_taxonomy()
        self.checks = Checks(self.taxonomy)
        self.models = ModelKeeper(store, self.models_dir, config, self.taxonomy, sync_interval,
                                  minor_daily_cap=minor_daily_cap)
        self.people = People(store, self.models, self.checks, self.taxonomy)
        self.content = Content(store, self.models, self.checks, self.taxonomy)
        self.campaigns = Campaigns(store, self.models, self.checks, self.taxonomy)
        self.reports = Reports(store, self.models, self.taxonomy)
        self.evaluations = Evaluations(store, self.models)
        self.experiments = Experiments(store, self.models)
        self._last_purge = 0.0

    @property
    def engine(self) -> Engine:
        """The engine of the active model version (503 when there is none)."""
        return self.models.engine

    def recommend(self, req: RecommendRequest) -> RecommendResult:
        """Rank for a person or a group, and log what was shown (the exposure log)."""
        if req.groups:
            self.checks.groups(req.groups)
        self.checks.region(req.region)
        engine = self.models.engine
        now = utcnow()
        shown = None
        user = self.store.people.get(req.user_id) if req.user_id else None
        if user is not None and user.minor:
            day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            shown = self.store.exposures.shown_since(user.id, day_start)
        # The request id is made here: an anonymous request is assigned a variant by it.
        request_id = uuid.uuid4().hex
        personal = req.personalized is not False and (user is None or user.personalized)
        variant, engine = self.experiments.choose(user_id=req.user_id, request_id=request_id, personal=personal,
                                                  control=engine)
        result = engine.recommend(req, now=now, shown_today=shown, user=user)
        # A variant's list is its version's (its config over the active version's arrays).
        result = dataclasses.replace(result, request_id=request_id, variant=variant,
                                     model_version=result.model_version if variant == CONTROL else variant)
        self.store.exposures.log(
            request_id=result.request_id, user_id=req.user_id, groups=result.groups,
            items_shown=[{"item_id": i["item_id"], "reasons": i["reasons"], "score": i["score"]} for i in result.items],
            model_version=result.model_version, personalized=result.personalized, user_exists=user is not None,
            variant=variant,
        )
        if time.monotonic() - self._last_purge > 3600:
            self.purge_exposures()
        return result

    def purge_exposures(self) -> int:
        """Delete exposure records older than the retention period; how many went."""
        self._last_purge = time.monotonic()
        cutoff = utcnow() - dt.timedelta(days=self.exposure_retention_days)
        return self.store.exposures.purge(cutoff)
