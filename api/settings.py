"""Settings of the HTTP service: environment variables (``PUFA_*``) and an optional ``.env``."""

from __future__ import annotations

import hashlib

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from recommender.vocab import DEFAULT_DB_URL, DEFAULT_MODELS_DIR, EXPOSURE_RETENTION_DAYS

ROLES = ("platform", "editor", "analyst", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUFA_", env_file=".env", extra="ignore")

    db: str = DEFAULT_DB_URL
    models: str = DEFAULT_MODELS_DIR
    # "key:role,key:role". Empty: development mode, authentication off (said loudly).
    api_keys: str = ""
    exposure_retention_days: int = Field(EXPOSURE_RETENTION_DAYS, ge=1, le=3650)
    # Pushed items a day for a minor (art. 18). Unset: the active model version's pipeline
    # config decides (filters.minor_daily_cap, 20 by default); set, it replaces that value for
    # every version. The rest of the pipeline config is not a setting: it is saved in each model
    # version (pipeline_config.json) and goes live with it (activate, rollback).
    minor_daily_cap: int | None = Field(None, ge=0, le=1000)
    max_body_bytes: int = Field(10_000_000, ge=1_000)
    bootstrap: bool = False  # import the bundled sample and build a model when there is none

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: str) -> str:
        for pair in filter(None, (p.strip() for p in value.split(","))):
            key, _, role = pair.rpartition(":")
            if not key or role not in ROLES:
                raise ValueError(f"PUFA_API_KEYS: '{pair}' must be key:role with role one of {', '.join(ROLES)}")
        return value

    def key_roles(self) -> dict[str, str]:
        """sha256(key) -> role: keys are kept hashed in memory and compared by hash."""
        out = {}
        for pair in filter(None, (p.strip() for p in self.api_keys.split(","))):
            key, _, role = pair.rpartition(":")
            out[hashlib.sha256(key.encode()).hexdigest()] = role
        return out

    @property
    def auth_enabled(self) -> bool:
        return bool(self.key_roles())

