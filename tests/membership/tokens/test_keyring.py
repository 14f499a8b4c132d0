"""The key ring over time: keys loaded long ago never make a request wait on a second transaction.

On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), so a request that reloaded the
keys in a session of its own waited ten seconds on itself and answered 500 "database is locked".
Keys are now refreshed in the background; these tests let that interval lapse.
"""

from __future__ import annotations

import asyncio
import time

import jwt
from litestar import Litestar
from litestar.testing import AsyncTestClient

from membership.settings import Settings
from membership.tokens.keyring import UNKNOWN_KID_COOLDOWN
from membership.tokens.keys import KeyService
from tests.conftest import ClientFactory
from tests.membership.publications.test_publications import as_reader
from tests.membership.tokens.test_tokens import bearer, db, issue, jwks


def age_the_keyring(client: AsyncTestClient[Litestar], seconds: float) -> None:
    """As if the keys had been loaded, and last looked up, `seconds` ago."""
    keyring = client.app.state.keyring
    keyring.loaded_at = time.monotonic() - seconds
    keyring.looked_up_at = time.monotonic() - seconds


async def test_a_token_is_issued_long_after_the_keys_were_loaded(client: AsyncTestClient[Litestar]) -> None:
    await as_reader(client, "hours-later@example.com")
    age_the_keyring(client, 3600)
    issued = await issue(client)
    client.cookies.clear()
    me = await client.get("/api/me", headers=bearer(issued["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "hours-later@example.com"
    assert jwt.get_unverified_header(issued["access_token"])["kid"] in await jwks(client)


async def test_the_background_refresh_picks_up_a_rotation_made_elsewhere(
    client_with: ClientFactory, database_url: str, settings: Settings
) -> None:
    async with client_with(key_refresh_seconds=0.2) as client:
        await as_reader(client, "rotation@example.com")
        old_kid = jwt.get_unverified_header((await issue(client))["access_token"])["kid"]
        # Another process (`membership keys rotate`, another replica) rotates in its own transaction.
        async with db(database_url) as session:
            fast = settings.model_copy(update={"key_refresh_seconds": 0.2})
            new_kid = (await KeyService(session, fast).rotate()).kid
        for _ in range(100):  # ten seconds at most
            if new_kid in await jwks(client):
                break
            await asyncio.sleep(0.1)
        # No request asked for it: the background refresh loaded the new key...
        assert set(await jwks(client)) == {old_kid, new_kid}
        for _ in range(100):  # ... and it signs once the handover (two intervals) is over
            if jwt.get_unverified_header((await issue(client))["access_token"])["kid"] == new_kid:
                break
            await asyncio.sleep(0.1)
        assert jwt.get_unverified_header((await issue(client))["access_token"])["kid"] == new_kid


async def test_a_kid_from_another_process_is_found_in_the_requests_own_session(
    client: AsyncTestClient[Litestar], database_url: str, settings: Settings
) -> None:
    """A token signed by a key another replica made moments ago verifies before any refresh."""
    await as_reader(client, "replica@example.com")
    ours = jwt.decode((await issue(client))["access_token"], options={"verify_signature": False})
    async with db(database_url) as session:
        service = KeyService(session, settings)
        loaded = service.load(await service.rotate())
    assert loaded is not None and loaded.kid not in await jwks(client)
    client.app.state.keyring.looked_up_at = time.monotonic() - UNKNOWN_KID_COOLDOWN - 1
    # Signed as the other replica would sign, with its new key.
    claims = ours | {"jti": "from-another-replica"}
    header = {"kid": loaded.kid, "typ": "at+jwt"}
    token = jwt.encode(claims, loaded.private, algorithm=loaded.alg, headers=header)
    client.cookies.clear()
    answer = await client.get("/api/me", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    assert loaded.kid in await jwks(client)
