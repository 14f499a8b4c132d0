"""Access tokens: issued for a session, signed with encrypted-at-rest keys, published in the JWKS, rotated.

Also the shared helpers the other token and entitlement tests use: a database session on the
test database, direct grants, and decoding a token with the published JWKS.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
import pytest
from cryptography.fernet import InvalidToken
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from time_machine import TimeMachineFixture

from membership.grants.services import GrantService
from membership.readers.models import Reader
from membership.readers.services import ReaderService
from membership.settings import Settings
from membership.tokens.keys import KeyService
from membership.tokens.models import SigningKey
from tests.conftest import ClientFactory, make_settings
from tests.membership.helpers import with_cookie
from tests.membership.publications.test_publications import as_reader, make_publication
from tollgate_common import clock

SESSION = "tollgate_session"
ACCESS = "tollgate_access"
PUBLIC_JWK_MEMBERS = {"kty", "crv", "x", "y", "n", "e", "kid", "alg", "use"}
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
KTY = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA"}


# --- helpers shared with the other membership token, entitlement, comp and member tests ---


@asynccontextmanager
async def db(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session on the test database, committed on leaving."""
    engine = create_async_engine(database_url)
    try:
        async with async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)() as session:
            yield session
            await session.commit()
    finally:
        await engine.dispose()


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


async def reader_id(database_url: str, email: str) -> UUID:
    async with db(database_url) as session:
        reader, _ = await ReaderService(session=session).get_or_create(email)
        return reader.id


async def version_of(database_url: str, rid: UUID) -> int:
    async with db(database_url) as session:
        return int(await session.scalar(select(Reader.entitlement_version).where(Reader.id == rid)) or 0)


async def give(
    database_url: str,
    rid: UUID,
    keys: set[str],
    *,
    source: str = "comp",
    source_id: str = "test",
    ends_at: datetime | None = None,
    starts_at: datetime | None = None,
    live: bool = True,
    revoke: bool = False,
) -> bool:
    """One source's grants for a reader, straight through GrantService (no Stripe, no API)."""
    async with db(database_url) as session:
        return await GrantService(session).sync(
            rid,
            source=source,
            source_id=source_id,
            keys=keys,
            live=live,
            starts_at=starts_at or now() - timedelta(minutes=1),
            ends_at=ends_at,
            revoke=revoke,
        )


async def issue(client: AsyncTestClient[Litestar]) -> dict[str, Any]:
    """`POST /api/auth/token` with the client's session cookie."""
    response = await client.post("/api/auth/token")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def jwks(client: AsyncTestClient[Litestar]) -> dict[str, dict[str, Any]]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    return {k["kid"]: k for k in response.json()["keys"]}


async def decode(client: AsyncTestClient[Litestar], token: str, issuer: str) -> dict[str, Any]:
    """Verify as a gateway would: the JWKS key named by `kid`, its own algorithm pinned."""
    published = await jwks(client)
    kid = jwt.get_unverified_header(token)["kid"]
    assert kid in published, f"kid {kid} not in the JWKS"
    key = jwt.PyJWK(published[kid])
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[published[kid]["alg"]],
        audience="tollgate",
        issuer=issuer,
        options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud", "jti"]},
    )
    return claims


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh_keyring(client: AsyncTestClient[Litestar]) -> None:
    """Reload the app's keys now, in the app's own event loop (its engine lives there)."""
    app: Litestar = client.app
    await asyncio.to_thread(client.blocking_portal.call, app.state.keyring.refresh)


async def signed_in_reader(client: AsyncTestClient[Litestar], database_url: str, email: str) -> UUID:
    await as_reader(client, email)
    return await reader_id(database_url, email)


# --- issuing ---


async def test_a_session_gets_an_access_token_as_json_and_an_httponly_cookie(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    await as_reader(client, "token@example.com")
    response = await client.post("/api/auth/token")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "expires_at", "entitlements", "version"}
    assert body["token_type"] == "Bearer"
    assert 295 <= body["expires_in"] <= 300
    assert body["entitlements"] == [] and body["version"] == 0
    assert body["access_token"].count(".") == 2
    assert response.headers["cache-control"] == "no-store"

    set_cookie = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{ACCESS}=")]
    assert len(set_cookie) == 1, response.headers.get_list("set-cookie")
    parsed = SimpleCookie(set_cookie[0])[ACCESS]
    assert parsed.value == body["access_token"]
    attributes = set_cookie[0].lower()
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert parsed["path"] == "/"
    assert 295 <= int(parsed["max-age"]) <= 300


async def test_on_a_clock_moved_ahead_a_token_lives_by_that_clock(client: AsyncTestClient[Litestar]) -> None:
    # What `make run` does when the sandbox's clock is moved: membership's time moves with it.
    await as_reader(client, "ahead@example.com")
    ahead = 20 * 86400
    clock.set_offset(ahead)
    try:
        response = await client.post("/api/auth/token")
        assert response.status_code == 200, response.text
        body = response.json()
        assert 295 <= body["expires_in"] <= 300  # five minutes of that clock, not twenty days of the wall's
        [cookie] = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{ACCESS}=")]
        assert 295 <= int(SimpleCookie(cookie)[ACCESS]["max-age"]) <= 300
        token = body["access_token"]
        issued = jwt.decode(token, options={"verify_signature": False})["iat"]
        assert issued == pytest.approx(time.time() + ahead, abs=5)
        assert (await client.get("/api/me", headers=bearer(token))).status_code == 200

        clock.set_offset(ahead + 600)
        expired = await client.get("/api/me", headers=bearer(token))
        assert expired.status_code == 401 and "expired" in expired.json()["detail"]
        clock.set_offset(0)
        early = await client.get("/api/me", headers=bearer(token))
        assert early.status_code == 401 and "not valid yet" in early.json()["detail"]
    finally:
        clock.set_offset(0)


async def test_no_session_no_token(client: AsyncTestClient[Litestar]) -> None:
    refused = await client.post("/api/auth/token")
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert ACCESS not in refused.headers.get("set-cookie", "")


async def test_token_decodes_with_the_jwks_and_carries_the_claims(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    rid = await signed_in_reader(client, database_url, "claims@example.com")
    await give(database_url, rid, {"pub:zeta", "member", "pub:alpha:premium"}, source_id="one")
    await give(database_url, rid, {"pub:alpha"}, source="trial", source_id="two")
    before = int(time.time())
    first = await issue(client)
    second = await issue(client)
    after = int(time.time())

    header = jwt.get_unverified_header(first["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == settings.token_algorithm
    assert header["kid"] in await jwks(client)

    claims = await decode(client, first["access_token"], settings.public_url)
    assert claims["iss"] == settings.public_url == "http://testserver.local"
    assert claims["aud"] == "tollgate"
    assert claims["sub"] == str(rid)
    assert before - 1 <= claims["iat"] <= after
    assert claims["nbf"] == claims["iat"]
    assert claims["exp"] - claims["iat"] == 5 * 60
    assert claims["ent"] == ["member", "pub:alpha", "pub:alpha:premium", "pub:zeta"]
    assert claims["ver"] == 2 == first["version"]
    assert first["entitlements"] == claims["ent"]
    assert datetime.fromisoformat(first["expires_at"]).timestamp() == claims["exp"]
    assert "sid" in claims

    again = await decode(client, second["access_token"], settings.public_url)
    assert again["jti"] != claims["jti"]
    assert len(claims["jti"]) >= 16


async def test_a_comp_ending_in_two_minutes_caps_the_token(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    await as_reader(client, "owner@example.com")
    until = now() + timedelta(minutes=2)
    comp = await client.post(
        "/api/publications/daily/comps", json={"email": "short@example.com", "until": until.isoformat()}
    )
    assert comp.status_code == 201, comp.text
    await as_reader(client, "short@example.com")
    body = await issue(client)
    claims = await decode(client, body["access_token"], settings.public_url)
    assert claims["ent"] == ["pub:daily"]
    assert claims["exp"] == int(until.timestamp())
    assert datetime.fromisoformat(body["expires_at"]) == until
    assert 110 <= body["expires_in"] <= 120


async def test_a_key_from_two_sources_lasts_until_the_later_end(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    rid = await signed_in_reader(client, database_url, "two@example.com")
    soon, later = now() + timedelta(minutes=2), now() + timedelta(minutes=4)
    await give(database_url, rid, {"pub:a"}, source="comp", source_id="c", ends_at=soon)
    await give(database_url, rid, {"pub:a"}, source="trial", source_id="t", ends_at=later)
    claims = await decode(client, (await issue(client))["access_token"], settings.public_url)
    assert claims["ent"] == ["pub:a"]
    assert claims["exp"] == int(later.timestamp())

    # A second key ending sooner than both caps the token: it must not outlive any key it carries.
    sooner = now() + timedelta(minutes=1)
    await give(database_url, rid, {"pub:b"}, source="comp", source_id="b", ends_at=sooner)
    claims = await decode(client, (await issue(client))["access_token"], settings.public_url)
    assert claims["ent"] == ["pub:a", "pub:b"]
    assert claims["exp"] == int(sooner.timestamp())


async def test_a_key_with_no_end_from_one_source_is_not_capped_by_another(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    rid = await signed_in_reader(client, database_url, "forever@example.com")
    await give(
        database_url, rid, {"pub:a"}, source="comp", source_id="c", ends_at=now() + timedelta(minutes=2)
    )
    await give(database_url, rid, {"pub:a"}, source="subscription", source_id="s", ends_at=None)
    claims = await decode(client, (await issue(client))["access_token"], settings.public_url)
    assert claims["exp"] - claims["iat"] == 5 * 60


async def test_ended_revoked_and_future_grants_are_not_in_the_token(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    rid = await signed_in_reader(client, database_url, "gone@example.com")
    await give(database_url, rid, {"pub:live"}, source_id="live")
    await give(
        database_url, rid, {"pub:ended"}, source_id="ended", starts_at=now() - timedelta(days=2),
        ends_at=now() - timedelta(days=1),
    )  # fmt: skip
    await give(database_url, rid, {"pub:revoked"}, source_id="revoked")
    await give(database_url, rid, {"pub:revoked"}, source_id="revoked", revoke=True)
    await give(database_url, rid, {"pub:future"}, source_id="future", starts_at=now() + timedelta(days=1))
    body = await issue(client)
    assert body["entitlements"] == ["pub:live"]
    claims = await decode(client, body["access_token"], settings.public_url)
    assert claims["ent"] == ["pub:live"]


# --- using it ---


async def test_bearer_token_signs_the_reader_in_to_me_and_my_entitlements(
    client: AsyncTestClient[Litestar], database_url: str
) -> None:
    rid = await signed_in_reader(client, database_url, "bearer@example.com")
    await give(database_url, rid, {"pub:x"}, source_id="x")
    token = (await issue(client))["access_token"]
    client.cookies.clear()
    assert (await client.get("/api/me")).status_code == 401
    me = await client.get("/api/me", headers=bearer(token))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == str(rid) and me.json()["email"] == "bearer@example.com"
    mine = await client.get("/api/me/entitlements", headers=bearer(token))
    assert mine.status_code == 200, mine.text
    assert mine.json()["keys"] == ["pub:x"]
    assert mine.json()["version"] == 1
    # The scheme is case-insensitive, as RFC 9110 says.
    assert (await client.get("/api/me", headers={"Authorization": f"bearer {token}"})).status_code == 200


async def test_after_a_grant_change_the_old_token_is_stale_and_a_new_one_works(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    await make_publication(database_url, "daily", "owner@example.com")
    owner = await as_reader(client, "owner@example.com")
    comp = await client.post("/api/publications/daily/comps", json={"email": "fan@example.com"})
    assert comp.status_code == 201, comp.text
    fan = await as_reader(client, "fan@example.com")
    old = await issue(client)
    assert old["entitlements"] == ["pub:daily"]
    client.cookies.clear()
    assert (await client.get("/api/me", headers=bearer(old["access_token"]))).status_code == 200

    ended = await client.post(
        f"/api/publications/daily/comps/{comp.json()['id']}/end", headers=with_cookie(owner)
    )
    assert ended.status_code == 200, ended.text
    client.cookies.clear()

    stale = await client.get("/api/me/entitlements", headers=bearer(old["access_token"]))
    assert stale.status_code == 401
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert "stale" in stale.json()["detail"]

    fresh = await client.post("/api/auth/token", headers=with_cookie(fan))
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["entitlements"] == []
    assert fresh.json()["version"] > old["version"]
    client.cookies.clear()
    mine = await client.get("/api/me/entitlements", headers=bearer(fresh.json()["access_token"]))
    assert mine.status_code == 200 and mine.json()["keys"] == []
    claims = await decode(client, fresh.json()["access_token"], settings.public_url)
    assert claims["ver"] == fresh.json()["version"]


# --- the JWKS and the keys behind it ---


async def test_jwks_is_cacheable_and_public_only(
    client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    cache = response.headers["cache-control"]
    assert "public" in cache and "max-age=" in cache
    assert int(cache.split("max-age=")[1].split(",")[0]) > 0
    keys = response.json()["keys"]
    assert len(keys) == 1
    jwk = keys[0]
    assert "d" not in jwk
    assert set(jwk) <= PUBLIC_JWK_MEMBERS, jwk
    assert jwk["kty"] == KTY[settings.token_algorithm]
    assert jwk["alg"] == settings.token_algorithm and jwk["use"] == "sig"
    assert not PRIVATE_JWK_MEMBERS & set(jwk)
    assert "PRIVATE" not in response.text


async def test_private_keys_are_stored_encrypted(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings, tmp_path: Path
) -> None:
    published = await jwks(client)
    async with db(database_url) as session:
        rows = list(await session.scalars(select(SigningKey)))
        assert len(rows) == 1
        row = rows[0]
        assert row.kid in published
        assert "PRIVATE KEY" not in row.private_pem_encrypted
        assert "BEGIN" not in row.private_pem_encrypted
        assert "d" not in row.public_jwk

        right = KeyService(session, settings)
        assert b"PRIVATE KEY" in right.fernet.decrypt(row.private_pem_encrypted.encode())
        loaded = right.load(row)
        assert loaded is not None and loaded.kid == row.kid and loaded.alg == settings.token_algorithm
        # The loaded private key signs tokens the published key verifies.
        token = jwt.encode({"x": 1}, loaded.private, algorithm=loaded.alg)
        assert jwt.decode(token, jwt.PyJWK(published[row.kid]).key, algorithms=[loaded.alg]) == {"x": 1}

        other = KeyService(
            session, make_settings(database_url, tmp_path, key_encryption_secret="not-the-one")
        )
        with pytest.raises(InvalidToken):
            other.fernet.decrypt(row.private_pem_encrypted.encode())
        assert other.load(row) is None


async def test_the_made_encryption_secret_is_private_to_this_user(
    client: AsyncTestClient[Litestar], settings: Settings
) -> None:
    assert (await client.get("/.well-known/jwks.json")).status_code == 200
    folder = settings.data_dir / "keys"
    secret = folder / "encryption.secret"
    assert secret.is_file()
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert len(secret.read_text().strip()) >= 32


async def test_a_configured_secret_is_used_and_no_file_is_made(
    client_with: ClientFactory, database_url: str, tmp_path: Path
) -> None:
    async with client_with(key_encryption_secret="configured-secret-" + "x" * 20) as configured:
        assert len(await jwks(configured)) == 1
        assert not (tmp_path / "keys" / "encryption.secret").exists()
        async with db(database_url) as session:
            row = (await session.scalars(select(SigningKey))).one()
            good = make_settings(
                database_url, tmp_path, key_encryption_secret="configured-secret-" + "x" * 20
            )
            assert KeyService(session, good).load(row) is not None


async def test_rotation_keeps_old_tokens_valid_until_unpublished(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings, time_machine: TimeMachineFixture
) -> None:
    await as_reader(client, "rotate@example.com")
    session_cookie = client.cookies[SESSION]
    old = (await issue(client))["access_token"]
    old_kid = jwt.get_unverified_header(old)["kid"]

    async with db(database_url) as session:
        new_row = await KeyService(session, settings).rotate()
        new_kid = new_row.kid
    rotated_at = datetime.now(UTC)
    await refresh_keyring(client)
    client.cookies.clear()
    during = (await client.post("/api/auth/token", headers=with_cookie(session_cookie))).json()[
        "access_token"
    ]
    assert jwt.get_unverified_header(during)["kid"] == old_kid  # the old key signs through the handover
    handover = timedelta(seconds=2 * settings.key_refresh_seconds)
    time_machine.move_to(rotated_at + handover + timedelta(seconds=1), tick=True)

    client.cookies.clear()
    new = (await client.post("/api/auth/token", headers=with_cookie(session_cookie))).json()["access_token"]
    assert new_kid != old_kid
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    published = await jwks(client)
    assert set(published) == {old_kid, new_kid}
    client.cookies.clear()
    assert (await client.get("/api/me", headers=bearer(old))).status_code == 200
    assert (await client.get("/api/me", headers=bearer(new))).status_code == 200
    assert (await decode(client, old, settings.public_url))["sub"] == (
        await decode(client, new, settings.public_url)
    )["sub"]

    async with db(database_url) as session:
        retired = await session.get(SigningKey, old_kid)
        assert retired is not None and retired.retired_at is not None and retired.unpublish_at is not None
        overlap = timedelta(
            minutes=settings.token_minutes,
            seconds=settings.token_leeway_seconds + settings.key_refresh_seconds,
        )
        assert abs((retired.unpublish_at - rotated_at) - handover - overlap) < timedelta(seconds=5)
        current = await session.get(SigningKey, new_kid)
        assert current is not None and current.retired_at is None and current.unpublish_at is None

    # The overlap is over: the old kid leaves the JWKS and its tokens are refused.
    async with db(database_url) as session:
        await session.execute(
            update(SigningKey)
            .where(SigningKey.kid == old_kid)
            .values(unpublish_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await refresh_keyring(client)
    assert set(await jwks(client)) == {new_kid}
    refused = await client.get("/api/me", headers=bearer(old))
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/api/me", headers=bearer(new))).status_code == 200


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
async def test_each_algorithm_issues_tokens_its_jwks_verifies(
    client_with: ClientFactory, database_url: str, algorithm: str
) -> None:
    async with client_with(token_algorithm=algorithm) as other:
        await as_reader(other, f"{algorithm.lower()}@example.com")
        token = (await issue(other))["access_token"]
        header = jwt.get_unverified_header(token)
        assert header["alg"] == algorithm and header["typ"] == "at+jwt"
        published = await jwks(other)
        jwk = published[header["kid"]]
        assert jwk["kty"] == KTY[algorithm] and jwk["alg"] == algorithm
        assert not PRIVATE_JWK_MEMBERS & set(jwk)
        claims = await decode(other, token, "http://testserver.local")
        assert claims["sub"] == str(await reader_id(database_url, f"{algorithm.lower()}@example.com"))
        other.cookies.clear()
        assert (await other.get("/api/me", headers=bearer(token))).status_code == 200
