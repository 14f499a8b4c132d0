"""Forged, altered, misplaced and outdated access tokens: a 401 problem each, never a 500; nothing changes.

Tokens are built by hand here (raw JWS), so headers PyJWT itself would refuse to write (`kid`
not a string, `alg: none`, HMAC keyed with a public key) reach the service as an attacker sends them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from advanced_alchemy.base import orm_registry
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from jwt.algorithms import OKPAlgorithm, get_default_algorithms
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text, update

from membership.apikeys.services import ApiKeyService
from membership.readers.models import Reader
from membership.settings import Settings
from membership.tokens.keyring import UNKNOWN_KID_COOLDOWN
from membership.tokens.keys import KeyService, LoadedKey
from membership.tokens.models import SigningKey
from tests.membership.helpers import latest_token
from tests.membership.tokens.test_tokens import bearer, db, give, reader_id, refresh_keyring, version_of

EMAIL = "target@example.com"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def jws(header: object, claims: object, sign: Callable[[bytes], bytes] | None) -> str:
    """A compact JWS exactly as given: no header checks, no claim checks."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def signer(alg: str, private: Any) -> Callable[[bytes], bytes]:
    algorithm = get_default_algorithms()[alg]
    return lambda message: algorithm.sign(message, private)


@dataclass
class Ctx:
    client: AsyncTestClient[Litestar]
    database_url: str
    settings: Settings
    rid: UUID
    key: LoadedKey

    def claims(self, **changes: object) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "aud": self.settings.token_audience,
            "sub": str(self.rid),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
            "ent": ["pub:daily"],
            "ver": 0,
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not DROP}

    def header(self, **changes: object) -> dict[str, Any]:
        header: dict[str, Any] = {"alg": self.key.alg, "typ": "at+jwt", "kid": self.key.kid}
        header.update(changes)
        return {k: v for k, v in header.items() if v is not DROP}

    def real(self, header: dict[str, Any] | None = None, claims: dict[str, Any] | None = None) -> str:
        """Signed with the service's own signing key."""
        return jws(header or self.header(), claims or self.claims(), signer(self.key.alg, self.key.private))


DROP = object()


async def current_key(database_url: str, settings: Settings) -> LoadedKey:
    async with db(database_url) as session:
        service = KeyService(session, settings)
        active = [k for k in await service.published() if k.retired_at is None]
        assert len(active) == 1
        loaded = service.load(active[0])
    assert loaded is not None
    return loaded


def attacker_ed25519() -> tuple[ed25519.Ed25519PrivateKey, dict[str, Any]]:
    private = ed25519.Ed25519PrivateKey.generate()
    jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    return private, jwk | {"kid": "attacker-key", "alg": "EdDSA", "use": "sig"}


def attacker_signed(ctx: Ctx, **header: object) -> str:
    private, jwk = attacker_ed25519()
    values: dict[str, object] = {"alg": "EdDSA", "typ": "at+jwt", "kid": "attacker-key"}
    values.update({k: (jwk if v is JWK else v) for k, v in header.items()})
    return jws(values, ctx.claims(), signer("EdDSA", private))


JWK = object()
ATTACKER_JWKS = "https://attacker.example/.well-known/jwks.json"
ATTACKER_CERT = "https://attacker.example/cert.pem"


# --- the cases: each builds a token the service must refuse ---


async def alg_none(ctx: Ctx) -> str:
    return jws(ctx.header(alg="none"), ctx.claims(), None)


async def alg_none_capitalised(ctx: Ctx) -> str:
    return jws(ctx.header(alg="None"), ctx.claims(), None)


async def alg_none_with_real_signature(ctx: Ctx) -> str:
    _, payload, signature = ctx.real().split(".")
    return f"{segment(ctx.header(alg='none'))}.{payload}.{signature}"


def hmac_with(secret: bytes) -> Callable[[Ctx], Awaitable[str]]:
    async def build(ctx: Ctx) -> str:
        return jws(
            ctx.header(alg="HS256"), ctx.claims(), lambda m: hmac.new(secret, m, hashlib.sha256).digest()
        )

    return build


async def hs256_with_public_key_pem(ctx: Ctx) -> str:
    pem = ctx.key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return await hmac_with(pem)(ctx)


async def hs256_with_jwks_key_bytes(ctx: Ctx) -> str:
    jwk = ctx.key.public_jwk
    member = jwk.get("x") or jwk.get("n") or ""
    raw = base64.urlsafe_b64decode(member + "=" * (-len(member) % 4))
    return await hmac_with(raw)(ctx)


async def hs256_with_jwks_key_text(ctx: Ctx) -> str:
    jwk = ctx.key.public_jwk
    return await hmac_with((jwk.get("x") or jwk.get("n") or "").encode())(ctx)


async def hs256_with_jwks_json(ctx: Ctx) -> str:
    return await hmac_with(json.dumps(ctx.key.public_jwk).encode())(ctx)


async def rs256_attacker_key_with_real_kid(ctx: Ctx) -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jws(ctx.header(alg="RS256"), ctx.claims(), signer("RS256", private))


async def unknown_kid(ctx: Ctx) -> str:
    return ctx.real(ctx.header(kid=secrets.token_urlsafe(12)))


def with_kid(kid: object) -> Callable[[Ctx], Awaitable[str]]:
    async def build(ctx: Ctx) -> str:
        return ctx.real(ctx.header(kid=kid))

    return build


async def kid_real_with_newline(ctx: Ctx) -> str:
    return ctx.real(ctx.header(kid=ctx.key.kid + "\n"))


async def jku_attacker(ctx: Ctx) -> str:
    return attacker_signed(ctx, jku=ATTACKER_JWKS)


async def jku_attacker_with_real_kid(ctx: Ctx) -> str:
    return attacker_signed(ctx, jku=ATTACKER_JWKS, kid=ctx.key.kid)


async def x5u_attacker(ctx: Ctx) -> str:
    return attacker_signed(ctx, x5u=ATTACKER_CERT)


async def x5u_attacker_with_real_kid(ctx: Ctx) -> str:
    return attacker_signed(ctx, x5u=ATTACKER_CERT, kid=ctx.key.kid)


async def embedded_jwk(ctx: Ctx) -> str:
    return attacker_signed(ctx, jwk=JWK)


async def embedded_jwk_with_real_kid(ctx: Ctx) -> str:
    return attacker_signed(ctx, jwk=JWK, kid=ctx.key.kid)


async def expired(ctx: Ctx) -> str:
    now = int(time.time())
    lag = ctx.settings.token_leeway_seconds + 60
    return ctx.real(claims=ctx.claims(iat=now - 300 - lag, nbf=now - 300 - lag, exp=now - lag))


async def not_yet_valid(ctx: Ctx) -> str:
    later = int(time.time()) + ctx.settings.token_leeway_seconds + 60
    return ctx.real(claims=ctx.claims(nbf=later, iat=later, exp=later + 300))


def with_claims(**changes: object) -> Callable[[Ctx], Awaitable[str]]:
    async def build(ctx: Ctx) -> str:
        return ctx.real(claims=ctx.claims(**changes))

    return build


async def tampered_entitlements(ctx: Ctx) -> str:
    head, _, signature = ctx.real().split(".")
    return f"{head}.{segment(ctx.claims(ent=['pub:daily', 'pub:everything']))}.{signature}"


async def stripped_signature(ctx: Ctx) -> str:
    head, payload, _ = ctx.real().split(".")
    return f"{head}.{payload}."


async def no_signature_segment(ctx: Ctx) -> str:
    head, payload, _ = ctx.real().split(".")
    return f"{head}.{payload}"


def with_typ(typ: object) -> Callable[[Ctx], Awaitable[str]]:
    async def build(ctx: Ctx) -> str:
        return ctx.real(ctx.header(typ=typ))

    return build


async def signin_link_token(ctx: Ctx) -> str:
    asked = await ctx.client.post("/api/auth/sign-in", json={"email": EMAIL})
    assert asked.status_code == 202, asked.text
    token = await latest_token(ctx.client, EMAIL)
    assert token.startswith("tgsignin_")
    return token


async def retired_key_after_overlap(ctx: Ctx) -> str:
    old = ctx.key
    async with db(ctx.database_url) as session:
        await KeyService(session, ctx.settings).rotate()
    async with db(ctx.database_url) as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old.kid)
            .values(unpublish_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await refresh_keyring(ctx.client)
    jwks = (await ctx.client.get("/.well-known/jwks.json")).json()["keys"]
    assert old.kid not in {k["kid"] for k in jwks}
    ctx.key = await current_key(ctx.database_url, ctx.settings)
    assert ctx.key.kid != old.kid
    return jws({"alg": old.alg, "typ": "at+jwt", "kid": old.kid}, ctx.claims(), signer(old.alg, old.private))


async def stale_version(ctx: Ctx) -> str:
    token = ctx.real(claims=ctx.claims(ver=0))
    assert await give(ctx.database_url, ctx.rid, {"pub:daily"}, source_id="stale")
    # The revocation feed says the reader moved past the token's version.
    async with db(ctx.database_url) as session:
        _, secret = await ApiKeyService(session).create(
            "feed", ["entitlements:read"], publication_id=None, created_by_id=None
        )
    feed = await ctx.client.get("/api/entitlements/changes", params={"after": 0}, headers=bearer(secret))
    assert feed.status_code == 200, feed.text
    mine = [c for c in feed.json()["changes"] if c["reader_id"] == str(ctx.rid)]
    assert mine and mine[-1]["version"] == 1 > 0
    return token


async def reader_that_does_not_exist(ctx: Ctx) -> str:
    return ctx.real(claims=ctx.claims(sub=str(uuid.uuid4())))


async def garbage(ctx: Ctx) -> str:
    return "not-a-jwt"


async def three_garbage_segments(ctx: Ctx) -> str:
    return "a.b.c"


async def header_is_a_list(ctx: Ctx) -> str:
    return f"{segment(['alg', 'EdDSA'])}.{segment(ctx.claims())}.{b64(b'x' * 64)}"


async def payload_is_a_list(ctx: Ctx) -> str:
    return jws(ctx.header(), ["sub", str(ctx.rid)], signer(ctx.key.alg, ctx.key.private))


CASES: dict[str, Callable[[Ctx], Awaitable[str]]] = {
    "alg-none": alg_none,
    "alg-None": alg_none_capitalised,
    "alg-none-with-a-real-signature": alg_none_with_real_signature,
    "hs256-keyed-with-public-pem": hs256_with_public_key_pem,
    "hs256-keyed-with-jwks-key-bytes": hs256_with_jwks_key_bytes,
    "hs256-keyed-with-jwks-key-text": hs256_with_jwks_key_text,
    "hs256-keyed-with-jwks-json": hs256_with_jwks_json,
    "rs256-attacker-key-with-real-kid": rs256_attacker_key_with_real_kid,
    "unknown-kid": unknown_kid,
    "kid-path": with_kid("../../etc/passwd"),
    "kid-absolute-path": with_kid("/dev/null"),
    "kid-sql": with_kid("1' OR '1'='1"),
    "kid-sql-comment": with_kid("x'; DROP TABLE signing_key; --"),
    "kid-integer": with_kid(123),
    "kid-list": with_kid(["a", "b"]),
    "kid-object": with_kid({"$ne": None}),
    "kid-null": with_kid(None),
    "kid-missing": with_kid(DROP),
    "kid-too-long": with_kid("a" * 65),
    "kid-real-plus-newline": kid_real_with_newline,
    "jku-attacker-jwks": jku_attacker,
    "jku-attacker-jwks-real-kid": jku_attacker_with_real_kid,
    "x5u-attacker-cert": x5u_attacker,
    "x5u-attacker-cert-real-kid": x5u_attacker_with_real_kid,
    "embedded-jwk": embedded_jwk,
    "embedded-jwk-real-kid": embedded_jwk_with_real_kid,
    "expired-beyond-leeway": expired,
    "nbf-beyond-leeway": not_yet_valid,
    "wrong-issuer": with_claims(iss="https://attacker.example"),
    "issuer-with-trailing-slash": with_claims(iss="http://testserver.local/"),
    "no-issuer": with_claims(iss=DROP),
    "wrong-audience": with_claims(aud="someone-else"),
    "audience-list-without-ours": with_claims(aud=["someone-else", "another"]),
    "no-audience": with_claims(aud=DROP),
    "no-exp": with_claims(exp=DROP),
    "no-sub": with_claims(sub=DROP),
    "no-jti": with_claims(jti=DROP),
    "no-ver": with_claims(ver=DROP),
    "ver-as-string": with_claims(ver="99"),
    "no-ent": with_claims(ent=DROP),
    "ent-as-string": with_claims(ent="pub:daily"),
    "tampered-ent": tampered_entitlements,
    "stripped-signature": stripped_signature,
    "two-segments": no_signature_segment,
    "typ-signin": with_typ("signin+jwt"),
    "typ-friend": with_typ("friend+jwt"),
    "typ-jwt": with_typ("JWT"),
    "typ-missing": with_typ(DROP),
    "typ-list": with_typ(["at+jwt"]),
    "signin-link-token": signin_link_token,
    "retired-key-after-overlap": retired_key_after_overlap,
    "stale-version": stale_version,
    "reader-does-not-exist": reader_that_does_not_exist,
    # Only our own key could sign these, but even so: a 401, not a 500.
    "sub-not-a-uuid": with_claims(sub="not-a-uuid"),
    "sub-a-number": with_claims(sub=12345),
    "garbage": garbage,
    "three-garbage-segments": three_garbage_segments,
    "header-is-a-list": header_is_a_list,
    "payload-is-a-list": payload_is_a_list,
}


async def snapshot(database_url: str, rid: UUID) -> dict[str, object]:
    """Every table's row count, and the reader's own row."""
    async with db(database_url) as session:
        counts: dict[str, object] = {
            table.name: await session.scalar(select(func.count()).select_from(table))
            for table in orm_registry.metadata.sorted_tables
        }
        reader = await session.get(Reader, rid)
        assert reader is not None
        counts["reader row"] = (
            reader.email,
            reader.display_name,
            reader.entitlement_version,
            reader.updated_at,
        )
        counts["keys"] = sorted(
            (k.kid, str(k.retired_at), str(k.unpublish_at)) for k in await session.scalars(select(SigningKey))
        )
    return counts


@pytest.fixture
async def ctx(client: AsyncTestClient[Litestar], database_url: str, settings: Settings) -> Ctx:
    rid = await reader_id(database_url, EMAIL)
    return Ctx(client, database_url, settings, rid, await current_key(database_url, settings))


def assert_refused(response: Any, what: str) -> None:
    assert response.status_code == 401, f"{what}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/problem+json"), what
    body = response.json()
    assert body["status"] == 401 and body["detail"], what
    assert "Traceback" not in response.text


async def test_a_well_formed_token_signed_with_the_real_key_is_accepted(ctx: Ctx) -> None:
    """The harness itself: without the defect each case adds, the same request succeeds."""
    ctx.client.cookies.clear()
    response = await ctx.client.get("/api/me", headers=bearer(ctx.real()))
    assert response.status_code == 200, response.text
    assert response.json()["id"] == str(ctx.rid)


@pytest.mark.parametrize("case", CASES)
async def test_bad_tokens_are_refused_and_change_nothing(ctx: Ctx, case: str) -> None:
    token = await CASES[case](ctx)
    ctx.client.cookies.clear()
    before = await snapshot(ctx.database_url, ctx.rid)

    assert_refused(await ctx.client.get("/api/me", headers=bearer(token)), "GET /api/me")
    assert_refused(
        await ctx.client.get("/api/me/entitlements", headers=bearer(token)), "GET /api/me/entitlements"
    )
    assert_refused(
        await ctx.client.patch("/api/me", json={"display_name": "Mallory"}, headers=bearer(token)),
        "PATCH /api/me",
    )
    assert_refused(await ctx.client.post("/api/auth/token", headers=bearer(token)), "POST /api/auth/token")

    assert await snapshot(ctx.database_url, ctx.rid) == before
    # No lockout either: a genuine token (current key, current version) still works right after.
    genuine = ctx.real(claims=ctx.claims(ver=await version_of(ctx.database_url, ctx.rid)))
    ok = await ctx.client.get("/api/me", headers=bearer(genuine))
    assert ok.status_code == 200, ok.text
    assert ok.json()["display_name"] != "Mallory"


async def test_a_sign_in_link_presented_as_a_bearer_token_is_not_spent(ctx: Ctx) -> None:
    token = await signin_link_token(ctx)
    ctx.client.cookies.clear()
    assert_refused(await ctx.client.get("/api/me", headers=bearer(token)), "sign-in link as bearer")
    done = await ctx.client.post("/api/auth/sign-in/complete", json={"token": token})
    assert done.status_code == 200, done.text
    async with db(ctx.database_url) as session:
        used = await session.scalar(text("SELECT count(*) FROM sign_in_link WHERE used_at IS NOT NULL"))
    assert used == 1


async def test_unknown_kids_reload_the_keys_at_most_once_per_cooldown(ctx: Ctx) -> None:
    keyring = ctx.client.app.state.keyring
    keyring.looked_up_at = time.monotonic() - UNKNOWN_KID_COOLDOWN - 1
    ctx.client.cookies.clear()
    assert_refused(
        await ctx.client.get("/api/me", headers=bearer(await unknown_kid(ctx))), "first unknown kid"
    )
    reloaded = keyring.looked_up_at
    assert time.monotonic() - reloaded < UNKNOWN_KID_COOLDOWN
    for _ in range(20):
        assert_refused(await ctx.client.get("/api/me", headers=bearer(await unknown_kid(ctx))), "unknown kid")
    assert keyring.looked_up_at == reloaded
    ok = await ctx.client.get("/api/me", headers=bearer(ctx.real()))
    assert ok.status_code == 200, ok.text
