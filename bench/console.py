"""Load times of the workbench's heaviest pages against a real server (issue 9's target: p50 of
50 loads <= 300 ms on the full corpus).

    .venv/bin/python bench/console.py --db URL --models DIR [--loads 50]

Starts `pufa serve` (1 worker) on the database and models given, signs in as an editor (the
console cookie holds the key) and loads, one after another:
- the review queue, default view and filtered by group and by type, paging through the queue;
- the campaign preview for a group, region and day, each load a different day (nothing cached).
Prints the median, p90 and max of each, in milliseconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-console-editor-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def timed(client: httpx.Client, urls: list[str]) -> list[float]:
    out = []
    for url in urls:
        t = time.perf_counter()
        r = client.get(url)
        out.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text[:300]}")
    return out


def report(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    print(f"{name:58s} n={len(ms):3d}  p50 {statistics.median(ms):7.1f} ms  "
          f"p90 {ms[int(0.9 * (len(ms) - 1))]:7.1f} ms  max {ms[-1]:7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--loads", type=int, default=50)
    args = ap.parse_args()
    port = free_port()
    log = Path(tempfile.mkdtemp()) / "server.log"
    env = {**os.environ, "PUFA_API_KEYS": f"{KEY}:editor"}
    proc = subprocess.Popen([sys.executable, "-m", "recommender.cli", "serve", "--db", args.db, "--models",
                             args.models, "--port", str(port)], cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 900
        while time.time() < deadline:
            try:
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"the server stopped:\n{log.read_text()[-2000:]}")
            time.sleep(1)
        with httpx.Client(base_url=base, cookies={"pufa_console": KEY}, timeout=120) as c:
            n = args.loads
            timed(c, ["/console/review", "/console/campaigns/preview?group=herders&region=临河区&date=2026-12-04"])
            report("/console/review (default view, pages 1..n)",
                   timed(c, [f"/console/review?page={1 + k % 5}" for k in range(n)]))
            report("/console/review?scope=all&group=herders (pages 1..n)",
                   timed(c, [f"/console/review?scope=all&group=herders&page={1 + k % 5}" for k in range(n)]))
            report("/console/review?scope=all&type=law_article (pages 1..n)",
                   timed(c, [f"/console/review?scope=all&type=law_article&page={1 + k % 5}" for k in range(n)]))
            day = dt.date(2026, 12, 1)
            report("/console/campaigns/preview herders 临河区 (a new day each)",
                   timed(c, [f"/console/campaigns/preview?group=herders&region=临河区&date={day + dt.timedelta(days=k)}"
                             for k in range(n)]))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


if __name__ == "__main__":
    main()
