"""The calls the gateway makes through MembershipClient, against the real membership over HTTP.

Token renewal and checkout confirmation carry the reader's session cookie; unlocks, trials and
friend links the gateway's platform API key; offers and publications nothing. Each answer decodes
into the client's types, and each refusal lands where the gateway expects it: None for "the session
is over", "not this reader's checkout" and "no such code"; `MembershipRefused` for the rest; and
`MembershipDown` (as `MembershipUnavailable`) when membership does not answer.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import empty_tables
from tests.gateway.stack import Membership, prepare_membership, running_membership, unique_email
from tollgate_client import (
    FriendLink,
    MembershipClient,
    MembershipDown,
    MembershipRefused,
    MembershipUnavailable,
    TokenVerifier,
)

PUBLICATION = "the-gazette"


@pytest.fixture(scope="module")
async def membership(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Membership]:
    api_key = await prepare_membership(database_url)
    async with running_membership(database_url, tmp_path_factory.mktemp("membership"), api_key) as running:
        yield running
    await empty_tables(database_url)


@pytest.fixture
async def client(membership: Membership) -> AsyncIterator[MembershipClient]:
    async with MembershipClient(membership.url, membership.api_key) as client:
        yield client


async def test_a_session_is_renewed_into_a_token_and_a_dead_session_is_none(
    client: MembershipClient, membership: Membership
) -> None:
    session, reader_id = await membership.session_of(unique_email())
    renewed = await client.renew_token(session)
    assert renewed is not None
    assert any(cookie.startswith("tollgate_access=") for cookie in renewed.set_cookies)
    async with TokenVerifier(
        f"{membership.url}/.well-known/jwks.json", issuer="http://gateway.test"
    ) as verifier:
        assert (await verifier.verify(renewed.access_token)).sub == reader_id
    assert await client.renew_token("not-a-session") is None


async def test_a_checkout_without_a_session_confirms_nothing(
    client: MembershipClient, membership: Membership
) -> None:
    assert await client.confirm_checkout("not-a-session", "cs_test_not_theirs") is None
    # Here membership has no Stripe to ask: a 503, which the gateway takes for "still pending".
    session, _ = await membership.session_of(unique_email())
    with pytest.raises(MembershipDown) as down:
        await client.confirm_checkout(session, "cs_test_not_theirs")
    assert down.value.status == 503


async def test_unlocks_are_counted_and_recorded_once(
    client: MembershipClient, membership: Membership
) -> None:
    _, reader_id = await membership.session_of(unique_email())
    before = await client.unlock_status(reader_id, PUBLICATION)
    assert before.used == 0 and before.stories == () and not before.staff
    first = await client.record_unlock(reader_id, PUBLICATION, "night-press")
    assert first.unlocked and not first.already
    assert first.remaining == before.allowance - 1
    again = await client.record_unlock(reader_id, PUBLICATION, "night-press")
    assert again.already and again.remaining == first.remaining
    after = await client.unlock_status(reader_id, PUBLICATION)
    assert after.stories == ("night-press",) and after.used == 1
    with pytest.raises(MembershipRefused) as refused:
        await client.unlock_status(reader_id, "no-such-publication")
    assert 400 <= refused.value.status < 500


async def test_no_trial_is_taken_by_a_new_reader(client: MembershipClient, membership: Membership) -> None:
    _, reader_id = await membership.session_of(unique_email())
    assert await client.trials_taken(reader_id) == frozenset()


async def test_an_authors_friend_link_resolves_and_an_unknown_code_is_none(
    client: MembershipClient, membership: Membership
) -> None:
    _, author_id = await membership.session_of(unique_email("author"))
    made = await client.create_friend_link(
        publication=PUBLICATION, story_id="night-press", author_id=author_id
    )
    assert made.publication == PUBLICATION and made.story_id == "night-press"
    assert made.code in made.path
    assert await client.resolve_friend_link(made.code) == FriendLink(
        id=made.id, publication=PUBLICATION, story_id="night-press"
    )
    assert await client.resolve_friend_link("no-such-code") is None


async def test_a_reader_who_is_not_staff_may_not_make_a_friend_link(
    client: MembershipClient, membership: Membership
) -> None:
    token = await membership.token_of(unique_email())
    with pytest.raises(MembershipRefused) as refused:
        await client.create_friend_link(publication=PUBLICATION, story_id="night-press", bearer=token)
    assert refused.value.status in (401, 403)
    with pytest.raises(ValueError, match="author_id"):
        await client.create_friend_link(publication=PUBLICATION, story_id="night-press")


async def test_publications_and_offers_need_no_credentials(membership: Membership) -> None:
    async with MembershipClient(membership.url, "tgk_not_a_key") as anonymous:
        names = {p.slug: p.name for p in await anonymous.publications()}
        assert names[PUBLICATION] == "The Gazette"
        # No tier has been made here: the publication's list and the platform's are both empty.
        assert await anonymous.offers(PUBLICATION) == []
        with pytest.raises(MembershipRefused):
            await anonymous.offers("no-such-publication")
        # Calls that need the key are refused with this one.
        with pytest.raises(MembershipRefused) as refused:
            await anonymous.trials_taken(str(uuid.uuid4()))
        assert refused.value.status == 401


async def test_membership_not_answering_is_down(dead_url: str) -> None:
    async with MembershipClient(dead_url, "tgk_any", timeout=2) as client:
        with pytest.raises(MembershipUnavailable) as caught:
            await client.renew_token("a-session")
        assert isinstance(caught.value, MembershipDown) and caught.value.status == 0
        with pytest.raises(MembershipDown):
            await client.confirm_checkout("a-session", "cs_test_x")
        with pytest.raises(MembershipDown):
            await client.resolve_friend_link("a-code")


async def test_a_shared_http_client_carries_the_calls(membership: Membership) -> None:
    async with httpx.AsyncClient() as http:
        async with MembershipClient(membership.url, membership.api_key, http=http) as client:
            assert PUBLICATION in {p.slug for p in await client.publications()}
        assert not http.is_closed
