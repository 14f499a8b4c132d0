"""Encrypting secrets kept in the database (signing keys, webhook signing secrets) with Fernet,
under a key derived from MEMBERSHIP_KEY_ENCRYPTION_SECRET (or, without it, a random secret made
once in data_dir/keys, readable by this user only)."""

from __future__ import annotations

import base64
import functools
import os
import secrets
from pathlib import Path

import structlog
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from membership.settings import Settings

log = structlog.get_logger(__name__)


def encryption_secret(settings: Settings) -> bytes:
    configured = settings.key_encryption_secret.get_secret_value()
    if configured:
        return configured.encode()
    folder = settings.data_dir / "keys"
    path = folder / "encryption.secret"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)
        # Created with owner-only permissions from the first byte, not chmod-ed afterwards.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
        log.warning(
            "made a key-encryption secret; set MEMBERSHIP_KEY_ENCRYPTION_SECRET in production", path=str(path)
        )
    return Path(path).read_text().strip().encode()


def fernet(settings: Settings, purpose: bytes) -> Fernet:
    """A Fernet for one purpose: each gets its own key from the one secret (HKDF's info)."""
    return _derived(encryption_secret(settings), purpose)


@functools.lru_cache(maxsize=16)
def _derived(secret: bytes, purpose: bytes) -> Fernet:
    # Derived once per secret and purpose: the webhook sender asks for it on every message.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)
    return Fernet(base64.urlsafe_b64encode(derived))
