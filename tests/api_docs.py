"""One check for both services' API explorer: the page and everything it loads come from the service."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

# What each kind of asset must be served as, or the browser refuses it (nosniff) or shows nothing.
EXPECTED_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class _Links(HTMLParser):
    """Every src and href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [value for name, value in attrs if name in {"src", "href"} and value]


def links_of(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.links


async def assert_explorer_is_self_contained(client: Any, page_path: str) -> None:
    page = await client.get(page_path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    links = links_of(page.text)
    assert len(links) >= 3, links  # the script, the preset and the style at least
    for link in links:
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc and link.startswith("/"), (
            f"{link} is not on this service"
        )
        asset = await client.get(link)
        assert asset.status_code == 200, link
        suffix = link[link.rfind(".") :]
        assert asset.headers["content-type"].startswith(EXPECTED_TYPES[suffix]), (link, asset.headers)
