"""When things fail: membership down, the origin down or slow; and what the gateway reports.

Membership down: members whose token opens the story keep reading (the keys are cached), metered
reads and friend links answer a clear 503, anonymous readers still get the teaser. The origin down
is a 502 and too slow a 504, as problem details. Metrics and the access log say what was decided.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.gateway.cms import Cms, Reply
from tests.gateway.stack import (
    SECRET,
    Membership,
    gateway_settings,
    running_gateway,
    running_membership,
    story_text,
    unique_email,
    write_story,
)
from tests.servers import bound_socket, serve


@pytest.fixture
def stories(tmp_path: Path) -> Path:
    folder = tmp_path / "stories"
    folder.mkdir()
    write_story(folder, "open-day", "the-gazette", "public")
    write_story(folder, "night-press", "the-gazette", "[pub:the-gazette]")
    write_story(folder, "extra-1", "the-gazette", "[pub:the-gazette]")
    return folder


async def test_membership_down_members_read_on_metered_reads_get_a_503(
    membership: Membership, stories: Path, tmp_path: Path
) -> None:
    member_email, reader_email = unique_email("member"), unique_email("reader")
    await membership.comp(member_email, "the-gazette")
    member_token = await membership.token_of(member_email)
    reader_token = await membership.token_of(reader_email)
    async with AsyncExitStack() as outer:
        # A membership of the gateway's own, on the same database and keys, so that it can be stopped.
        inner = AsyncExitStack()
        own = await inner.enter_async_context(
            running_membership(membership.database_url, membership.data_dir, membership.api_key)
        )
        gateway = await outer.enter_async_context(
            running_gateway(gateway_settings(own.url, membership.api_key, stories))
        )
        assert (await gateway.get("/health/ready")).status_code == 200
        member = {"authorization": f"Bearer {member_token}"}
        reader = {"authorization": f"Bearer {reader_token}"}
        assert SECRET in (await gateway.get("/stories/night-press", headers=member)).text
        await inner.aclose()  # membership is gone from here on

        still = await gateway.get("/stories/night-press", headers=member)
        assert still.status_code == 200 and SECRET in still.text
        assert still.headers["tollgate-access"] == 'full; reason="entitled"'

        metered = await gateway.get("/stories/night-press", headers={**reader, "accept": "application/json"})
        assert metered.status_code == 503
        assert metered.headers["content-type"].startswith("application/problem+json")
        assert metered.headers["retry-after"] == "30"
        assert "try again" in metered.json()["detail"]
        assert SECRET not in metered.text
        page = await gateway.get("/stories/night-press", headers=reader)
        assert page.status_code == 503 and SECRET not in page.text
        assert "The opening of night-press" in page.text
        assert page.headers["tollgate-access"].startswith("unavailable")

        linked = await gateway.get("/stories/night-press?friend=fl_somecode")
        assert linked.status_code == 503 and SECRET not in linked.text

        anonymous = await gateway.get("/stories/night-press")
        assert anonymous.status_code == 200 and SECRET not in anonymous.text
        assert (await gateway.get("/stories/open-day")).status_code == 200
        # Keys once fetched are kept: the gateway stays ready and members keep reading.
        assert (await gateway.get("/health/ready")).status_code == 200


@pytest.fixture(scope="module")
def cms() -> Iterator[Cms]:
    sock = bound_socket()
    cms = Cms(url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    with serve(cms.app, sock=sock):
        yield cms


async def test_origin_down_is_a_502_and_too_slow_a_504(
    membership: Membership, cms: Cms, closed_port_url: str
) -> None:
    settings = gateway_settings(membership.url, membership.api_key, Path("unused"))
    async with running_gateway(settings.model_copy(update={"story_origin": closed_port_url})) as gateway:
        down = await gateway.get("/stories/night-press")
    assert down.status_code == 502
    assert down.headers["content-type"].startswith("application/problem+json")
    assert "origin" in down.json()["detail"]

    cms.replies["/stories/slow.md"] = Reply(body=story_text("slow", "the-gazette", "public"), delay=5.0)
    cms.replies["/stories/quick.md"] = Reply(
        body=story_text("quick", "the-gazette", "public"), headers={"cache-control": "max-age=60"}
    )
    update = {"story_origin": cms.url, "origin_timeout_seconds": 0.3}
    async with running_gateway(settings.model_copy(update=update)) as gateway:
        slow = await gateway.get("/stories/slow")
        quick = await gateway.get("/stories/quick")
    assert slow.status_code == 504
    assert "in time" in slow.json()["detail"]
    assert quick.status_code == 200 and SECRET in quick.text


async def test_metrics_count_decisions_token_checks_key_fetches_and_origin_time(
    membership: Membership, stories: Path
) -> None:
    email = unique_email("member")
    await membership.comp(email, "the-gazette")
    token = await membership.token_of(email)
    async with running_gateway(gateway_settings(membership.url, membership.api_key, stories)) as gateway:
        for _ in range(3):
            await gateway.get("/stories/night-press", headers={"authorization": f"Bearer {token}"})
        await gateway.get("/stories/night-press")
        await gateway.get("/stories/open-day")
        text = (await gateway.get("/metrics")).text
    assert 'gateway_story_requests_total{access="full",reason="entitled"} 3.0' in text
    assert 'gateway_story_requests_total{access="teaser",reason="sign_in"} 1.0' in text
    assert 'gateway_story_requests_total{access="full",reason="public"} 1.0' in text
    assert "gateway_token_check_seconds_count 3.0" in text
    assert 'gateway_jwks_refreshes_total{outcome="ok"} 1.0' in text
    assert 'gateway_origin_seconds_count{outcome="ok"} 5.0' in text


async def test_the_decision_is_in_the_access_log_and_a_header(
    membership: Membership, stories: Path, capfd: Any
) -> None:
    settings = gateway_settings(
        membership.url, membership.api_key, stories, log_format="json", log_level="INFO"
    )
    async with running_gateway(settings) as gateway:
        response = await gateway.get("/stories/night-press", headers={"x-request-id": "decision-log-check"})
    assert response.headers["tollgate-access"] == 'teaser; reason="sign_in"'
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "decision-log-check" in line]
    access = [line for line in lines if line["logger"] == "tollgate.access"]
    assert access and access[-1]["story"] == "night-press"
    assert (access[-1]["access"], access[-1]["reason"]) == ("teaser", "sign_in")


async def test_the_anonymous_allowance_is_off_by_default_and_meters_by_signed_cookie_when_on(
    membership: Membership, stories: Path
) -> None:
    async with running_gateway(gateway_settings(membership.url, membership.api_key, stories)) as gateway:
        off = await gateway.get("/stories/night-press")
    assert SECRET not in off.text and "set-cookie" not in off.headers

    settings = gateway_settings(
        membership.url,
        membership.api_key,
        stories,
        anonymous_unlocks_per_month=1,
        anonymous_cookie_secret="s3",
    )
    async with running_gateway(settings) as gateway:
        first = await gateway.get("/stories/night-press")
        assert SECRET in first.text
        assert first.headers["tollgate-access"] == 'full; reason="free_unlock"'
        cookie = first.cookies["tollgate_free_reads"]
        jar = {"cookie": f"tollgate_free_reads={cookie}"}
        again = await gateway.get("/stories/night-press", headers=jar)
        assert again.headers["tollgate-access"] == 'full; reason="unlocked_before"'
        spent = await gateway.get("/stories/extra-1", headers=jar)
        assert SECRET not in spent.text
        assert spent.headers["tollgate-access"] == 'teaser; reason="sign_in"'
        # A cookie edited by hand is worth nothing: here it claims a different story was read.
        forged = cookie.replace("night-press", "extra-1")
        edited = await gateway.get("/stories/extra-1", headers={"cookie": f"tollgate_free_reads={forged}"})
        assert edited.headers["tollgate-access"] == 'full; reason="free_unlock"'
        assert edited.cookies["tollgate_free_reads"] != forged


def _renewals(metrics: str) -> float:
    found = re.search(r"^gateway_token_refreshes_total (\S+)$", metrics, re.MULTILINE)
    assert found is not None, metrics
    return float(found.group(1))


async def test_a_signed_in_reader_reading_fast_is_never_refused_for_renewing_too_often(
    membership: Membership, stories: Path
) -> None:
    # Membership allows two tokens per session a minute here, so the third renewal is a 429.
    async with running_membership(
        membership.database_url, membership.data_dir, membership.api_key, token_rate_per_session=2
    ) as own:
        session, _ = await own.session_of(unique_email("fast-reader"))
        cookie = {"cookie": f"tollgate_session={session}"}
        # Renewing before every metered read (no grace for a young token): the 429 is no outage.
        eager = gateway_settings(own.url, own.api_key, stories, metered_renew_after_seconds=0)
        async with running_gateway(eager) as gateway:
            gateway.cookies.set("tollgate_session", session)  # a browser: it keeps the token it is given
            for story in ("night-press", "extra-1", "night-press", "extra-1", "night-press"):
                read = await gateway.get(f"/stories/{story}")
                assert read.status_code == 200, read.text
                assert not read.headers["tollgate-access"].startswith("unavailable")
        # By default a token younger than half a minute is used as it is: one renewal for five reads.
        async with running_gateway(gateway_settings(own.url, own.api_key, stories)) as gateway:
            token = await own.token_of(unique_email("steady-reader"))
            before = _renewals((await gateway.get("/metrics")).text)
            for story in ("night-press", "extra-1", "night-press", "extra-1", "night-press"):
                read = await gateway.get(
                    f"/stories/{story}", headers={"cookie": f"tollgate_access={token}; {cookie['cookie']}"}
                )
                assert read.status_code == 200, read.text
            assert _renewals((await gateway.get("/metrics")).text) == before
