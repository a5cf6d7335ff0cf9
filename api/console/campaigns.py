"""主题活动: the campaigns page, where an editor sets up the plan's campaign weeks and months
and previews what a group is shown with a campaign and without it.

``GET /console/campaigns`` lists every campaign, built-in (``corpus/taxonomy/campaigns.yaml``)
and editors', in force today or not, its window in words. ``/console/campaigns/new`` and
``/console/campaigns/{id}/edit`` show the form and save it (POST, editor and admin, through
:data:`api.console.auth.EditForm`); editing a built-in campaign saves an editor's version of it
(an override). ``POST /console/campaigns/{id}/delete`` deletes an editor's campaign; a built-in
one cannot be deleted (409, said on the page). ``GET /console/campaigns/preview`` is read-only
and open to editors, analysts and admins (``PushReader``): the top 10 with reasons for a
group, region and day, with the campaign and without it, side by side. Everything goes
through :attr:`recommender.service.PufaService.campaigns`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from recommender.campaigns import campaign_from_dict, region_applies
from recommender.inputs import CampaignIn
from recommender.service import PufaService, ServiceError
from recommender.vocab import CAMPAIGN_BOOST_MAX, CAMPAIGN_BOOST_MIN, CAMPAIGN_REASON_MAX

from ..deps import ServiceDep
from .auth import ConsoleRefusal, ConsoleUser, EditForm, EditorUser, PushReader
from .campaigns_form import (
    CampaignForm,
    beijing_today,
    problems_of,
    region_options,
    service_problem,
    window_words,
)
from .pages import page_url, render

router = APIRouter(include_in_schema=False)

PREVIEW_K = 10
LIST = "/console/campaigns"


def _row(c: dict[str, Any], today: dt.date, builtin_ids: set[str]) -> dict[str, Any]:
    """A campaign as the list shows it."""
    return {**c, "window": window_words(str(c["start"]), str(c["end"])),
            "in_force": campaign_from_dict(c).active_on(today),
            "builtin": c.get("source") == "taxonomy", "override": c.get("source") != "taxonomy" and c["id"] in builtin_ids}


def _list_page(request: Request, svc: PufaService, user: ConsoleUser, *, message: str = "", error: str = "",
               status: int = 200) -> Response:
    today = beijing_today()
    order = {c.id: n for n, c in enumerate(svc.taxonomy.campaigns)}
    rows = [_row(c, today, set(order)) for c in svc.campaigns.list()]
    # In force today first; a built-in campaign in its place even when overridden; then the editors'.
    rows.sort(key=lambda r: (not r["in_force"], order.get(r["id"], len(order))))
    return render(request, user, "campaigns.html", "campaigns", status=status, title="主题活动", rows=rows,
                  today=today, message=message, error=error)


@router.get(LIST, response_class=HTMLResponse)
def campaigns_page(request: Request, svc: ServiceDep, user: EditorUser,
                   done: Annotated[str, Query(max_length=16)] = "",
                   name: Annotated[str, Query(max_length=200)] = "") -> Response:
    """Every campaign, in force today first; what was just done, in a line."""
    messages = {"created": f"已新建主题活动“{name}”。", "saved": f"已保存主题活动“{name}”。",
                "overridden": f"已保存“{name}”的编辑版本，它代替内置设置生效；删除编辑版本即恢复内置设置。",
                "deleted": f"已删除主题活动“{name}”。", "restored": f"已删除“{name}”的编辑版本，内置设置重新生效。"}
    return _list_page(request, svc, user, message=messages.get(done, ""))


def _form_page(request: Request, svc: PufaService, user: ConsoleUser, form: CampaignForm, *,
               builtin: bool = False, override: bool = False, status: int = 200) -> Response:
    tax = svc.taxonomy
    editing = bool(form.id)
    return render(request, user, "campaigns_form.html", "campaigns", status=status,
                  title=f"编辑主题活动：{form.name}" if editing else "新建主题活动", form=form, editing=editing,
                  builtin=builtin, override=override, topics=list(tax.topics.values()),
                  groups=list(tax.groups.values()), regions=region_options(tax), boost_min=CAMPAIGN_BOOST_MIN,
                  boost_max=CAMPAIGN_BOOST_MAX, reason_max=CAMPAIGN_REASON_MAX,
                  action=f"{LIST}/{form.id}/edit" if editing else f"{LIST}/new")


def _builtin(svc: PufaService, campaign_id: str) -> bool:
    return any(c.id == campaign_id for c in svc.taxonomy.campaigns)


def _stored(svc: PufaService, campaign_id: str) -> bool:
    return any(c["id"] == campaign_id for c in svc.store.campaigns.list())


def _save(request: Request, svc: PufaService, user: ConsoleUser, form: CampaignForm) -> Response:
    """Check and store the form; a refused one comes back as typed, each problem by its field."""
    editing = bool(form.id)
    builtin = editing and _builtin(svc, form.id)
    overriding = builtin and not _stored(svc, form.id)
    body = form.payload()
    checked: dict[str, Any] | None = None
    try:
        checked = CampaignIn.model_validate(body).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        form.problems = {**problems_of(exc), **form.problems}
    if checked is not None and not form.problems:
        try:
            stored, new = svc.campaigns.put(checked, form.id or None)
        except ServiceError as exc:
            where, message = service_problem(exc)
            form.problems[where] = message
        else:
            done = "overridden" if overriding else ("created" if new else "saved")
            return RedirectResponse(page_url(LIST, {"done": done, "name": stored["name"]}) + f"#c-{stored['id']}",
                                    status_code=303)
    return _form_page(request, svc, user, form, builtin=builtin, override=builtin and not overriding, status=422)


@router.get(f"{LIST}/new", response_class=HTMLResponse)
def new_form(request: Request, svc: ServiceDep, user: EditorUser) -> Response:
    """An empty form (a dated window, the usual boost)."""
    return _form_page(request, svc, user, CampaignForm())


@router.post(f"{LIST}/new")
def create(request: Request, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """A new editor's campaign (the service gives it an id)."""
    return _save(request, svc, user, CampaignForm.from_form(form))


def _existing(svc: PufaService, user: ConsoleUser, campaign_id: str) -> dict[str, Any]:
    try:
        return svc.campaigns.get(campaign_id)
    except ServiceError as exc:
        raise ConsoleRefusal(404 if exc.status in (404, 422) else exc.status, "找不到这个主题活动",
                             "这个主题活动不存在，可能已被删除。请回到“主题活动”列表。", user=user) from exc


@router.get(LIST + "/{campaign_id}/edit", response_class=HTMLResponse)
def edit_form(request: Request, campaign_id: str, svc: ServiceDep, user: EditorUser) -> Response:
    """The form filled with the campaign as it applies."""
    campaign = _existing(svc, user, campaign_id)
    builtin = _builtin(svc, campaign_id)
    return _form_page(request, svc, user, CampaignForm.from_campaign(campaign), builtin=builtin,
                      override=builtin and campaign.get("source") == "editor")


@router.post(LIST + "/{campaign_id}/edit")
def save(request: Request, campaign_id: str, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """Replace an editor's campaign, or save an editor's version of a built-in one."""
    _existing(svc, user, campaign_id)
    return _save(request, svc, user, CampaignForm.from_form(form, campaign_id))


@router.post(LIST + "/{campaign_id}/delete")
def delete(request: Request, campaign_id: str, svc: ServiceDep, form: EditForm, user: EditorUser) -> Response:
    """Delete an editor's campaign; a built-in one is refused (409) and stays."""
    del form  # verified (cookie, role, token); nothing else is read from it
    campaign = _existing(svc, user, campaign_id)
    try:
        done = svc.campaigns.delete(campaign_id)
    except ServiceError as exc:
        if exc.status == 409:
            return _list_page(request, svc, user, status=409,
                              error=f"“{campaign['name']}”是规划内置的主题活动，不能删除。"
                                    "如需调整，请点“编辑”保存一个编辑版本；不需要时把它的日期改到别的时间。")
        return _list_page(request, svc, user, status=exc.status, error=f"没有删除：{exc.message}")
    result = "restored" if done.get("in_force_again") else "deleted"
    return RedirectResponse(page_url(LIST, {"done": result, "name": campaign["name"]}), status_code=303)


def _why_not(svc: PufaService, campaign: dict[str, Any], group: str, region: str | None, day: dt.date) -> str:
    """Why a campaign does not apply to this group, region and day, in words."""
    c = campaign_from_dict(campaign)
    tax = svc.taxonomy
    if not c.active_on(day):
        return f"这一天不在活动时间内（{window_words(c.start, c.end)}）"
    if c.groups and group not in c.groups:
        return "活动只面向" + "、".join(tax.groups[g].name if g in tax.groups else g for g in c.groups)
    if not region_applies(tax, c.region, region):
        return f"活动只在{c.region}（及其下辖地区）开展"
    return "活动没有生效"


@router.get(f"{LIST}/preview", response_class=HTMLResponse)
def preview(request: Request, svc: ServiceDep, user: PushReader,
            campaign: Annotated[str, Query(max_length=128)] = "",
            group: Annotated[str, Query(max_length=64)] = "public",
            region: Annotated[str, Query(max_length=64)] = "",
            date: Annotated[str, Query(max_length=10)] = "") -> Response:
    """The top 10 for a group, region and day with the campaign and without it (read-only;
    nothing is logged as pushed). Without a campaign chosen: the first one in force that day."""
    tax = svc.taxonomy
    campaigns = svc.campaigns.list()
    problems: list[str] = []
    day = beijing_today()
    if date:
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            problems.append(f"“{date}”不是日期，请用日期框选择（例如 2026-12-04）。已改用今天。")
    if group not in tax.groups:
        problems.append("请从列表中选择人群。")
        group = "public"
    if region and tax.region(region) is None:
        problems.append(f"不认识地区“{region}”，请从列表中选择。")
        region = ""
    chosen = next((c for c in campaigns if c["id"] == campaign), None)
    if campaign and chosen is None:
        problems.append("没有这个主题活动，它可能已被删除。")
    result: dict[str, Any] | None = None
    in_force_names: list[str] = []
    auto = False
    try:
        in_force = svc.engine.campaigns_on(day, [group], region or None)
        in_force_names = [c.name for c in in_force]
        if chosen is None and in_force:
            chosen, auto = next(c for c in campaigns if c["id"] == in_force[0].id), True
        target = chosen or (campaigns[0] if campaigns else None)
        if target is not None:
            result = svc.campaigns.preview(target["id"], group, region or None, day, PREVIEW_K)
    except ServiceError as exc:
        problems.append("预览暂时无法显示：" + ("服务暂时不可用（数据库或模型未就绪），请稍后重试。"
                                              if exc.status == 503 else exc.message))
    why_not = _why_not(svc, chosen, group, region or None, day) if chosen and result and not result["in_force"] else ""
    return render(request, user, "campaigns_preview.html", "campaigns", title="主题活动预览", campaigns=campaigns,
                  chosen=chosen, auto=auto, group=group, region=region, day=day, problems=problems,
                  result=result, in_force_names=in_force_names, why_not=why_not, regions=region_options(tax),
                  groups=list(tax.groups.values()), k=PREVIEW_K,
                  window=window_words(str(chosen["start"]), str(chosen["end"])) if chosen else "")
