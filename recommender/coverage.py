"""Coverage on a plan day, the plan's 七(五) 评估 question: did each group get its plan topics
and its must-know content, and do the campaigns of the day show, bounded?

:func:`replay_group_requests` makes anonymous requests for groups (a platform's request for a
group without a person) through the real service on a plan day, so that they are logged as any
other; the period it returns holds their exposure rows, and :meth:`Reports.pushes
<recommender.service.reports.Reports.pushes>` (the one coverage function, behind the API, the
console and the notebooks) reads them back. :func:`format_coverage` prints its report as a
table; :func:`campaign_items_per_request` counts the campaign items of the day in each group's
top 10. ``pufa coverage`` and ``notebooks/02_coverage_and_campaigns.ipynb`` use them.

The period is wall-clock time: requests others make in it are counted too (on a live service,
read the figures of a replay as "this day's lists, plus whatever else was served meanwhile").
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import Counter
from collections.abc import Sequence

from recommender.feed_eval import DEFAULT_DAYS, campaign_items
from recommender.inputs import RecommendRequest
from recommender.records import PushReport
from recommender.service import PufaService
from recommender.service.reports import PLAN_TZ
from recommender.store import utcnow

__all__ = ["DEFAULT_DAYS", "HEADINGS", "campaign_items_per_request", "format_coverage", "replay_group_requests"]

TOP_TITLES = 3
HEADINGS = ("group", "人群", "requests", "pushes", "plan-topic share", "plan topics reached", "must-know share",
            "must-know pushed/total", f"top {TOP_TITLES} titles")


def replay_group_requests(service: PufaService, day: dt.date, groups: Sequence[str] | None = None,
                          per_group: int = 1, k: int = 10) -> tuple[dt.datetime, dt.datetime]:
    """Ask the service for each group's list (all the taxonomy's groups by default) on the plan
    day ``day``, ``per_group`` times, as a platform does for a group without a person; each is
    logged in the exposure log. The [start, end) wall-clock period (UTC) that holds those rows.
    An unknown group is a :class:`~recommender.service.errors.ServiceError` (422, ``groups``)."""
    if per_group < 1:
        raise ValueError(f"per_group must be at least 1 (got {per_group})")
    chosen = list(groups) if groups is not None else list(service.taxonomy.groups)
    service.checks.groups(chosen)
    start = utcnow()
    for group in chosen:
        for _ in range(per_group):
            service.recommend(RecommendRequest(groups=[group], k=k, date=day))
    return start, utcnow() + dt.timedelta(microseconds=1)


def campaign_items_per_request(service: PufaService, start: dt.datetime, end: dt.datetime, day: dt.date,
                               top: int = 10) -> dict[str, float]:
    """For each group served in [start, end): the mean number of items in the top ``top`` of its
    recommendations whose reasons name a campaign in force for the group on ``day`` (the
    measure of ``pufa evaluate --feeds``, camp@10, read from the exposure log)."""
    engine = service.engine
    total: Counter[str] = Counter()
    requests: Counter[str] = Counter()
    reasons: dict[str, set[str]] = {}
    for row in service.store.exposures.in_period(start, end):
        for group in row.groups or []:
            if group not in reasons:
                reasons[group] = {c.reason for c in engine.campaigns_on(day, [group], None) if c.reason}
            requests[group] += 1
            total[group] += max(campaign_items(row.items[:top], reasons[group]))  # as camp@10
    return {g: total[g] / requests[g] for g in requests}


def _cells(text: str) -> int:
    """Terminal cells a text takes: Chinese characters are two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    fill = " " * max(0, width - _cells(text))
    return fill + text if right else text + fill


def format_coverage(report: PushReport) -> str:
    """A plain-text table of a coverage report (:data:`HEADINGS`): for each group its id and
    Chinese name, the requests and items pushed, the share of pushes on its plan topics, how
    many of its plan topics were pushed at least once, the share on its must-know list, how many of its must-know items were pushed of how many, and the titles
    pushed most."""
    last = (report.end - dt.timedelta(microseconds=1)).astimezone(PLAN_TZ)
    rows = [[g.group, g.name, str(g.requests), str(g.pushes), f"{g.plan_share:.0%}",
             f"{g.plan_topics_reached}/{sum(1 for t in g.topics if t.plan_weight > 0)}", f"{g.must_know_share:.0%}",
             f"{g.must_know_pushed}/{len(g.must_know)}",
             "；".join(t.title or f"({t.item_id})" for t in g.top_items[:TOP_TITLES])] for g in report.groups]
    widths = [max(_cells(r[i]) for r in [list(HEADINGS), *rows]) for i in range(len(HEADINGS) - 1)]

    def line(cells: Sequence[str]) -> str:
        head = "  ".join(_pad(c, w, right=i >= 2) for i, (c, w) in enumerate(zip(cells, widths, strict=False)))
        return f"{head}  {cells[-1]}".rstrip()

    return "\n".join([f"Coverage {report.start.astimezone(PLAN_TZ):%Y-%m-%d %H:%M:%S} to {last:%Y-%m-%d %H:%M:%S} "
                      "(Beijing time): the share of each group's pushes on its plan topics and its must-know list",
                      line(HEADINGS), *(line(r) for r in rows)])
