"""Each HTTP request observed once, by a pure ASGI middleware around the whole application
(outside Starlette's error middleware, so a 500 is seen and carries the request id too):

- ``X-Request-ID``: the caller's, when it is 1 to 128 characters of ``[A-Za-z0-9._-]``, else a
  new one (a bad header is replaced, never refused); returned on every response, set for the
  log lines written while the request is served;
- the metrics (``api.metrics``): count and latency by method, route template and status;
- one access line (logger ``pufa.access``): request_id, method, route, path, status,
  latency_ms and model_version; for a recommendation also ``recommendation_id`` (the
  ``request_id`` in its body and in the exposure log: the engine's, kept as the contract says,
  whatever the caller's header) and ``variant``.

Kept out of the logs: bodies, query strings (so no text a person typed) and user ids: the
segment after ``/users/`` or ``/people/`` in a path is written ``{user_id}``.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .logs import REQUEST_ID
from .metrics import Metrics

__all__ = ["UNMATCHED", "Observe", "RouteTemplates", "note_recommendation", "route_label", "valid_request_id"]

access_log = logging.getLogger("pufa.access")
log = logging.getLogger("pufa.api")

UNMATCHED = "unmatched"
NOTES = "pufa.notes"  # the scope key where a route leaves what the access line should say
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_PERSONAL_SEGMENT = re.compile(r"(/(?:users|people)/)[^/]+")
_MAX_PATH = 200


def valid_request_id(raw: bytes | None) -> str | None:
    """The caller's request id when it is acceptable, else None."""
    if raw is None or len(raw) > 128:
        return None
    text = raw.decode("latin-1")
    return text if _REQUEST_ID_RE.fullmatch(text) else None


class RouteTemplates:
    """The API's route templates (its OpenAPI paths, a public contract), to name the route of
    a request answered before routing (401, 413, 415 from the gates): made on first use."""

    def __init__(self, openapi: Callable[[], dict[str, Any]]) -> None:
        self.openapi = openapi
        self._compiled: list[tuple[re.Pattern[str], frozenset[str], str]] | None = None

    def compiled(self) -> list[tuple[re.Pattern[str], frozenset[str], str]]:
        if self._compiled is None:
            try:
                paths = self.openapi().get("paths", {})
            except Exception:  # a label is not worth failing a request for
                log.exception("route templates unavailable: routes answered before routing are 'unmatched'")
                paths = {}
            self._compiled = [(compile_path(path)[0], frozenset(m.upper() for m in ops), path)
                              for path, ops in paths.items()]
        return self._compiled

    def match(self, path: str, method: str) -> str:
        other = None
        for regex, methods, template in self.compiled():
            if regex.match(path):
                if method in methods:
                    return template
                other = other or template
        return other or UNMATCHED


def route_label(scope: Scope, templates: RouteTemplates) -> str:
    """The template of the route that served (or would have served) the request; ``unmatched``."""
    route = scope.get("route")
    if route is not None:
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if isinstance(path, str):
            return path
    return templates.match(scope.get("path", ""), scope.get("method", ""))


def loggable_path(path: str) -> str:
    return _PERSONAL_SEGMENT.sub(r"\1{user_id}", path)[:_MAX_PATH]


def note_recommendation(request: Request, response: dict[str, Any]) -> None:
    """Count a recommendation list and tell the access line its model version and id.
    ``variant`` is read from the response ("control" until variants exist)."""
    variant = str(response.get("variant") or "control")
    metrics: Metrics | None = request.app.state.metrics
    if metrics is not None:
        metrics.recommendation(variant, bool(response.get("personalized")))
    request.scope[NOTES] = {"model_version": response.get("model_version"),
                            "recommendation_id": response.get("request_id"), "variant": variant}


class Observe:
    """See the module's docstring. ``templates`` name the routes of requests answered before
    routing; ``active_version`` says which model version serves (for the access line)."""

    def __init__(self, app: ASGIApp, templates: RouteTemplates, metrics: Metrics | None, access: bool,
                 active_version: Callable[[], str | None]) -> None:
        self.app = app
        self.templates = templates
        self.metrics = metrics
        self.access = access
        self.active_version = active_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        given = None
        for name, value in scope.get("headers") or ():
            if name == b"x-request-id":
                given = value
                break
        rid = valid_request_id(given) or uuid.uuid4().hex
        header = (b"x-request-id", rid.encode())
        token = REQUEST_ID.set(rid)
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = status or 500
            raise
        finally:
            try:
                self._record(scope, rid, status, time.perf_counter() - start)
            except Exception:  # counting and logging never fail a request
                log.exception("request not recorded")
            finally:
                REQUEST_ID.reset(token)

    def _record(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        if self.metrics is None and not (self.access and access_log.isEnabledFor(logging.INFO)):
            return
        method = scope.get("method", "")
        route = route_label(scope, self.templates)
        if self.metrics is not None:
            self.metrics.request(method, route, status, seconds)
        if self.access and access_log.isEnabledFor(logging.INFO):
            notes = scope.get(NOTES) or {}
            fields: dict[str, Any] = {"request_id": rid, "method": method, "route": route,
                                      "path": loggable_path(scope.get("path", "")), "status": status,
                                      "latency_ms": round(seconds * 1000, 2),
                                      "model_version": notes.get("model_version") or self.active_version()}
            if notes.get("recommendation_id"):
                fields["recommendation_id"] = notes["recommendation_id"]
                fields["variant"] = notes["variant"]
            access_log.info("%s %s %s", method, route, status, extra={"fields": fields})
