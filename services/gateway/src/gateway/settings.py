"""Typed settings for the gateway, read from `GATEWAY_*` environment variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from tollgate_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    port: int = 8000
    # Where the gateway reaches membership; readers never see this address.
    membership_url: str = "http://127.0.0.1:8001"
    upstream_timeout_seconds: float = Field(default=10.0, gt=0)
    # The reader-facing membership routes, forwarded so that the browser sees one origin.
    forwarded_prefixes: tuple[str, ...] = ("/auth/", "/api/", "/account/", "/dev/", "/.well-known/")
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)

    @field_validator("membership_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("forwarded_prefixes")
    @classmethod
    def _whole_segments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            # "/api" without the slash would also forward "/apiary"; insist on whole path segments.
            if not (prefix.startswith("/") and prefix.endswith("/") and len(prefix) > 1):
                raise ValueError(f"a forwarded prefix starts and ends with '/', not {prefix!r}")
        return value
