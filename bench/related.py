"""Related content latency in-process: ``Related.related(item_id, k=10)`` on the active model.

The links are the version's (``links.json``, written by ``pufa build``); a version built before
links existed has none, and then they are found here from the stored texts (``--db``), the
way a build finds them, and the time that takes is reported. Then the indexes are made (what
the first request of a snapshot pays) and ``--calls`` random current articles, and as many
random cases/explainers, are asked for their related items.

    .venv/bin/python bench/related.py --models /tmp/full/models --db sqlite:////tmp/full/p.db

Goal (issue 12): p50 <= 10 ms on the full corpus.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recommender.artifacts import ArtifactError  # noqa: E402
from recommender.model import Model, load_active_model  # noqa: E402
from recommender.related import CITING_TYPES, Related, citations_of_items  # noqa: E402


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _model(models: Path, db: str | None) -> Model:
    try:  # no migration: this only reads, and must not change a database others use
        return load_active_model(models, db_url=db, migrate=False)
    except ArtifactError as exc:
        raise SystemExit(str(exc)) from exc


def _time_calls(rel: Related, ids: list[str], k: int) -> dict[str, float]:
    times, sizes = [], []
    for i in ids:
        t = time.perf_counter()
        got = rel.related(i, k)
        times.append((time.perf_counter() - t) * 1000)
        sizes.append(len(got or []))
    return {"calls": len(ids), "p50_ms": round(pct(times, 0.5), 3), "p99_ms": round(pct(times, 0.99), 3),
            "max_ms": round(max(times), 3), "mean_items": round(statistics.mean(sizes), 2),
            "with_none": sum(1 for s in sizes if s == 0)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=str(REPO / "models"))
    ap.add_argument("--db", default=None, help="database URL: its active model, and its texts when the version has no links")
    ap.add_argument("--calls", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t = time.perf_counter()
    model = _model(Path(args.models), args.db)
    out: dict[str, object] = {"version": model.version, "items": len(model.catalog),
                              "load_s": round(time.perf_counter() - t, 2)}
    links = model.links
    out["links_in_version"] = bool(links)
    if not links and args.db:
        from recommender.store import open_store

        store = open_store(args.db, migrate_schema=False)
        t = time.perf_counter()
        items = [it for it in store.items.iter() if it.type in CITING_TYPES or it.type == "law_article"]
        out["read_texts_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        links = citations_of_items(items, [it.law_title for it in items if it.type == "law_article"])
        out["find_links_s"] = round(time.perf_counter() - t, 2)
    out["citing_items"] = len(links)
    out["citations"] = sum(len(v) for v in links.values())
    t = time.perf_counter()
    rel = Related(model.catalog, links)
    out["index_s"] = round(time.perf_counter() - t, 3)
    out["articles_cited"] = sum(1 for k in rel.cited_by if k in rel._current)

    rng = random.Random(args.seed)
    cat = model.catalog
    articles = [m.id for m in cat.metas if m.type == "law_article" and m.recommendable]
    citing = [m.id for m in cat.metas if m.type in CITING_TYPES and m.recommendable]
    cited = [cat.metas[rel._current[k]].id for k in rel.cited_by if k in rel._current]
    for name, pool in (("articles", articles), ("cited_articles", cited), ("cases_explainers", citing)):
        if pool:
            out[name] = _time_calls(rel, [rng.choice(pool) for _ in range(args.calls)], args.k)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
