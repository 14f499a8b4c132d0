"""Settings every Tollgate service has; each service adds its own under its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings


class ServiceSettings(BaseSettings):
    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


class ClockSettings(ServiceSettings):
    """A service whose time can follow the Stripe sandbox's clock in development (`tollgate_common.clock`)."""

    # The sandbox's address (http://127.0.0.1:8002); empty: the wall clock. `make run` sets it.
    sandbox_clock_url: str = ""
    sandbox_clock_seconds: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _wall_clock_in_production(self) -> ClockSettings:
        if self.sandbox_clock_url and self.is_production:
            raise ValueError("a sandbox clock is for development and tests, not production: unset it")
        return self
