"""The FastAPI application: a thin layer over :class:`recommender.service.PufaService`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recommender.service import PufaService, ServiceError, bootstrap
from recommender.store import open_store, unavailable

from .console import mount_console
from .deps import role_of_key
from .logs import configure_logging
from .metrics import get_metrics
from .observability import Observe, RouteTemplates
from .routers import (
    admin,
    campaigns,
    classify,
    events,
    experiments,
    health,
    items,
    metrics,
    recommendations,
    stats,
    taxonomy,
    users,
)
from .schemas import ERROR_RESPONSES, EventIn, EventsIn
from .settings import Settings

log = logging.getLogger("pufa.api")

DEV_MODE_WARNING = """
*****************************************************************************
*  DEVELOPMENT MODE: PUFA_API_KEYS is not set, authentication is OFF.        *
*  Every caller is an admin. Set PUFA_API_KEYS=key:role,... before exposing  *
*  this server to anyone.                                                    *
*****************************************************************************"""


class BodyLimit:
    """Refuse bodies above ``limit`` bytes with 413, before any handler reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _send_json(send, 413, {"detail": f"body: larger than {self.limit} bytes"})
            return
        seen = 0
        too_big = False

        async def limited() -> Message:
            nonlocal seen, too_big
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    too_big = True
                    raise _TooBig
            return msg

        async def guarded(msg: Message) -> None:
            # Once the body is too big, the app's own answer (a parse error) is not sent.
            if not too_big:
                await send(msg)

        try:
            await self.app(scope, limited, guarded)
        except _TooBig:
            pass
        if too_big:
            await _send_json(send, 413, {"detail": f"body: larger than {self.limit} bytes"})


class _TooBig(Exception):
    pass


_JSON_TYPES = ("application/json", "application/x-ndjson", "application/jsonl", "application/json-lines")
_OPEN_PATHS = ("/v1/about/",)


class Gate:
    """Before any body is read, for ``/v1/`` routes: the API key (401 names what is wrong,
    even when the body is malformed) and the body's type (415 when it is declared as
    something other than JSON). Roles are still checked per route."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith("/v1/") or path.startswith(_OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"x-api-key")
        role, problem = role_of_key(self.settings, key.decode("latin-1") if key is not None else None)
        if role is None:
            await _send_json(send, 401, {"detail": problem}, [(b"www-authenticate", b"ApiKey")])
            return
        ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        if scope.get("method") in ("POST", "PUT", "PATCH") and ctype and ctype not in _JSON_TYPES \
                and not ctype.endswith("+json"):
            await _send_json(send, 415, {"detail": f"content-type: '{ctype}' is not JSON; send the body as "
                                                   "application/json (JSON Lines as application/x-ndjson)",
                                         "field": "content-type"})
            return
        await self.app(scope, receive, send)


async def _send_json(send: Send, status: int, body: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    import json

    raw = json.dumps(body, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": raw})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_format, settings.log_level)
    try:  # one BLAS thread: requests are the concurrency (see `pufa serve`)
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass
    store = open_store(settings.db)
    service = PufaService(store, settings.models, exposure_retention_days=settings.exposure_retention_days,
                          minor_daily_cap=settings.minor_daily_cap)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.auth_enabled:
            log.warning(DEV_MODE_WARNING)
        if settings.bootstrap:
            bootstrap(service.store, service.models_dir)
        # Load the active model before the first request. A database that is down at start-up
        # is not fatal: requests answer 503 until it is back, /ready says why.
        if service.models.loaded_version() is None:
            log.warning("no active model loaded yet (database unreachable or no build): /ready says which")
        try:
            service.purge_exposures()
        except sa.exc.SQLAlchemyError as exc:
            log.warning("exposure purge skipped: %s", unavailable(exc) or exc)
        yield
        store.close()

    # /docs and /redoc serve Swagger UI and ReDoc from the fastapi-offline package (under
    # /static-offline-docs), not from a CDN: they work on a machine without internet. No
    # validator badge: it would ask validator.swagger.io about the spec.
    app = FastAPIOffline(
        title="Pufa (普法) recommendation API", version="1.0",
        description="Targeted legal education: content, profiles, recommendations with reasons. "
                    "Contract: docs/api.md. Auth: header X-API-Key (roles platform, editor, analyst, admin).",
        lifespan=lifespan, swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.settings = settings
    app.state.service = service
    app.state.metrics = get_metrics() if settings.metrics != "off" else None

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        detail = f"{exc.field}: {exc.message}" if exc.field and not exc.message.startswith(exc.field) else exc.message
        return JSONResponse({"detail": detail, "field": exc.field}, status_code=exc.status)

    @app.exception_handler(sa.exc.SQLAlchemyError)
    async def database_error(request: Request, exc: sa.exc.SQLAlchemyError) -> JSONResponse:
        reason = unavailable(exc)
        if reason is None:
            log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
            return JSONResponse({"detail": "internal error; the server log has the details"}, status_code=500)
        log.warning("%s %s: database unavailable: %s", request.method, request.url.path, reason)
        # Nothing was written: each write is one transaction, rolled back on the error.
        return JSONResponse({"detail": f"database unavailable: {reason}; retry later",
                             "field": None}, status_code=503,
                            headers={"Retry-After": str(health.RETRY_AFTER_SECONDS)})

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error; the server log has the details"}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # An unreadable body (not UTF-8, not JSON) is bad input like any other: 422.
            return JSONResponse({"detail": "body: not valid JSON text (UTF-8 expected)", "field": "body"},
                                status_code=422)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                where = err.get("loc", ("body", "?"))[-1]
                reason = (err.get("ctx") or {}).get("error", "")
                errors.append({"field": "body", "message": f"invalid JSON at character {where}: {reason}".rstrip(": "),
                               "type": "json_invalid"})
                continue
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body",)]
            errors.append({"field": ".".join(loc) or "body", "message": err.get("msg", ""), "type": err.get("type")})
        first = errors[0] if errors else {"field": "body", "message": "invalid request"}
        return JSONResponse({"detail": f"{first['field']}: {first['message']}", "errors": jsonable_encoder(errors)},
                            status_code=422)

    for r in (health, taxonomy, items, classify, users, events, recommendations, campaigns, stats, admin, experiments):
        app.include_router(r.router, responses=ERROR_RESPONSES)
    if app.state.metrics is not None:
        app.include_router(metrics.router)
    mount_console(app)  # the editors' workbench at /console/
    app.add_middleware(Gate, settings=settings)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    _observed(app, settings, service)
    _with_event_schemas(app)
    return app


def _observed(app: FastAPI, settings: Settings, service: PufaService) -> None:
    """:class:`api.observability.Observe` around the whole stack, Starlette's error middleware
    included (``add_middleware`` would put it inside: a 500 would go out without its request
    id, uncounted)."""
    build = app.build_middleware_stack

    def active_version() -> str | None:
        engine = service.models.current  # what serves now; no database call
        return engine.version if engine is not None else None

    def build_middleware_stack() -> ASGIApp:
        return Observe(build(), RouteTemplates(app.openapi), app.state.metrics, settings.access_log, active_version)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]


def _with_event_schemas(app: FastAPI) -> None:
    """POST /v1/events reads its body by hand (one event or a batch, each bad event reported
    by index); its OpenAPI body names EventIn and EventsIn, which are added here."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = default()
        _, defs = models_json_schema([(EventIn, "validation"), (EventsIn, "validation")],
                                     ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
