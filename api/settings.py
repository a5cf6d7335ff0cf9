"""Settings of the HTTP service: environment variables (``PUFA_*``) and an optional ``.env``."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator
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
    # GET /metrics (Prometheus text): "on" open to anyone who reaches the server (operations
    # data: counts, latencies, the model version; nothing about people), "key" for an analyst's
    # or admin's API key, "off" neither the endpoint nor the counting.
    metrics: Literal["on", "key", "off"] = "on"
    log_format: Literal["json", "text"] = "json"  # the server's log lines (api/logs.py)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_log: bool = True  # one line per request on the logger pufa.access

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics_switch(cls, value: object) -> object:
        """on/off also as true/false, yes/no, 1/0."""
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return "on"
        if text in ("0", "false", "no", "off"):
            return "off"
        return text

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _case(cls, value: object, info: ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        return value.strip().upper() if info.field_name == "log_level" else value.strip().lower()

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

