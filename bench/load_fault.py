"""Load and fault test: a real `pufa serve --workers 2` on loopback, driven for a bounded time
with concurrent recommendations, event batches (fresh, sent twice, overlapping), item edits and
erasures, while the database is restarted once (PostgreSQL); then the database is checked.

    .venv/bin/python bench/load_fault.py --db postgresql://pufa:pufa@127.0.0.1:5432/pufa
    .venv/bin/python bench/load_fault.py                     # SQLite (no restart)

With a PostgreSQL URL the script makes a fresh database beside the one named (and drops it
afterwards); the server bootstraps it with the bundled sample. The restart uses Debian's
`pg_ctlcluster <version> main restart` unless --restart-cmd says otherwise.

Prints requests by status code, acknowledged events missing afterwards, rows left for erased
people and exposure rows that lost their person. Targets (issue 7): no 5xx other than 503
(during the outage), 0 missing, 0 left, 0 lost.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ITEMS = [f"sample-a-{n:03d}" for n in range(1, 31)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_restart_cmd() -> str:
    versions = sorted(os.listdir("/usr/lib/postgresql"), key=lambda v: [int(x) for x in v.split(".")])
    return f"pg_ctlcluster {versions[-1]} main restart -m fast"


def fresh_pg(url: str) -> tuple[str, str]:
    name = f"pufa_load_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.make_url(url).set(database=name).render_as_string(hide_password=False), name


def drop_pg(url: str, name: str) -> None:
    admin = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: collections.Counter[str] = collections.Counter()
        self.acked: set[str] = set()  # event ids the server acknowledged (202)
        self.erased: set[str] = set()
        self.personal_requests: dict[str, str] = {}  # request_id -> user (not erased)
        self.bad: list[str] = []

    def note(self, kind: str, r: httpx.Response | None, error: str | None = None) -> None:
        with self.lock:
            code = str(r.status_code) if r is not None else f"no answer ({error})"
            self.codes[f"{kind} {code}"] += 1
            if r is not None and r.status_code >= 500 and r.status_code != 503 and len(self.bad) < 5:
                self.bad.append(f"{kind} {r.status_code}: {r.text[:300]}")


def call(c: httpx.Client, tally: Tally, kind: str, method: str, url: str, **kw) -> httpx.Response | None:
    try:
        r = c.request(method, url, **kw)
    except httpx.HTTPError as exc:
        tally.note(kind, None, type(exc).__name__)
        return None
    tally.note(kind, r)
    return r


def recommender(base: str, stop: float, tally: Tally, k: int) -> None:
    rng = random.Random(k)
    with httpx.Client(base_url=base, timeout=30) as c:
        while time.time() < stop:
            who = f"lf-p{rng.randrange(300)}"
            body = {"user_id": who, "k": 10} if rng.random() < 0.7 else {"query": "老板拖欠工资怎么办", "k": 10}
            r = call(c, tally, "recommend", "POST", "/v1/recommendations", json=body)
            if r is not None and r.status_code == 200 and "user_id" in body:
                with tally.lock:
                    tally.personal_requests[r.json()["request_id"]] = who


def sender(base: str, stop: float, tally: Tally, k: int) -> None:
    """Event batches over shared people: fresh, then sent again (a client retry), then one that
    overlaps the last; a batch answered 503 is retried with the same ids until acknowledged."""
    rng = random.Random(100 + k)
    last: list[dict] = []
    n = 0
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.time() < stop:
            fresh = [{"id": f"lf-{k}-{n + j}", "user_id": f"lf-p{rng.randrange(300)}",
                      "type": rng.choice(("view", "click", "like")), "item_id": rng.choice(SAMPLE_ITEMS)}
                     for j in range(50)]
            n += 50
            for batch in (fresh, fresh, fresh[25:] + last[:25]):
                for _attempt in range(60):
                    r = call(c, tally, "events", "POST", "/v1/events", json={"events": batch})
                    if r is not None and r.status_code == 202:
                        rejected = {x["index"] for x in r.json()["rejected"]}
                        with tally.lock:
                            tally.acked.update(e["id"] for i, e in enumerate(batch) if i not in rejected)
                        break
                    time.sleep(0.5)
            last = fresh


def editor(base: str, stop: float, tally: Tally) -> None:
    rng = random.Random(7)
    n = 0
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.time() < stop:
            n += 1
            if n % 3:
                item = rng.choice(SAMPLE_ITEMS)
                call(c, tally, "edit", "PATCH", f"/v1/items/{item}", json={"keywords": [f"负载测试{n}"]})
            else:
                call(c, tally, "edit", "POST", "/v1/items",
                     json={"id": f"lf-item-{n}", "title": f"负载测试条目{n}", "type": "qa", "body": "劳动合同与工资支付。"})
            time.sleep(0.2)


def eraser(base: str, stop: float, tally: Tally) -> None:
    """People who read, ask, are recommended to and then erase themselves; nobody else touches
    them. An erasure answered 503 is asked again until it is done."""
    n = 0
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.time() < stop:
            who = f"lf-gone-{n}"
            n += 1
            call(c, tally, "user", "PUT", f"/v1/users/{who}", json={"groups": ["migrant_workers"]})
            call(c, tally, "events", "POST", "/v1/events", json={"events": [
                {"user_id": who, "type": "question", "text": "工地老板欠我三个月工资"},
                {"user_id": who, "type": "view", "item_id": SAMPLE_ITEMS[n % len(SAMPLE_ITEMS)]}]})
            call(c, tally, "recommend", "POST", "/v1/recommendations", json={"user_id": who, "k": 5})
            call(c, tally, "tags", "DELETE", f"/v1/users/{who}/tags/labour")
            for _attempt in range(120):
                r = call(c, tally, "erase", "DELETE", f"/v1/users/{who}")
                if r is not None and r.status_code in (200, 204, 404):
                    with tally.lock:
                        tally.erased.add(who)
                    break
                time.sleep(0.5)


def check(db: str, tally: Tally) -> dict:
    engine = sa.create_engine(db.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as c:
        stored: set[str] = set()
        acked = sorted(tally.acked)
        for i in range(0, len(acked), 1000):
            chunk = acked[i:i + 1000]
            stored.update(c.execute(sa.text("SELECT event_id FROM events WHERE event_id IN :ids")
                                    .bindparams(sa.bindparam("ids", expanding=True)), {"ids": chunk}).scalars())
        gone = sorted(tally.erased)
        left = {}
        for table in ("users", "events", "exposures", "removed_tags"):
            col = "id" if table == "users" else "user_id"
            left[table] = c.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {col} IN :ids")
                                    .bindparams(sa.bindparam("ids", expanding=True)), {"ids": gone or [""]}).scalar()
        reqs = sorted(tally.personal_requests)
        lost = 0
        for i in range(0, len(reqs), 1000):
            lost += c.execute(sa.text("SELECT count(*) FROM exposures WHERE user_id IS NULL AND request_id IN :ids")
                              .bindparams(sa.bindparam("ids", expanding=True)), {"ids": reqs[i:i + 1000]}).scalar()
    engine.dispose()
    return {"acknowledged_events": len(acked), "acknowledged_missing": len(set(acked) - stored),
            "erased_people": len(gone), "rows_left_for_erased": left, "personal_recommendations": len(reqs),
            "exposures_without_their_person": lost}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", help="postgresql://... (a fresh database is made beside it) or nothing for SQLite")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--restart-at", type=float, default=20, help="seconds into the run (PostgreSQL only)")
    ap.add_argument("--restart-cmd", help="shell command restarting PostgreSQL (default: pg_ctlcluster ... restart)")
    ap.add_argument("--no-restart", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pufa-load-"))
    pg = bool(args.db and args.db.startswith("postgresql"))
    db, pg_name = fresh_pg(args.db) if pg else (f"sqlite:///{tmp / 'pufa.db'}", None)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp / "server.log"
    env = {**os.environ, "PUFA_API_KEYS": ""}
    server = subprocess.Popen([sys.executable, "-m", "recommender.cli", "serve", "--db", db, "--models",
                               str(tmp / "models"), "--port", str(port), "--workers", "2", "--bootstrap"],
                              cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 900
        while time.time() < deadline:
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None:
                raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        tally = Tally()
        t0 = time.time()
        stop = t0 + args.seconds
        threads = [threading.Thread(target=recommender, args=(base, stop, tally, k)) for k in range(3)]
        threads += [threading.Thread(target=sender, args=(base, stop, tally, k)) for k in range(2)]
        threads += [threading.Thread(target=editor, args=(base, stop, tally)),
                    threading.Thread(target=eraser, args=(base, stop, tally))]
        for t in threads:
            t.start()
        restart = {"restarted": False}
        if pg and not args.no_restart:
            time.sleep(max(0.0, t0 + args.restart_at - time.time()))
            cmd = args.restart_cmd or default_restart_cmd()
            r0 = time.time()
            done = subprocess.run(shlex.split(cmd), capture_output=True, text=True)
            restart = {"restarted": done.returncode == 0, "command": cmd, "at_s": round(r0 - t0, 1),
                       "took_s": round(time.time() - r0, 1), "error": done.stderr[-300:] if done.returncode else None}
        for t in threads:
            t.join()
        ready_after = None
        for _ in range(120):
            try:
                if httpx.get(base + "/ready", timeout=2).status_code == 200:
                    ready_after = round(time.time() - stop, 1)
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        result = {"database": "postgresql" if pg else "sqlite", "seconds": args.seconds, "workers": 2,
                  **restart, "ready_after_run_s": ready_after,
                  "requests_by_status": dict(sorted(tally.codes.items())),
                  "5xx_other_than_503": sum(v for k, v in tally.codes.items()
                                            if k.split()[-1].startswith("5") and not k.endswith("503")),
                  "no_answer": sum(v for k, v in tally.codes.items() if "no answer" in k),
                  "examples_of_5xx": tally.bad, **check(db, tally)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        if pg_name:
            drop_pg(args.db, pg_name)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
    else:
        for key, value in result.items():
            if key == "requests_by_status":
                print("requests by status:")
                for k, v in value.items():
                    print(f"  {k:<28} {v}")
            else:
                print(f"{key}: {value}")
    ok = (result["5xx_other_than_503"] == 0 and result["acknowledged_missing"] == 0
          and not any(result["rows_left_for_erased"].values()) and result["exposures_without_their_person"] == 0)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
