"""Operations: GET /metrics (Prometheus text, exact counts, summed over two real workers),
X-Request-ID (honoured, replaced when bad, returned on every response) and the JSON access
log (its fields, and no personal data in it)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.logs import JsonFormatter, TextFormatter
from api.main import create_app
from api.settings import Settings
from tests.api_keys import KEYS, H
from tests.test_server import Server, copy_sqlite

PING = {"method": "GET", "route": "/ping", "status": "200"}


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of a scrape by name (parsed by prometheus_client's own parser)."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def value(scrape: dict, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    return sum(v for lab, v in scrape.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


@pytest.fixture(scope="module")
def env(sample_env, tmp_path_factory):
    """The sample database (a copy: this module writes build jobs) and its model."""
    root = tmp_path_factory.mktemp("observability")
    copy_sqlite(sample_env["root"] / "pufa.db", root / "pufa.db")
    return {"url": f"sqlite:///{root / 'pufa.db'}", "models": sample_env["models"], "root": root,
            "version": sample_env["version"]}


def keyed(env, **settings) -> TestClient:
    keys = ",".join(f"{k}:{r}" for r, k in KEYS.items())
    return TestClient(create_app(Settings(db=env["url"], models=str(env["models"]), api_keys=keys, **settings)))


@pytest.fixture(scope="module")
def client(env):
    with keyed(env) as c:
        yield c


def scrape(client: TestClient) -> dict:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def access_lines(err: str) -> list[dict]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "pufa.access"]


# ---------------------------------------------------------------------------- /metrics


def test_metrics_count_exactly_the_requests_made(client):
    before = scrape(client)
    for _ in range(7):
        assert client.get("/ping").status_code == 200
    after = scrape(client)
    assert value(after, "pufa_http_requests_total", **PING) - value(before, "pufa_http_requests_total", **PING) == 7
    hist = {"method": "GET", "route": "/ping"}
    assert value(after, "pufa_http_request_duration_seconds_count", **hist) \
        - value(before, "pufa_http_request_duration_seconds_count", **hist) == 7
    assert value(after, "pufa_http_request_duration_seconds_bucket", le="+Inf", **hist) \
        == value(after, "pufa_http_request_duration_seconds_count", **hist)


def test_route_label_is_the_template_never_the_raw_path(client):
    item = client.post("/v1/recommendations", json={"groups": ["public"], "k": 1}, headers=H("platform")).json()
    item_id = item["items"][0]["item_id"]
    assert client.get(f"/v1/items/{item_id}", headers=H("platform")).status_code == 200
    assert client.get("/v1/items/no-such-item-xyz", headers=H("platform")).status_code == 404
    assert client.get("/no/such/path/secret-abc").status_code == 404
    # Refused before routing (no key): still labelled with the route it was for.
    assert client.get(f"/v1/items/{item_id}").status_code == 401
    text = client.get("/metrics").text
    after = samples(text)
    route = "/v1/items/{item_id}"
    assert value(after, "pufa_http_requests_total", route=route, status="200") >= 1
    assert value(after, "pufa_http_requests_total", route=route, status="404") >= 1
    assert value(after, "pufa_http_requests_total", route=route, status="401") >= 1
    assert value(after, "pufa_http_requests_total", route="unmatched", status="404") >= 1
    assert item_id not in text and "no-such-item-xyz" not in text and "secret-abc" not in text


def test_recommendations_events_model_and_build_are_measured(client, env):
    from recommender.store import open_store

    before = scrape(client)
    for k in (1, 2, 3):
        assert client.post("/v1/recommendations", json={"groups": ["herders"], "k": k},
                           headers=H("platform")).status_code == 200
    user = f"obs-{uuid.uuid4().hex[:6]}"
    item_id = client.post("/v1/recommendations", json={"groups": ["public"], "k": 1},
                          headers=H("platform")).json()["items"][0]["item_id"]
    events = [{"id": f"{user}-{n}", "user_id": user, "type": "view" if n < 3 else "click", "item_id": item_id}
              for n in range(5)]
    assert client.post("/v1/events", json={"events": events}, headers=H("platform")).json()["accepted"] == 5
    # A retry stores nothing: nothing more is counted.
    assert client.post("/v1/events", json={"events": events}, headers=H("platform")).json()["duplicates"] == 5
    assert client.post("/v1/events", json={"user_id": user, "type": "question", "text": "工资被拖欠怎么办"},
                       headers=H("platform")).status_code == 202
    store = open_store(env["url"])
    job = f"obs-{uuid.uuid4().hex[:6]}"
    store.models.create_job(job)
    store.models.update_job(job, status="running", progress=0.42)
    try:
        after = scrape(client)
    finally:
        store.models.update_job(job, status="failed", message="a test's job")
        store.close()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("pufa_recommendations_total", variant="control", personalized="false") \
        + delta("pufa_recommendations_total", variant="control", personalized="true") == 4
    assert delta("pufa_events_ingested_total", type="view") == 3
    assert delta("pufa_events_ingested_total", type="click") == 2
    assert delta("pufa_events_ingested_total", type="question") == 1
    assert after["pufa_model_info"] == [({"version": env["version"]}, 1.0)]
    assert value(after, "pufa_build_progress") == pytest.approx(0.42)
    assert value(after, "pufa_build_state", state="running") == 1
    assert value(after, "pufa_build_state") == 1


def test_metrics_switch(env):
    with keyed(env, metrics="off") as c:
        assert c.get("/metrics").status_code == 404
        assert "x-request-id" in c.get("/ping").headers  # request ids and logs stay
    with keyed(env, metrics="key") as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers=H("platform")).status_code == 403
        assert c.get("/metrics", headers=H("analyst")).status_code == 200
    assert Settings(metrics="false").metrics == "off" and Settings(metrics="On").metrics == "on"


# ------------------------------------------------------------------------- X-Request-ID


@pytest.mark.parametrize("given", ["abc-123", "A.b_C-9", "x" * 128])
def test_request_id_is_honoured_and_returned(client, given):
    r = client.get("/ping", headers={"X-Request-ID": given})
    assert r.headers["x-request-id"] == given


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", "", "引号"])
def test_a_bad_request_id_is_replaced_not_refused(client, bad):
    r = client.get("/ping", headers={"X-Request-ID": bad.encode()})
    assert r.status_code == 200
    new = r.headers["x-request-id"]
    assert new != bad and len(new) == 32 and int(new, 16) >= 0


def test_every_response_carries_a_request_id(env):
    app = create_app(Settings(db=env["url"], models=str(env["models"]), api_keys="k:platform"))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as c:
        for method, path, kw, status in [
            ("GET", "/v1/topics", {}, 401),                        # the key gate
            ("GET", "/nowhere", {}, 404),
            ("POST", "/v1/recommendations", {"json": {"k": 0}, "headers": {"X-API-Key": "k"}}, 422),
            ("POST", "/v1/events", {"content": b"x" * 11_000_000, "headers": {"X-API-Key": "k"}}, 413),
            ("GET", "/boom", {}, 500),
        ]:
            r = c.request(method, path, **kw)
            assert r.status_code == status, (path, r.text)
            assert len(r.headers["x-request-id"]) == 32, path
            rid = f"given-{status}"
            assert c.request(method, path, **{**kw, "headers": {**kw.get("headers", {}), "X-Request-ID": rid}}) \
                .headers["x-request-id"] == rid


# --------------------------------------------------------------------------- access log


def test_access_line_is_json_with_the_fields_and_no_personal_data(client, env, capsys):
    user = f"person-{uuid.uuid4().hex[:8]}"
    question = "我家草场被邻居占了怎么办"
    capsys.readouterr()
    client.put(f"/v1/users/{user}", json={"groups": ["herders"]}, headers={**H("platform"), "X-Request-ID": "put-1"})
    r = client.post("/v1/recommendations", json={"user_id": user, "query": question, "k": 3},
                    headers={**H("platform"), "X-Request-ID": "rec-1"})
    body = r.json()
    client.get("/ping", headers={"X-Request-ID": "ping-1"})
    err = capsys.readouterr().err
    lines = {line["request_id"]: line for line in access_lines(err)}
    assert {"put-1", "rec-1", "ping-1"} <= set(lines), err[-2000:]
    for line in lines.values():
        assert {"ts", "level", "request_id", "method", "route", "path", "status", "latency_ms",
                "model_version"} <= set(line)
        assert line["level"] == "INFO" and line["ts"].endswith("Z") and line["latency_ms"] >= 0
    rec = lines["rec-1"]
    assert rec["route"] == rec["path"] == "/v1/recommendations" and rec["status"] == 200
    # The body keeps the engine's request id (the exposure log's); the line has both.
    assert body["request_id"] != "rec-1" and rec["recommendation_id"] == body["request_id"]
    assert rec["model_version"] == body["model_version"] == env["version"] and rec["variant"] == "control"
    put = lines["put-1"]
    assert put["route"] == "/v1/users/{user_id}" and put["path"] == "/v1/users/{user_id}"
    assert lines["ping-1"]["model_version"] == env["version"]  # the active version
    # No user id, no text a person typed (the test's own HTTP client logs its URLs: not the server's).
    server_lines = "\n".join(x for x in err.splitlines() if '"logger": "httpx"' not in x)
    assert user not in server_lines and question not in server_lines
    assert r.headers["x-request-id"] == "rec-1"


def test_other_log_lines_carry_the_request_id(env, capsys):
    app = create_app(Settings(db=env["url"], models=str(env["models"]), api_keys=""))

    @app.get("/warn")
    def warn() -> dict[str, bool]:
        logging.getLogger("pufa.api").warning("something to say")
        return {"ok": True}

    with TestClient(app) as c:
        capsys.readouterr()
        c.get("/warn", headers={"X-Request-ID": "warn-1"})
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines() if x.startswith("{")]
    said = [x for x in lines if x["msg"] == "something to say"]
    assert said and said[0]["request_id"] == "warn-1" and said[0]["logger"] == "pufa.api"


def test_text_format_is_available():
    record = logging.LogRecord("pufa.access", logging.INFO, __file__, 1, "GET %s 200", ("/ping",), None)
    record.fields = {"request_id": "r-1", "route": "/ping", "status": 200, "latency_ms": 1.5}
    text = TextFormatter().format(record)
    assert "INFO pufa.access: GET /ping 200" in text and "latency_ms=1.5" in text
    assert json.loads(JsonFormatter().format(record))["latency_ms"] == 1.5
    assert Settings(log_format="TEXT").log_format == "text" and Settings(log_level="debug").log_level == "DEBUG"


# ------------------------------------------------------------------- two real workers


def test_metrics_sum_the_requests_of_two_workers(env, tmp_path, monkeypatch):
    """`pufa serve --workers 2`: the requests are served by both processes, and /metrics
    (answered by either) counts every one of them exactly."""
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    copy_sqlite(env["root"] / "pufa.db", tmp_path / "pufa.db")
    server = Server(f"sqlite:///{tmp_path / 'pufa.db'}", env["models"], workers=2)
    log = server.log.name
    sent = 0
    try:
        def ping(n: int) -> None:
            for _ in range(n):  # a new connection each time: either worker may accept it
                assert httpx.get(server.url + "/ping", timeout=30).status_code == 200

        pids: set[int] = set()
        for _ in range(20):
            threads = [threading.Thread(target=ping, args=(10,)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent += 40
            time.sleep(0.2)
            with open(log, encoding="utf-8") as f:
                pids = {line["pid"] for line in access_lines(f.read()) if line["route"] == "/ping"}
            if len(pids) == 2:
                break
        assert len(pids) == 2, "one worker served every request"
        # The workers found their shared directory by themselves: the server run's own.
        assert list(Path(tempfile.gettempdir()).glob(f"pufa-metrics-{server.proc.pid}-*"))
        for _ in range(6):  # whichever worker answers the scrape, the sum is the same
            scraped = samples(httpx.get(server.url + "/metrics", timeout=30).text)
            assert value(scraped, "pufa_http_requests_total", route="/ping") == sent
            assert value(scraped, "pufa_http_requests_total", **PING) == sent
            assert value(scraped, "pufa_http_request_duration_seconds_count", route="/ping") == sent
            assert scraped["pufa_model_info"] == [({"version": env["version"]}, 1.0)]
    finally:
        server.stop()
        for d in Path(tempfile.gettempdir()).glob(f"pufa-metrics-{server.proc.pid}-*"):
            shutil.rmtree(d, ignore_errors=True)  # the next server start would remove it; the test does at once


def test_directories_of_servers_that_are_gone_are_removed(tmp_path):
    from api.metrics import _remove_stale, _start_time

    ended = subprocess.Popen(["true"])
    ended.wait()
    me = os.getpid()
    gone = tmp_path / f"pufa-metrics-{ended.pid}-1"
    reused = tmp_path / f"pufa-metrics-{me}-1"  # this pid, another start time: an earlier process
    live = tmp_path / f"pufa-metrics-{me}-{_start_time(me)}"
    keep = tmp_path / f"pufa-metrics-{ended.pid}-2"
    other = tmp_path / "something-else"
    for d in (gone, reused, live, keep, other):
        (d / "sub").mkdir(parents=True)
    _remove_stale(tmp_path, keep=keep)
    assert not gone.exists() and not reused.exists()
    assert live.exists() and keep.exists() and other.exists()
