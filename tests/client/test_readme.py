"""The client library's README, run against a real membership and the Stripe sandbox.

Every ```python block of libs/tollgate-client/README.md runs, in order, in one namespace, as a
service would import it. The blocks read their settings from the environment. Then this test
calls the functions they define, for a reader who paid through the sandbox, then for a reader
who did not, then again after a full refund, when a token renewed from the paying reader's session
carries the key no more. Membership's public URL (the tokens' issuer) is not
the address membership is reached at, as in production behind the gateway. So a README that
gives the membership URL as the issuer fails here with `WrongIssuer`.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import empty_tables
from tests.membership.conftest import Stack
from tests.servers import serve_billing
from tollgate_client import MembershipError, TokenExpired

README = Path(__file__).parents[2] / "libs" / "tollgate-client" / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# The gateway's origin: membership's public URL and so its tokens' issuer. Nothing listens there.
PUBLIC_URL = "http://tollgate.test"


def python_blocks(text: str) -> list[tuple[int, str]]:
    """Each ```python block's code, with the README line number just before it."""
    return [(text.count("\n", 0, match.start(1)), match.group(1)) for match in BLOCK.finditer(text)]


def run_readme() -> dict[str, Any]:
    """The namespace left by running every python block, with tracebacks that name README lines."""
    namespace: dict[str, Any] = {"__name__": "tollgate_client_readme"}
    for line, code in python_blocks(README.read_text()):
        exec(compile("\n" * line + code, str(README), "exec"), namespace)  # noqa: S102 - our own README
    return namespace


@pytest.fixture(scope="module")
def stack(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Membership and the Stripe sandbox over real HTTP; membership's public URL is PUBLIC_URL."""
    data_dir = Path(tmp_path_factory.mktemp("readme"))
    with serve_billing(database_url, data_dir, public_url=PUBLIC_URL, workers=1) as served:
        yield Stack(served.membership, served.sandbox, served.secret, database_url, served.settings)
    asyncio.run(empty_tables(database_url))


async def test_the_readme_runs_against_membership(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = await stack.reader()
    slug = await stack.publication(owner)
    tier = await stack.tier(owner, slug)
    made = await owner.post(
        f"/api/publications/{slug}/api-keys",
        json={"name": "newsletter", "scopes": ["entitlements:read", "members:read"]},
    )
    assert made.status_code == 201, made.text
    subscriber = await stack.reader()
    paid = await stack.subscribe(subscriber, tier["prices"][0]["id"])
    assert paid["charge"], paid
    me = (await subscriber.get("/api/me")).json()
    subscriber_id, subscriber_email = str(me["id"]), me["email"]
    token = (await subscriber.post("/api/auth/token")).json()["access_token"]
    bearer = f"Bearer {token}"
    other = await stack.reader()
    other_id = str((await other.get("/api/me")).json()["id"])
    stranger_id = str(uuid.uuid4())

    monkeypatch.setenv("TOLLGATE_MEMBERSHIP_URL", stack.membership)
    monkeypatch.setenv("TOLLGATE_ISSUER", PUBLIC_URL)
    monkeypatch.setenv("TOLLGATE_API_KEY", made.json()["secret"])
    monkeypatch.delenv("TOLLGATE_AUDIENCE", raising=False)
    readme = run_readme()
    await readme["startup"]()
    try:
        assert readme["verifier"].ready

        # Offline: the token verifies with the public URL as its issuer.
        claims = await readme["claims_of"](bearer)
        assert claims.iss == PUBLIC_URL != stack.membership
        assert claims.sub == subscriber_id
        assert claims.allows(f"pub:{slug}")

        # One reader: by the token, then by membership for readers without one.
        assert await readme["may_read"](subscriber_id, bearer, slug)
        assert await readme["may_read"](subscriber_id, None, slug)
        assert not await readme["may_read"](other_id, None, slug)
        assert not await readme["may_read"](stranger_id, None, slug)
        # As the README says: a publication's key may not check the platform's key.
        with pytest.raises(MembershipError) as refused:
            await readme["membership"].check(subscriber_id, ["member"])
        assert refused.value.status == 403

        # Many readers in one call; an unknown id is answered, not allowed.
        ids = [subscriber_id, other_id, stranger_id]
        assert await readme["readers_with_access"](ids, slug) == {subscriber_id}
        assert await readme["member_emails"](slug) == [subscriber_email]
        assert readme["revocations_fresh"]()
        assert await readme["tiers_on_offer"](slug) == [tier["name"]]
        offer = await owner.post(
            f"/api/publications/{slug}/offers",
            json={
                "tier_id": tier["id"],
                "name": "Spring sale",
                "code": f"SPRING-{slug[-6:].upper()}",
                "kind": "percent_off",
                "percent_off": 50,
                "duration": "repeating",
                "duration_in_months": 3,
                "audience": "campaign",
            },
        )
        assert offer.status_code == 201, offer.text
        assert await readme["offer_prices"](offer.json()["code"].lower()) == [
            "$2.50 a month for 3 months, then $5 a month"
        ]
        assert await readme["offer_prices"]("NOPE-NOPE") == []

        # A full refund ends access; the README's feed polls it, and the same token stops working.
        await stack.sdk().v1.refunds.create_async({"charge": paid["charge"]})
        await stack.settle()
        deadline = time.monotonic() + 15
        while not readme["feed"].is_stale(claims.sub, claims.ver):
            assert time.monotonic() < deadline, "the README's feed never reported the refund"
            await asyncio.sleep(0.1)
        with pytest.raises(TokenExpired):
            await readme["claims_of"](bearer)
        assert not await readme["may_read"](subscriber_id, bearer, slug)
        assert await readme["readers_with_access"](ids, slug) == set()
        assert await readme["member_emails"](slug) == []
        session = subscriber.cookies.get("tollgate_session")
        assert session
        renewed = await readme["token_for_session"](session)
        assert renewed is not None and renewed.sub == subscriber_id
        assert not renewed.allows(f"pub:{slug}")
        assert await readme["token_for_session"]("not-a-session") is None
    finally:
        await readme["shutdown"]()
        for client in (owner, subscriber, other):
            await client.aclose()
