"""Typed settings for the gateway, read from `GATEWAY_*` environment variables."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from tollgate_common.settings import ClockSettings

SAMPLES = "samples"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})+")


def image_host(value: str) -> str:
    """A publisher's image host as the CSP names it: ``https://host`` or ``https://*.host``.

    Only https, a host name (with at least one dot) and nothing else: no port, path, query or
    other wildcard. Raises ValueError with the reason otherwise.
    """
    given = value.strip().lower().rstrip("/")
    if not given.startswith("https://"):
        raise ValueError(f"an image host is https://<host>, not {value!r}")
    host = given.removeprefix("https://")
    if not _HOST.fullmatch(host):
        raise ValueError(
            f"an image host is https:// and a host name (or *. and a domain) only, not {value!r}"
        )
    return given


class Settings(ClockSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    port: int = 8000
    # Where readers reach the gateway; membership's tokens name it as their issuer unless told otherwise.
    public_url: str = "http://127.0.0.1:8000"
    # Where the gateway reaches membership; readers never see this address.
    membership_url: str = "http://127.0.0.1:8001"
    # A platform API key with entitlements:read, unlocks:write and friend-links:write.
    membership_api_key: SecretStr = SecretStr("")
    # Read for the key when membership_api_key is empty: compose's init service writes it there.
    membership_api_key_file: str = ""
    upstream_timeout_seconds: float = Field(default=10.0, gt=0)
    # The reader-facing membership routes, forwarded so that the browser sees one origin.
    forwarded_prefixes: tuple[str, ...] = ("/auth/", "/api/", "/account/", "/dev/", "/.well-known/")
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)

    # Stories: a folder of story files or an http(s) URL; `samples` (or empty, outside production)
    # the built-in sample stories.
    story_origin: str = ""
    origin_timeout_seconds: float = Field(default=5.0, gt=0)
    # Where the publisher's story images live, allowed in the page's CSP (img-src): https origins,
    # comma-separated, such as `https://images.example.com,https://*.cdn.example.net`. Images on
    # other hosts are dropped from the stories.
    image_hosts: Annotated[tuple[str, ...], NoDecode] = ()
    # How long browsers and shared caches may keep a public story page.
    public_max_age_seconds: int = Field(default=60, ge=0)

    # Tokens: what membership writes into them (empty issuer: the public URL).
    token_issuer: str = ""
    token_audience: str = "tollgate"  # noqa: S105 - a name, not a secret
    access_cookie: str = "tollgate_access"
    session_cookie: str = "tollgate_session"
    jwks_refresh_seconds: float = Field(default=300.0, gt=0)
    # Clock skew allowed on a token's times; membership uses the same (MEMBERSHIP_TOKEN_LEEWAY_SECONDS).
    token_leeway_seconds: float = Field(default=30.0, ge=0)
    revocation_poll_seconds: float = Field(default=2.0, gt=0)
    # Membership publishes every entitlement change here (MEMBERSHIP_REDIS_URL, the same Redis):
    # applied at once; the feed is then polled every revocation_pushed_poll_seconds as a safety net,
    # and every revocation_poll_seconds again whenever the push channel is down. Empty: poll only.
    redis_url: str = ""
    # Entitlement changes arrive on <prefix>:entitlements (the same as MEMBERSHIP_REDIS_PREFIX).
    redis_prefix: str = "tollgate"
    revocation_pushed_poll_seconds: float = Field(default=30.0, gt=0)
    # A signed-in reader's metered read renews a token older than this first (it may predate a
    # subscription); a younger one is used as it is, so reading fast costs no renewal per page.
    metered_renew_after_seconds: float = Field(default=30.0, ge=0)
    # How long a resolved friend link is trusted before membership is asked again (revocation delay).
    friend_link_cache_seconds: float = Field(default=30.0, ge=0)
    # How long the tiers on offer are kept for the paywall, and the offer an offer link's code names.
    offers_cache_seconds: float = Field(default=60.0, ge=0)

    # Free member-only reads for readers who are not signed in, kept in a signed cookie. Off (0) by
    # default: clearing cookies resets it, so it is an invitation, not a meter.
    anonymous_unlocks_per_month: int = Field(default=0, ge=0, le=20)
    # Signs that cookie; empty means a random secret per process (cookies then die with a restart).
    anonymous_cookie_secret: SecretStr = SecretStr("")

    @field_validator("membership_url", "public_url", "story_origin")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("image_hosts", mode="before")
    @classmethod
    def _image_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.replace(",", " ").split() if part]
        if isinstance(value, list | tuple):
            return tuple(dict.fromkeys(image_host(str(host)) for host in value))
        return value

    @field_validator("forwarded_prefixes")
    @classmethod
    def _whole_segments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            # "/api" without the slash would also forward "/apiary"; insist on whole path segments.
            if not (prefix.startswith("/") and prefix.endswith("/") and len(prefix) > 1):
                raise ValueError(f"a forwarded prefix starts and ends with '/', not {prefix!r}")
        return value

    @model_validator(mode="after")
    def _key_from_file(self) -> Settings:
        if self.membership_api_key_file and not self.membership_api_key.get_secret_value():
            path = Path(self.membership_api_key_file)
            if not path.is_file():
                raise ValueError(f"GATEWAY_MEMBERSHIP_API_KEY_FILE names {path}, which is not a file")
            self.membership_api_key = SecretStr(path.read_text().strip())
        return self

    @model_validator(mode="after")
    def _origin_named_in_production(self) -> Settings:
        # Production must say where stories come from, not fall back to the samples unnoticed.
        if self.is_production and not self.story_origin:
            raise ValueError(
                "GATEWAY_STORY_ORIGIN is empty: in production, name your stories' folder or http(s) URL "
                "(or `samples` to serve the built-in sample stories on purpose)"
            )
        return self

    @model_validator(mode="after")
    def _cookie_secret_in_production(self) -> Settings:
        # A secret per process would make one replica refuse the allowance cookie another signed.
        if self.is_production and self.anonymous_unlocks_per_month and not self.anonymous_cookie_secret:
            raise ValueError(
                "GATEWAY_ANONYMOUS_COOKIE_SECRET is empty: in production, with "
                "GATEWAY_ANONYMOUS_UNLOCKS_PER_MONTH set, give every gateway the same secret"
            )
        return self

    @property
    def serves_samples(self) -> bool:
        return self.story_origin in ("", SAMPLES)

    @property
    def issuer(self) -> str:
        return self.token_issuer or self.public_url
