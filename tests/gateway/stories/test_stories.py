"""The story origin: sample stories, the teaser cut on the server, escaping, bad files, ids, the cache."""

from __future__ import annotations

import html
import os
import re
from datetime import date
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.stories import DEFAULT_SAMPLES, FileOrigin, Story
from gateway.stories.origin import MARKER, parse_story

PARAGRAPH = re.compile(r"<p>.*?</p>", re.DOTALL)


def sample_files() -> list[Path]:
    return sorted(DEFAULT_SAMPLES.glob("*.md"))


def story_file(
    story_id: str = "a-story",
    *,
    access: str = "[pub:the-gazette]",
    body: str = "One.\n\nTwo.\n\nThree.\n",
    publication: str = "the-gazette",
) -> str:
    return (
        f"---\nid: {story_id}\npublication: {publication}\ntitle: A story\nauthor: A. Writer\n"
        f"published: 2026-05-01\naccess: {access}\n---\n{body}"
    )


def first_sentence_after_marker(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    found = MARKER.search(text)
    assert found is not None
    rest = text[found.end() :].strip()
    return rest.split(". ")[0].split("\n")[0]


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


async def test_every_sample_parses() -> None:
    files = sample_files() + sorted(DEFAULT_SAMPLES.glob("*.html"))
    stories = await FileOrigin(DEFAULT_SAMPLES).stories()
    assert sorted(s.id for s in stories) == sorted(p.stem for p in files)
    for story in stories:
        assert story.title and story.author
        assert story.body_html.startswith("<p>") or story.body_html.startswith("<h")
        assert story.teaser_html
        assert story.teaser_html != story.body_html
        assert 5 <= len(PARAGRAPH.findall(story.body_html)) <= 12, story.id


async def test_samples_cover_the_contract() -> None:
    stories = await FileOrigin(DEFAULT_SAMPLES).stories()
    assert len(stories) >= 10
    assert {s.publication for s in stories} == {"the-gazette", "field-notes", "harbour-post"}
    members_only = [s for s in stories if not s.is_public]
    assert len(members_only) >= 6
    assert len(stories) - len(members_only) >= 1
    key_sets = {s.keys for s in members_only}
    # The platform membership opens every member-only sample (the demo's "every publication" tier).
    assert all("member" in s.keys for s in members_only)
    assert ("member", "pub:the-gazette") in key_sets
    assert ("member", "pub:field-notes") in key_sets
    assert sum(s.teaser_from_marker for s in stories) >= 2
    assert sum(not s.teaser_from_marker for s in stories) >= 2


async def test_stories_filter_by_publication_newest_first() -> None:
    origin = FileOrigin(DEFAULT_SAMPLES)
    gazette = await origin.stories("the-gazette")
    assert gazette
    assert all(s.publication == "the-gazette" for s in gazette)
    assert [s.published for s in gazette] == sorted((s.published for s in gazette), reverse=True)
    assert await origin.stories("no-such-publication") == []


async def test_story_by_id() -> None:
    origin = FileOrigin(DEFAULT_SAMPLES)
    story = await origin.story("the-river-in-march")
    assert isinstance(story, Story)
    assert story.publication == "field-notes"
    assert story.published == date(2026, 3, 4)
    assert story.keys == ("member", "pub:field-notes")
    assert story.opened_by(frozenset({"member"}))
    assert story.opened_by(frozenset({"pub:field-notes"}))
    assert not story.opened_by(frozenset({"pub:the-gazette"}))
    assert await origin.story("no-such-story") is None


def test_public_story_is_opened_by_nothing() -> None:
    story = parse_story(story_file(access="public"), "a-story")
    assert story.is_public
    assert story.keys == ()
    assert story.opened_by(frozenset())


@pytest.mark.parametrize("path", [p for p in sample_files() if MARKER.search(p.read_text(encoding="utf-8"))])
async def test_teaser_stops_at_the_marker(path: Path) -> None:
    story = await FileOrigin(DEFAULT_SAMPLES).story(path.stem)
    assert story is not None
    assert story.teaser_from_marker
    sentence = first_sentence_after_marker(path)
    assert len(sentence) > 20
    assert sentence not in text_of(story.teaser_html)
    assert sentence in text_of(story.body_html)
    assert "more --" not in story.body_html
    assert story.body_html.startswith(story.teaser_html)


@pytest.mark.parametrize(
    "path", [p for p in sample_files() if not MARKER.search(p.read_text(encoding="utf-8"))]
)
async def test_teaser_without_marker_is_the_first_two_paragraphs(path: Path) -> None:
    story = await FileOrigin(DEFAULT_SAMPLES).story(path.stem)
    assert story is not None
    assert not story.teaser_from_marker
    paragraphs = PARAGRAPH.findall(story.body_html)
    assert PARAGRAPH.findall(story.teaser_html) == paragraphs[:2]
    assert story.teaser_html == "\n".join(paragraphs[:2]) + "\n"
    assert text_of(paragraphs[2]) not in text_of(story.teaser_html)


def test_short_stories_never_tease_the_whole_text() -> None:
    two = parse_story(story_file(body="First.\n\nSecond.\n"), "a-story")
    assert two.teaser_html == "<p>First.</p>\n"
    one = parse_story(story_file(body="Only.\n"), "a-story")
    assert one.teaser_html == ""
    assert "Only." in one.body_html


def test_raw_html_is_escaped_not_rendered() -> None:
    body = (
        "Hello <script>alert('x')</script> there.\n\n"
        "<script>steal()</script>\n\n"
        '<img src=x onerror="alert(1)">\n\n'
        "[click](javascript:alert(1))\n\n<!-- more -->\n\nAfter.\n"
    )
    story = parse_story(story_file(body=body), "a-story")
    for fragment in (story.body_html, story.teaser_html):
        assert "<script" not in fragment
        assert "<img" not in fragment
        assert 'href="javascript' not in fragment
    assert "&lt;script&gt;" in story.body_html
    assert "&lt;script&gt;" in story.teaser_html
    assert "After." in story.body_html
    assert "After." not in story.teaser_html


@pytest.mark.parametrize(
    "text",
    [
        "no front matter at all\n",
        "---\nid: [unclosed\n---\nText.\n",
        "---\n- a list\n---\nText.\n",
        story_file().replace("access: [pub:the-gazette]\n", ""),
        story_file(access="everyone"),
        story_file(access="[]"),
        story_file(access="['Bad Key']"),
        story_file(publication="The Gazette"),
        story_file().replace("published: 2026-05-01", "published: someday"),
        story_file().replace("title: A story", "title: ''"),
        story_file(story_id="another-id"),
        story_file(body="\n\n"),
        story_file(body="<!-- more -->\n\nAll of it.\n"),
    ],
)
async def test_bad_file_is_skipped_and_others_still_load(tmp_path: Path, text: str) -> None:
    (tmp_path / "a-story.md").write_text(text, encoding="utf-8")
    (tmp_path / "good-story.md").write_text(story_file("good-story"), encoding="utf-8")
    origin = FileOrigin(tmp_path)
    with capture_logs() as logs:
        stories = await origin.stories()
        assert await origin.story("a-story") is None
    assert [s.id for s in stories] == ["good-story"]
    assert any(e["event"] == "story_file_skipped" and e["log_level"] == "warning" for e in logs)


async def test_non_utf8_file_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "a-story.md").write_bytes(b"---\xff\xfe\n")
    assert await FileOrigin(tmp_path).story("a-story") is None


async def test_missing_folder_gives_no_stories(tmp_path: Path) -> None:
    origin = FileOrigin(tmp_path / "nowhere")
    assert await origin.stories() == []
    assert await origin.story("a-story") is None


@pytest.mark.parametrize(
    "story_id",
    [
        "../secrets",
        "Foo",
        "a/b",
        "",
        "-leading",
        ".hidden",
        "a\\b",
        "a%2Fb",
        "a" * 101,
        "a.md",
        "é",
        "a\x00b",
        "trailing\n",
    ],
)
async def test_ids_that_are_not_slugs_touch_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, story_id: str
) -> None:
    folder = tmp_path / "stories"
    folder.mkdir()
    (tmp_path / "secrets.md").write_text(story_file("secrets"), encoding="utf-8")
    origin = FileOrigin(folder)
    touched: list[str] = []
    real_stat = Path.stat

    def spy(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        touched.append(str(self))
        return real_stat(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "stat", spy)
    assert await origin.story(story_id) is None
    assert touched == []


async def test_cache_picks_up_an_edited_file(tmp_path: Path) -> None:
    path = tmp_path / "a-story.md"
    path.write_text(story_file(body="Old words.\n"), encoding="utf-8")
    now = [100.0]
    origin = FileOrigin(tmp_path, recheck_seconds=1.0, clock=lambda: now[0])
    first = await origin.story("a-story")
    assert first is not None
    assert "Old words." in first.body_html
    assert await origin.story("a-story") is first

    path.write_text(story_file(body="New words.\n", access="public"), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    # Within the recheck window the file is not looked at again; after it, the edit is seen.
    now[0] += 0.5
    assert await origin.story("a-story") is first
    now[0] += 1.0
    second = await origin.story("a-story")
    assert second is not None
    assert "New words." in second.body_html
    assert second.is_public
    assert [s.body_html for s in await origin.stories()] == [second.body_html]


async def test_deleted_and_added_files_are_noticed(tmp_path: Path) -> None:
    (tmp_path / "a-story.md").write_text(story_file(), encoding="utf-8")
    origin = FileOrigin(tmp_path)
    assert [s.id for s in await origin.stories()] == ["a-story"]
    (tmp_path / "a-story.md").unlink()
    (tmp_path / "b-story.md").write_text(story_file("b-story"), encoding="utf-8")
    assert [s.id for s in await origin.stories()] == ["b-story"]
    assert await origin.story("a-story") is None


async def test_sample_authors_are_the_demo_readers_so_they_can_make_friend_links() -> None:
    from membership.demo import DEMO_AUTHORS

    authors = {str(author.id): author.name for author in DEMO_AUTHORS}
    stories = await FileOrigin(DEFAULT_SAMPLES).stories()
    assert {story.author_id for story in stories} == set(authors)
    assert all(authors[story.author_id] == story.author for story in stories if story.author_id)
