"""The built-in sample stories against the demo's tiers: each tier opens what its description says."""

from __future__ import annotations

import asyncio

from gateway.stories.origin import DEFAULT_SAMPLES, FileOrigin
from membership.demo import PLATFORM_KEYS


def test_the_platform_membership_opens_every_member_only_sample_story() -> None:
    stories = asyncio.run(FileOrigin(DEFAULT_SAMPLES).stories())
    member_only = [s for s in stories if not s.is_public]
    assert {s.publication for s in member_only} == {"the-gazette", "field-notes"}
    shut = [s.id for s in member_only if not s.opened_by(frozenset(PLATFORM_KEYS))]
    assert shut == []


def test_each_publications_own_tier_opens_only_its_own_stories() -> None:
    stories = asyncio.run(FileOrigin(DEFAULT_SAMPLES).stories())
    for story in (s for s in stories if not s.is_public):
        assert story.opened_by({f"pub:{story.publication}"})
        others = {f"pub:{p}" for p in ("the-gazette", "field-notes")} - {f"pub:{story.publication}"}
        assert not story.opened_by(others)
