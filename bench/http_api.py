"""HTTP benchmark against a real server on 127.0.0.1 (1 uvicorn worker), load from a second
process (Debian's `wrk` when installed, else a Python client), bounded in time.

Reports, in one run:
- throughput and p50/p99 of POST /v1/recommendations (a rotating mix: people with history,
  people with a question, groups, a query) next to the bare GET /ping on the same server;
- event ingestion over HTTP in batches (events/s, every event stored and the person's
  profile reflecting it on the next request);
- the server's memory (RSS after start-up and peak) with the model it serves.

    .venv/bin/python bench/http_api.py [--db URL --models DIR] [--seconds 15] [--connections 16]

With --metrics-overhead it measures instead what the operations layer costs (issue #12:
metrics <= 5 % of recommendation throughput): three servers on one database, the same except
PUFA_METRICS and PUFA_ACCESS_LOG, loaded in turn with the recommendation mix for --rounds
rounds (the order alternating), medians reported:

    .venv/bin/python bench/http_api.py --metrics-overhead [--rounds 5] [--seconds 10] [--workers 1]

Without --db it bootstraps a temporary SQLite database with the bundled sample. For the
issue's memory figure use the whole shared corpus (pufa import ../shared/corpus; pufa build).
Goals (issue #4): recommend >= 1/2 of the bare endpoint's throughput; >= 5000 events/s;
<= 1.5 GB RSS with the whole shared corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    return rss, hwm


def start(db: str, models: str, port: int, bootstrap: bool, log: Path, env_extra: dict[str, str] | None = None,
          workers: int = 1) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "recommender.cli", "serve", "--db", db, "--models", models, "--port", str(port),
           "--workers", str(workers)]
    if bootstrap:
        cmd.append("--bootstrap")
    env = {**os.environ, "PUFA_API_KEYS": "", **(env_extra or {})}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json().get("model_version"):
                return proc
        except (httpx.HTTPError, ValueError):
            pass
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    raise SystemExit("server did not start")


WRK_LUA = """
local bodies = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
request = function()
  n = n + 1
  local body = bodies[(n %% #bodies) + 1]
  return wrk.format("POST", "/v1/recommendations", {["Content-Type"] = "application/json"}, body)
end
"""


def wrk(url: str, seconds: int, connections: int, script: Path | None = None, bodies: Path | None = None) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if bodies:
        cmd += ["--", str(bodies)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label: str) -> float:
        m = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50_ms": ms("50"), "p99_ms": ms("99"), "non2xx": int(errors.group(1)) if errors else 0}


def python_load(url: str, seconds: int, connections: int, bodies: list[str] | None) -> dict:
    lat: list[float] = []
    errors = [0]
    stop = time.time() + seconds

    def worker(k: int) -> None:
        with httpx.Client(timeout=30) as c:
            n = k
            while time.time() < stop:
                t = time.perf_counter()
                if bodies:
                    r = c.post(url, content=bodies[n % len(bodies)], headers={"content-type": "application/json"})
                else:
                    r = c.get(url)
                lat.append(time.perf_counter() - t)
                errors[0] += r.status_code >= 300
                n += connections

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    return {"rps": len(lat) / (time.time() - t0), "p50_ms": lat[len(lat) // 2] * 1000,
            "p99_ms": lat[int(len(lat) * 0.99)] * 1000, "non2xx": errors[0]}


def seed_people(base: str, n: int, item_ids: list[str], questions: list[str]) -> list[str]:
    bodies = []
    groups = ["herders", "migrant_workers", "youth", "officials", "elderly", "women", "public"]
    with httpx.Client(base_url=base, timeout=60) as c:
        events = []
        for u in range(n):
            uid = f"bench-{u}"
            c.put(f"/v1/users/{uid}", json={"groups": [groups[u % len(groups)]]})
            for j in range(10):
                events.append({"user_id": uid, "type": "view", "item_id": item_ids[(u * 13 + j * 7) % len(item_ids)]})
            if u % 3 == 0:
                events.append({"user_id": uid, "type": "question", "text": questions[u % len(questions)]})
        for i in range(0, len(events), 1000):
            c.post("/v1/events", json={"events": events[i:i + 1000]})
    for u in range(n):
        kind = u % 4
        if kind in (0, 1):
            bodies.append({"user_id": f"bench-{u}", "k": 10})
        elif kind == 2:
            bodies.append({"groups": [groups[u % len(groups)]], "k": 10})
        else:
            bodies.append({"query": questions[u % len(questions)], "k": 10})
    return [json.dumps(b, ensure_ascii=False) for b in bodies]


def ingest(base: str, item_ids: list[str], seconds: float, batch: int, clients: int) -> dict:
    stored = [0]
    stop = time.time() + seconds

    def worker(k: int) -> None:
        n = 0
        with httpx.Client(base_url=base, timeout=120) as c:
            while time.time() < stop:
                events = [{"user_id": f"ing-{k}-{(n + j) % 500}", "type": ("view", "click", "like")[j % 3],
                           "item_id": item_ids[(n + j * 31) % len(item_ids)]} for j in range(batch)]
                r = c.post("/v1/events", json={"events": events})
                r.raise_for_status()
                stored[0] += r.json()["accepted"]
                n += batch

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.time() - t0
    # The next request sees the new events: the profile of one ingested person is not empty.
    prof = httpx.get(f"{base}/v1/users/ing-0-1").json()
    return {"events": stored[0], "seconds": round(took, 1), "events_per_s": round(stored[0] / took),
            "profile_events_ing-0-1": prof.get("events"), "profile_tags_ing-0-1": len(prof.get("tags", []))}


OPS_VARIANTS = {
    "metrics + access log": {},  # the defaults
    "access log only": {"PUFA_METRICS": "off"},
    "neither": {"PUFA_METRICS": "off", "PUFA_ACCESS_LOG": "off"},
}


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server: its process and its direct children (workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def observe_cost(n: int = 20000) -> dict[str, float]:
    """Microseconds the request middleware (api/observability.py) adds to one request, in
    process, around an app that answers at once: with nothing on, metrics, metrics and the
    JSON access line (formatted, written to /dev/null). Run in a fresh process: with
    PROMETHEUS_MULTIPROC_DIR set it measures the several-workers mode."""
    import asyncio
    import logging
    import types

    from api.logs import JsonFormatter
    from api.metrics import get_metrics
    from api.observability import Observe, RouteTemplates

    route = types.SimpleNamespace(path_format="/v1/recommendations")

    async def app(scope: dict, receive: object, send: Callable) -> None:
        scope["route"] = route  # what routing leaves in the scope
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        pass

    access = logging.getLogger("pufa.access")
    handler = logging.StreamHandler(open(os.devnull, "w"))
    handler.setFormatter(JsonFormatter())
    access.addHandler(handler)
    access.propagate = False
    access.setLevel(logging.INFO)
    templates = RouteTemplates(lambda: {"paths": {}})
    metrics = get_metrics()
    variants = {"bare app": app,
                "middleware, nothing on": Observe(app, templates, None, False, lambda: "v1"),
                "metrics": Observe(app, templates, metrics, False, lambda: "v1"),
                "metrics + access log": Observe(app, templates, metrics, True, lambda: "v1")}
    scope = {"type": "http", "method": "POST", "path": "/v1/recommendations",
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"content-length", b"30")]}

    async def run(target: Callable) -> float:
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n // 5):
                await target(dict(scope), receive, send)
            best = min(best, (time.perf_counter() - t) / (n // 5))
        return best

    out = {name: asyncio.run(run(target)) * 1e6 for name, target in variants.items()}
    return {name: round(us - out["bare app"], 2) for name, us in out.items() if name != "bare app"}


def observe_cost_in(multiprocess: bool) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with tempfile.TemporaryDirectory() as d:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = d
        out = subprocess.run([sys.executable, __file__, "--observe-cost"], cwd=REPO, env=env, capture_output=True,
                             text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def metrics_overhead(args: argparse.Namespace, tmp: Path, db: str, models: str) -> int:
    """Servers differing only in PUFA_METRICS / PUFA_ACCESS_LOG, loaded in turn (never at once)
    with the recommendation mix, for several rounds: medians of throughput, of the throughput
    ratio within each round (paired: a busy machine slows a round for every server alike) and of
    the server's CPU time per request. Plus the middleware's own cost measured in process."""
    import statistics

    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        for n, (name, env) in enumerate(OPS_VARIANTS.items()):
            port = free_port()
            proc = start(db, models, port, bootstrap=not args.db and n == 0, log=tmp / f"server-{n}.log",
                         env_extra=env, workers=args.workers)
            servers[name] = (proc, f"http://127.0.0.1:{port}")
        base = servers["neither"][1]
        ids = [i["item_id"] for g in ("herders", "youth", "public", "migrant_workers", "officials", "elderly")
               for i in httpx.post(base + "/v1/recommendations", json={"groups": [g], "k": 100},
                                   timeout=120).json()["items"]]
        qpath = Path(args.shared) / "queries" / "real_questions.jsonl"
        questions = ([json.loads(x)["text"] for x in qpath.open(encoding="utf-8")][:500] if qpath.exists()
                     else ["老板拖欠工资怎么办", "离婚孩子抚养权归谁", "草场被别人占了", "网上被骗了钱"])
        bodies = seed_people(base, args.people, ids, questions)
        for _, url in servers.values():  # warm each (model loaded, caches as in steady state)
            python_load(url + "/v1/recommendations", 2, args.connections, bodies)
        runs: dict[str, list[dict]] = {name: [] for name in servers}
        names = list(servers)
        for r in range(args.rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                proc, url = servers[name]
                cpu = cpu_seconds(proc.pid)
                res = python_load(url + "/v1/recommendations", args.seconds, args.connections, bodies)
                done = res["rps"] * args.seconds
                res["cpu_ms"] = 1000 * (cpu_seconds(proc.pid) - cpu) / max(done, 1)
                runs[name].append(res)
                print(f"  round {r + 1}: {name:<22} {res['rps']:8.1f} req/s  p50 {res['p50_ms']:6.2f} ms"
                      f"  server CPU {res['cpu_ms']:6.2f} ms/request  non-2xx {res['non2xx']}", file=sys.stderr)
    finally:
        for proc, _ in servers.values():
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)

    def median(xs: list[float], digits: int = 2) -> float:
        return round(statistics.median(xs), digits)

    med = {name: {"rps": median([x["rps"] for x in rs], 1), "p50_ms": median([x["p50_ms"] for x in rs]),
                  "p99_ms": median([x["p99_ms"] for x in rs]), "cpu_ms_per_request": median([x["cpu_ms"] for x in rs], 3),
                  "rounds_rps": [round(x["rps"], 1) for x in rs], "non2xx": sum(x["non2xx"] for x in rs)}
           for name, rs in runs.items()}
    on, log_only, neither = (runs[n] for n in OPS_VARIANTS)

    def paired(a: list[dict], b: list[dict], key: str, lower_is_better: bool) -> float:
        ratios = [(x[key] / y[key] - 1) if lower_is_better else (1 - x[key] / y[key]) for x, y in zip(a, b, strict=True)]
        return round(100 * statistics.median(ratios), 2)

    report = {
        "workers": args.workers, "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
        "load_generator": "python", "medians": med,
        "metrics_overhead_pct": {"throughput": paired(on, log_only, "rps", False),
                                 "cpu_per_request": paired(on, log_only, "cpu_ms", True)},
        "metrics_and_access_log_overhead_pct": {"throughput": paired(on, neither, "rps", False),
                                                "cpu_per_request": paired(on, neither, "cpu_ms", True)},
        "middleware_us_per_request": {"one process": observe_cost_in(False), "multiprocess": observe_cost_in(True)},
    }
    rec_cpu_us = 1000 * med["neither"]["cpu_ms_per_request"]
    report["middleware_share_of_a_recommendation_pct"] = {
        mode: round(100 * cost["metrics + access log"] / rec_cpu_us, 2)
        for mode, cost in report["middleware_us_per_request"].items()}
    shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"POST /v1/recommendations, {args.workers} worker(s), {args.connections} connections, "
          f"{args.rounds} rounds of {args.seconds} s per server (medians):")
    for name, m in med.items():
        print(f"  {name:<22} {m['rps']:8.1f} req/s   p50 {m['p50_ms']:6.2f} ms   p99 {m['p99_ms']:7.2f} ms   "
              f"server CPU {m['cpu_ms_per_request']:6.3f} ms/request   rounds {m['rounds_rps']}")
    mo, mlo = report["metrics_overhead_pct"], report["metrics_and_access_log_overhead_pct"]
    print(f"  metrics overhead (median of paired rounds): {mo['throughput']} % of throughput, "
          f"{mo['cpu_per_request']} % of server CPU per request (target <= 5 %)")
    print(f"  metrics and access log: {mlo['throughput']} % of throughput, {mlo['cpu_per_request']} % of CPU per request")
    for mode, cost in report["middleware_us_per_request"].items():
        print(f"  middleware in process ({mode}): " + ", ".join(f"{k} +{v} us" for k, v in cost.items())
              + f" per request = {report['middleware_share_of_a_recommendation_pct'][mode]} % of a "
                f"recommendation's {rec_cpu_us:.0f} us of server CPU")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db")
    ap.add_argument("--models")
    ap.add_argument("--shared", default=str(REPO.parent / "shared"))
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--people", type=int, default=400)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--metrics-overhead", action="store_true",
                    help="measure the cost of /metrics counting and the access log instead (see above)")
    ap.add_argument("--rounds", type=int, default=5, help="with --metrics-overhead: rounds per server")
    ap.add_argument("--workers", type=int, default=1, help="with --metrics-overhead: uvicorn workers per server")
    ap.add_argument("--observe-cost", action="store_true", help=argparse.SUPPRESS)  # used by --metrics-overhead
    args = ap.parse_args()
    if args.observe_cost:
        sys.path.insert(0, str(REPO))
        print(json.dumps(observe_cost()))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="pufa-bench-"))
    db = args.db or f"sqlite:///{tmp / 'pufa.db'}"
    models = args.models or str(tmp / "models")
    if args.metrics_overhead:
        return metrics_overhead(args, tmp, db, models)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(db, models, port, bootstrap=not args.db, log=tmp / "server.log")
    try:
        rss_start, _ = rss_mb(proc.pid)
        health = httpx.get(base + "/health").json()
        ids = [i["item_id"] for g in ("herders", "youth", "public", "migrant_workers", "officials", "elderly")
               for i in httpx.post(base + "/v1/recommendations", json={"groups": [g], "k": 100}).json()["items"]]
        qpath = Path(args.shared) / "queries" / "real_questions.jsonl"
        questions = ([json.loads(x)["text"] for x in qpath.open(encoding="utf-8")][:500] if qpath.exists()
                     else ["老板拖欠工资怎么办", "离婚孩子抚养权归谁", "草场被别人占了", "网上被骗了钱"])
        bodies = seed_people(base, args.people, ids, questions)
        body_file = tmp / "bodies.txt"
        body_file.write_text("\n".join(bodies) + "\n", encoding="utf-8")
        use_wrk = shutil.which("wrk") is not None
        if use_wrk:
            lua = tmp / "rec.lua"
            lua.write_text(WRK_LUA.replace("%%", "%"), encoding="utf-8")
            bare = wrk(base + "/ping", args.seconds, args.connections)
            recs = wrk(base, args.seconds, args.connections, lua, body_file)
        else:
            bare = python_load(base + "/ping", args.seconds, args.connections, None)
            recs = python_load(base + "/v1/recommendations", args.seconds, args.connections, bodies)
        ing = ingest(base, ids, args.seconds, args.batch, clients=2)
        rss_end, hwm = rss_mb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    report = {
        "model_version": health["model_version"], "items": health["items"], "load_generator": "wrk" if use_wrk else "python",
        "connections": args.connections, "seconds": args.seconds,
        "bare_ping": bare, "recommendations": recs, "recommend_over_bare": round(recs["rps"] / bare["rps"], 3),
        "ingestion": ing, "rss_mb": {"after_start": round(rss_start), "after_load": round(rss_end), "peak": round(hwm)},
    }
    shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"server: 1 uvicorn worker, model {report['model_version']}, {report['items']} items; "
          f"load: {report['load_generator']}, {args.connections} connections, {args.seconds} s per run")
    for name in ("bare_ping", "recommendations"):
        r = report[name]
        print(f"  {name:<16} {r['rps']:9.1f} req/s   p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   non-2xx {r['non2xx']}")
    print(f"  recommend / bare throughput: {report['recommend_over_bare']}")
    print(f"  event ingestion: {ing['events_per_s']} events/s ({ing['events']} events in {ing['seconds']} s, "
          f"batches of {args.batch}); profile of ing-0-1 now has {ing['profile_events_ing-0-1']} events")
    print(f"  server RSS: {report['rss_mb']['after_start']} MB after start, {report['rss_mb']['after_load']} MB after "
          f"the load, peak {report['rss_mb']['peak']} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
