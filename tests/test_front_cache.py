"""The shipped nginx front (deploy/nginx/tollgate.conf) in front of two real gateways, over real HTTP.

Debian's nginx runs the templates rendered exactly as envsubst would (tests/nginx.py), the
internal membership server beside the front as on a host of one's own. Two gateways (uvicorn,
each on its own port) read the same stories and ask the real membership. What is checked:
anonymous story pages are kept (MISS, then HIT); a request with a token or one of Tollgate's
cookies is never answered from the cache nor stored in it (BYPASS), and its member-only text
never reaches an anonymous reader; member answers are `Cache-Control: private` with the right
Vary; both gateways get traffic, and when one stops, readers see no error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app as create_gateway
from tests.conftest import empty_tables
from tests.gateway.stack import (
    SECRET,
    Membership,
    gateway_settings,
    prepare_membership,
    running_membership,
    unique_email,
    write_story,
)
from tests.nginx import FRONT, MEMBERSHIP, Nginx, free_port, nginx_binary, servers, start_nginx
from tests.servers import bound_socket, serve

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@dataclass
class Front:
    url: str
    gateways: list[str]  # host:port of each gateway, as nginx's access log names them
    stops: list[ExitStack]  # closing one stops that gateway
    nginx: Nginx

    def upstreams(self, at_least: int) -> list[str]:
        """The gateways each request went to, from nginx's access log (written every second)."""
        return self.nginx.upstreams(at_least)


@pytest.fixture(scope="module")
async def membership(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Membership]:
    api_key = await prepare_membership(database_url)
    async with running_membership(database_url, tmp_path_factory.mktemp("membership"), api_key) as running:
        yield running
    await empty_tables(database_url)


@pytest.fixture
def stories(tmp_path: Path) -> Path:
    folder = tmp_path / "stories"
    folder.mkdir()
    write_story(folder, "open-day", "the-gazette", "public")
    for story in ("night-press", "late-edition", "early-edition", "morning-post"):
        write_story(folder, story, "the-gazette", "[pub:the-gazette]")
    return folder


def start_front(root: Path, gateways: list[str], membership: str) -> Nginx:
    """The shipped front in front of the gateways, and beside it the internal membership server
    (unused here: these gateways ask membership directly), as on a host of one's own."""
    port, internal = free_port(), free_port()
    (root / "cache").mkdir()
    front = {
        "TOLLGATE_LISTEN": f"127.0.0.1:{port}",
        "TOLLGATE_GATEWAYS": servers(gateways, "30s"),
        "TOLLGATE_RESOLVER": "#",
        "TOLLGATE_CACHE_PATH": str(root / "cache"),
        "TOLLGATE_ACCESS_LOG": str(root / "access.log"),
    }
    inside = {
        "TOLLGATE_MEMBERSHIP_LISTEN": f"127.0.0.1:{internal}",
        "TOLLGATE_MEMBERSHIPS": servers([membership.removeprefix("http://")], "30s"),
        "TOLLGATE_MEMBERSHIP_RESOLVER": "#",
        "TOLLGATE_ACCESS_LOG": str(root / "access.log"),
    }
    return start_nginx(root, {FRONT: front, MEMBERSHIP: inside}, [port, internal])


@pytest.fixture
def front(membership: Membership, stories: Path, tmp_path: Path) -> Iterator[Front]:
    nginx_binary()
    stops, gateways = [], []
    for _ in range(2):
        stack = ExitStack()
        sock = bound_socket()
        gateways.append(f"127.0.0.1:{sock.getsockname()[1]}")
        settings = gateway_settings(membership.url, membership.api_key, stories)
        stack.enter_context(serve(create_gateway(settings), sock=sock))
        stops.append(stack)
    root = tmp_path / "nginx"
    root.mkdir()
    try:
        nginx = start_front(root, gateways, membership.url)
        try:
            yield Front(nginx.url(), gateways, stops, nginx)
        finally:
            nginx.stop()
    finally:
        for stack in stops:
            stack.close()


@pytest.fixture
async def client(front: Front) -> AsyncIterator[httpx.AsyncClient]:
    async def forget_cookies(_: httpx.Response) -> None:
        http.cookies.clear()  # each request carries exactly the cookies the test gives it

    async with httpx.AsyncClient(
        base_url=front.url, timeout=20, event_hooks={"response": [forget_cookies]}
    ) as http:
        yield http


async def member_token(membership: Membership) -> str:
    email = unique_email("member")
    await membership.comp(email, "the-gazette")
    return await membership.token_of(email)


async def test_an_anonymous_teaser_and_a_public_story_are_kept(client: httpx.AsyncClient) -> None:
    for path in ("/stories/night-press", "/stories/open-day", "/"):
        first = await client.get(path)
        assert first.status_code == 200, first.text
        assert first.headers["x-cache-status"] == "MISS", path
        second = await client.get(path)
        assert second.headers["x-cache-status"] == "HIT", path
        assert second.content == first.content
    teaser = await client.get("/stories/night-press")
    assert teaser.headers["tollgate-access"] == 'teaser; reason="sign_in"'
    assert SECRET not in teaser.text
    assert teaser.headers["cache-control"] == "public, max-age=0, s-maxage=60"


async def test_a_member_is_never_served_from_the_cache_nor_stored_in_it(
    client: httpx.AsyncClient, membership: Membership
) -> None:
    token = await member_token(membership)
    # The anonymous teaser is in the cache ...
    assert (await client.get("/stories/night-press")).headers["x-cache-status"] == "MISS"
    assert (await client.get("/stories/night-press")).headers["x-cache-status"] == "HIT"
    # ... yet the member, by header or by cookie, gets the whole story from a gateway, privately.
    for headers in ({"authorization": f"Bearer {token}"}, {"cookie": f"tollgate_access={token}"}):
        for _ in range(2):
            member = await client.get("/stories/night-press", headers=headers)
            assert member.status_code == 200
            assert member.headers["x-cache-status"] == "BYPASS", headers
            assert member.headers["tollgate-access"] == 'full; reason="entitled"'
            assert SECRET in member.text
            assert member.headers["cache-control"].startswith("private")
            vary = {v.strip() for v in member.headers["vary"].split(",")}
            assert {"Authorization", "Cookie"} <= vary
    anonymous = await client.get("/stories/night-press")
    assert anonymous.headers["x-cache-status"] == "HIT" and SECRET not in anonymous.text

    # A member's read first, on a page nobody asked for yet: nothing of it is stored.
    first = await client.get("/stories/late-edition", headers={"authorization": f"Bearer {token}"})
    assert first.headers["x-cache-status"] == "BYPASS" and SECRET in first.text
    after = await client.get("/stories/late-edition")
    assert after.headers["x-cache-status"] == "MISS"
    assert SECRET not in after.text and after.headers["tollgate-access"].startswith("teaser")


async def test_a_session_or_any_tollgate_cookie_bypasses_the_cache(
    client: httpx.AsyncClient, membership: Membership
) -> None:
    session, _ = await membership.session_of(unique_email())
    cookies = [
        f"_ga=GA1.2; tollgate_session={session}",
        "tollgate_free_reads=1.x.y",
        "tollgate_offer=SPRING",
    ]
    for n, cookie in enumerate(cookies):
        path = "/stories/early-edition" if n == 0 else f"/stories/early-edition?n={n}"
        answer = await client.get(path, headers={"cookie": cookie})
        assert answer.status_code == 200
        assert answer.headers["x-cache-status"] == "BYPASS", cookie
        assert answer.headers["cache-control"].startswith("private"), cookie
        # Not stored: the next anonymous reader is the first to fill the cache.
        assert (await client.get(path)).headers["x-cache-status"] == "MISS", cookie
    # Someone else's cookie (analytics) is no reason to skip the cache; Vary keeps it apart.
    other = await client.get("/stories/early-edition", headers={"cookie": "_ga=GA1.2"})
    assert other.headers["x-cache-status"] in ("MISS", "HIT")
    assert other.headers["cache-control"].startswith("public")
    # The signed-in public page (it names the reader's account) is private too.
    public = await client.get("/stories/open-day", headers={"cookie": f"tollgate_session={session}"})
    assert public.headers["x-cache-status"] == "BYPASS"
    assert public.headers["cache-control"].startswith("private")


async def test_both_gateways_serve_and_one_can_stop_unnoticed(
    client: httpx.AsyncClient, front: Front, membership: Membership
) -> None:
    token = await member_token(membership)
    bearer = {"authorization": f"Bearer {token}"}
    for _ in range(10):
        answer = await client.get("/stories/morning-post", headers=bearer)
        assert answer.status_code == 200 and SECRET in answer.text
    served = front.upstreams(at_least=10)
    assert set(served) == set(front.gateways), served

    front.stops[0].close()  # the first gateway goes away
    before = len(served)
    for _ in range(10):
        answer = await client.get("/stories/morning-post", headers=bearer)
        assert answer.status_code == 200 and SECRET in answer.text
        assert (await client.get("/health/ready")).status_code == 200
    after = front.upstreams(at_least=before + 20)[before:]
    assert len(after) == 20, after
    # Every answer came from the second gateway in the end (the first try may name the dead one).
    assert all(entry.rsplit(", ", 1)[-1] == front.gateways[1] for entry in after), after
