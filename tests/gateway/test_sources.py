"""Bringing stories from Ghost, WordPress and a folder (issue 17): `gateway stories sync` against
recorded answers of each API (tests/gateway/recorded/, written from the APIs' documented shapes),
served over real HTTP by a stand-in site; then the gateway's own origin reads what it wrote."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner, Result
from litestar import Litestar, Request, Response, get

from gateway.stories.origin import FileOrigin, front_matter
from gateway.stories.sources.command import stories
from gateway.stories.sources.ghost import admin_token
from tests.servers import serve

RECORDED = Path(__file__).parent / "recorded"
CONTENT_KEY = "22444f78447824223cefc48062"
ADMIN_ID = "6601a2b3c4d5e6f700000abc"
ADMIN_SECRET = "9f" * 32
ADMIN_KEY = f"{ADMIN_ID}:{ADMIN_SECRET}"
SECRETS = ("Saffron-Lantern", "Pomegranate-Lighthouse")
"""Words that stand only past the teaser of every member-only recorded story."""
NOT_AN_ID = "the slug is not a story id (lower-case letters, digits and hyphens, at most 100)"


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


@dataclass
class Site:
    """The stand-in Ghost and WordPress site: what it answers, and every query it was asked."""

    url: str = ""
    ghost_admin: dict[str, Any] = field(default_factory=lambda: recorded("ghost-admin-posts.json"))
    asked: list[tuple[str, dict[str, str]]] = field(default_factory=list)


def ghost_error(status: int, message: str) -> Response[dict[str, Any]]:
    error = {"message": message, "context": None, "type": "UnauthorizedError", "code": None, "id": "e1"}
    return Response({"errors": [error]}, status_code=status)


def site_app(site: Site) -> Litestar:
    def seen(request: Request[Any, Any, Any]) -> dict[str, str]:
        query = dict(request.query_params)
        site.asked.append((request.url.path, query))
        return query

    @get("/ghost/api/content/posts/")
    async def content_posts(request: Request[Any, Any, Any]) -> Response[Any]:
        query = seen(request)
        if query.get("key") != CONTENT_KEY:
            return ghost_error(401, "Unknown Content API Key")
        return Response(recorded(f"ghost-content-posts-{query.get('page', '1')}.json"))

    @get("/ghost/api/admin/posts/")
    async def admin_posts(request: Request[Any, Any, Any]) -> Response[Any]:
        seen(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            assert scheme == "Ghost" and jwt.get_unverified_header(token)["kid"] == ADMIN_ID
            jwt.decode(token, bytes.fromhex(ADMIN_SECRET), algorithms=["HS256"], audience="/admin/")
        except (AssertionError, KeyError, jwt.PyJWTError):
            return ghost_error(401, "Invalid token")
        return Response(site.ghost_admin)

    @get("/wp-json/wp/v2/posts")
    async def wordpress_posts(request: Request[Any, Any, Any]) -> Response[Any]:
        query = seen(request)
        posts = recorded(f"wordpress-posts-{query.get('page', '1')}.json")
        return Response(posts, headers={"x-wp-total": "5", "x-wp-totalpages": "2"})

    @get("/odd/ghost/api/admin/posts/")
    async def odd_ghost(request: Request[Any, Any, Any]) -> Response[Any]:
        # Fields of the wrong kind: each post is skipped for what it lacks, none crashes the sync.
        posts: list[Any] = [
            "not a post",
            {"slug": "a", "visibility": "members", "html": "<p>x</p>", "primary_author": "Ines"},
            {"slug": "b", "visibility": "tiers", "tiers": "gold", "html": "<p>x</p>"},
            {"slug": "c", "visibility": ["public"], "html": "<p>x</p>"},
            {"slug": ["d"], "visibility": "public", "html": {"text": "x"}},
            {"slug": "e", "visibility": "paid", "html": "<p>x</p>", "authors": [{"name": "Tom"}]},
        ]
        return Response({"posts": posts, "meta": {"pagination": "none"}})

    @get("/broken/ghost/api/admin/posts/")
    async def broken_ghost(request: Request[Any, Any, Any]) -> Response[Any]:
        return Response({"posts": {"slug": "a"}})

    @get("/broken/wp-json/wp/v2/posts")
    async def broken_wordpress(request: Request[Any, Any, Any]) -> Response[Any]:
        return Response("<html>Maintenance</html>", media_type="text/html")

    return Litestar([content_posts, admin_posts, wordpress_posts, odd_ghost, broken_ghost, broken_wordpress])


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    state = Site()
    with serve(site_app(state)) as url:
        state.url = url
        yield state


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """`gateway stories sync` with these arguments, in this process."""
    return CliRunner().invoke(stories, ["sync", *args], env=env)


def ghost_sync(site: Site, into: Path, *more: str, key: str = ADMIN_KEY) -> Result:
    env = {"TOLLGATE_GHOST_ADMIN_KEY": key} if ":" in key else {"TOLLGATE_GHOST_CONTENT_KEY": key}
    where = ["--url", site.url, "--publication", "harbour-light", "--into", str(into)]
    return run("--from", "ghost", *where, *more, env=env)


def meta_of(path: Path) -> dict[str, Any]:
    return front_matter(path.read_text(encoding="utf-8"))[0]


def lines(result: Result) -> list[str]:
    return result.output.splitlines()


def said(output: str) -> str:
    """An error as one line: rich-click draws it in a box, wrapped to the terminal."""
    return " ".join(output.replace("│", " ").split())


# Ghost ----------------------------------------------------------------------------------------


def test_ghost_through_the_admin_api_maps_visibility_to_access_and_cuts_at_the_paywall_card(
    site: Site, tmp_path: Path
) -> None:
    result = ghost_sync(site, tmp_path)
    assert result.exit_code == 0, result.output
    assert lines(result) == [
        "created   the-harbour-wall",
        "created   tide-tables",
        "created   ferry-changes",
        "created   storm-of-1953",
        f"skipped   Fish-Market: {NOT_AN_ID}",
        "skipped   gold-only-draft-tier: visibility 'tiers' names no tier with a usable slug: []",
        f"ghost {site.url} -> {tmp_path}: 4 created, 0 updated, 0 unchanged, 2 skipped, 0 kept, 0 removed",
    ]
    access = {path.stem: meta_of(path)["access"] for path in tmp_path.glob("*.html")}
    assert access == {
        "the-harbour-wall": ["member", "pub:harbour-light"],
        "tide-tables": "public",
        "ferry-changes": ["pub:harbour-light"],
        "storm-of-1953": ["pub:harbour-light:gold"],
    }
    wall = meta_of(tmp_path / "the-harbour-wall.html")
    assert wall["author"] == "Ines Hart" and str(wall["published"]) == "2026-03-04"
    assert wall["imported_from"] == f"ghost {site.url}"
    # The admin token went with every request, and the sync asked for published posts in HTML.
    path, query = site.asked[-1]
    assert path.rstrip("/") == "/ghost/api/admin/posts"
    assert query["formats"] == "html" and query["filter"] == "status:published"

    # The gateway's own origin serves what the sync wrote: the teaser stops at Ghost's paywall card.
    origin = FileOrigin(tmp_path, image_hosts=("https://images.harbour.example.com",))
    story = asyncio.run(origin.story("the-harbour-wall"))
    assert story is not None and story.teaser_from_marker
    assert (
        '<img src="https://images.harbour.example.com/content/images/2026/03/wall.jpg"' in story.teaser_html
    )
    assert SECRETS[0] not in story.teaser_html and SECRETS[0] in story.body_html
    assert "ads.example.net" not in story.body_html and "track()" not in story.body_html


def test_a_second_ghost_sync_changes_nothing(site: Site, tmp_path: Path) -> None:
    assert ghost_sync(site, tmp_path).exit_code == 0
    before = {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in tmp_path.iterdir()}
    again = ghost_sync(site, tmp_path)
    assert again.output.count("unchanged ") == 4
    assert "0 created, 0 updated, 4 unchanged, 2 skipped" in again.output
    assert {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in tmp_path.iterdir()} == before


def test_a_story_gone_upstream_is_kept_and_reported_unless_pruned(site: Site, tmp_path: Path) -> None:
    assert ghost_sync(site, tmp_path).exit_code == 0
    (tmp_path / "by-hand.md").write_text(
        "---\npublication: harbour-light\ntitle: By hand\nauthor: Ed\npublished: 2026-03-01\n"
        "access: public\n---\nWritten here.\n"
    )
    everything = site.ghost_admin
    site.ghost_admin = {**everything, "posts": everything["posts"][1:]}
    try:
        kept = ghost_sync(site, tmp_path)
        assert (
            f"kept      the-harbour-wall: gone from ghost {site.url}; sync with --prune to remove it"
            in lines(kept)
        )
        assert (tmp_path / "the-harbour-wall.html").exists()
        pruned = ghost_sync(site, tmp_path, "--prune")
        assert f"removed   the-harbour-wall: gone from ghost {site.url}" in lines(pruned)
        assert not (tmp_path / "the-harbour-wall.html").exists()
        # A story the sync did not write is never touched.
        assert (tmp_path / "by-hand.md").exists() and "by-hand" not in pruned.output
    finally:
        site.ghost_admin = everything


def test_a_story_written_by_hand_with_the_same_id_is_not_overwritten(site: Site, tmp_path: Path) -> None:
    mine = (
        "---\npublication: harbour-light\ntitle: Mine\nauthor: Ed\npublished: 2026-03-01\n"
        "access: public\n---\nMy own tide tables.\n"
    )
    (tmp_path / "tide-tables.md").write_text(mine)
    result = ghost_sync(site, tmp_path)
    assert "skipped   tide-tables: tide-tables.md is already there, not imported from ghost" in result.output
    assert (tmp_path / "tide-tables.md").read_text() == mine and not (tmp_path / "tide-tables.html").exists()


def test_ghost_through_the_content_api_takes_the_public_posts_over_every_page(
    site: Site, tmp_path: Path
) -> None:
    site.asked.clear()
    result = ghost_sync(site, tmp_path, key=CONTENT_KEY)
    assert result.exit_code == 0, result.output
    gated = (
        "Ghost's Content API gives at most the public preview of a members-only post: "
        "sync with an Admin API key"
    )
    assert lines(result)[:5] == [
        f"skipped   the-harbour-wall: {gated}",
        "created   tide-tables",
        f"skipped   ferry-changes: {gated}",
        f"skipped   storm-of-1953: {gated}",
        f"skipped   Fish-Market: {NOT_AN_ID}",
    ]
    assert [query["page"] for _, query in site.asked] == ["1", "2"]
    assert all(query["key"] == CONTENT_KEY and query["formats"] == "html" for _, query in site.asked)
    assert [path.name for path in tmp_path.iterdir()] == ["tide-tables.html"]


def test_ghost_refusing_the_key_is_one_sentence_and_writes_nothing(site: Site, tmp_path: Path) -> None:
    refused = ghost_sync(site, tmp_path, key="wrong")
    assert refused.exit_code == 1
    assert "Ghost answered 401 for" in said(refused.output)
    assert "Unknown Content API Key" in said(refused.output)
    assert list(tmp_path.iterdir()) == []
    malformed = ghost_sync(site, tmp_path, key="not:a-key")
    assert malformed.exit_code == 1
    assert "a Ghost Admin API key is '<24 hex digits>:<64 hex digits>'" in said(malformed.output)


def test_answers_of_the_wrong_shape_are_skipped_or_refused_in_one_sentence(
    site: Site, tmp_path: Path
) -> None:
    odd = ghost_sync(Site(url=f"{site.url}/odd"), tmp_path)
    assert odd.exit_code == 0, odd.output
    assert lines(odd)[:-1] == [
        "skipped   a: the post has no author",
        "skipped   b: visibility 'tiers' names no tier with a usable slug: []",
        "skipped   c: visibility ['public'] is not public, members, paid or tiers",
        "skipped   (no slug): the post has no html",
        "skipped   e: the post has no published_at",
    ]
    assert lines(odd)[-1].endswith("0 created, 0 updated, 0 unchanged, 5 skipped, 0 kept, 0 removed")
    broken = ghost_sync(Site(url=f"{site.url}/broken"), tmp_path)
    assert broken.exit_code == 1 and "has no 'posts' list" in said(broken.output)
    wordpress = wordpress_sync(Site(url=f"{site.url}/broken"), tmp_path)
    assert wordpress.exit_code == 1 and "WordPress did not answer JSON for" in said(wordpress.output)
    assert list(tmp_path.iterdir()) == []


def test_the_admin_token_is_what_ghost_asks_for() -> None:
    token = admin_token(ADMIN_KEY, now=1_700_000_000)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": ADMIN_ID, "typ": "JWT"}
    claims = jwt.decode(
        token,
        bytes.fromhex(ADMIN_SECRET),
        algorithms=["HS256"],
        audience="/admin/",
        options={"verify_exp": False},
    )
    assert claims == {"iat": 1_700_000_000, "exp": 1_700_000_300, "aud": "/admin/"}


# WordPress ------------------------------------------------------------------------------------


def wordpress_sync(site: Site, into: Path, *more: str) -> Result:
    return run(
        "--from", "wordpress", "--url", site.url, "--publication", "the-gazette", "--into", str(into), *more
    )


def test_wordpress_takes_access_from_terms_over_every_page(site: Site, tmp_path: Path) -> None:
    site.asked.clear()
    result = wordpress_sync(site, tmp_path)
    assert result.exit_code == 0, result.output
    assert lines(result)[:5] == [
        "created   library-late-hours",
        "created   reading-garden",
        "created   the-budget",
        "skipped   staff-only-notes: the post is password-protected in WordPress",
        "skipped   weekly-quiz: no access: the post is under none of the terms 'public', 'members' or 'paid' "
        "(or sync with --untagged)",
    ]
    assert [(path, query["page"], query["_embed"]) for path, query in site.asked] == [
        ("/wp-json/wp/v2/posts", "1", "1"),
        ("/wp-json/wp/v2/posts", "2", "1"),
    ]
    library = meta_of(tmp_path / "library-late-hours.html")
    assert library["title"] == "The library\u2019s late hours & what they cost"
    assert library["author"] == "Clara Vos" and library["access"] == ["member", "pub:the-gazette"]
    assert meta_of(tmp_path / "reading-garden.html")["access"] == "public"
    # Under both the members category and the paid tag: the stricter wins.
    assert meta_of(tmp_path / "the-budget.html")["access"] == ["pub:the-gazette"]

    story = asyncio.run(FileOrigin(tmp_path).story("library-late-hours"))
    assert story is not None and story.teaser_from_marker
    assert "The council approved the change" in story.teaser_html and SECRETS[1] not in story.teaser_html
    assert SECRETS[1] in story.body_html and 'id="more-41"' not in story.body_html
    # No image host named: the uploads are dropped, their alt text kept.
    assert '<img width="1024" height="683" sizes="(max-width: 1024px) 100vw, 1024px" alt="The library' in (
        story.body_html
    )


def test_wordpress_terms_and_the_untagged_access_can_be_renamed(site: Site, tmp_path: Path) -> None:
    result = wordpress_sync(site, tmp_path, "--members-term", "council", "--untagged", "members")
    assert result.exit_code == 0, result.output
    assert meta_of(tmp_path / "weekly-quiz.html")["access"] == ["member", "pub:the-gazette"]
    assert meta_of(tmp_path / "reading-garden.html")["access"] == "public"
    bad = wordpress_sync(site, tmp_path, "--untagged", "Everyone!")
    assert bad.exit_code == 2
    assert "'Everyone!' is not public, members, paid or a comma-separated list" in said(bad.output)


# A folder -------------------------------------------------------------------------------------


def test_a_folder_of_exported_files_maps_its_words_and_keeps_its_language(tmp_path: Path) -> None:
    export, into = tmp_path / "export", tmp_path / "stories"
    export.mkdir()
    (export / "night-ferry.md").write_text(
        "---\ntitle: The night ferry\nauthor: Ines Hart\ndate: 2026-03-04T21:00:00+01:00\n"
        "visibility: members\n---\nThe last boat leaves at eleven.\n\n<!-- more -->\n\nSaffron-Lantern.\n"
    )
    (export / "quay-lights.htm").write_text(
        "---\nslug: quay-lights\ntitle: Quay lights\nauthor: Tom Reyes\npublished: 2026-03-01\n"
        "access: [pub:harbour-light:gold]\n---\n<p>New lamps.</p><p>Brighter.</p><p>Saffron-Lantern.</p>\n"
    )
    (export / "no-access.md").write_text("---\ntitle: X\nauthor: Y\ndate: 2026-03-01\n---\nText.\n")
    (export / "Old Post.md").write_text(
        "---\ntitle: X\nauthor: Y\ndate: 2026-03-01\naccess: public\n---\nText.\n"
    )
    (export / "untitled.md").write_text("---\nauthor: Y\ndate: 2026-03-01\naccess: paid\n---\nText.\n")
    (export / "notes.txt").write_text("not a story")
    folder_sync = ("--from", "folder", "--path", str(export), "--publication", "harbour-light")
    result = run(*folder_sync, "--into", str(into))
    assert result.exit_code == 0, result.output
    assert lines(result)[:5] == [
        f"skipped   Old Post: {NOT_AN_ID}",
        "created   night-ferry",
        "skipped   no-access: no-access.md says no access (public, members, paid or a list of keys)",
        "created   quay-lights",
        "skipped   untitled: 'title' must be non-empty text",
    ]
    assert sorted(path.name for path in into.iterdir()) == ["night-ferry.md", "quay-lights.html"]
    ferry = meta_of(into / "night-ferry.md")
    assert ferry["access"] == ["member", "pub:harbour-light"] and str(ferry["published"]) == "2026-03-04"
    assert meta_of(into / "quay-lights.html")["access"] == ["pub:harbour-light:gold"]
    served = asyncio.run(FileOrigin(into).stories())
    assert {story.id: SECRETS[0] in story.teaser_html for story in served} == {
        "night-ferry": False,
        "quay-lights": False,
    }
    again = run(*folder_sync, "--into", str(into))
    assert "0 created, 0 updated, 2 unchanged, 3 skipped" in again.output


def test_the_gateway_command_runs_the_sync_and_says_what_is_missing(tmp_path: Path) -> None:
    gateway = str(Path(sys.executable).with_name("gateway"))
    export = tmp_path / "export"
    export.mkdir()
    (export / "one.md").write_text(
        "---\ntitle: One\nauthor: A\ndate: 2026-03-01\naccess: public\n---\nText.\n"
    )
    args = ["stories", "sync", "--from", "folder", "--path", str(export), "--publication", "field-notes"]
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_STORY_ORIGIN": str(tmp_path / "stories")}
    done = subprocess.run([gateway, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "1 created" in done.stdout and (tmp_path / "stories" / "one.md").exists()
    nowhere = subprocess.run(
        [gateway, *args], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=120
    )
    assert nowhere.returncode == 2 and "name the stories folder with --into" in said(nowhere.stderr)
