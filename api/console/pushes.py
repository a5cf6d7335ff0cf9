"""推送情况: what each group was pushed in a period, and (for the roles allowed) one person's rows.

``GET /console/pushes?start=&end=&group=`` (editor, analyst, admin): for a date range (Beijing
days, the end included; by default the last 30 days) and optionally one group, each group's
recommendations, items pushed and people; each plan topic's share (a table, and the heat map
``GET /console/pushes/heatmap.png`` for the same range, behind the console cookie); the
must-know list with titles, pushed and completed; the items pushed most. The rule on personal
rows (:func:`recommender.service.reports.personal_rows_rule`) is stated on the page.

``GET /console/pushes/person?user_id=&start=&end=``: exactly what the exposure log holds for
one person, newest first, times in Beijing time. Only the roles of
:func:`recommender.service.reports.may_read_personal_rows` see its form; anyone else asking
gets a 403 page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from recommender.records import PersonPushes, PushReport
from recommender.service import ServiceError
from recommender.service.reports import PLAN_TZ, may_read_personal_rows, personal_rows_rule

from ..deps import ServiceDep
from .auth import ConsoleRefusal, ConsoleUser, PushReader
from .pages import page_url, render

router = APIRouter(include_in_schema=False)


class ChartCache:
    """The last few PNGs drawn, by the data they show: drawing takes matplotlib about half a
    second, computing the data a few milliseconds, so a chart is drawn again only when its
    data changed (new pushes, another range, another version)."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._pngs: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, data: dict[str, Any], draw: Callable[[], bytes]) -> bytes:
        key = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
        with self._lock:
            if key in self._pngs:
                self._pngs.move_to_end(key)
                return self._pngs[key]
        png = draw()
        with self._lock:
            self._pngs[key] = png
            while len(self._pngs) > self.size:
                self._pngs.popitem(last=False)
        return png


heatmaps = ChartCache()

DEFAULT_DAYS = 30
TOP = 10
DateParam = Annotated[str, Query(max_length=10)]


def beijing_today() -> dt.date:
    """Today's date in Beijing time (the plan's days)."""
    return dt.datetime.now(PLAN_TZ).date()


def _day(value: str, label: str, problems: list[str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(f"{label}“{value}”不是日期（应为 2026-12-04 这样的格式），已改用默认值。")
        return None


def date_range(start: str, end: str, problems: list[str]) -> tuple[dt.date, dt.date]:
    """The range the page shows: both ends inclusive, by default the last 30 days (today too).
    A range given backwards is turned round, and said so."""
    last = _day(end, "结束日期", problems) or beijing_today()
    first = _day(start, "开始日期", problems) or last - dt.timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        problems.append("开始日期晚于结束日期，已互换。")
        first, last = last, first
    return first, last


def _why(exc: ServiceError) -> str:
    if exc.status == 503:
        return "服务暂时不可用（数据库或模型未就绪），请稍后重试。"
    return f"条件有误（{exc.message}）。"


def _group_choice(request: Request, group: str, problems: list[str]) -> str:
    groups = request.app.state.service.taxonomy.groups
    if group and group not in groups:
        by_name = {g.name: g.id for g in groups.values()}
        if group in by_name:
            return by_name[group]
        problems.append(f"没有名为“{group}”的人群，显示全部人群。")
        return ""
    return group


@router.get("/console/pushes", response_class=HTMLResponse)
def pushes_page(request: Request, svc: ServiceDep, user: PushReader, start: DateParam = "", end: DateParam = "",
                group: Annotated[str, Query(max_length=64)] = "") -> Response:
    """The report for the range and group chosen, with the heat map of the same."""
    problems: list[str] = []
    first, last = date_range(start, end, problems)
    group = _group_choice(request, group, problems)
    params = {"start": first.isoformat(), "end": last.isoformat(), "group": group}
    try:
        report: PushReport = svc.reports.pushes(first, last, group or None, TOP)
    except ServiceError as exc:
        return render(request, user, "message.html", "pushes", status=exc.status, title="推送情况暂时无法显示",
                      message=f"推送情况暂时无法显示：{_why(exc)}")
    shown = [g for g in report.groups if g.requests or group]
    quiet = [g for g in report.groups if g not in shown]
    return render(
        request, user, "pushes.html", "pushes", title="推送情况", report=report, shown=shown, quiet=quiet,
        first=first, last=last, group=group, groups=list(svc.taxonomy.groups.values()), problems=problems,
        days=(last - first).days + 1, rule=personal_rows_rule(), may_read_people=may_read_personal_rows(user.role),
        heatmap_url=page_url("/console/pushes/heatmap.png", params),
    )


@router.get("/console/pushes/heatmap.png")
def heatmap(request: Request, svc: ServiceDep, user: PushReader, start: DateParam = "", end: DateParam = "",
            group: Annotated[str, Query(max_length=64)] = "") -> Response:
    """The coverage heat map (groups × topics) of the page's range, as a PNG."""
    from recommender.plots import coverage_heatmap  # matplotlib loads when a chart is first asked for

    problems: list[str] = []
    first, last = date_range(start, end, problems)
    group = _group_choice(request, group, problems)
    try:
        report = svc.reports.pushes(first, last, group or None, TOP)
    except ServiceError as exc:
        return Response(status_code=exc.status)
    return Response(heatmaps.get(report.to_dict(), lambda: coverage_heatmap(report)), media_type="image/png",
                    headers={"Cache-Control": "private, no-store"})


def _check_personal(user: ConsoleUser) -> None:
    if not may_read_personal_rows(user.role):
        raise ConsoleRefusal(403, "没有权限查看个人推送记录",
                             f"“{user.role_name}”可以查看按人群汇总的推送情况，但不能查看某一个人的推送记录。"
                             + personal_rows_rule(), user=user)


@router.get("/console/pushes/person", response_class=HTMLResponse)
def person_page(request: Request, svc: ServiceDep, user: PushReader,
                user_id: Annotated[str, Query(max_length=128)] = "", start: DateParam = "",
                end: DateParam = "") -> Response:
    """One person's rows of the exposure log (all of them unless dates are given)."""
    _check_personal(user)
    problems: list[str] = []
    first = _day(start, "开始日期", problems)
    last = _day(end, "结束日期", problems)
    if first and last and first > last:
        problems.append("开始日期晚于结束日期，已互换。")
        first, last = last, first
    person: PersonPushes | None = None
    user_id = user_id.strip()
    if user_id:
        try:
            person = svc.reports.person_pushes(user_id, first, last)
        except ServiceError as exc:
            problems.append(f"无法查询：{_why(exc)}")
    return render(request, user, "pushes_person.html", "pushes", title="个人推送记录", person=person,
                  user_id=user_id, start=first.isoformat() if first else "", end=last.isoformat() if last else "",
                  problems=problems, rule=personal_rows_rule(), tz=PLAN_TZ)
