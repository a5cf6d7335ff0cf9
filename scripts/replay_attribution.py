"""A simulated replay of attribution: people ask for recommendations, click by a rule on what
they were shown, and the click-through table comes out of the exposure log joined to their
events (``recommender.service.experiments.attribution``, the function behind
``GET /v1/stats/attribution``).

    .venv/bin/python scripts/replay_attribution.py --db sqlite:////tmp/attr/pufa.db \\
        --models /tmp/attr/models --people 1000 --share 0.5

What it does, on the database and models given (their active version is the control):

1. makes a config-only variant of the active version (``--variant-patch``, by default one
   that drops Q&A items and allows one article per law), unless ``--variant`` names one;
2. starts an experiment with ``--share`` of the traffic (stopping it at the end);
3. makes ``--people`` people, spread over the taxonomy's groups, and asks ``--rounds`` lists
   of ``--k`` items for each through :class:`PufaService` (so assignment, the exposure log and
   the variant are the real ones);
4. simulates each person's reaction to what was shown: an item whose topics are among the
   group's core plan topics (weight >= 0.7) is clicked with probability ``p_hit / (1 + rank / 3)``, another with
   ``p_miss / (1 + rank / 3)``; a clicked item is completed with probability ``p_complete``.
   Nothing depends on the variant's name: a variant does better or worse only through the
   lists it shows. Draws are seeded (``--seed``) per person, round and item;
5. posts the events with the list's ``request_id`` and prints the attribution table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import uuid

from recommender.inputs import EventIn, RecommendRequest
from recommender.service import PufaService
from recommender.service.experiments import attribution, format_table
from recommender.store import open_store

DEFAULT_PATCH = {"filters": {"exclude_types": ["qa"]}, "diversity": {"max_per_law": 1}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", required=True)
    p.add_argument("--models", required=True)
    p.add_argument("--people", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--share", type=float, default=0.5)
    p.add_argument("--variant", help="a config-only version of the active one (default: make one)")
    p.add_argument("--variant-patch", default=json.dumps(DEFAULT_PATCH), help="JSON pipeline-config patch")
    p.add_argument("--p-hit", type=float, default=0.30)
    p.add_argument("--p-miss", type=float, default=0.05)
    p.add_argument("--p-complete", type=float, default=0.4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    args = p.parse_args(argv)

    store = open_store(args.db)
    svc = PufaService(store, args.models)
    active = store.models.active()
    if active is None:
        print("no active model version: run `pufa build` first", file=sys.stderr)
        return 2
    variant = args.variant or svc.models.derive_config_version(active.version, json.loads(args.variant_patch))["version"]
    running = store.experiments.running()
    if running is not None:
        print(f"experiment {running['id']} is running: stop it first", file=sys.stderr)
        return 2
    exp = svc.experiments.start(variant, args.share, created_by="replay")
    groups = sorted(svc.taxonomy.groups)
    # a group's core plan topics (weight 0.7 or more): what its people are taken to look for
    plan = {g: {t for t, w in svc.taxonomy.groups[g].topics.items() if w >= 0.7} for g in groups}
    run = uuid.uuid4().hex[:6]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    try:
        for n in range(args.people):
            group = groups[n % len(groups)]
            person = f"replay-{run}-{n}"
            svc.people.put(person, {"groups": [group]})
            for rnd in range(args.rounds):
                out = svc.recommend(RecommendRequest(user_id=person, k=args.k))
                events = []
                for rank, item in enumerate(out.items):
                    rng = random.Random(f"{args.seed}:{n}:{rnd}:{item['item_id']}")
                    hit = bool(set(item.get("topics") or []) & plan[group])
                    if rng.random() < (args.p_hit if hit else args.p_miss) / (1 + rank / 3):
                        events.append(EventIn(user_id=person, type="view", item_id=item["item_id"],
                                              request_id=out.request_id))
                        if rng.random() < args.p_complete:
                            events.append(EventIn(user_id=person, type="complete", item_id=item["item_id"],
                                                  request_id=out.request_id))
                if events:
                    svc.people.ingest(events)
    finally:
        svc.experiments.stop(exp["id"])
    report = attribution(store, start, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    if args.json:
        print(json.dumps(report, ensure_ascii=False, default=str, indent=1))
    else:
        print(f"experiment {exp['id']}: control {active.version} vs variant {variant} "
              f"(share {args.share:g}; patch {args.variant_patch if not args.variant else '-'})")
        print(f"{args.people} people x {args.rounds} lists of {args.k}; seed {args.seed}\n")
        print(format_table(report))
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
