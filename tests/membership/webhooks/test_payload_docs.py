"""The webhooks membership sends are in its OpenAPI document (3.1's `webhooks`): every event type,
each a POST whose JSON body is the envelope around that event's data."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from membership.webhooks.events import EventType


async def test_every_event_type_is_documented_with_its_payload(client: AsyncTestClient[Litestar]) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert set(document["webhooks"]) == {t.value for t in EventType}
    for name, item in document["webhooks"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body["required"] == ["type", "timestamp", "version", "data"], name
        assert "webhook-signature" in item["post"]["description"]
    state = document["webhooks"]["member.state_changed"]["post"]["requestBody"]["content"]
    data = state["application/json"]["schema"]["properties"]["data"]
    assert set(data["required"]) == {"reader_id", "email", "version", "entitlements"}
    assert data["properties"]["entitlements"]["items"]["required"] == ["key", "ends_at"]
