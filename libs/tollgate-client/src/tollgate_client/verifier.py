"""Verifying membership's access tokens offline, against its published JWKS (RFC 8725 rules).

The key set is fetched from one fixed URL and held by `kid`; each key's algorithm comes from
the JWKS and is pinned, so a token's header can only pick a key, never how it is checked.
Issuer, audience, `typ` and the time claims are required; the times are checked against the
verifier's `clock` (`time.time` unless given one). A verified token is cached until it
expires, so a repeated token costs a dict lookup; with a `RevocationFeed`, a token carrying an
entitlement version older than the feed's is refused as expired, cached or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import jwt
import msgspec
from jwt.algorithms import get_default_algorithms

from tollgate_client.revocations import RevocationFeed

__all__ = [
    "AccessClaims",
    "BadSignature",
    "InvalidToken",
    "KeysUnavailable",
    "MalformedToken",
    "TokenExpired",
    "TokenNotYetValid",
    "TokenVerifier",
    "UnknownKey",
    "WrongAudience",
    "WrongIssuer",
    "WrongType",
]

log = logging.getLogger("tollgate_client.verifier")

#: Longer than any access token membership issues; anything bigger is refused before parsing.
MAX_TOKEN_LENGTH = 16_384
MAX_KID_LENGTH = 256
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "sub", "iss", "aud"]
# The curve each asymmetric algorithm may use; a key on another curve is not loaded.
_CURVES = {"EdDSA": {"Ed25519", "Ed448"}, "ES256": {"P-256"}, "ES384": {"P-384"}, "ES512": {"P-521"}}
_ASYMMETRIC = {"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}


class InvalidToken(Exception):
    """The token was refused; `reason` says why in a few words (safe to log, not to show as-is)."""

    reason: str = "invalid token"

    def __init__(self, reason: str | None = None) -> None:
        if reason is not None:
            self.reason = reason
        super().__init__(self.reason)


class TokenExpired(InvalidToken):
    reason = "token expired"


class TokenNotYetValid(InvalidToken):
    reason = "token not yet valid"


class UnknownKey(InvalidToken):
    reason = "unknown signing key"


class BadSignature(InvalidToken):
    reason = "bad signature"


class WrongIssuer(InvalidToken):
    reason = "wrong issuer"


class WrongAudience(InvalidToken):
    reason = "wrong audience"


class WrongType(InvalidToken):
    reason = "wrong token type"


class MalformedToken(InvalidToken):
    reason = "malformed token"


class KeysUnavailable(InvalidToken):
    reason = "signing keys unavailable"


class AccessClaims(msgspec.Struct, frozen=True, kw_only=True):
    """The verified claims of an access token."""

    iss: str
    aud: str | tuple[str, ...]
    sub: str
    iat: int
    nbf: int
    exp: int
    jti: str | None = None
    sid: str | None = None
    ent: tuple[str, ...] = ()
    ver: int = 0

    def allows(self, *keys: str) -> bool:
        """Whether the token carries any one of these entitlement keys."""
        return any(key in self.ent for key in keys)


class _JWKS(msgspec.Struct):
    keys: list[dict[str, Any]]


class TokenVerifier:
    """Verifies access tokens against the JWKS at `jwks_url`; one per process, shared by all requests.

    Use `async with TokenVerifier(...)` (or `start()`/`aclose()`) to fetch keys up front and refresh
    them every `refresh_interval` seconds; without it, the first `verify()` fetches them.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str = "tollgate",
        algorithms: Iterable[str] = ("EdDSA", "ES256", "RS256"),
        token_type: str = "at+jwt",  # noqa: S107 - a media type, not a secret
        leeway: float = 30,
        refresh_interval: float = 300.0,
        unknown_kid_cooldown: float = 5.0,
        http: httpx.AsyncClient | None = None,
        revocations: RevocationFeed | None = None,
        cache_size: int = 100_000,
        timeout: float = 5.0,
        on_refresh: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._algorithms = frozenset(algorithms)
        if not self._algorithms or not self._algorithms <= _ASYMMETRIC:
            # An HMAC algorithm next to public keys is the classic key-confusion hole (RFC 8725 §2.1).
            raise ValueError(f"algorithms must be asymmetric JWS algorithms, got {sorted(self._algorithms)}")
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._audience = audience
        self._token_type = _media_type(token_type)
        self._leeway = leeway
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._cooldown = unknown_kid_cooldown
        self._own_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._timeout = timeout
        self._revocations = revocations
        self._on_refresh = on_refresh
        self._cache_size = cache_size
        self._cache: OrderedDict[str, tuple[AccessClaims, str]] = OrderedDict()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._ready = False
        self._last_fetch = -math.inf
        self._fetch_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TokenVerifier:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    @property
    def ready(self) -> bool:
        """True once a key set has been fetched (it is kept from then on, even if refreshes fail)."""
        return self._ready

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def start(self) -> None:
        """Fetches the keys (a failure is logged, not raised: see `ready`) and starts refreshing them."""
        if self._task is not None:
            return
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="tollgate-jwks-refresh")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._own_http:
            await self._http.aclose()

    async def refresh(self) -> bool:
        """Fetches the JWKS now; True if it brought a usable key set (else the old one stays)."""
        async with self._fetch_lock:
            return await self._fetch()

    async def verify(self, token: str) -> AccessClaims:
        """The token's claims if it is a valid, current access token; else raises an `InvalidToken`."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            raise MalformedToken("not a token of acceptable size")
        cached = self._cache.get(token)
        if cached is not None:
            claims, kid = cached
            # A key pulled from the JWKS takes its tokens with it, cached or not.
            if kid in self._keys and self._clock() <= claims.exp + self._leeway:
                self._cache.move_to_end(token)
                self._check_current(claims)
                return claims
            del self._cache[token]
        claims, kid = await self._verify_uncached(token)
        self._cache[token] = (claims, kid)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        self._check_current(claims)
        return claims

    def _check_current(self, claims: AccessClaims) -> None:
        if self._revocations is not None and self._revocations.is_stale(claims.sub, claims.ver):
            raise TokenExpired("stale entitlements: refresh")

    async def _verify_uncached(self, token: str) -> tuple[AccessClaims, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise MalformedToken("unreadable header") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise BadSignature("algorithm not allowed")
        typ = header.get("typ")
        if not isinstance(typ, str) or _media_type(typ) != self._token_type:
            raise WrongType(f"not an {self._token_type} token")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise MalformedToken("no kid")
        # Only `kid` picks the key, and only from the fetched set; jku, x5u, jwk and x5c are never read.
        key = await self._key(kid)
        if alg != key.algorithm_name:
            raise BadSignature("algorithm does not match the key")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=self._audience,
                issuer=self._issuer,
                # The times are checked below against this verifier's clock, which may not be time.time.
                options={
                    "require": REQUIRED_CLAIMS,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError as exc:
            raise _refusal(exc) from None
        claims = _claims(payload)
        now = self._clock()
        if claims.exp <= now - self._leeway:
            raise TokenExpired()
        if claims.nbf > now + self._leeway or claims.iat > now + self._leeway:
            raise TokenNotYetValid()
        return claims, kid

    async def _key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        if len(kid) <= MAX_KID_LENGTH:
            async with self._fetch_lock:
                # Another request may have fetched while this one waited for the lock.
                if kid not in self._keys and time.monotonic() - self._last_fetch >= self._cooldown:
                    await self._fetch()
            key = self._keys.get(kid)
            if key is not None:
                return key
        if not self._ready:
            raise KeysUnavailable()
        raise UnknownKey()

    async def _run(self) -> None:
        while True:
            # Until a first key set arrives, retry sooner than the usual refresh.
            if self._ready:
                delay = self._refresh_interval
            else:
                delay = min(self._refresh_interval, max(self._cooldown, 1.0))
            await asyncio.sleep(delay)
            try:
                await self.refresh()
            except Exception:
                # The refresh task must outlive any surprise, or keys would silently stop rotating.
                log.exception("JWKS refresh: unexpected error")

    async def _fetch(self) -> bool:
        fetched = await self._fetch_keys()
        if self._on_refresh is not None:
            # A metrics hook; it is told whether the fetch brought a usable key set.
            self._on_refresh(fetched)
        return fetched

    async def _fetch_keys(self) -> bool:
        self._last_fetch = time.monotonic()
        try:
            response = await self._http.get(
                self._jwks_url, headers={"Accept": "application/json"}, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            log.warning(
                "JWKS fetch from %s failed: %s; keeping %d keys", self._jwks_url, exc, len(self._keys)
            )
            return False
        if response.status_code != 200:
            log.warning(
                "JWKS fetch from %s answered %d; keeping %d keys",
                self._jwks_url,
                response.status_code,
                len(self._keys),
            )
            return False
        try:
            keys = _load_keys(msgspec.json.decode(response.content, type=_JWKS).keys, self._algorithms)
        except msgspec.DecodeError as exc:
            log.warning(
                "JWKS from %s is unreadable: %s; keeping %d keys", self._jwks_url, exc, len(self._keys)
            )
            return False
        if not keys:
            # An empty set would refuse every token; more likely a fault upstream than intended.
            log.warning("JWKS from %s has no usable key; keeping %d keys", self._jwks_url, len(self._keys))
            return False
        self._keys = keys
        self._ready = True
        return True


def _load_keys(entries: list[dict[str, Any]], algorithms: frozenset[str]) -> dict[str, jwt.PyJWK]:
    """The usable signing keys by kid; an entry that is not one is skipped with a warning."""
    keys: dict[str, jwt.PyJWK] = {}
    ambiguous: set[str] = set()
    for entry in entries:
        kid, alg = entry.get("kid"), entry.get("alg")
        if not isinstance(kid, str) or not kid or not isinstance(alg, str):
            log.warning("JWKS key without kid or alg skipped")
            continue
        if alg not in algorithms or entry.get("use", "sig") != "sig":
            log.warning("JWKS key %r skipped: alg %r or use %r not accepted", kid, alg, entry.get("use"))
            continue
        if alg in _CURVES and entry.get("crv") not in _CURVES[alg]:
            log.warning("JWKS key %r skipped: curve %r does not fit %s", kid, entry.get("crv"), alg)
            continue
        try:
            key = jwt.PyJWK(entry, algorithm=alg)
            too_short = get_default_algorithms()[alg].check_key_length(key.key)
        except (jwt.PyJWKError, jwt.InvalidKeyError, KeyError, TypeError, ValueError) as exc:
            log.warning("JWKS key %r skipped: %s", kid, exc)
            continue
        if too_short:
            log.warning("JWKS key %r skipped: %s", kid, too_short)
            continue
        if kid in keys:
            ambiguous.add(kid)
        keys[kid] = key
    for kid in ambiguous:
        # Two keys under one kid cannot be told apart by a token, so neither is trusted.
        log.warning("JWKS kid %r appears more than once; skipped", kid)
        del keys[kid]
    return keys


def _claims(payload: dict[str, Any]) -> AccessClaims:
    # NumericDate may be fractional (RFC 7519 §2); the claims keep whole seconds.
    for name in ("exp", "iat", "nbf"):
        value = payload[name]
        if isinstance(value, float):
            payload[name] = int(value)
    try:
        return msgspec.convert(payload, AccessClaims)
    except msgspec.ValidationError as exc:
        raise MalformedToken(f"bad claims: {exc}") from None


def _refusal(exc: jwt.InvalidTokenError) -> InvalidToken:
    """The `InvalidToken` for a PyJWT refusal."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return TokenExpired()
    if isinstance(exc, jwt.ImmatureSignatureError):
        return TokenNotYetValid()
    if isinstance(exc, jwt.InvalidIssuerError):
        return WrongIssuer()
    if isinstance(exc, jwt.InvalidAudienceError):
        return WrongAudience()
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return MalformedToken(f"missing {exc.claim}")
    if isinstance(exc, jwt.InvalidSignatureError | jwt.InvalidAlgorithmError):
        return BadSignature()
    return MalformedToken(type(exc).__name__)


def _media_type(typ: str) -> str:
    # RFC 7515 §4.1.9: "at+jwt" and "application/at+jwt" are the same type, case aside.
    typ = typ.strip().lower()
    return typ.removeprefix("application/")
