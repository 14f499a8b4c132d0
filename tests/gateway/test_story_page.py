"""Story pages as a keyboard or screen-reader user meets them (issue 12, defect 6)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.gateway.stack import Gateway, Membership, gateway_settings, running_gateway, write_story

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
async def gateway(membership: Membership, tmp_path: Path) -> AsyncIterator[Gateway]:
    folder = tmp_path / "stories"
    folder.mkdir()
    write_story(folder, "open-day", "the-gazette", "public")
    async with running_gateway(gateway_settings(membership.url, membership.api_key, folder)) as client:
        yield client


async def test_a_story_page_starts_with_a_skip_link_to_its_content(gateway: Gateway) -> None:
    page = (await gateway.get("/stories/open-day", headers={"accept": "text/html"})).text
    link = re.search(r'<a class="skip-link" href="#([\w-]+)">Skip to the content</a>', page)
    assert link is not None
    # the link is the first thing in the body, and its target exists
    assert page.index(link.group(0)) < page.index('<header class="site">')
    assert f'id="{link.group(1)}"' in page
