"""Dependencies: the service, and who is calling (API key -> role)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from recommender.service import PufaService

from .settings import Settings


def get_service(request: Request) -> PufaService:
    return request.app.state.service


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


ServiceDep = Annotated[PufaService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def caller_role(settings: SettingsDep, x_api_key: Annotated[str | None, Header()] = None) -> str:
    """The caller's role from ``X-API-Key``: 401 without a valid key (auth on), ``admin`` in
    development mode (auth off)."""
    role, problem = role_of_key(settings, x_api_key)
    if role is None:
        raise HTTPException(401, problem, headers={"WWW-Authenticate": "ApiKey"})
    return role


def role_of_key(settings: Settings, key: str | None) -> tuple[str | None, str]:
    """(role, "") for a known key, or for anyone when auth is off; (None, why) otherwise."""
    keys = settings.key_roles()
    if not keys:
        return "admin", ""
    if not key:
        return None, "missing X-API-Key header"
    digest = hashlib.sha256(key.encode()).hexdigest()
    for known, role in keys.items():
        if hmac.compare_digest(known, digest):
            return role, ""
    return None, "unknown API key"


def require(*roles: str) -> Callable[..., str]:
    """A dependency admitting the given roles (admin is always admitted)."""
    allowed = set(roles) | {"admin"}

    def check(role: Annotated[str, Depends(caller_role)]) -> str:
        if role not in allowed:
            raise HTTPException(403, f"the '{role}' role may not do this; needs one of {sorted(allowed)}")
        return role

    return check


ANY = ("platform", "editor", "analyst")
Platform = Annotated[str, Depends(require("platform"))]
Editor = Annotated[str, Depends(require("editor"))]
Analyst = Annotated[str, Depends(require("analyst"))]
Admin = Annotated[str, Depends(require())]
Reader = Annotated[str, Depends(require(*ANY))]
ItemReader = Annotated[str, Depends(require("editor", "analyst", "platform"))]
