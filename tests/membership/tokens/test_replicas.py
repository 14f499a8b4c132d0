"""Signing keys across membership replicas: one signer, the same JWKS, a rotation handed over.

Two membership apps on one database, each served over HTTP from a thread of its own, reload their
keys every second. Started at once on an empty database they make one key. After a rotation
through one of them, every token either issues verifies against the JWKS either served just
before, and at a gateway's verifier that fetched the keys before the rotation; then both sign
with the new key, and the old one leaves the JWKS only once its tokens have expired. Below: the
signer chosen at pinned times, and key changes in two transactions at once taking turns.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select
from time_machine import TimeMachineFixture

from membership.app import create_app
from membership.db import alchemy_config
from membership.settings import Settings
from membership.tokens.keyring import KeyRing
from membership.tokens.keys import KeyService, current
from membership.tokens.models import SigningKey
from tests.conftest import empty_tables, make_settings
from tests.membership.helpers import sign_in, with_cookie
from tests.servers import serve
from tollgate_client.verifier import TokenExpired, TokenVerifier

REFRESH = 1.0  # seconds between key reloads: the handover is two of them
SECRET = "replica-secret-" + "x" * 20
ISSUER = "http://testserver.local"


def replica_settings(database_url: str, tmp_path: Path, name: str = "a") -> Settings:
    return make_settings(
        database_url,
        tmp_path / name,
        key_refresh_seconds=REFRESH,
        key_encryption_secret=SECRET,
        token_rate_per_session=100_000,
    )


@pytest.fixture
async def empty(database_url: str) -> AsyncIterator[str]:
    """The test database with no rows before the test, and none after it."""
    await empty_tables(database_url)
    yield database_url
    await empty_tables(database_url)


@contextmanager
def replicas(database_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two membership apps on one database, started at the same time; their base URLs."""
    servers = [serve(create_app(replica_settings(database_url, tmp_path, name))) for name in "ab"]
    with ExitStack() as stack:
        with ThreadPoolExecutor(len(servers)) as pool:
            started = [pool.submit(server.__enter__) for server in servers]
        for server, future in zip(servers, started, strict=True):
            if future.exception() is None:
                stack.push(server.__exit__)
        yield [future.result() for future in started]


@asynccontextmanager
async def keys_of(settings: Settings) -> AsyncIterator[KeyService]:
    """Key changes in one transaction on the replica's own engine (SQLite's BEGIN IMMEDIATE too)."""
    alchemy = alchemy_config(settings)
    try:
        async with alchemy.get_session() as session:
            yield KeyService(session, settings)
            await session.commit()
    finally:
        await alchemy.get_engine().dispose()


async def rows(database_url: str, tmp_path: Path) -> list[SigningKey]:
    async with keys_of(replica_settings(database_url, tmp_path)) as service:
        return list(await service.db.scalars(select(SigningKey).order_by(SigningKey.created_at)))


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def claims(token: str) -> dict[str, Any]:
    unverified: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return unverified


def verifies(token: str, jwks: dict[str, Any]) -> bool:
    """Whether the token's signature checks out against a key of this JWKS."""
    published = {k["kid"]: k for k in jwks["keys"]}
    if kid_of(token) not in published:
        return False
    jwk = jwt.PyJWK(published[kid_of(token)])
    jwt.decode(token, jwk.key, algorithms=[jwk.algorithm_name], audience="tollgate", issuer=ISSUER)
    return True


@dataclass
class Replica:
    http: httpx.AsyncClient
    cookie: str

    async def jwks(self) -> tuple[bytes, dict[str, Any]]:
        answer = await self.http.get("/.well-known/jwks.json")
        assert answer.status_code == 200, answer.text
        return answer.content, answer.json()

    async def token(self) -> str:
        answer = await self.http.post("/api/auth/token", headers=with_cookie(self.cookie))
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token


# --- two replicas -----------------------------------------------------------------------------


async def test_two_replicas_starting_at_once_make_one_key(empty: str, tmp_path: Path) -> None:
    with replicas(empty, tmp_path) as (a, b):
        async with httpx.AsyncClient(base_url=a) as http_a, httpx.AsyncClient(base_url=b) as http_b:
            await sign_in(http_a, "start@example.com")  # type: ignore[arg-type]
            cookie = http_a.cookies["tollgate_session"]
            tokens = [await Replica(http, cookie).token() for http in (http_a, http_b)]
            served = [(await Replica(http, cookie).jwks())[0] for http in (http_a, http_b)]
    [key] = await rows(empty, tmp_path)
    assert key.retired_at is None and key.unpublish_at is None
    assert [kid_of(t) for t in tokens] == [key.kid, key.kid]
    assert served[0] == served[1]


async def test_a_rotation_through_one_replica_is_handed_over_to_both(
    empty: str, tmp_path: Path, time_machine: TimeMachineFixture
) -> None:
    with replicas(empty, tmp_path) as urls:
        async with (
            httpx.AsyncClient(base_url=urls[0]) as http_a,
            httpx.AsyncClient(base_url=urls[1]) as http_b,
        ):
            await sign_in(http_a, "handover@example.com")  # type: ignore[arg-type]
            both = [Replica(http, http_a.cookies["tollgate_session"]) for http in (http_a, http_b)]
            # A gateway that fetched the keys before the rotation, and would not fetch again on its own.
            async with TokenVerifier(
                f"{urls[1]}/.well-known/jwks.json",
                issuer=ISSUER,
                refresh_interval=3600,
                unknown_kid_cooldown=REFRESH,  # shorter than the handover, as 5 s is beside 120 s
            ) as gateway:
                [first] = gateway.key_ids
                async with keys_of(replica_settings(empty, tmp_path)) as service:
                    new = (await service.rotate()).kid
                old = {k.kid: k for k in await rows(empty, tmp_path)}[first]
                assert old.retired_at is not None and old.unpublish_at is not None

                tokens: list[str] = []
                identical_with_new: list[bool] = []
                new_signs = 0
                for _ in range(400):  # forty seconds at most; the handover takes two
                    served = [await r.jwks() for r in both]
                    issued = [await r.token() for r in both]
                    tokens += issued
                    # Every token verifies against the JWKS each replica served just before it.
                    assert all(verifies(t, jwks) for t in issued for _, jwks in served), (
                        [kid_of(t) for t in issued],
                        [[k["kid"] for k in jwks["keys"]] for _, jwks in served],
                    )
                    for token in issued:
                        assert (await gateway.verify(token)).sub
                    if all(new in (k["kid"] for k in jwks["keys"]) for _, jwks in served):
                        identical_with_new.append(served[0][0] == served[1][0])
                    new_signs = new_signs + 1 if {kid_of(t) for t in issued} == {new} else 0
                    if new_signs == 3:
                        break
                    await asyncio.sleep(0.05)
                assert new_signs == 3, "both replicas did not come to sign with the new key"

                # Once both had loaded the new key they served the same bytes (and before it signed:
                # every token verified against both JWKS served before it).
                assert identical_with_new and all(identical_with_new)
                # Tokens were issued one after another: the old key signed them all until the
                # stored instant of the handover, the new one all after it, on both replicas.
                signed_by_old = [t for t in tokens if kid_of(t) == first]
                signed_by_new = [t for t in tokens if kid_of(t) == new]
                assert signed_by_old and signed_by_new and tokens == signed_by_old + signed_by_new
                assert max(claims(t)["iat"] for t in signed_by_old) <= old.retired_at.timestamp()
                assert min(claims(t)["iat"] for t in signed_by_new) >= int(old.retired_at.timestamp())

                # The old key stays published until the last token it signed has expired.
                last_valid = max(claims(t)["exp"] for t in signed_by_old)
                time_machine.move_to(datetime.fromtimestamp(last_valid + 30, UTC), tick=True)
                served = [await r.jwks() for r in both]
                assert all(first in {k["kid"] for k in jwks["keys"]} for _, jwks in served)
                time_machine.move_to(old.unpublish_at + timedelta(seconds=0.5), tick=True)
                served = [await r.jwks() for r in both]
                assert served[0][0] == served[1][0]
                assert [k["kid"] for k in served[0][1]["keys"]] == [new]
                with pytest.raises(TokenExpired):
                    await gateway.verify(signed_by_old[-1])
                assert kid_of(await both[1].token()) == new


# --- the signer at pinned times ---------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    kid: str
    created_at: datetime
    retired_at: datetime | None = None


T0 = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_the_only_key_signs_from_the_moment_it_is_made() -> None:
    key = Key("first", T0)
    assert current([key], T0) is key
    assert current([key], T0 + timedelta(days=400)) is key
    assert current([], T0) is None


def test_the_old_key_signs_until_the_handover_ends_then_the_new_one() -> None:
    old = Key("old", T0 - timedelta(days=30), retired_at=T0 + 2 * SECOND)
    new = Key("new", T0)
    assert current([new, old], T0) is old
    assert current([new, old], T0 + 2 * SECOND - timedelta(microseconds=1)) is old
    assert current([new, old], T0 + 2 * SECOND) is new
    assert current([new, old], T0 + timedelta(days=1)) is new


def test_two_rotations_in_one_handover_sign_in_turn() -> None:
    first = Key("first", T0 - timedelta(days=30), retired_at=T0 + 2 * SECOND)
    second = Key("second", T0, retired_at=T0 + 3 * SECOND)
    third = Key("third", T0 + SECOND)
    keys = [third, second, first]
    assert [current(keys, T0 + s * SECOND) for s in (1, 2, 3, 4)] == [first, second, third, third]


def test_a_lost_signer_is_replaced_at_once_and_ties_go_by_kid() -> None:
    lost = Key("lost", T0 - timedelta(days=30), retired_at=T0)
    replacement = Key("replacement", T0)
    assert current([lost, replacement], T0) is replacement
    assert current([Key("b", T0), Key("a", T0)], T0) == Key("a", T0)


async def test_the_keyring_switches_at_the_stored_instant_without_a_reload(
    empty: str, tmp_path: Path, time_machine: TimeMachineFixture
) -> None:
    settings = replica_settings(empty, tmp_path)
    time_machine.move_to(T0, tick=False)
    async with keys_of(settings) as service:
        await service.ensure_active()
    time_machine.move_to(T0 + timedelta(hours=1), tick=False)
    async with keys_of(settings) as service:
        new = await service.rotate()
        old = (await service.published())[1]
    # Handed over after two refresh intervals; published until its last token, plus an interval.
    assert old.retired_at == T0 + timedelta(hours=1, seconds=2 * REFRESH)
    assert old.unpublish_at == old.retired_at + timedelta(
        minutes=settings.token_minutes, seconds=settings.token_leeway_seconds + REFRESH
    )
    alchemy = alchemy_config(settings)
    keyring = KeyRing(alchemy, settings)
    try:
        await keyring.refresh()
    finally:
        await alchemy.get_engine().dispose()
    signing = keyring.signing
    assert signing is not None and signing.kid == old.kid
    time_machine.move_to(old.retired_at - timedelta(microseconds=1), tick=False)
    assert keyring.signing is not None and keyring.signing.kid == old.kid
    time_machine.move_to(old.retired_at, tick=False)
    assert keyring.signing is not None and keyring.signing.kid == new.kid
    assert {k["kid"] for k in keyring.published_jwks()} == {old.kid, new.kid}
    time_machine.move_to(old.unpublish_at, tick=False)
    assert {k["kid"] for k in keyring.published_jwks()} == {new.kid}


async def test_a_signer_that_does_not_decrypt_is_replaced_at_once(
    empty: str, tmp_path: Path, time_machine: TimeMachineFixture
) -> None:
    time_machine.move_to(T0, tick=False)
    async with keys_of(replica_settings(empty, tmp_path)) as service:
        lost = await service.create()
    other = make_settings(empty, tmp_path / "other", key_encryption_secret="another-secret-" + "y" * 20)
    time_machine.move_to(T0 + timedelta(hours=1), tick=False)
    async with keys_of(other) as service:
        await service.ensure_active()
        keys = await service.published()
    assert [k.kid for k in keys][1] == lost.kid and keys[1].retired_at == T0 + timedelta(hours=1)
    assert current(keys, T0 + timedelta(hours=1)) is keys[0]


# --- key changes in two transactions at once --------------------------------------------------


async def at_once(database_url: str, tmp_path: Path, change: str) -> list[SigningKey]:
    """`change` in two replicas' transactions at once: the second starts while the first is open."""
    first_settings = replica_settings(database_url, tmp_path, "a")
    second_settings = replica_settings(database_url, tmp_path, "b")
    async with keys_of(first_settings) as first:
        await getattr(first, change)()
        second = asyncio.create_task(run_in(second_settings, change))
        await asyncio.sleep(0.5)  # let the second get as far as it can while the first is open
        assert not second.done()  # it waits for the first to commit
    await second
    return await rows(database_url, tmp_path)


async def run_in(settings: Settings, change: str) -> None:
    async with keys_of(settings) as service:
        await getattr(service, change)()


async def test_replicas_ensuring_a_key_at_once_make_one(empty: str, tmp_path: Path) -> None:
    made = await at_once(empty, tmp_path, "ensure_active")
    assert len(made) == 1 and made[0].retired_at is None


async def test_two_rotations_at_once_leave_one_key_to_sign_next(empty: str, tmp_path: Path) -> None:
    async with keys_of(replica_settings(empty, tmp_path)) as service:
        await service.ensure_active()
    first, second, third = await at_once(empty, tmp_path, "rotate")
    assert third.retired_at is None
    assert first.retired_at is not None and second.retired_at is not None
    assert first.retired_at <= second.retired_at  # the second rotation retired the first one's key
    async with keys_of(replica_settings(empty, tmp_path)) as service:
        active = await service.db.scalar(
            select(func.count()).select_from(SigningKey).where(SigningKey.retired_at.is_(None))
        )
    assert active == 1
