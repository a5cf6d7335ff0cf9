"""Through a real uvicorn process: the main job from an empty database, durability of
acknowledged events across a killed server, several workers answering as one, and the model
lifecycle (background build, atomic switch, rollback)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
PUFA = [sys.executable, "-m", "recommender.cli"]


def copy_sqlite(src: Path, dst: Path) -> None:
    """Copy a live SQLite database (WAL mode) consistently, with the backup API."""
    import sqlite3

    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db: str, models: Path, *, workers: int = 1, bootstrap: bool = False, keys: str = "") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PUFA_API_KEYS": keys, "PYTHONUNBUFFERED": "1"}
        cmd = [*PUFA, "serve", "--db", db, "--models", str(models), "--port", str(self.port),
               "--workers", str(workers)] + (["--bootstrap"] if bootstrap else [])
        self.log = open(models.parent / f"server-{self.port}.log", "w")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {Path(self.log.name).read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/health", timeout=2).json().get("model_version"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError("server did not start in time")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


@pytest.fixture
def fresh(tmp_path):
    return {"db": f"sqlite:///{tmp_path / 'pufa.db'}", "models": tmp_path / "models"}


def test_main_job_from_an_empty_database_and_no_event_lost_when_killed(fresh):
    server = Server(fresh["db"], fresh["models"], bootstrap=True)
    try:
        health = httpx.get(server.url + "/health").json()
        assert health["items"] >= 200 and health["model_version"]
        user = f"u-{uuid.uuid4().hex[:6]}"
        events = [{"id": f"{user}-{n}", "user_id": user, "type": "view", "item_id": f"sample-a-{n:03d}"}
                  for n in range(1, 41)]
        r = httpx.post(server.url + "/v1/events", json={"events": events})
        assert r.status_code == 202 and r.json()["accepted"] == 40
        r = httpx.post(server.url + "/v1/events", json={"id": f"{user}-q", "user_id": user, "type": "question",
                                                         "text": "草场承包合同到期了怎么续"})
        assert r.status_code == 202
    finally:
        server.stop(signal.SIGKILL)  # no graceful shutdown
    server = Server(fresh["db"], fresh["models"])
    try:
        profile = httpx.get(f"{server.url}/v1/users/{user}").json()
        assert profile["events"] == 41
        body = httpx.post(server.url + "/v1/recommendations", json={"user_id": user, "k": 5}).json()
        assert any(r.startswith(("与您的提问相关", "与您的问题相关：")) for r in body["items"][0]["reasons"])
        # Retrying the acknowledged batch after the crash stores nothing twice.
        again = httpx.post(server.url + "/v1/events", json={"events": events}).json()
        assert again["accepted"] == 0 and again["duplicates"] == 40
    finally:
        server.stop()


def _answers(url: str, users: list[str]) -> list[list[str]]:
    out = []
    with httpx.Client(base_url=url, timeout=30) as c:
        for _ in range(3):
            for u in users:
                body = c.post("/v1/recommendations", json={"user_id": u, "k": 10}).json()
                out.append([i["item_id"] for i in body["items"]])
            for g in ("herders", "youth", "officials"):
                body = c.post("/v1/recommendations", json={"groups": [g], "k": 10, "date": "2026-12-03"}).json()
                out.append([i["item_id"] for i in body["items"]])
    return out


def test_several_workers_answer_as_one(backend_env, tmp_path):
    """Runs on each backend (backend_env is parametrized: SQLite, PostgreSQL)."""
    db, models = backend_env["url"], backend_env["models"]
    if backend_env["backend"] == "sqlite":
        copy_sqlite(backend_env["root"] / "pufa.db", tmp_path / "pufa.db")
        db = f"sqlite:///{tmp_path / 'pufa.db'}"
    users = []
    one = Server(db, models, workers=1)
    try:
        with httpx.Client(base_url=one.url) as c:
            for n, text in enumerate(["老板拖欠工资", "离婚孩子抚养", "草场被占", "网上被骗"]):
                u = f"w-{uuid.uuid4().hex[:6]}"
                users.append(u)
                c.post("/v1/events", json={"user_id": u, "type": "question", "text": text})
                c.post("/v1/events", json={"user_id": u, "type": "view", "item_id": f"sample-b-{n + 1:03d}"})
        single = _answers(one.url, users)
    finally:
        one.stop()
    many = Server(db, models, workers=2)
    try:
        assert _answers(many.url, users) == single
        # An item added through one worker is recommendable through every worker at once.
        item = f"multi-{uuid.uuid4().hex[:6]}"
        r = httpx.post(many.url + "/v1/items", json={"id": item, "title": "草原生态补奖政策问答", "type": "qa",
                                                     "body": "草原生态保护补助奖励，禁牧补助和草畜平衡奖励怎么领取。"})
        assert r.status_code == 201
        for _ in range(8):
            body = httpx.post(many.url + "/v1/recommendations",
                              json={"query": "草原生态保护补助奖励 禁牧补助 草畜平衡奖励", "k": 5}).json()
            assert item in [i["item_id"] for i in body["items"]]
    finally:
        many.stop()


def test_model_lifecycle_build_switch_rollback(sample_env, tmp_path):
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings

    copy_sqlite(sample_env["root"] / "pufa.db", tmp_path / "pufa.db")
    models = tmp_path / "models"
    shutil.copytree(sample_env["models"], models)
    settings = Settings(db=f"sqlite:///{tmp_path / 'pufa.db'}", models=str(models), api_keys="")
    with TestClient(create_app(settings)) as c:
        first = c.get("/health").json()["model_version"]
        assert first == sample_env["version"]
        job = c.post("/v1/admin/builds").json()
        assert job["status"] in ("queued", "running", "done")
        progress = []
        for _ in range(600):
            job = c.get(f"/v1/admin/builds/{job['id']}").json()
            progress.append(job["progress"])
            if job["status"] in ("done", "failed"):
                break
            # Requests keep being answered while the build runs.
            r = c.post("/v1/recommendations", json={"groups": ["public"], "k": 3})
            assert r.status_code == 200, r.text
            time.sleep(0.1)
        assert job["status"] == "done", job
        assert progress == sorted(progress) and job["progress"] == 1.0
        second = c.get("/health").json()["model_version"]
        assert second == job["version"] != first
        assert c.post("/v1/recommendations", json={"k": 3}).json()["model_version"] == second
        r = c.post("/v1/admin/models:rollback")
        assert r.status_code == 200 and r.json()["version"] == first
        assert c.get("/health").json()["model_version"] == first
        assert c.post(f"/v1/admin/models/{second}:activate").json()["version"] == second
        assert (models / "ACTIVE").read_text().strip() == second


def test_duties_through_a_real_server_with_keys(backend_env, tmp_path):
    """Roles, the non-personal mode, tag deletion, the exposure log and erasure, over real HTTP."""
    db, models = backend_env["url"], backend_env["models"]
    if backend_env["backend"] == "sqlite":
        copy_sqlite(backend_env["root"] / "pufa.db", tmp_path / "pufa.db")
        db = f"sqlite:///{tmp_path / 'pufa.db'}"
    keys = {"platform": "p-key", "editor": "e-key", "analyst": "a-key", "admin": "x-key"}
    server = Server(db, models, keys=",".join(f"{k}:{r}" for r, k in keys.items()))
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            def h(role: str) -> dict[str, str]:
                return {"X-API-Key": keys[role]}

            user = f"real-{uuid.uuid4().hex[:6]}"
            assert c.post("/v1/recommendations", json={"k": 3}).status_code == 401
            assert c.post("/v1/recommendations", json={"k": 3}, headers=h("editor")).status_code == 403
            assert c.get("/v1/exposures", headers=h("platform")).status_code == 403
            assert c.post("/v1/items", json={"title": "x", "type": "qa"}, headers=h("platform")).status_code == 403
            c.put(f"/v1/users/{user}", json={"groups": ["migrant_workers"]}, headers=h("platform"))
            c.post("/v1/events", json={"user_id": user, "type": "question", "text": "包工头拖欠工资跑了"},
                   headers=h("platform"))
            personal = c.post("/v1/recommendations", json={"user_id": user, "k": 5}, headers=h("platform")).json()
            plain = c.post("/v1/recommendations", json={"user_id": user, "k": 5, "personalized": False},
                           headers=h("platform")).json()
            anonymous = c.post("/v1/recommendations", json={"k": 5, "personalized": False},
                               headers=h("platform")).json()
            assert [i["item_id"] for i in plain["items"]] == [i["item_id"] for i in anonymous["items"]]
            assert any(r.startswith(("与您的提问相关", "与您的问题相关：")) for r in personal["items"][0]["reasons"])
            tags = c.get(f"/v1/users/{user}", headers=h("platform")).json()["tags"]
            assert any(t["topic"] == "labour" for t in tags)
            after = c.delete(f"/v1/users/{user}/tags/labour", headers=h("platform")).json()
            assert "labour" not in [t["topic"] for t in after["tags"]]
            log = c.get(f"/v1/exposures?user_id={user}", headers=h("analyst")).json()
            assert {e["request_id"] for e in log} == {personal["request_id"], plain["request_id"]}
            assert c.delete(f"/v1/users/{user}", headers=h("platform")).status_code == 204
            assert c.get(f"/v1/exposures?user_id={user}", headers=h("analyst")).json() == []
            assert c.get(f"/v1/users/{user}", headers=h("platform")).status_code == 404
    finally:
        server.stop()


def _at_once(*calls):
    """Run the calls at the same moment (one thread each); their results in order."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_first_writes_for_new_people(backend_env, tmp_path):
    """Two writers creating the same new people at once (PostgreSQL used to answer 500:
    deadlocks and unique violations on users and events; exposures lost their person)."""
    db, models = backend_env["url"], backend_env["models"]
    if backend_env["backend"] == "sqlite":
        copy_sqlite(backend_env["root"] / "pufa.db", tmp_path / "pufa.db")
        db = f"sqlite:///{tmp_path / 'pufa.db'}"
    server = Server(db, models, workers=2)
    statuses: list[int] = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            def post(body):
                return lambda: c.post("/v1/events", json=body)

            for rnd in range(4):
                tag = uuid.uuid4().hex[:6]
                people = [f"cw-{tag}-{n}" for n in range(97)]
                # Two batches over the same new people, then one batch sent twice (a retry).
                a = [{"id": f"{tag}-a{n}", "user_id": people[n % 97], "type": "view", "item_id": "sample-a-001"}
                     for n in range(200)]
                b = [{"id": f"{tag}-b{n}", "user_id": people[(n * 7) % 97], "type": "view", "item_id": "sample-a-002"}
                     for n in range(200)]
                ra, rb = _at_once(post({"events": a}), post({"events": b}))
                statuses += [ra.status_code, rb.status_code]
                assert (ra.status_code, rb.status_code) == (202, 202), (ra.text, rb.text)
                r1, r2 = _at_once(post({"events": a}), post({"events": a}))
                assert (r1.status_code, r2.status_code) == (202, 202), (r1.text, r2.text)
                assert r1.json()["accepted"] + r2.json()["accepted"] == 0
                fresh = [{"id": f"{tag}-c{n}", "user_id": f"cn-{tag}-{n}", "type": "view", "item_id": "sample-a-003"}
                         for n in range(60)]
                r1, r2 = _at_once(post({"events": fresh}), post({"events": fresh[::-1]}))
                assert (r1.status_code, r2.status_code) == (202, 202), (r1.text, r2.text)
                assert r1.json()["accepted"] + r2.json()["accepted"] == 60
                assert sum(c.get(f"/v1/users/{p}").json()["events"] for p in people[:5]) == \
                    sum(1 for e in a + b if e["user_id"] in people[:5])
                # Two first PUTs and two first recommendations for the same new person.
                for n in range(8):
                    who = f"cp-{tag}-{n}"
                    p1, p2 = _at_once(lambda w=who: c.put(f"/v1/users/{w}", json={"groups": ["herders"]}),
                                      lambda w=who: c.put(f"/v1/users/{w}", json={"personalized": True}))
                    assert (p1.status_code, p2.status_code) == (200, 200), (p1.text, p2.text)
                    who = f"cr-{tag}-{rnd}-{n}"
                    q1, q2 = _at_once(lambda w=who: c.post("/v1/recommendations", json={"user_id": w, "k": 3}),
                                      lambda w=who: c.post("/v1/recommendations", json={"user_id": w, "k": 3}))
                    assert (q1.status_code, q2.status_code) == (200, 200), (q1.text, q2.text)
                    assert len(c.get("/v1/exposures", params={"user_id": who}).json()) == 2
    finally:
        server.stop()
    assert statuses and set(statuses) == {202}
