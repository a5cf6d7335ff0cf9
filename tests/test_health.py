"""Honest health (issue 7, item 3): ``/health`` is liveness and says what is wrong, ``/ready`` is
200 only when the database takes reads and writes and a model is loaded; a database outage is a
503 with a JSON body and ``Retry-After``, never a plain-text 500; recovery needs no restart.
"""

from __future__ import annotations

import socket
import threading
import uuid

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from recommender.store import open_store

from .conftest import PG_URL
from .test_server import copy_sqlite


def _events(user: str, n: int, tag: str) -> dict:
    return {"events": [{"id": f"{tag}-{i}", "user_id": user, "type": "view", "item_id": "sample-a-001"}
                       for i in range(n)]}


def test_ready_when_the_database_takes_writes_and_a_model_is_loaded(backend_env):
    with TestClient(create_app(Settings(db=backend_env["url"], models=str(backend_env["models"])))) as c:
        r = c.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ready", "checks": {"database": "ok", "model": "ok"}}
        body = c.get("/health").json()
        assert body["status"] == "ok" and body["problems"] == [] and body["items"] > 300


def test_no_model_is_not_ready_and_health_says_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    with TestClient(create_app(Settings(db=url, models=str(tmp_path / "models")))) as c:
        health = c.get("/health")
        assert health.status_code == 200  # alive: do not restart it, build a model
        assert health.json()["status"] == "degraded" and health.json()["model_version"] is None
        assert any(p.startswith("model: no active model") for p in health.json()["problems"])
        ready = c.get("/ready")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "5"
        assert ready.json()["checks"]["database"] == "ok"
        assert "pufa build" in ready.json()["checks"]["model"]


def test_a_read_only_sqlite_file_answers_503_and_keeps_its_data(backend_env, tmp_path):
    if backend_env["backend"] != "sqlite":
        pytest.skip("a SQLite file")
    path = tmp_path / "pufa.db"
    copy_sqlite(backend_env["root"] / "pufa.db", path)
    models = str(backend_env["models"])
    with TestClient(create_app(Settings(db=f"sqlite:///{path}", models=models))) as c:
        assert c.post("/v1/events", json=_events("ro-1", 3, "before")).status_code == 202
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    with TestClient(create_app(Settings(db=read_only, models=models))) as c:
        # A read answers, or is a 503 too when the service must first write (it indexes and
        # classifies items changed since the model was built, as other tests change them).
        read = c.get("/v1/users/ro-1")
        assert (read.status_code == 200 and read.json()["events"] == 3) or read.status_code == 503, read.text
        for method, url, body in (("POST", "/v1/events", _events("ro-1", 2, "during")),
                                  ("PUT", "/v1/users/ro-2", {"groups": ["herders"]}),
                                  ("DELETE", "/v1/users/ro-1", None)):
            r = c.request(method, url, json=body)
            assert r.status_code == 503, (url, r.status_code, r.text)
            assert r.headers["content-type"] == "application/json" and r.headers["retry-after"] == "5"
            assert r.json()["detail"].startswith("database unavailable: the database file is read-only")
        ready = c.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "the database file is read-only", "model": "ok"}
        assert c.get("/health").status_code == 200
    with TestClient(create_app(Settings(db=f"sqlite:///{path}", models=models))) as c:
        assert c.get("/v1/users/ro-1").json()["events"] == 3  # nothing lost, nothing half-written
        assert c.get("/v1/users/ro-2").status_code == 404
        assert c.get("/ready").status_code == 200


class _Cable:
    """A TCP relay between the application and PostgreSQL that can be cut and mended: the
    database goes away under a running service (as when it restarts) and comes back."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.mend()

    def mend(self) -> None:
        lis = socket.socket()
        lis.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lis.bind(("127.0.0.1", self.port))
        self.port = lis.getsockname()[1]
        lis.listen(16)
        self._listener = lis
        threading.Thread(target=self._accept, args=(lis,), daemon=True).start()

    def cut(self) -> None:
        assert self._listener is not None
        try:  # wakes the thread blocked in accept() and stops listening (close alone does not)
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for s in self._conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._conns.clear()

    def _accept(self, lis: socket.socket) -> None:
        while True:
            try:
                client, _ = lis.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass


def test_postgres_going_away_answers_503_and_recovers_without_a_restart(backend_env):
    if backend_env["backend"] != "postgres":
        pytest.skip("PostgreSQL (PUFA_TEST_PG_URL)")
    assert PG_URL
    url = open_store(backend_env["url"], migrate_schema=False).db.sql.url
    cable = _Cable(url.host or "127.0.0.1", url.port or 5432)
    via_cable = url.set(host="127.0.0.1", port=cable.port).render_as_string(hide_password=False)
    user = f"pg-out-{uuid.uuid4().hex[:6]}"
    with TestClient(create_app(Settings(db=via_cable, models=str(backend_env["models"])))) as c:
        assert c.post("/v1/events", json=_events(user, 4, f"{user}-a")).status_code == 202
        assert c.get("/ready").status_code == 200
        cable.cut()
        for method, path, body in (("POST", "/v1/events", _events(user, 3, f"{user}-b")),
                                   ("GET", f"/v1/users/{user}", None),
                                   ("POST", "/v1/recommendations", {"user_id": user, "k": 3}),
                                   ("PUT", f"/v1/users/{user}", {"groups": ["herders"]})):
            r = c.request(method, path, json=body)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert r.headers["retry-after"] == "5" and r.json()["detail"].startswith("database unavailable")
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["items"] is None and health.json()["model_version"] == backend_env["version"]
        assert c.get("/ready").status_code == 503
        cable.mend()
        assert c.get("/ready").status_code == 200
        assert c.post("/v1/events", json=_events(user, 3, f"{user}-b")).status_code == 202
        assert c.get(f"/v1/users/{user}").json()["events"] == 7
        assert c.post("/v1/recommendations", json={"user_id": user, "k": 3}).status_code == 200
    cable.cut()
