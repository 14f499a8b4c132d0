"""Opaque tokens: made with 256 random bits, typed by a prefix, stored only as a SHA-256 hash.

A fast hash is right here: the tokens carry 256 bits of entropy, so there is nothing to
brute-force, and lookups by hash stay one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets


def new_token(prefix: str) -> str:
    """`prefix` says what kind of token it is, so one kind is never mistaken for another."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
