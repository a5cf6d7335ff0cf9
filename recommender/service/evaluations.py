"""A candidate version measured against another (the active one by default) in the background,
for analysts: ``POST /v1/admin/models/{v}/evaluation`` starts it, ``GET`` reads it
(:mod:`recommender.compare`).

The measuring runs in a child process at low priority (``pufa evaluate --version V --against A
--json``; the server's database URL reaches it in the environment, not on its command line), so
the server keeps answering meanwhile. The job's state and, when done, its table live in
``comparison.json`` in the candidate version's directory (written whole, by rename), so every
worker of the server reads the same thing and a restart keeps the last result. One evaluation
at a time per process (409 while one runs): about a minute on the sample, several on the full
corpus, more with the answers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from recommender.service.errors import ServiceError
from recommender.service.models import ModelKeeper
from recommender.store import Store

__all__ = ["Evaluations"]

log = logging.getLogger("pufa.evaluations")
FILE = "comparison.json"


def _lower_priority() -> None:
    os.nice(10)


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
            # In a child process at low priority (``pufa evaluate --against --json``): minutes of
            # Python work in a thread of the server would hold the interpreter lock and starve the
            # requests it serves meanwhile.
            cmd = [sys.executable, "-m", "recommender.cli", "evaluate", "--models", str(self.keeper.models_dir),
                   "--version", version, "--against", against, "--people", str(people), "--seeds", str(seeds),
                   "--shared", str(shared), "--json", *(["--answers"] if answers else [])]
            env = {**os.environ, "PUFA_DB": self.store.db.sql.url.render_as_string(hide_password=False)}
            try:
                state.update(state="running", progress=0.0, message="measuring both versions (a child process)")
                self._write(home, state)
                done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False,
                                      preexec_fn=_lower_priority if os.name == "posix" else None)
                if done.returncode not in (0, 3):  # 3: the candidate is worse somewhere, a result
                    raise RuntimeError(f"pufa evaluate exited {done.returncode}: {done.stderr.strip()[-400:]}")
                from recommender.compare import format_comparison

                comparison = json.loads(done.stdout)
                state.update(state="done", progress=1.0, message="done", finished_at=_now(),
                             comparison=comparison, table=format_comparison(comparison))
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
