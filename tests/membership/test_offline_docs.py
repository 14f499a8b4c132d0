"""Membership's API explorer works without internet: nothing on the page comes from another host."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.api_docs import assert_explorer_is_self_contained


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger"])
async def test_explorer_loads_only_from_membership(client: AsyncTestClient[Litestar], page: str) -> None:
    await assert_explorer_is_self_contained(client, page)


async def test_the_openapi_document_stays(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.1")
