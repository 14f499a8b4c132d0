"""Typed settings for membership, read from `MEMBERSHIP_*` environment variables."""

from __future__ import annotations

from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from tollgate_common.settings import ClockSettings


class Settings(ClockSettings):
    model_config = SettingsConfigDict(env_prefix="MEMBERSHIP_", extra="ignore")

    port: int = 8001
    # Where readers reach Tollgate: the gateway's origin, which forwards /auth and /api here.
    public_url: str = "http://127.0.0.1:8000"
    data_dir: Path = Path("data")
    # Empty means the embedded SQLite file in data_dir; set postgresql+asyncpg://... in production.
    database_url: str = ""
    database_echo: bool = False
    database_pool_size: int = 10
    migrate_on_start: bool = False
    max_body_bytes: int = 64 * 1024
    # Peers whose X-Forwarded-For we believe (the gateway); comma-separated addresses or networks.
    trusted_proxies: str = "127.0.0.1/32,::1/128"

    signin_link_minutes: int = 15
    # Mail scanners open links before people do; a consumed link still works this long.
    signin_reuse_seconds: int = 60
    signin_rate_window_seconds: int = 15 * 60
    signin_rate_per_email: int = 5
    signin_rate_per_address: int = 30
    # What every replica shares: rate-limit counters and pushed revocations. Empty: counted in this
    # process and nothing pushed (gateways then learn of revocations by polling the feed alone).
    redis_url: str = ""
    # Every key and channel in Redis starts with this (the gateways' GATEWAY_REDIS_PREFIX too):
    # entitlement changes are published on <prefix>:entitlements. Deployments can share one Redis.
    redis_prefix: str = "tollgate"
    # Access tokens one session may be issued per window, and free unlocks tried per reader.
    token_rate_per_session: int = Field(default=60, ge=1)
    token_rate_window_seconds: int = Field(default=60, ge=1)
    unlock_rate_per_reader: int = Field(default=30, ge=1)
    unlock_rate_window_seconds: int = Field(default=60, ge=1)

    session_days: int = 30
    session_cookie: str = "tollgate_session"
    # None: Secure cookies in production only (development runs on plain http://127.0.0.1).
    cookie_secure: bool | None = None

    mail_from: str = "Tollgate <no-reply@tollgate.localhost>"
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_seconds: float = 10.0

    # Empty: the local Stripe sandbox at stripe_sandbox_url (development and tests only).
    stripe_secret_key: SecretStr = SecretStr("")
    # Empty: the webhook endpoint is disabled (404) rather than accepting unsigned events.
    stripe_webhook_secret: SecretStr = SecretStr("")
    stripe_sandbox_url: str = "http://127.0.0.1:8002"
    stripe_network_retries: int = 2
    # past_due keeps access this long after the renewal that failed.
    past_due_grace_days: int = 7
    # An active subscription's grant outlives its period by this much, so a late renewal webhook
    # does not cut a paying reader off; cancel-at-period-end ends exactly at the period's end.
    renewal_leeway_hours: int = 48
    # Webhook inbox workers inside this process (0: run `membership stripe worker` separately).
    stripe_workers: int = 1
    stripe_max_attempts: int = 12
    # Retry n waits base * 2**n seconds, at most an hour.
    stripe_retry_base_seconds: float = 2.0
    stripe_poll_seconds: float = 1.0
    # A worker that claimed an event and died holds it this long; then another worker takes it.
    stripe_lease_seconds: float = Field(default=300.0, gt=0)

    # Access tokens: asymmetric only, one algorithm per key.
    # ES256 by measurement (bench/tokens.py, README): the fastest to sign and, after RS256, to verify,
    # with tokens as small as EdDSA's; RS256 verifies faster but signs 9x slower, 60% larger.
    token_algorithm: Literal["EdDSA", "ES256", "RS256"] = "ES256"  # noqa: S105 - a name, not a secret
    # A float so that a test can let tokens lapse in seconds (0.05 is three seconds).
    token_minutes: float = Field(default=5, gt=0)
    token_leeway_seconds: int = 30
    token_audience: str = "tollgate"  # noqa: S105 - a name, not a secret
    # Empty: the public URL (where readers reach us) is the issuer.
    token_issuer: str = ""
    access_cookie: str = "tollgate_access"
    # Gift emails due (a chosen delivery day, a reminder before a gift ends) are sent this often.
    gift_mail_seconds: float = Field(default=60.0, gt=0)
    # A redeemed gift's recipient is asked to subscribe this many days before it ends.
    gift_reminder_days: int = Field(default=7, ge=1)
    # Outgoing webhooks (Standard Webhooks): senders inside this process (0: `membership stripe
    # worker` sends them), how often the outbox is looked at, a claimed message's lease, the timeout.
    webhook_workers: int = Field(default=1, ge=0)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)
    webhook_lease_seconds: float = Field(default=120.0, gt=0)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # The wait before each retry of a failed delivery (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
    # 14 h, 20 h, 24 h, as Svix does); after the last the message has failed.
    webhook_retry_seconds: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    # None: deliveries to loopback, private and link-local addresses are refused in production
    # only (a local receiver works in development and tests).
    webhook_private_addresses: bool | None = None
    # The overview's numbers (GET .../stats, the dashboard) once worked out are served to every
    # replica this long (a row in the database), dated by when; 0: worked out afresh every time.
    stats_cache_seconds: float = Field(default=60.0, ge=0)
    # ...but only numbers that took longer than this to work out (a large publication's): a small
    # one's are always fresh, so a publisher sees the comp they just gave at once.
    stats_keep_slower_than_seconds: float = Field(default=0.25, ge=0)
    # Signing keys are reloaded this often in the background (a rotation by another process).
    key_refresh_seconds: float = Field(default=60.0, gt=0)
    # Encrypts signing keys at rest; empty: a random secret kept in data_dir/keys (mode 0600).
    key_encryption_secret: SecretStr = SecretStr("")

    @model_validator(mode="after")
    def _sandbox_clock_with_the_sandbox(self) -> Settings:
        if self.sandbox_clock_url and not self.stripe_sandboxed:
            # Real Stripe keeps real time; following a sandbox would end real members' access early.
            raise ValueError("MEMBERSHIP_SANDBOX_CLOCK_URL is set but Stripe is real: unset one of them")
        return self

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @cached_property
    def trusted_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(
            ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        )

    @cached_property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'membership.db').resolve()}"

    @property
    def issuer(self) -> str:
        return self.token_issuer or self.public_url

    @property
    def stripe_sandboxed(self) -> bool:
        return not self.stripe_secret_key.get_secret_value()

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def secure_cookies(self) -> bool:
        return self.is_production if self.cookie_secure is None else self.cookie_secure

    @property
    def uses_outbox(self) -> bool:
        """No SMTP server configured: mail lands in the local outbox developers and tests read."""
        return not self.smtp_host

    @property
    def webhooks_to_private_addresses(self) -> bool:
        return (
            not self.is_production
            if self.webhook_private_addresses is None
            else self.webhook_private_addresses
        )

    @property
    def dev_pages(self) -> bool:
        return not self.is_production
