"""The gateway's API explorer works without internet: nothing on the page comes from another host."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.api_docs import assert_explorer_is_self_contained

Client = AsyncTestClient[Litestar]


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_explorer_loads_only_from_the_gateway(gateway: Client, page: str) -> None:
    await assert_explorer_is_self_contained(gateway, page)


async def test_only_the_explorers_files_are_served(gateway: Client) -> None:
    assert (await gateway.get("/schema/assets/swagger-ui.css")).status_code == 200
    # The package also holds the editor and an OAuth page; none of them is part of the explorer.
    for name in ("swagger-editor.js", "oauth2-redirect.html", "../__init__.py", "LICENSE"):
        response = await gateway.get(f"/schema/assets/{name}")
        assert response.status_code == 404, name
