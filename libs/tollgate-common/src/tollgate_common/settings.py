"""Settings every Tollgate service has; each service adds its own under its own env prefix."""

from __future__ import annotations

from typing import Literal

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
