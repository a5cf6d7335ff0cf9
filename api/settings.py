"""Settings of the HTTP service: environment variables (``PUFA_*``) and an optional ``.env``."""

from __future__ import annotations

import hashlib
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROLES = ("platform", "editor", "analyst", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PUFA_", env_file=".env", extra="ignore")

    db: str = "sqlite:///./pufa.db"
    models: str = "./models"
    # "key:role,key:role". Empty: development mode, authentication off (said loudly).
    api_keys: str = ""
    exposure_retention_days: int = Field(180, ge=1, le=3650)
    minor_daily_cap: int = Field(20, ge=0, le=1000)
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
