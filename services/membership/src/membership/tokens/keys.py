"""Signing keys: made on first start, encrypted at rest, rotated, published while still needed.

Private keys are encrypted with Fernet under a key derived from MEMBERSHIP_KEY_ENCRYPTION_SECRET.
Without that secret a random one is kept in `<data_dir>/keys/encryption.secret`, readable by
this user only. Private keys never leave this module in clear, and are never logged.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from membership.lib.clock import utcnow
from membership.lib.encryption import fernet
from membership.settings import Settings
from membership.tokens.models import SigningKey

log = structlog.get_logger(__name__)
ALGORITHMS = ("EdDSA", "ES256", "RS256")
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


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

    async def rotate(self, alg: str | None = None) -> SigningKey:
        """A new key signs from now on; the others stay published until their tokens have expired."""
        now = utcnow()
        overlap = timedelta(minutes=self.settings.token_minutes) + timedelta(
            seconds=self.settings.token_leeway_seconds
        )
        for old in await self.db.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
            old.retired_at, old.unpublish_at = now, now + overlap
        return await self.create(alg)

    async def published(self) -> list[SigningKey]:
        now = utcnow()
        query = (
            select(SigningKey)
            .where(or_(SigningKey.unpublish_at.is_(None), SigningKey.unpublish_at > now))
            .order_by(SigningKey.created_at.desc())
        )
        return list(await self.db.scalars(query))

    async def ensure_active(self) -> None:
        """A key that can sign: made on first start, or when no active key decrypts (a lost secret)."""
        active = [k for k in await self.published() if k.retired_at is None]
        if active and not any(self.load(k) is not None for k in active):
            await self.rotate()
        elif not active:
            await self.create()

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
