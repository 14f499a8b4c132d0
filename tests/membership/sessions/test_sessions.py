"""Sessions: refresh rotation, theft detection, sign out, sign out everywhere, my sessions, and a
session in use living on (on a clock moved ahead, as `make run` does with the sandbox's)."""

from __future__ import annotations

from datetime import datetime
from http.cookies import SimpleCookie

from httpx import Response
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.membership.helpers import sign_in, with_cookie
from tollgate_common import clock

COOKIE = "tollgate_session"
DAY = 86400


async def test_refresh_rotates_the_cookie(client: AsyncTestClient[Litestar]) -> None:
    signed_in = await sign_in(client, "rotate@example.com")
    before = client.cookies[COOKIE]
    refreshed = await client.post("/api/auth/refresh")
    assert refreshed.status_code == 200
    after = client.cookies[COOKIE]
    assert after != before
    assert refreshed.json()["session"]["id"] == signed_in["session"]["id"]
    assert (await client.get("/api/me")).status_code == 200


async def test_reused_refresh_token_ends_the_whole_session(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "stolen@example.com")
    stolen = client.cookies[COOKIE]
    assert (await client.post("/api/auth/refresh")).status_code == 200
    current = client.cookies[COOKIE]
    # The thief presents the old token: refused, and the session is revoked for the owner too.
    client.cookies.clear()
    thief = await client.post("/api/auth/refresh", headers=with_cookie(stolen))
    assert thief.status_code == 401
    assert thief.headers["content-type"].startswith("application/problem+json")
    owner = await client.get("/api/me", headers=with_cookie(current))
    assert owner.status_code == 401
    assert "ended" in owner.json()["detail"]


async def test_presenting_a_rotated_token_anywhere_revokes(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "replay@example.com")
    old = client.cookies[COOKIE]
    await client.post("/api/auth/refresh")
    new = client.cookies[COOKIE]
    client.cookies.clear()
    assert (await client.get("/api/me", headers=with_cookie(old))).status_code == 401
    assert (await client.get("/api/me", headers=with_cookie(new))).status_code == 401


async def test_sign_out_ends_only_this_session(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "two@example.com")
    laptop = client.cookies[COOKIE]
    client.cookies.clear()
    await sign_in(client, "two@example.com")
    phone = client.cookies[COOKIE]
    out = await client.post("/api/auth/sign-out")
    assert out.status_code == 200
    assert (
        'tollgate_session=""' in out.headers["set-cookie"] or "max-age=0" in out.headers["set-cookie"].lower()
    )
    client.cookies.clear()
    assert (await client.get("/api/me", headers=with_cookie(phone))).status_code == 401
    assert (await client.get("/api/me", headers=with_cookie(laptop))).status_code == 200


async def test_sign_out_everywhere(client: AsyncTestClient[Litestar]) -> None:
    cookies = []
    for _ in range(3):
        client.cookies.clear()
        await sign_in(client, "many@example.com")
        cookies.append(client.cookies[COOKIE])
    client.cookies.clear()
    await sign_in(client, "other@example.com")
    bystander = client.cookies[COOKIE]
    client.cookies.clear()
    out = await client.post("/api/auth/sign-out-everywhere", headers=with_cookie(cookies[0]))
    assert out.status_code == 200
    assert out.json()["sessions_ended"] == 3
    for cookie in cookies:
        assert (await client.get("/api/me", headers=with_cookie(cookie))).status_code == 401
    assert (await client.get("/api/me", headers=with_cookie(bystander))).status_code == 200


async def test_list_and_end_my_sessions(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "list@example.com")
    first = client.cookies[COOKIE]
    client.cookies.clear()
    await sign_in(client, "list@example.com")
    listed = (await client.get("/api/me/sessions")).json()
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    other = next(s for s in listed if not s["current"])
    assert (await client.delete(f"/api/me/sessions/{other['id']}")).status_code == 204
    assert len((await client.get("/api/me/sessions")).json()) == 1
    client_cookie = client.cookies[COOKIE]
    client.cookies.clear()
    assert (await client.get("/api/me", headers=with_cookie(first))).status_code == 401
    assert (
        await client.delete(f"/api/me/sessions/{other['id']}", headers=with_cookie(client_cookie))
    ).status_code == 404


async def test_someone_elses_session_cannot_be_ended(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "victim@example.com")
    victim_session = (await client.get("/api/me/sessions")).json()[0]["id"]
    victim_cookie = client.cookies[COOKIE]
    client.cookies.clear()
    await sign_in(client, "attacker@example.com")
    assert (await client.delete(f"/api/me/sessions/{victim_session}")).status_code == 404
    client.cookies.clear()
    assert (await client.get("/api/me", headers=with_cookie(victim_cookie))).status_code == 200


async def test_display_name_can_change(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "named@example.com")
    changed = await client.patch("/api/me", json={"display_name": "Named Reader"})
    assert changed.status_code == 200
    assert (await client.get("/api/me")).json()["display_name"] == "Named Reader"


async def test_not_signed_in_is_401_problem(client: AsyncTestClient[Litestar]) -> None:
    for method, path in [("GET", "/api/me"), ("POST", "/api/auth/refresh"), ("POST", "/api/auth/sign-out")]:
        response = await client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401


async def test_sign_out_everywhere_makes_access_tokens_stale(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "tokens-out@example.com")
    token = (await client.post("/api/auth/token")).json()["access_token"]
    bearer = {"authorization": f"Bearer {token}"}
    client.cookies.clear()
    assert (await client.get("/api/me", headers=bearer)).status_code == 200
    await sign_in(client, "tokens-out@example.com")
    assert (await client.post("/api/auth/sign-out-everywhere")).status_code == 200
    client.cookies.clear()
    refused = await client.get("/api/me", headers=bearer)
    assert refused.status_code == 401
    assert "stale" in refused.json()["detail"]


def _session_cookies(response: Response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(f"{COOKIE}=")]


async def test_a_session_in_use_lives_on_and_an_idle_one_ends(client: AsyncTestClient[Litestar]) -> None:
    await sign_in(client, "regular@example.com")
    [started] = (await client.get("/api/me/sessions")).json()
    try:
        clock.set_offset(3 * DAY)  # early in its life: nothing to renew
        fresh = await client.post("/api/auth/token")
        assert fresh.status_code == 200 and _session_cookies(fresh) == []

        clock.set_offset(20 * DAY)  # past half its 30 days: reading gives it a whole life again
        renewed = await client.post("/api/auth/token")
        [cookie] = _session_cookies(renewed)
        assert int(SimpleCookie(cookie)[COOKIE]["max-age"]) == 30 * DAY
        assert SimpleCookie(cookie)[COOKIE].value == client.cookies[COOKIE]  # the same session, not rotated
        [kept] = (await client.get("/api/me/sessions")).json()
        assert kept["id"] == started["id"]
        moved = datetime.fromisoformat(kept["expires_at"]) - datetime.fromisoformat(started["expires_at"])
        assert moved.days == 20

        clock.set_offset(49 * DAY)  # 29 days after it was last used: still signed in
        assert (await client.get("/api/me")).status_code == 200
        clock.set_offset(51 * DAY)  # 31 days idle: over
        assert (await client.post("/api/auth/token")).status_code == 401
    finally:
        clock.set_offset(0)
