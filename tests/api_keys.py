"""The API keys the HTTP tests use, one per role, and a client for an app on a test database."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings

KEYS = {"platform": "plat-key-1", "editor": "ed-key-1", "analyst": "an-key-1", "admin": "ad-key-1"}


def H(role: str | None) -> dict[str, str]:
    """The header of a role's key (none for ``None``: an anonymous call)."""
    return {"X-API-Key": KEYS[role]} if role else {}


def keyed_client(url: str, models: str | Path) -> TestClient:
    """A client for the app on this database and model directory, with the roles' keys."""
    settings = Settings(db=url, models=str(models), api_keys=",".join(f"{k}:{r}" for r, k in KEYS.items()))
    return TestClient(create_app(settings))
