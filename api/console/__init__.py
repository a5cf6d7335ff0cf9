"""The editors' workbench (编辑工作台): server-rendered pages in Chinese under ``/console/``.

:func:`mount_console` adds the pages, the static files (``/console/static``: CSS, no CDN) and
the handlers that turn "sign in first" into a redirect and a refusal into a Chinese page.

To add a page: write a module here with ``router = APIRouter(include_in_schema=False)``; guard
its routes with the dependencies of :mod:`api.console.auth` (``Viewer``, ``EditorUser``,
``PushReader``, ``AdminUser``; ``EditForm`` for a POST that changes data, which checks the
cookie, the role and the CSRF token); render with :func:`api.console.pages.render` and a
template in ``templates/`` that extends ``base.html``; add the module to :data:`PAGES`. The nav
bar (:data:`api.console.pages.NAV`) already links ``/console/items``, ``/console/campaigns``,
``/console/pushes`` and ``/console/models``; until a module serves them they say "正在建设中".
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from . import campaigns, home, items, models, pushes, review
from .auth import COOKIE, COOKIE_PATH, ConsoleRefusal, SignInRequired
from .pages import STATIC_DIR, error_page, page_url

__all__ = ["PAGES", "mount_console"]

# Each page module's router, in order; home.tail (the placeholders) always comes last.
PAGES = (home, review, pushes, models, campaigns, items)


def mount_console(app: FastAPI) -> None:
    """Serve the console from ``app`` under ``/console/``."""
    app.mount("/console/static", StaticFiles(directory=STATIC_DIR), name="console-static")
    for module in PAGES:
        app.include_router(module.router)
    app.include_router(home.tail)

    async def sign_in_first(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        url = page_url("/console/login", {"next": exc.next_url, "expired": "1" if exc.message else ""})
        response = RedirectResponse(url, status_code=303)
        if exc.message:  # a key that no longer works: forget it
            response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
        return response

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleRefusal)
        return error_page(request, exc.status, exc.title, exc.message, exc.user, sign_in=exc.sign_in)

    app.add_exception_handler(SignInRequired, sign_in_first)
    app.add_exception_handler(ConsoleRefusal, refused)
