"""Who is signed in to the console, what they may do, and the cross-site check of every form.

The API key travels in the cookie ``pufa_console`` (HttpOnly, SameSite=Strict, Path=/console;
Secure behind HTTPS) and is checked on every request with :func:`api.deps.role_of_key`, so a
key removed from ``PUFA_API_KEYS`` stops working at once. With no keys configured (development
mode) anyone who signs in is an admin, and the pages say so.

Every form that changes data carries a hidden field ``csrf``: HMAC-SHA256 of the cookie's
SHA-256, keyed with a per-installation secret (``PUFA_CONSOLE_SECRET``, else derived from the
configured keys, so that every worker agrees). A page on another site can neither read the
cookie nor compute the token, and SameSite=Strict keeps the browser from sending the cookie
with its request anyway. A POST without the cookie, without a valid token, or whose
``Origin`` is another site is refused with a 403 page and changes nothing.

How a page uses this (see ``review.py``)::

    @router.get("/console/thing")
    def show(user: Viewer) -> HTMLResponse: ...          # any console role; platform keys get a notice
    @router.get("/console/pushes")
    def pushes(user: PushReader) -> HTMLResponse: ...    # editor, analyst (and admin)
    @router.post("/console/thing/{id}/save")
    def save(form: EditForm, user: EditorUser) -> Response: ...  # editor or admin, token checked

``form.get("name")`` / ``form.getlist("name")`` read the verified form; templates put
``{{ csrf_field() }}`` inside each ``<form method="post">``. ``AdminForm`` is the same for
admin-only actions; for another role define, at module level, ``AnalystForm =
Annotated[Form, Depends(form_for("analyst"))]``. For a multipart upload, read the body
yourself and call :func:`check_csrf` with the submitted token. Behind a reverse proxy, pass
the ``Host`` header through (the ``Origin`` check compares the two).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

from fastapi import Depends, Request

from ..deps import role_of_key
from ..settings import Settings

__all__ = [
    "COOKIE", "LOGIN_COOKIE", "ROLE_NAMES", "AdminForm", "AdminUser", "ConsoleRefusal", "ConsoleUser", "EditForm",
    "EditorUser", "Form", "PushReader", "SignInRequired", "Viewer", "check_csrf", "console_secret",
    "form_for", "login_token", "require_role", "same_origin", "signed_in",
]

COOKIE = "pufa_console"
LOGIN_COOKIE = "pufa_console_login"  # a nonce that ties the sign-in form to this browser
COOKIE_PATH = "/console"
ROLE_NAMES = {"platform": "平台接入", "editor": "编辑", "analyst": "分析人员", "admin": "管理员"}
CONSOLE_ROLES = ("editor", "analyst", "admin")


class SignInRequired(Exception):
    """No (valid) cookie on a page: the browser is sent to the sign-in page."""

    def __init__(self, next_url: str = "/console/", message: str = "") -> None:
        super().__init__(message or "sign-in required")
        self.next_url = next_url
        self.message = message


class ConsoleRefusal(Exception):
    """A 403 (or other) page in Chinese: the role may not do this, or a form was not genuine."""

    def __init__(self, status: int, title: str, message: str, user: ConsoleUser | None = None,
                 sign_in: bool = False) -> None:
        super().__init__(message)
        self.status, self.title, self.message, self.user, self.sign_in = status, title, message, user, sign_in


@dataclass(frozen=True)
class ConsoleUser:
    """The signed-in role and the token its forms carry."""

    role: str
    csrf: str
    dev_mode: bool = False

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role, self.role)

    @property
    def can_edit(self) -> bool:
        return self.role in ("editor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def editor_label(self) -> str:
        """Who made a change, as the store records it (``console:editor``)."""
        return f"console:{self.role}"

    def may(self, roles: tuple[str, ...]) -> bool:
        """Whether this role is one of ``roles`` (admin may do everything)."""
        return self.role == "admin" or self.role in roles


@dataclass
class Form:
    """A verified ``application/x-www-form-urlencoded`` body: every value of every field."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0].strip() if values else default

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for v in self.fields.get(name, []) if v.strip()]


def console_secret(settings: Settings) -> bytes:
    """The key of the tokens: ``PUFA_CONSOLE_SECRET`` when set, else a hash of the configured
    API keys (secret as long as they are, and the same in every worker)."""
    configured = os.environ.get("PUFA_CONSOLE_SECRET", "")
    basis = configured or "pufa-console\x00" + settings.api_keys
    return hashlib.sha256(basis.encode()).digest()


def _token(settings: Settings, purpose: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()
    return hmac.new(console_secret(settings), f"{purpose}\x00{digest}".encode(), hashlib.sha256).hexdigest()


def csrf_token(settings: Settings, cookie: str) -> str:
    """The token forms carry for this cookie."""
    return _token(settings, "csrf", cookie)


def login_token(settings: Settings, nonce: str) -> str:
    """The token of the sign-in form, for the nonce in :data:`LOGIN_COOKIE`."""
    return _token(settings, "login", nonce)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _here(request: Request) -> str:
    """This page as a local address, to come back to after signing in."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def signed_in(request: Request) -> ConsoleUser:
    """Dependency: the signed-in role, platform included. Without a valid cookie a page
    (GET) goes to the sign-in page and a form (POST) gets a 403 page."""
    settings = _settings(request)
    cookie = request.cookies.get(COOKIE)
    role = role_of_key(settings, cookie)[0] if cookie else None
    if cookie is None or role is None:
        message = "" if cookie is None else "密钥已失效或已被撤销，请重新登录。"
        if request.method not in ("GET", "HEAD"):
            raise ConsoleRefusal(403, "请先登录", "没有登录或登录已失效，操作没有执行。请登录后重试。", sign_in=True)
        raise SignInRequired(_here(request), message)
    return ConsoleUser(role=role, csrf=csrf_token(settings, cookie), dev_mode=not settings.auth_enabled)


def console_user(user: Annotated[ConsoleUser, Depends(signed_in)]) -> ConsoleUser:
    """Dependency: a console role (editor, analyst, admin); a platform key gets a notice."""
    if user.role not in CONSOLE_ROLES:
        raise ConsoleRefusal(403, "此控制台供编辑和分析人员使用",
                             "您登录使用的是“平台接入”密钥，它用于平台调用推荐接口（API），不能使用编辑工作台。"
                             "请使用编辑、分析人员或管理员的密钥登录。", user=user)
    return user


_role_checks: dict[tuple[str, ...], Callable[[ConsoleUser], ConsoleUser]] = {}


def require_role(*roles: str) -> Callable[[ConsoleUser], ConsoleUser]:
    """A dependency admitting these roles (admin always); others get a 403 page. The same
    roles give the same function, so FastAPI runs the check once per request."""
    if roles in _role_checks:
        return _role_checks[roles]

    def check(user: Annotated[ConsoleUser, Depends(console_user)]) -> ConsoleUser:
        if not user.may(roles):
            names = "、".join(ROLE_NAMES[r] for r in (*roles, "admin") if r in ROLE_NAMES)
            raise ConsoleRefusal(403, "没有权限", f"“{user.role_name}”不能使用此功能，需要{names}身份。", user=user)
        return user

    _role_checks[roles] = check
    return check


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site (``Origin`` names
    another host, or is ``null``: a sandboxed or local page). No ``Origin``: not a browser's
    cross-site POST, which always sends one; the token decides."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def check_csrf(request: Request, user: ConsoleUser, token: str) -> None:
    """Refuse (403 page) a form whose token is not this cookie's, or sent from another site."""
    if not same_origin(request):
        raise ConsoleRefusal(403, "请求被拒绝", "这个表单来自其他网站，操作没有执行。", user=user)
    if not token or not hmac.compare_digest(token.encode(), user.csrf.encode()):
        raise ConsoleRefusal(403, "请求被拒绝", "表单校验失败（页面可能已过期或来自其他网站），操作没有执行。"
                                              "请刷新页面后重试。", user=user)


async def read_form(request: Request) -> Form:
    """The urlencoded body of a POST (no multipart: use :func:`check_csrf` for uploads)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConsoleRefusal(400, "表单无法读取", "表单内容不是 UTF-8 文本。") from exc
    return Form(parse_qs(text, keep_blank_values=True))


def form_for(*roles: str) -> Callable[..., Awaitable[Form]]:
    """A dependency: the verified form of a POST by one of ``roles`` (admin always).

    The order of the checks: the cookie (403 without it), the role, then the token."""
    role_check = require_role(*roles) if roles else _admin

    # A default, not Annotated: the annotation would name a local that FastAPI cannot resolve.
    async def verified(request: Request, user: ConsoleUser = Depends(role_check)) -> Form:
        form = await read_form(request)
        check_csrf(request, user, form.get("csrf"))
        return form

    return verified


def _admin(user: Annotated[ConsoleUser, Depends(console_user)]) -> ConsoleUser:
    if not user.is_admin:
        raise ConsoleRefusal(403, "没有权限", f"“{user.role_name}”不能使用此功能，需要管理员身份。", user=user)
    return user


_editor = require_role("editor")

Viewer = Annotated[ConsoleUser, Depends(console_user)]
EditorUser = Annotated[ConsoleUser, Depends(_editor)]
PushReader = Annotated[ConsoleUser, Depends(require_role("editor", "analyst"))]
AdminUser = Annotated[ConsoleUser, Depends(_admin)]
EditForm = Annotated[Form, Depends(form_for("editor"))]
AdminForm = Annotated[Form, Depends(form_for())]
