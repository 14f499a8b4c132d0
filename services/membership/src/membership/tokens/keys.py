"""Signing keys: made on first start, encrypted at rest, rotated, published while still needed.

One key signs at any instant, the same one on every replica because it is judged by the times in
the database alone (`current`): the oldest key not yet retired. A rotation publishes the new key
at once but retires the old one only after a handover of two refresh intervals, one for every
replica to load the new key, one for a JWKS cached for an interval to expire; so no token is
signed by a key that a replica or gateway cannot find yet. Changes take turns (`_take_turn`).

Private keys are encrypted with Fernet under a key derived from MEMBERSHIP_KEY_ENCRYPTION_SECRET.
Without that secret a random one is kept in `<data_dir>/keys/encryption.secret`, readable by
this user only. Private keys never leave this module in clear, and are never logged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import structlog
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.lib.encryption import fernet
from membership.settings import Settings
from membership.tokens.models import SigningKey

log = structlog.get_logger(__name__)
ALGORITHMS = ("EdDSA", "ES256", "RS256")
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KEYS_LOCK = 7_320_002  # the advisory lock id that makes key changes take turns


class Timed(Protocol):
    """What `current` reads of a key: a stored row, or a replica's copy of one in memory."""

    @property
    def kid(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def retired_at(self) -> datetime | None: ...


K = TypeVar("K", bound=Timed)


def current(keys: Iterable[K], now: datetime) -> K | None:
    """The one key that signs at `now`: the oldest not yet retired (a new key waits for its elder)."""
    waiting = [k for k in keys if k.retired_at is None or k.retired_at > now]
    return min(waiting, key=lambda k: (k.created_at, k.kid), default=None)


@dataclass(frozen=True)
class LoadedKey:
    kid: str
    alg: str
    private: PrivateKey
    public: Any  # the matching public key object, for verifying our own tokens
    public_jwk: dict[str, str]


def _generate(alg: str) -> PrivateKey:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")


def _jwk(alg: str, private: PrivateKey) -> dict[str, str]:
    public = private.public_key()
    algorithm = {"EdDSA": OKPAlgorithm, "ES256": ECAlgorithm, "RS256": RSAAlgorithm}[alg]
    jwk: dict[str, str] = json.loads(algorithm.to_jwk(public))  # type: ignore[attr-defined]
    return jwk


def _fernet(settings: Settings) -> Fernet:
    return fernet(settings, b"tollgate signing keys")


class KeyService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.db = session
        self.settings = settings
        self.fernet = _fernet(settings)

    async def create(self, alg: str | None = None) -> SigningKey:
        alg = alg or self.settings.token_algorithm
        private = _generate(alg)
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        kid = secrets.token_urlsafe(12)
        jwk = _jwk(alg, private) | {"kid": kid, "alg": alg, "use": "sig"}
        key = SigningKey(
            kid=kid,
            alg=alg,
            public_jwk=jwk,
            private_pem_encrypted=self.fernet.encrypt(pem).decode(),
            created_at=utcnow(),
        )
        self.db.add(key)
        await self.db.flush()
        log.info("signing key created", kid=kid, alg=alg)
        return key

    async def rotate(self, alg: str | None = None, *, at_once: bool = False) -> SigningKey:
        """A new key, published now; it signs when the handover is over (`at_once`: the signer is lost).

        The keys still signing retire then, and stay published until every token they signed has
        expired, plus an interval for a replica that loaded the rotation late and signed on.
        """
        await self._take_turn()
        handover = timedelta(seconds=0 if at_once else 2 * self.settings.key_refresh_seconds)
        retire_at = utcnow() + handover
        tokens_last = timedelta(
            minutes=self.settings.token_minutes,
            seconds=self.settings.token_leeway_seconds + self.settings.key_refresh_seconds,
        )
        signing = or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > retire_at)
        for old in await self.db.scalars(select(SigningKey).where(signing)):
            old.retired_at, old.unpublish_at = retire_at, retire_at + tokens_last
        return await self.create(alg)

    async def published(self) -> list[SigningKey]:
        now = utcnow()
        query = (
            select(SigningKey)
            .where(or_(SigningKey.unpublish_at.is_(None), SigningKey.unpublish_at > now))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid.desc())
        )
        return list(await self.db.scalars(query))

    async def ensure_active(self) -> None:
        """A key that can sign: made on first start, or at once when the signer does not decrypt."""
        await self._take_turn()
        signer = current(await self.published(), utcnow())
        if signer is None:
            await self.create()
        elif self.load(signer) is None:
            await self.rotate(at_once=True)

    async def _take_turn(self) -> None:
        # Replicas starting or rotating at once go one by one until commit, each reading what the
        # one before made; SQLite's BEGIN IMMEDIATE (membership.db) already takes the write lock.
        if self.db.get_bind().dialect.name == "postgresql":
            await self.db.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": KEYS_LOCK})

    def load(self, key: SigningKey) -> LoadedKey | None:
        try:
            pem = self.fernet.decrypt(key.private_pem_encrypted.encode())
        except InvalidToken:
            # Encrypted under another secret (it was changed or lost): this key can no longer sign.
            log.error("signing key cannot be decrypted with the configured secret", kid=key.kid)
            return None
        private = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
        return LoadedKey(key.kid, key.alg, private, private.public_key(), dict(key.public_jwk))
