"""The built-in sample stories against the demo's tiers: each tier opens what its description says;
and the imported publication's stories are as `gateway stories sync --from ghost` writes them."""

from __future__ import annotations

import asyncio

from gateway.stories.origin import DEFAULT_SAMPLES, FileOrigin, front_matter
from membership.demo import DEMO_AUTHORS, DEMO_PUBLICATIONS, IMPORTED, PLATFORM_KEYS


def test_the_platform_membership_opens_every_member_only_sample_story() -> None:
    stories = asyncio.run(FileOrigin(DEFAULT_SAMPLES).stories())
    member_only = [s for s in stories if not s.is_public]
    assert {s.publication for s in member_only} == set(DEMO_PUBLICATIONS)
    shut = [s.id for s in member_only if not s.opened_by(frozenset(PLATFORM_KEYS))]
    assert shut == []


def test_each_publications_own_tier_opens_only_its_own_stories() -> None:
    stories = asyncio.run(FileOrigin(DEFAULT_SAMPLES).stories())
    for story in (s for s in stories if not s.is_public):
        assert story.opened_by({f"pub:{story.publication}"})
        others = {f"pub:{p}" for p in DEMO_PUBLICATIONS} - {f"pub:{story.publication}"}
        assert not story.opened_by(others)


def test_the_imported_publications_stories_came_from_ghost() -> None:
    stories = asyncio.run(FileOrigin(DEFAULT_SAMPLES).stories(IMPORTED))
    assert len(stories) == 3
    for story in stories:
        # Ghost's HTML, in a file marked as the sync marks its own.
        meta, _ = front_matter((DEFAULT_SAMPLES / f"{story.id}.html").read_text(encoding="utf-8"))
        assert meta["imported_from"] == "ghost https://harbour-post.example", story.id
    authors = {str(a.id): a.name for a in DEMO_AUTHORS if a.publication == IMPORTED}
    assert {s.author_id for s in stories} == set(authors)
    assert all(authors[str(s.author_id)] == s.author for s in stories)

    assert [s.id for s in stories if s.is_public] == ["the-last-ferry-of-the-season"]
    member_only = [s for s in stories if not s.is_public]
    assert all(s.teaser_from_marker for s in member_only)
    # One shows an image the gateway serves itself, in the teaser, above the cut.
    wall = next(s for s in member_only if s.id == "the-harbour-wall")
    assert '<img src="/images/harbour-wall.svg"' in wall.teaser_html
    assert (DEFAULT_SAMPLES / "images" / "harbour-wall.svg").read_text().startswith("<svg ")
    assert "fourteen voids" in wall.body_html and "fourteen voids" not in wall.teaser_html
