"""HTML stories (issue 17): the sanitiser's allow-list, the teaser cut at a block boundary, the
publisher's image hosts in the CSP, and a Ghost-style story with images through the real gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from gateway.settings import Settings
from gateway.stories.html import block_ends, html_with_teaser, image_allowed, sanitise
from gateway.stories.http_origin import HttpOrigin
from gateway.stories.origin import FileOrigin, StoryFileError, parse_story
from gateway.stories.pages import page_headers
from tests.gateway.cms import Cms, Reply
from tests.gateway.stack import Gateway, Membership, gateway_settings, running_gateway, unique_email
from tests.servers import serve

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")

HOSTS = ("https://images.example.com", "https://*.cdn.example.net")
SECRET = "Saffron-Lantern"

# What Ghost's Content API gives as a post's `html`: Koenig cards with classes, lazy images with a
# srcset, inline styles, and the teaser cut (the Tollgate marker, as the sync writes it).
GHOST_HTML = (Path(__file__).parent / "recorded" / "harbour-wall.html").read_text()
assert SECRET in GHOST_HTML


def story_document(body: str, *, access: str = "[pub:the-gazette]", fmt: str = "") -> str:
    return (
        "---\nid: the-harbour-wall\npublication: the-gazette\ntitle: The harbour wall\n"
        f"author: Ines Hart\npublished: 2026-03-04\naccess: {access}\n{fmt}---\n{body}"
    )


# The sanitiser ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "gone"),
    [
        ("<p>hi</p><script>alert(1)</script>", "alert"),
        ('<p>hi<img src="/a.png" onerror="alert(1)"></p>', "onerror"),
        ('<p style="color: red">hi</p>', "style"),
        ("<style>p { color: red }</style><p>hi</p>", "color"),
        ('<p><a href="javascript:alert(1)">hi</a></p>', "javascript"),
        ('<p><a href="JaVaScRiPt:alert(1)">hi</a></p>', "alert"),
        ('<p>hi<img src="data:image/png;base64,AAAA" alt="x"></p>', "data:"),
        ('<iframe src="https://evil.example"></iframe><p>hi</p>', "iframe"),
        ('<form action="/x"><input name="card"></form><p>hi</p>', "input"),
        ('<p onclick="steal()">hi</p>', "steal"),
        ('<p class="kg-card">hi</p>', "kg-card"),
        ("<p>hi</p><!-- an editor's note -->", "editor"),
    ],
)
def test_the_sanitiser_removes_what_could_run_or_restyle_the_page(dirty: str, gone: str) -> None:
    clean = sanitise(dirty)
    assert gone not in clean.lower()
    assert "hi" in clean


def test_the_sanitiser_keeps_the_allowed_markup() -> None:
    allowed = (
        "<h2>Head</h2><p><em>a</em> <strong>b</strong> <code>c</code><br></p><ul><li>one</li></ul>"
        "<ol><li>two</li></ol><blockquote><p>q</p></blockquote><pre><code>x = 1</code></pre><hr>"
        '<figure><img src="/images/a.png" alt="A" width="10" height="20">'
        "<figcaption>cap</figcaption></figure>"
        "<table><thead><tr><th>k</th></tr></thead><tbody><tr><td>v</td></tr></tbody></table>"
    )
    assert sanitise(allowed) == allowed


def test_links_keep_safe_urls_and_get_a_rel_that_shares_nothing() -> None:
    clean = sanitise(
        '<p><a href="https://example.com/x" target="_blank">x</a> <a href="mailto:a@b.c">m</a></p>'
    )
    assert clean == (
        '<p><a href="https://example.com/x" rel="noopener noreferrer nofollow">x</a> '
        '<a href="mailto:a@b.c" rel="noopener noreferrer nofollow">m</a></p>'
    )


def test_images_from_hosts_the_publisher_did_not_name_are_dropped_to_their_alt_text() -> None:
    html = (
        '<img src="https://images.example.com/a.jpg" alt="kept">'
        '<img src="https://a.cdn.example.net/b.jpg" alt="subdomain">'
        '<img src="https://cdn.example.net/c.jpg" alt="not a subdomain">'
        '<img src="https://evil.example.org/d.jpg" alt="foreign">'
        '<img src="http://images.example.com/e.jpg" alt="plain http">'
        '<img src="https://images.example.com:8443/f.jpg" alt="other port">'
        '<img src="/images/g.png" alt="own">'
    )
    clean = sanitise(f"<p>{html}</p>", HOSTS)
    assert clean == (
        '<p><img src="https://images.example.com/a.jpg" alt="kept">'
        '<img src="https://a.cdn.example.net/b.jpg" alt="subdomain">'
        '<img alt="not a subdomain"><img alt="foreign"><img alt="plain http"><img alt="other port">'
        '<img src="/images/g.png" alt="own"></p>'
    )
    assert not image_allowed("https://images.example.com.evil.org/x.jpg", HOSTS)


def test_a_srcset_keeps_only_the_candidates_on_allowed_hosts() -> None:
    srcset = "https://images.example.com/a.jpg 600w, https://evil.example.org/b.jpg 1000w, /c.png 2x"
    clean = sanitise(f'<img src="/c.png" srcset="{srcset}">', HOSTS)
    assert clean == '<img src="/c.png" srcset="https://images.example.com/a.jpg 600w, /c.png 2x">'
    assert (
        sanitise('<img src="/c.png" srcset="https://evil.example.org/b.jpg 2x">', HOSTS)
        == '<img src="/c.png">'
    )


def test_raw_html_in_markdown_is_still_shown_as_text() -> None:
    story = parse_story(story_document("Hello <script>alert(1)</script> there.\n"), "the-harbour-wall")
    assert "<script>" not in story.body_html
    assert "&lt;script&gt;" in story.body_html


def test_markdown_images_follow_the_same_image_hosts() -> None:
    body = "![kept](https://images.example.com/a.jpg) ![gone](https://evil.example.org/b.jpg)\n"
    story = parse_story(story_document(body), "the-harbour-wall", image_hosts=HOSTS)
    assert '<img src="https://images.example.com/a.jpg" alt="kept">' in story.body_html
    assert '<img alt="gone">' in story.body_html


# The teaser cut -----------------------------------------------------------------------------


def test_the_marker_cuts_between_blocks() -> None:
    body, teaser, from_marker = html_with_teaser("<p>one</p>\n<!-- more -->\n<p>two</p><p>three</p>")
    assert (teaser, from_marker) == ("<p>one</p>", True)
    assert body == "<p>one</p>\n\n<p>two</p><p>three</p>"


def test_a_marker_inside_a_block_cuts_after_that_block() -> None:
    body, teaser, from_marker = html_with_teaser(
        "<p>one</p><blockquote><p>two <!--more--> still two</p></blockquote><p>three</p>"
    )
    assert teaser == "<p>one</p><blockquote><p>two  still two</p></blockquote>"
    assert from_marker and body.startswith(teaser) and body.endswith("<p>three</p>")


def test_without_a_marker_the_teaser_is_the_first_two_blocks() -> None:
    html = '<figure><img src="/a.png" alt="A"></figure><p>one</p><h2>two</h2><p>three</p>'
    body, teaser, from_marker = html_with_teaser(html)
    assert (body, teaser, from_marker) == (
        html,
        '<figure><img src="/a.png" alt="A"></figure><p>one</p>',
        False,
    )


def test_a_story_of_two_blocks_teases_one_and_of_one_block_nothing() -> None:
    assert html_with_teaser("<p>one</p><p>two</p>")[1] == "<p>one</p>"
    assert html_with_teaser("<p>only</p>")[1] == ""
    # Bare text and inline elements at the top level are one block, ended by the next block.
    assert html_with_teaser("text <em>x</em> more<br>tail<hr><p>two</p>")[1] == "text <em>x</em> more<br>tail"
    # A rule is a boundary a marker may follow, not a block the usual cut counts.
    assert html_with_teaser("<p>one</p><hr><p>two</p><hr><p>three</p>")[1] == "<p>one</p><hr><p>two</p>"
    assert html_with_teaser("<p>one</p><hr><!-- more --><p>two</p>")[1] == "<p>one</p><hr>"


def test_a_marker_that_would_show_everything_falls_back_to_the_usual_cut() -> None:
    _, teaser, from_marker = html_with_teaser("<p>one</p><p>two</p><p>three <!-- more --></p>")
    assert (teaser, from_marker) == ("<p>one</p><p>two</p>", False)
    assert html_with_teaser("<p>only <!-- more --></p>")[1] == ""


def test_a_story_with_nothing_left_or_a_marker_first_is_refused() -> None:
    with pytest.raises(StoryFileError, match="no text"):
        parse_story(story_document("<script>alert(1)</script>", fmt="format: html\n"), "the-harbour-wall")
    with pytest.raises(StoryFileError, match="before any text"):
        parse_story(
            story_document("<!-- more --><p>one</p><p>two</p>", fmt="format: html\n"), "the-harbour-wall"
        )
    with pytest.raises(StoryFileError, match="'format'"):
        parse_story(story_document("<p>one</p>", fmt="format: docx\n"), "the-harbour-wall")


def test_block_ends_never_fall_inside_an_element() -> None:
    html = sanitise(GHOST_HTML, HOSTS).strip()
    ends, rules = block_ends(html)
    assert len(ends) == 6 and rules == []
    for end in ends:
        assert html[:end].count("<p>") == html[:end].count("</p>")
        assert html[:end].count("<figure>") == html[:end].count("</figure>")


# Settings and the CSP -----------------------------------------------------------------------


def test_image_hosts_are_read_comma_separated_and_named_in_the_csp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_IMAGE_HOSTS", "https://Images.Example.com/, https://*.cdn.example.net")
    hosts = Settings().image_hosts
    assert hosts == HOSTS
    csp = page_headers(hosts)["content-security-policy"]
    assert "img-src 'self' https://images.example.com https://*.cdn.example.net;" in csp
    assert "img-src 'self';" in page_headers()["content-security-policy"]


@pytest.mark.parametrize(
    "host",
    [
        "http://images.example.com",
        "https://images.example.com/content",
        "https://images.example.com:8443",
        "https://*.com",
        "https://images.*.example.com",
        "https://*",
        "images.example.com",
        "https://user@images.example.com",
    ],
)
def test_an_image_host_that_is_not_an_https_host_is_refused_with_the_reason(host: str) -> None:
    with pytest.raises(ValidationError, match="an image host is https://"):
        Settings(image_hosts=[host])


# Through the real gateway -------------------------------------------------------------------


def test_a_folder_serves_html_files_and_skips_an_id_with_both_kinds(tmp_path: Path) -> None:
    (tmp_path / "the-harbour-wall.html").write_text(story_document(GHOST_HTML))
    (tmp_path / "twice.md").write_text(story_document("One.\n").replace("the-harbour-wall", "twice"))
    (tmp_path / "twice.html").write_text(story_document("<p>One.</p>").replace("the-harbour-wall", "twice"))
    origin = FileOrigin(tmp_path, image_hosts=HOSTS)
    stories = asyncio.run(origin.stories())
    assert [s.id for s in stories] == ["the-harbour-wall"]
    assert asyncio.run(origin.story("twice")) is None


@pytest.fixture
async def gateway(membership: Membership, tmp_path: Path) -> AsyncIterator[Gateway]:
    folder = tmp_path / "stories"
    folder.mkdir()
    (folder / "the-harbour-wall.html").write_text(story_document(GHOST_HTML))
    settings = gateway_settings(membership.url, membership.api_key, folder, image_hosts=HOSTS)
    async with running_gateway(settings) as client:
        yield client


async def test_a_ghost_style_story_with_images_is_cut_for_a_stranger_and_whole_for_a_member(
    gateway: Gateway, membership: Membership
) -> None:
    anonymous = await gateway.get("/stories/the-harbour-wall")
    assert anonymous.status_code == 200
    assert (
        "img-src 'self' https://images.example.com https://*.cdn.example.net;"
        in (anonymous.headers["content-security-policy"])
    )
    page = anonymous.text
    assert (
        '<img src="https://images.example.com/content/images/2026/03/wall.jpg" alt="The harbour wall' in page
    )
    assert "srcset=" in page and "<figcaption>The wall at dawn.</figcaption>" in page
    assert SECRET not in page and "The repairs" not in page
    assert 'class="kg-' not in page and "style=" not in page.split("<article", 1)[-1].split("</article>")[0]

    email = unique_email("member")
    await membership.comp(email, "the-gazette")
    token = await membership.token_of(email)
    member = await gateway.get("/stories/the-harbour-wall", headers={"authorization": f"Bearer {token}"})
    assert SECRET in member.text and "<h2>The repairs</h2>" in member.text
    # The tracker's image is not on the publisher's hosts: only its alt text is left.
    assert "tracker.example.org" not in member.text
    assert '<img alt="A diagram of the wall">' in member.text


# The demo: a Ghost-style sample with an image the gateway serves itself ----------------------


@pytest.fixture
async def samples_gateway(membership: Membership) -> AsyncIterator[Gateway]:
    settings = gateway_settings(membership.url, membership.api_key, Path("samples"), story_origin="samples")
    async with running_gateway(settings) as client:
        yield client


async def test_the_sample_ghost_story_shows_its_own_image_within_the_csp(samples_gateway: Gateway) -> None:
    page = await samples_gateway.get("/stories/the-heron-at-the-weir")
    assert page.status_code == 200
    assert page.headers["tollgate-access"].startswith("teaser")
    assert "img-src 'self';" in page.headers["content-security-policy"]
    assert '<img src="/images/heron-at-the-weir.svg" alt="A grey heron' in page.text
    assert "The heron is not waiting for nothing" not in page.text
    image = await samples_gateway.get("/images/heron-at-the-weir.svg")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/svg+xml"
    assert image.headers["content-security-policy"].endswith("sandbox")
    assert image.content.startswith(b"<svg ")


async def test_only_image_files_of_the_images_folder_are_served(
    membership: Membership, tmp_path: Path
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for name in ("pier.png", "notes.txt", ".hidden.svg", "Pier.PNG"):
        (images / name).write_bytes(b"\x89PNG\r\n\x1a\n" + name.encode())
    (tmp_path / "secret.svg").write_text("<svg>outside the images folder</svg>")
    settings = gateway_settings(membership.url, membership.api_key, tmp_path)
    async with running_gateway(settings) as client:
        served = await client.get("/images/pier.png")
        assert served.status_code == 200 and served.headers["content-type"] == "image/png"
        assert served.content.endswith(b"pier.png")
        for name in ("notes.txt", ".hidden.svg", "Pier.PNG", "no-such.png", "..%2Fsecret.svg"):
            refused = await client.get(f"/images/{name}")
            assert refused.status_code == 404, name
            assert b"outside" not in refused.content and b"PNG" not in refused.content, name


async def test_the_publishers_cms_may_serve_html_stories_too() -> None:
    cms = Cms()
    cms.replies["/stories/the-harbour-wall.md"] = Reply(
        body=story_document(GHOST_HTML, fmt="format: html\n"), headers={"cache-control": "max-age=60"}
    )
    with serve(cms.app) as url:
        async with httpx.AsyncClient() as http:
            origin = HttpOrigin(url, http=http, image_hosts=HOSTS)
            story = await origin.story("the-harbour-wall")
    assert story is not None and story.teaser_from_marker
    assert '<img src="https://images.example.com/content/images/2026/03/wall.jpg"' in story.teaser_html
    assert SECRET not in story.teaser_html and SECRET in story.body_html
    assert "tracker.example.org" not in story.body_html and "kg-card" not in story.body_html
