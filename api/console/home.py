"""Signing in and out, the home page, and the pages of the nav bar not built yet."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..deps import role_of_key
from .auth import (
    COOKIE,
    COOKIE_PATH,
    LOGIN_COOKIE,
    ROLE_NAMES,
    ConsoleRefusal,
    ConsoleUser,
    check_csrf,
    login_token,
    new_nonce,
    read_form,
    same_origin,
    signed_in,
)
from .pages import NAV, render

router = APIRouter(include_in_schema=False)
tail = APIRouter(include_in_schema=False)  # mounted after every page: the placeholders


def _safe_next(value: str) -> str:
    """Only an address of the console itself (no other site after signing in)."""
    if value.startswith("/console/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


def _login_page(request: Request, *, next_url: str = "/console/", error: str = "", status: int = 200) -> Response:
    settings = request.app.state.settings
    nonce = new_nonce()
    page = render(request, None, "login.html", title="登录", status=status, error=error, next_url=next_url,
                  login_csrf=login_token(settings, nonce), auth_enabled=settings.auth_enabled)
    page.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path=COOKIE_PATH,
                    secure=request.url.scheme == "https")
    return page


@router.get("/console", response_class=HTMLResponse)
def console_root() -> Response:
    return RedirectResponse("/console/", status_code=307)


@router.get("/console/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/console/", expired: bool = False) -> Response:
    return _login_page(request, next_url=_safe_next(next),
                       error="密钥已失效或已被撤销，请重新登录。" if expired else "")


@router.post("/console/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    """Check the key; on success set the cookie and go on. The form itself carries a token tied
    to a nonce cookie, so another site cannot sign a browser in with its own key."""
    settings = request.app.state.settings
    form = await read_form(request)
    next_url = _safe_next(form.get("next", "/console/"))
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    if not nonce or not hmac.compare_digest(form.get("csrf").encode(), login_token(settings, nonce).encode()) \
            or not same_origin(request):
        return _login_page(request, next_url=next_url, status=403,
                           error="登录表单已过期或来自其他网站，请重新输入密钥。")
    key = form.get("key")
    if settings.auth_enabled:
        role, _ = role_of_key(settings, key or None)
        if role is None:
            return _login_page(request, next_url=next_url, status=401,
                               error="密钥不正确。请检查后重新输入，或向管理员索取密钥。")
    else:
        key = "dev:" + new_nonce()  # development mode: any key; the cookie is still this browser's own
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict", path=COOKIE_PATH,
                        secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.post("/console/logout")
async def logout(request: Request, user: Annotated[ConsoleUser, Depends(signed_in)]) -> Response:
    form = await read_form(request)
    check_csrf(request, user, form.get("csrf"))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
    return response


@router.get("/console/", response_class=HTMLResponse)
def home(request: Request, user: Annotated[ConsoleUser, Depends(signed_in)]) -> Response:
    """What each page is for, for the signed-in role; a platform key gets the notice."""
    if user.role not in ("editor", "analyst", "admin"):
        raise ConsoleRefusal(200, "此控制台供编辑和分析人员使用",
                             "您登录使用的是“平台接入”密钥，它用于平台调用推荐接口（API），不能使用编辑工作台。"
                             "请退出后使用编辑、分析人员或管理员的密钥登录。", user=user)
    links = [link for link in NAV if user.may(link.roles)]
    return render(request, user, "home.html", "home", title="首页", links=links, role_names=ROLE_NAMES)


@tail.get("/console/{page}", response_class=HTMLResponse)
def placeholder(request: Request, page: str, user: Annotated[ConsoleUser, Depends(signed_in)]) -> Response:
    """A nav page that is not built yet says so; any other address is a 404 page."""
    link = next((n for n in NAV if n.key == page), None)
    if link is None:
        raise ConsoleRefusal(404, "页面不存在", "没有这个页面。请从上方的导航栏进入。", user=user)
    if not user.may(link.roles):
        raise ConsoleRefusal(403, "没有权限", f"“{user.role_name}”不能使用“{link.label}”。", user=user)
    return render(request, user, "message.html", page, title=link.label,
                  message=f"“{link.label}”页面正在建设中：{link.blurb}")
