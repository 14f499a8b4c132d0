"""Typed settings for the Stripe sandbox, read from `STRIPE_SANDBOX_*` environment variables."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from tollgate_common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="STRIPE_SANDBOX_", extra="ignore")

    port: int = 8002
    # Where a browser reaches the sandbox: checkout and portal URLs are built on it.
    public_url: str = "http://127.0.0.1:8002"
    # Where events are POSTed: membership's Stripe webhook endpoint.
    webhook_url: str = "http://127.0.0.1:8001/api/stripe/webhook"
    # The signing secret shared with membership; empty means no webhook is sent at all.
    webhook_secret: str = ""
    # Empty keeps the state in memory only; a path saves it after every change and loads it at start.
    state_file: str = ""
    # How long a subscription whose renewal failed stays past_due before it is canceled.
    past_due_days: float = Field(default=7, ge=0)

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")
