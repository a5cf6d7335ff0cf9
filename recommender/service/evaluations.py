"""A candidate version measured against another (the active one by default) in the background,
for analysts: ``POST /v1/admin/models/{v}/evaluation`` starts it, ``GET`` reads it
(:mod:`recommender.compare`).

The job's state and, when done, its table live in ``comparison.json`` in the candidate
version's directory (written whole, by rename), so every worker of the server reads the same
thing and a restart keeps the last result. One evaluation at a time per process (409 while one
runs): it takes the CPU a build would (about a minute on the sample, several on the full corpus,
more with the answers).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from recommender.model import load_model
from recommender.service.errors import ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store

__all__ = ["Evaluations"]

log = logging.getLogger("pufa.evaluations")
FILE = "comparison.json"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Evaluations:
    def __init__(self, store: Store, keeper: ModelKeeper) -> None:
        self.store = store
        self.keeper = keeper
        self._lock = threading.Lock()
        self._running: str | None = None

    def _path(self, version: str) -> Path:
        found = next((m for m in self.store.models.list() if m.version == version), None)
        if found is None:
            raise ServiceError(404, f"no model version '{version}'", "version")
        return Path(found.path)

    def _write(self, home: Path, state: dict[str, Any]) -> None:
        tmp = home / f".{FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(state, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(tmp, home / FILE)

    def get(self, version: str) -> dict[str, Any]:
        """The newest evaluation of ``version`` (404 when it has none)."""
        path = self._path(version) / FILE
        if not path.exists():
            raise ServiceError(404, f"model version '{version}' has not been evaluated: POST "
                                    f"/v1/admin/models/{version}/evaluation", "version")
        try:
            return dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ServiceError(409, f"the evaluation of '{version}' cannot be read: {exc}", "version") from exc

    def start(self, version: str, *, against: str = "active", answers: bool = False, people: int = 300,
              seeds: int = 3) -> dict[str, Any]:
        """Measure ``version`` against ``against`` (a version, or ``active``) in a background
        thread; returns the job's first state (``queued``)."""
        from recommender.build import default_shared
        from recommender.evaluate import DEFAULT_QUESTIONS, load_labelled_questions, load_split

        home = self._path(version)
        if against == "active":
            active = self.store.models.active()
            if active is None:
                raise ServiceError(409, "there is no active version to compare with", "against")
            against = active.version
        other = self._path(against) if against != version else None
        if other is None:
            raise ServiceError(422, "a version compared with itself: name another one", "against")
        shared = default_shared()
        stard = shared / "queries" / "stard_dev.jsonl"
        if answers and not stard.exists():
            raise ServiceError(422, f"answers need {stard}, which this server does not have", "answers")
        try:
            questions = load_labelled_questions(DEFAULT_QUESTIONS, shared)
            test = load_split("real_questions", "test")
            questions = [q for q in questions if test is None or q["id"] in test]
        except FileNotFoundError:
            questions = []
        with self._lock:
            if self._running is not None:
                raise ServiceError(409, f"an evaluation is still running here: {self._running}")
            self._running = version
        state: dict[str, Any] = {"version": version, "against": against, "state": "queued", "progress": 0.0,
                                 "message": "queued", "answers": answers, "people": people, "seeds": seeds,
                                 "questions": len(questions), "started_at": _now(), "finished_at": None,
                                 "comparison": None, "table": None}
        self._write(home, state)

        def run() -> None:
            from recommender.compare import compare_versions, format_comparison

            try:
                def progress(message: str, fraction: float) -> None:
                    state.update(state="running", progress=round(fraction, 3), message=message)
                    self._write(home, state)

                progress("loading both versions", 0.0)
                cmp = compare_versions(load_model(home, taxonomy=self.keeper.taxonomy),
                                       load_model(other, taxonomy=self.keeper.taxonomy),
                                       questions=questions or None, people=people, seeds=seeds,
                                       stard=stard if answers else None, read_items=self.store.items.get_many,
                                       progress=progress)
                state.update(state="done", progress=1.0, message="done", finished_at=_now(),
                             comparison=cmp.to_dict(), table=format_comparison(cmp))
            except Exception as exc:  # the job reports any failure; the server keeps running
                log.exception("evaluation of %s against %s failed", version, against)
                state.update(state="failed", message=str(exc)[:500], finished_at=_now())
            finally:
                self._write(home, state)
                with self._lock:
                    self._running = None

        queued = dict(state)  # what this call answers, whatever the thread has done by then
        threading.Thread(target=run, name=f"evaluate-{version}", daemon=True).start()
        return queued
