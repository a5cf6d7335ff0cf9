"""Rendering console pages: the Jinja2 templates, the nav bar, Chinese labels, error pages.

A page renders with :func:`render` (``render(request, user, "review.html", "review", title=...)``):
the base layout (``templates/base.html``) gets the nav bar with only the links the role may use
(:data:`NAV`), the role's name, the development-mode notice and ``csrf_field()`` for forms.
Templates are autoescaped; the filters ``topic_name``, ``group_name``, ``type_name`` and
``status_name`` turn ids into the Chinese words editors use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup, escape

from corpus.taxonomy import Taxonomy

from .auth import ConsoleUser

__all__ = ["NAV", "STATUS_NAMES", "TYPE_NAMES", "NavLink", "error_page", "page_url", "render"]

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


@dataclass(frozen=True)
class NavLink:
    key: str
    label: str
    path: str
    roles: tuple[str, ...]  # besides admin
    blurb: str  # one line on the home page: what one does there


NAV = (
    NavLink("review", "审核队列", "/console/review", ("editor",), "逐条确认或修改系统预测的主题标签；新增内容排在最前。"),
    NavLink("items", "内容", "/console/items", ("editor",), "查找、查看和编辑法条、解读、问答、案例，批量上传。"),
    NavLink("campaigns", "主题活动", "/console/campaigns", ("editor",), "宪法日、国家安全教育日等专题活动的设置与预览。"),
    NavLink("pushes", "推送情况", "/console/pushes", ("editor", "analyst"), "各人群收到了哪些内容、覆盖了哪些主题。"),
    NavLink("models", "模型", "/console/models", ("editor", "analyst"), "模型版本及其指标；申请重新训练。"),
    # What a campaign would change: analysts read it here; editors also reach it from 主题活动.
    NavLink("preview", "活动预览", "/console/campaigns/preview", ("analyst",),
            "选一个人群、地区和日期，看主题活动开展与否时推送的前十条内容。"),
)

TYPE_NAMES = {"law": "法律全文", "law_article": "法条", "interpretation": "司法解释", "case": "案例",
              "explainer": "解读", "qa": "问答", "news": "新闻", "video": "视频", "quiz": "测验"}
STATUS_NAMES = {"current": "现行有效", "superseded": "已被修订", "repealed": "已废止"}
SOURCE_NAMES = {"predicted": "模型预测", "author": "作者标注", "editor": "编辑确认"}

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def _when(value: dt.datetime | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:16].replace("T", " ")
    return value.astimezone().strftime("%Y-%m-%d %H:%M")


@pass_context
def _topic_name(ctx: Context, topic_id: str) -> str:
    tax: Taxonomy = ctx["taxonomy"]
    return tax.topic_name(topic_id)


@pass_context
def _group_name(ctx: Context, group_id: str) -> str:
    tax: Taxonomy = ctx["taxonomy"]
    return tax.groups[group_id].name if group_id in tax.groups else group_id


_env.filters.update(
    topic_name=_topic_name, group_name=_group_name, when=_when,
    type_name=lambda t: TYPE_NAMES.get(t, t), status_name=lambda s: STATUS_NAMES.get(s, s),
    source_name=lambda s: SOURCE_NAMES.get(s, s))


def page_url(path: str, params: dict[str, Any]) -> str:
    """``path?query`` without empty parameters."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "", False)}, doseq=True)
    return f"{path}?{query}" if query else path


def render(request: Request, user: ConsoleUser | None, template: str, active: str = "", *,
           status: int = 200, title: str = "", **context: Any) -> HTMLResponse:
    """A page in the base layout, for ``user`` (None: signed out)."""
    nav = [link for link in NAV if user is not None and user.may(link.roles)]

    def csrf_field() -> Markup:
        token = user.csrf if user is not None else ""
        return Markup(f'<input type="hidden" name="csrf" value="{escape(token)}">')

    html = _env.get_template(template).render(
        request=request, user=user, nav=nav, active=active, title=title, csrf_field=csrf_field,
        taxonomy=request.app.state.service.taxonomy,
        dev_mode=not request.app.state.settings.auth_enabled, **context)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def error_page(request: Request, status: int, title: str, message: str, user: ConsoleUser | None = None,
               *, sign_in: bool = False) -> HTMLResponse:
    """A page that says what went wrong, in words, with a way on."""
    return render(request, user, "message.html", status=status, title=title, message=message, sign_in=sign_in)
