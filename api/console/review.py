"""审核队列: the review queue page, where an editor accepts or corrects predicted topics.

``GET /console/review`` lists what most needs a look (new and editor-added items first, then
the least certain predictions; see :meth:`recommender.service.content.Content.review_queue`)
with filters and pages. ``POST /console/review/{id}/accept`` makes the proposed topics the
editor's tags; ``POST /console/review/{id}/correct`` sets the topics (and the item's groups)
chosen by Chinese name. Both go through the service, so the item is re-indexed at once and
leaves the queue; the next build trains on the editor's tags.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recommender.service import ServiceError
from recommender.service.content import ReviewFilters

from ..deps import ServiceDep
from .auth import ConsoleUser, EditForm, EditorUser
from .pages import STATUS_NAMES, TYPE_NAMES, page_url, render

router = APIRouter(include_in_schema=False)

PER_PAGE = (20, 50, 100)
_FILTER_KEYS = ("type", "topic", "group", "law", "status", "source", "from", "to", "since", "only_new", "scope",
                "per_page", "page")


def _date(value: str | None, field: str, problems: list[str]) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        problems.append(f"{field}“{value}”不是日期（应为 2026-12-04 这样的格式）")
        return None


def _resolve(values: list[str], names: dict[str, str]) -> tuple[list[str], list[str]]:
    """Ids from ids or Chinese names: (known ids, unknown values)."""
    by_name = {name: i for i, name in names.items()}
    known, unknown = [], []
    for v in values:
        hit = v if v in names else by_name.get(v)
        if hit is None:
            unknown.append(v)
        elif hit not in known:
            known.append(hit)
    return known, unknown


@router.get("/console/review", response_class=HTMLResponse)
def review_page(
    request: Request, svc: ServiceDep, user: EditorUser,
    type: Annotated[str, Query(max_length=32)] = "", topic: Annotated[str, Query(max_length=64)] = "",
    group: Annotated[str, Query(max_length=64)] = "", law: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=16)] = "current", source: Annotated[str, Query(max_length=200)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=10)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=10)] = "",
    since: Annotated[str, Query(max_length=10)] = "", only_new: bool = False,
    scope: Annotated[str, Query(max_length=8)] = "due", page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: int = 20, done: Annotated[str, Query(max_length=16)] = "",
    item: Annotated[str, Query(max_length=128)] = "",
) -> Response:
    tax = svc.taxonomy
    problems: list[str] = []
    topic_names = {t.id: t.name for t in tax.topics.values()}
    group_names = {g.id: g.name for g in tax.groups.values()}
    topic_ids, bad = _resolve([topic] if topic else [], topic_names)
    problems += [f"没有名为“{b}”的主题" for b in bad]
    group_ids, bad = _resolve([group] if group else [], group_names)
    problems += [f"没有名为“{b}”的人群" for b in bad]
    per_page = per_page if per_page in PER_PAGE else PER_PAGE[0]
    since_day = _date(since, "新增起点", problems)
    filters = ReviewFilters(
        type=type if type in TYPE_NAMES else None, topic=topic_ids[0] if topic_ids else None,
        group=group_ids[0] if group_ids else None, law=law.strip() or None,
        status=status if status in STATUS_NAMES else None, source=source.strip() or None,
        published_from=_date(date_from, "发布日期（起）", problems), published_to=_date(date_to, "发布日期（止）", problems),
        since=dt.datetime.combine(since_day, dt.time(), tzinfo=dt.datetime.now().astimezone().tzinfo)
        if since_day else None,
        only_new=only_new, scope="all" if scope == "all" else "due")
    try:
        queue = svc.content.review_queue(per_page, offset=(page - 1) * per_page, filters=filters, explain=True)
    except ServiceError as exc:  # no model yet, a database that is down
        return render(request, user, "message.html", "review", status=exc.status, title="审核队列暂时无法显示",
                      message=f"审核队列暂时无法显示：{_why(exc)}")
    pages = max(1, math.ceil(queue.total / per_page))
    params = {"type": type, "topic": topic, "group": group, "law": law, "status": status, "source": source,
              "from": date_from, "to": date_to, "since": since, "only_new": only_new, "scope": scope,
              "per_page": per_page if per_page != PER_PAGE[0] else ""}
    back = page_url("", {**params, "page": page if page > 1 else ""}).lstrip("?")
    message = ""
    if done in ("accepted", "corrected") and item:
        stored = svc.store.items.get(item)
        title = stored.title if stored else item
        message = f"已{'采纳' if done == 'accepted' else '修改'}主题标签：{title}。新标签立即生效，这条内容已离开审核队列。"
    return render(
        request, user, "review.html", "review", title="审核队列", queue=queue, page=page, pages=pages,
        per_page=per_page, per_page_choices=PER_PAGE, params=params, back=back, problems=problems,
        message=message, topics=list(tax.topics.values()), groups=list(tax.groups.values()),
        type_names=TYPE_NAMES, status_names=STATUS_NAMES,
        prev_url=page_url("/console/review", {**params, "page": page - 1}) if page > 1 else "",
        next_url=page_url("/console/review", {**params, "page": page + 1}) if page < pages else "",
    )


def _back_to(back: str, **extra: str) -> str:
    """The queue as the editor left it (only its own filters), with a message."""
    params = {k: v for k, v in parse_qsl(back) if k in _FILTER_KEYS}
    return page_url("/console/review", {**params, **extra})


def _why(exc: ServiceError) -> str:
    if exc.status == 404:
        return "找不到这条内容，它可能已被删除。"
    if exc.status == 503:
        return "服务暂时不可用（数据库或模型未就绪），请稍后重试。"
    return f"内容没有通过检查（{exc.message}）。"


def _refused(request: Request, user: ConsoleUser, message: str, back: str) -> Response:
    return render(request, user, "message.html", "review", status=422, title="没有保存", message=message,
                  back_url=_back_to(back))


@router.post("/console/review/{item_id}/accept")
def accept(request: Request, item_id: str, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """The proposed topics shown on the page become the editor's tags."""
    topics, unknown = _resolve(form.getlist("topics"), {t: t for t in svc.taxonomy.topics})
    if unknown or not topics:
        return _refused(request, user, "这条内容没有可采纳的预测主题，请用“修改标签”选择主题。", form.get("back"))
    try:
        svc.content.set_topics(item_id, topics, user.editor_label)
    except ServiceError as exc:
        return _refused(request, user, f"没有保存：{_why(exc)}", form.get("back"))
    return RedirectResponse(_back_to(form.get("back"), done="accepted", item=item_id), status_code=303)


@router.post("/console/review/{item_id}/correct")
def correct(request: Request, item_id: str, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """Topics (and the item's groups) chosen by Chinese name or id replace the prediction."""
    tax = svc.taxonomy
    topics, bad_topics = _resolve(form.getlist("topics"), {t.id: t.name for t in tax.topics.values()})
    groups, bad_groups = _resolve(form.getlist("groups"), {g.id: g.name for g in tax.groups.values()})
    if bad_topics or bad_groups:
        names = "、".join(bad_topics + bad_groups)
        return _refused(request, user, f"不认识的主题或人群：{names}。请从列表中选择。", form.get("back"))
    if not topics:
        return _refused(request, user, "请至少选择一个主题，再点“保存修改”。", form.get("back"))
    try:
        stored = svc.store.items.get(item_id)
        if stored is not None and groups and sorted(groups) != sorted(stored.groups):
            svc.content.patch(item_id, {"groups": groups}, editor=user.editor_label)
        svc.content.set_topics(item_id, topics, user.editor_label)
    except ServiceError as exc:
        return _refused(request, user, f"没有保存：{_why(exc)}", form.get("back"))
    return RedirectResponse(_back_to(form.get("back"), done="corrected", item=item_id), status_code=303)
