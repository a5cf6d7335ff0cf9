"""``pufa coverage``: the plan's 七(五) question from the exposure log -- for a period, or for
plan days replayed -- each group's share of pushes on its plan topics and must-know list.

Without ``--replay-day`` it reports what the log holds for ``--start``/``--end`` (Beijing days,
as the API's /v1/stats/coverage). With ``--replay-day D`` (repeatable) it first makes each
group's anonymous request(s) for plan day D through the service (they are logged in the
exposure log like any request) and reports the period they were served in, one table a day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from recommender.cli.common import UsageError, db_url, fail, models_dir, print_json
from recommender.vocab import K_MAX


def _whole(text: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a whole number") from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be from {low} to {high} (got {value})")
    return value


def per_group(text: str) -> int:
    """``--per-group``: 1 to 100 requests per group."""
    return _whole(text, 1, 100)


def request_size(text: str) -> int:
    """``-k``: items per request, as the API allows."""
    return _whole(text, 1, K_MAX)


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"{option}: '{text[:40]}' is not a date (YYYY-MM-DD, e.g. 2026-12-04)") from None


def cmd_coverage(args: argparse.Namespace) -> int:
    from recommender.coverage import format_coverage, replay_group_requests
    from recommender.service import PufaService, ServiceError
    from recommender.store import open_store

    start, end = _date(args.start, "--start"), _date(args.end, "--end")
    days = [d for d in (_date(t, "--replay-day") for t in args.replay_day or []) if d is not None]
    if days and (start or end):
        raise UsageError("--replay-day reports the period its requests were served in: leave out --start/--end")
    svc = PufaService(open_store(db_url(args)), models_dir(args))
    if args.group is not None and args.group not in svc.taxonomy.groups:
        raise UsageError(f"--group: unknown group '{args.group[:64]}' (one of: {', '.join(svc.taxonomy.groups)})")
    if not svc.models.has_model():
        fail("no active model (run `pufa build` first)", 1)
    reports: list[tuple[dt.date | None, Any]] = []
    try:
        if days:
            for day in days:
                t0, t1 = replay_group_requests(svc, day, [args.group] if args.group else None, args.per_group, args.k)
                reports.append((day, svc.reports.pushes(t0, t1, args.group)))
        else:
            reports.append((None, svc.reports.pushes(start, end, args.group)))
    except ServiceError as exc:
        raise UsageError(f"--{exc.field}: {exc.message}" if exc.field else exc.message) from None
    if args.json:
        rows = [{"replay_day": d.isoformat() if d else None, "per_group": args.per_group if d else None,
                 **report.to_dict()} for d, report in reports]
        print_json(rows if days else rows[0])
        return 0
    for n, (replayed, report) in enumerate(reports):
        if n:
            print()
        if replayed is not None:
            print(f"plan day {replayed}: {args.per_group} anonymous request(s) per group, k={args.k} "
                  "(logged in the exposure log)")
        print(format_coverage(report))
    if days:
        print(f"pufa: {len(days) * args.per_group} request(s) per group logged in the exposure log", file=sys.stderr)
    return 0
