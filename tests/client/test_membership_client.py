"""MembershipClient against a fake membership answering in the documented shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from tests.client.conftest import API_KEY, FakeMembership
from tollgate_client import (
    AccessDecision,
    BatchDecision,
    Entitlements,
    Grant,
    Member,
    MembershipClient,
    MembershipDown,
    MembershipError,
    MembershipRefused,
    MembershipUnavailable,
)
from tollgate_client.client import problem_error

READER = str(uuid.uuid4())
ENDS = "2026-09-01T00:00:00Z"


@pytest.fixture
def reader(membership: FakeMembership) -> str:
    membership.readers[READER] = {
        "keys": ["member", "pub:the-gazette"],
        "version": 7,
        "grants": [
            {
                "key": "member",
                "source": "subscription",
                "source_id": "sub_1",
                "starts_at": "2026-01-01T00:00:00Z",
                "ends_at": ENDS,
            },
            {
                "key": "pub:the-gazette",
                "source": "comp",
                "source_id": "c1",
                "starts_at": "2026-01-01T00:00:00Z",
                "ends_at": None,
            },
        ],
    }
    return READER


async def test_entitlements(client: MembershipClient, membership: FakeMembership, reader: str) -> None:
    answer = await client.entitlements(uuid.UUID(reader))

    assert isinstance(answer, Entitlements)
    assert answer.reader_id == reader
    assert answer.keys == ("member", "pub:the-gazette")
    assert answer.version == 7
    assert answer.grants[0] == Grant(
        key="member",
        source="subscription",
        source_id="sub_1",
        starts_at=datetime(2026, 1, 1, tzinfo=UTC),
        ends_at=datetime(2026, 9, 1, tzinfo=UTC),
    )
    assert answer.grants[1].ends_at is None
    assert membership.authorizations == [f"Bearer {API_KEY}"]


async def test_an_unknown_reader_is_a_problem(client: MembershipClient) -> None:
    with pytest.raises(MembershipError) as caught:
        await client.entitlements("nobody")

    assert caught.value.status == 404
    assert caught.value.title == "Not Found"
    assert caught.value.detail == "no reader nobody"


async def test_a_reader_id_cannot_add_path_segments(
    client: MembershipClient, membership: FakeMembership
) -> None:
    with pytest.raises(MembershipError):
        await client.entitlements("../../publications/x/members")

    assert membership.requests == ["/api/readers/..%2F..%2Fpublications%2Fx%2Fmembers/entitlements"]


async def test_check(client: MembershipClient, membership: FakeMembership, reader: str) -> None:
    allowed = await client.check(reader, ["pub:other", "member"])
    refused = await client.check(reader, ("pub:other",))

    assert allowed == AccessDecision(
        allowed=True, reason="granted", key="member", until=datetime(2026, 9, 1, tzinfo=UTC)
    )
    assert refused == AccessDecision(allowed=False, reason="no entitlement", key=None, until=None)
    assert membership.bodies[0] == {"reader_id": reader, "keys": ["pub:other", "member"]}


async def test_a_refused_request_is_a_problem(client: MembershipClient, reader: str) -> None:
    with pytest.raises(MembershipError) as caught:
        await client.check(reader, [])

    assert caught.value.status == 422
    assert caught.value.detail == "keys must be a non-empty list"
    # A 4xx is a refusal, not membership being down: a caller retrying would get the same.
    assert isinstance(caught.value, MembershipRefused)
    assert not isinstance(caught.value, MembershipDown)


async def test_check_batch(client: MembershipClient, membership: FakeMembership, reader: str) -> None:
    stranger = str(uuid.uuid4())

    results = await client.check_batch([reader, uuid.UUID(stranger)], ["member"])

    assert results == {
        reader: BatchDecision(allowed=True, until=datetime(2026, 9, 1, tzinfo=UTC)),
        stranger: BatchDecision(allowed=False, until=None),
    }


async def test_a_long_batch_is_split(
    client: MembershipClient, membership: FakeMembership, reader: str
) -> None:
    client.batch_limit = 2
    readers = [reader, *(str(uuid.uuid4()) for _ in range(4))]

    results = await client.check_batch(readers, ["member"])

    assert list(results) == readers
    assert [len(body["reader_ids"]) for body in membership.bodies] == [2, 2, 1]


async def test_members_pages_through_everything(client: MembershipClient, membership: FakeMembership) -> None:
    membership.members["the-gazette"] = [
        {
            "reader_id": str(uuid.uuid4()),
            "email": f"r{n}@example.com",
            "display_name": f"r{n}",
            "keys": ["pub:the-gazette"],
            "sources": ["comp"] if n % 2 else ["subscription"],
            "until": None,
            "extra": n,
        }
        for n in range(5)
    ]

    everyone = [member async for member in client.members("the-gazette")]
    comped = [member async for member in client.members("the-gazette", source="comp", limit=1)]

    assert [member.reader_id for member in everyone] == [
        row["reader_id"] for row in membership.members["the-gazette"]
    ]
    assert all(isinstance(member, Member) for member in everyone)
    assert everyone[0].keys == ("pub:the-gazette",) and everyone[0].until is None
    assert [member.sources for member in comped] == [("comp",), ("comp",)]
    comp_requests = [path for path in membership.requests if "source=comp" in path]
    assert len(comp_requests) == 2  # one member per page; the second page has no next cursor


async def test_members_of_an_unknown_publication_is_a_problem(client: MembershipClient) -> None:
    with pytest.raises(MembershipError) as caught:
        _ = [member async for member in client.members("nope")]

    assert caught.value.status == 404


async def test_a_wrong_api_key_is_a_problem(membership: FakeMembership) -> None:
    async with MembershipClient(membership.url, "tgk_wrong") as client:
        with pytest.raises(MembershipError) as caught:
            await client.check(READER, ["member"])

    assert caught.value.status == 401


async def test_an_error_that_is_not_problem_details_still_raises(membership: FakeMembership) -> None:
    async with MembershipClient(f"{membership.url}/elsewhere", API_KEY) as client:
        with pytest.raises(MembershipError) as caught:
            await client.latest_change()

    assert caught.value.status == 404
    assert caught.value.title == "Not Found"


async def test_an_error_page_body_becomes_the_detail(membership: FakeMembership) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{membership.url}/boom")

    error = problem_error(response)

    assert error.status == 502
    assert error.title == "Bad Gateway"
    assert "bad gateway" in error.detail
    assert isinstance(error, MembershipDown)
    assert not isinstance(error, MembershipRefused)


async def test_membership_down_is_unavailable(dead_url: str) -> None:
    async with MembershipClient(dead_url, API_KEY) as client:
        with pytest.raises(MembershipUnavailable) as caught:
            await client.check(READER, ["member"])

    assert isinstance(caught.value, MembershipDown)
    assert isinstance(caught.value, MembershipError)
    assert caught.value.status == 0


async def test_a_shared_http_client_is_left_open(membership: FakeMembership, reader: str) -> None:
    async with httpx.AsyncClient() as http:
        async with MembershipClient(membership.url, API_KEY, http=http) as client:
            await client.check(reader, ["member"])
        assert not http.is_closed
