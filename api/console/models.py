"""模型: the model versions, one compared with the active one, retraining, activation and rollback.

``GET /console/models?version=`` (editor, analyst, admin): the versions (newest first, the
active one marked) and, for the version chosen (by default the newest that is not active), its
figures beside the active version's (:meth:`recommender.service.reports.Reports.compare_models`),
better and worse said in words and colour, and the same as a chart
(``GET /console/models/{version}/compare.png``).

``POST /console/models/retrain`` (editor, admin; CSRF-checked) starts
:meth:`~recommender.service.reports.Reports.request_build`: the new version is registered, not
activated. ``GET /console/models/builds/{job_id}`` shows its progress and refreshes itself
until the build ends. ``POST /console/models/{version}/activate`` and
``POST /console/models/rollback`` are the admin's (the buttons are shown to admins only; anyone
else posting gets a 403 page and nothing changes). A config-only version (a tuned pipeline
config over another version's arrays, ``POST /v1/admin/models/{v}/config``) is marked as such,
and the chosen version's pipeline config is shown (read-only; it is changed through the API).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recommender.records import ModelComparison, ModelVersion
from recommender.service import ServiceError
from recommender.service.reports import MODEL_READERS, PLAN_TZ, RETRAIN_ROLES

from ..deps import ServiceDep
from .auth import AdminForm, AdminUser, ConsoleRefusal, ConsoleUser, Form, form_for, require_role
from .pages import page_url, render
from .pushes import ChartCache

router = APIRouter(include_in_schema=False)

ModelReader = Annotated[ConsoleUser, Depends(require_role(*MODEL_READERS))]
Retrainer = Annotated[ConsoleUser, Depends(require_role(*RETRAIN_ROLES))]
RetrainForm = Annotated[Form, Depends(form_for(*RETRAIN_ROLES))]

VERDICTS = {"better": "更好", "worse": "更差", "same": "持平", "neutral": "数量（不分好坏）", "missing": "缺少此指标"}
SECTIONS = {"classifier": "主题分类", "answers": "法条答案", "evaluation": "离线评估", "size": "规模",
            "classifier_topics": "各主题的分类F1"}
JOB_STATUS = {"queued": "排队中", "running": "正在训练", "done": "已完成", "failed": "失败"}
REFRESH_SECONDS = 3
charts = ChartCache()
# The build's stage messages (recommender/build.py), by their beginning, in words an editor reads.
STAGES = (("starting", "准备开始"), ("reading items", "读取内容"), ("tokenizing", "中文分词"),
          ("indexing", "建立索引"), ("embedding items", "计算语义向量"), ("BM25", "建立全文检索索引"),
          ("classifier cross-validation", "主题分类交叉验证"), ("training the topic classifier", "训练主题分类器"),
          ("tagging items", "为内容标注主题"), ("answer ranker", "训练法条答案排序"),
          ("writing the model version", "保存模型版本"), ("built; not active", "已完成，尚未启用"), ("done", "已完成"))


def stage_name(message: str | None) -> str:
    """A build job's message in Chinese where it is a known stage (the original beside it)."""
    if not message:
        return ""
    for prefix, name in STAGES:
        if message.startswith(prefix):
            rest = message[len(prefix):].replace("(", "").replace(")", "").strip(" :;")
            return f"{name}（{rest}）" if rest and prefix in ("embedding items", "classifier cross-validation",
                                                             "answer ranker") else name
    return message


def beijing(t: dt.datetime | None) -> str:
    """A time as Beijing time, to the minute."""
    return t.astimezone(PLAN_TZ).strftime("%Y-%m-%d %H:%M") if t is not None else ""


def figure(value: float | None, section: str) -> str:
    """A figure as the page shows it: counts whole, qualities to three places."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if section == "size" else f"{value:.3f}"


def difference(value: float | None, section: str) -> str:
    if value is None:
        return ""
    return f"{value:+,.0f}" if section == "size" else f"{value:+.3f}"


def _default_version(versions: list[ModelVersion]) -> str | None:
    """The newest version that is not active (what one would compare), else the active one."""
    waiting = [v for v in versions if not v.active]
    if waiting:
        return waiting[0].version
    return versions[0].version if versions else None


def _rollback_target(versions: list[ModelVersion]) -> str | None:
    """The version a rollback would activate (as ModelKeeper.rollback chooses), if any."""
    if not any(v.active for v in versions):
        return None
    earlier = [v for v in versions if not v.active and v.activated_at is not None]
    return max(earlier, key=lambda v: v.activated_at or v.created_at).version if earlier else None


def _page(request: Request, svc: ServiceDep, user: ConsoleUser, version: str = "", *, message: str = "",
          problems: list[str] | None = None, status: int = 200) -> Response:
    problems = list(problems or [])
    try:
        versions = svc.store.models.list()
    except ServiceError as exc:
        return render(request, user, "message.html", "models", status=exc.status, title="模型版本暂时无法显示",
                      message=f"模型版本暂时无法显示：{exc.message}")
    known = {v.version for v in versions}
    if version and version not in known:
        problems.append(f"没有版本“{version}”，显示的是默认版本。")
        version = ""
    chosen = version or _default_version(versions)
    comparison: ModelComparison | None = None
    if chosen:
        try:
            comparison = svc.reports.compare_models(chosen)
        except ServiceError as exc:
            problems.append(f"无法比较：{exc.message}")
    config_json = ""
    if chosen:
        try:
            config_json = svc.models.config_of(chosen).to_json()
        except ServiceError:
            config_json = ""
    sections: dict[str, list[Any]] = {}
    if comparison is not None:
        for m in comparison.metrics:
            sections.setdefault(m.section, []).append(m)
    return render(
        request, user, "models.html", "models", status=status, title="模型", versions=versions, chosen=chosen,
        comparison=comparison, sections=sections, section_names=SECTIONS, verdicts=VERDICTS, message=message,
        problems=problems, beijing=beijing, figure=figure, difference=difference,
        rollback_to=_rollback_target(versions), config_json=config_json,
        chart_url=f"/console/models/{chosen}/compare.png" if comparison is not None else "",
    )


@router.get("/console/models", response_class=HTMLResponse)
def models_page(request: Request, svc: ServiceDep, user: ModelReader,
                version: Annotated[str, Query(max_length=64)] = "",
                done: Annotated[str, Query(max_length=16)] = "") -> Response:
    """The versions and the chosen one against the active one."""
    message = ""
    if done == "activated" and version:
        message = f"已启用模型版本 {version}，新的推荐立即使用这个版本。"
    elif done == "rolledback" and version:
        message = f"已回滚：现在生效的是模型版本 {version}。"
    return _page(request, svc, user, version, message=message)


@router.get("/console/models/{version}/compare.png")
def compare_png(version: str, svc: ServiceDep, user: ModelReader) -> Response:
    """The chosen version's figures against the active one's, as a PNG."""
    from recommender.plots import comparison_chart  # matplotlib loads when a chart is first asked for

    try:
        comparison = svc.reports.compare_models(version)
    except ServiceError as exc:
        return Response(status_code=exc.status)
    return Response(charts.get(comparison.to_dict(), lambda: comparison_chart(comparison)), media_type="image/png",
                    headers={"Cache-Control": "private, no-store"})


@router.post("/console/models/retrain")
def retrain(request: Request, svc: ServiceDep, form: RetrainForm, user: Retrainer) -> Response:
    """Start a build of a new version (not activated); go to its progress page."""
    try:
        job = svc.reports.request_build(evaluate=form.get("evaluate") == "1")
    except ServiceError as exc:
        why = ("已经有一次训练正在进行，请等它结束后再申请。" if exc.status == 409
               else f"没有开始训练：{exc.message}")
        return _page(request, svc, user, problems=[why], status=exc.status)
    return RedirectResponse(f"/console/models/builds/{job.id}", status_code=303)


@router.get("/console/models/builds/{job_id}", response_class=HTMLResponse)
def build_page(request: Request, job_id: str, svc: ServiceDep, user: Retrainer) -> Response:
    """A build's progress; the page reloads itself every few seconds until the build ends."""
    job = svc.store.models.job(job_id)
    if job is None:
        raise ConsoleRefusal(404, "没有这次训练", f"找不到训练任务 {job_id}。", user=user)
    running = job.status in ("queued", "running")
    return render(request, user, "models_build.html", "models", title="重新训练", job=job,
                  status_name=JOB_STATUS.get(job.status, job.status), running=running,
                  refresh=REFRESH_SECONDS if running else 0, beijing=beijing, stage=stage_name(job.message),
                  compare_url=page_url("/console/models", {"version": job.version or ""}))


@router.post("/console/models/{version}/activate")
def activate(request: Request, version: str, svc: ServiceDep, form: AdminForm, user: AdminUser) -> Response:
    """Admin: make this version the one that serves."""
    try:
        svc.models.activate(version)
    except ServiceError as exc:
        return _page(request, svc, user, version, problems=[f"没有启用：{exc.message}"], status=exc.status)
    return RedirectResponse(page_url("/console/models", {"version": version, "done": "activated"}), status_code=303)


@router.post("/console/models/rollback")
def rollback(request: Request, svc: ServiceDep, form: AdminForm, user: AdminUser) -> Response:
    """Admin: back to the version that was active before the current one."""
    try:
        done = svc.models.rollback()
    except ServiceError as exc:
        why = "没有更早启用过的版本可以回滚。" if exc.status == 409 else exc.message
        return _page(request, svc, user, problems=[f"没有回滚：{why}"], status=exc.status)
    return RedirectResponse(page_url("/console/models", {"version": done["version"], "done": "rolledback"}),
                            status_code=303)
