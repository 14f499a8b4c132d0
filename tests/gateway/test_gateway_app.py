"""The gateway app itself: health, home page, OpenAPI document, problem details and request ids."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from pydantic import ValidationError

from gateway.settings import Settings

Client = AsyncTestClient[Litestar]


def _is_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


async def test_live(gateway: Client) -> None:
    response = await gateway.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_once_membership_signing_keys_are_fetched(gateway: Client) -> None:
    response = await gateway.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"keys": "ok"}}


async def test_not_ready_while_the_keys_were_never_fetched(make_gateway: Any, closed_port_url: str) -> None:
    async with make_gateway(Settings(membership_url=closed_port_url)) as client:
        response = await client.get("/health/ready")
    body = _is_problem(response, 503)
    assert body["checks"]["keys"] == "membership's signing keys (JWKS) have not been fetched yet"


async def test_not_ready_when_membership_publishes_no_usable_key(make_gateway: Any, upstream: Any) -> None:
    # An answer alone is not readiness: an empty key set could check no token.
    async with make_gateway(Settings(membership_url=f"{upstream.url}/sick")) as client:
        response = await client.get("/health/ready")
    assert _is_problem(response, 503)["checks"]["keys"].endswith("not been fetched yet")


async def test_home_page_lists_the_stories_and_links_sign_in_docs_and_health(gateway: Client) -> None:
    response = await gateway.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert "Tollgate gateway" in page
    # The built-in sample stories, member-only ones marked as such.
    assert 'href="/stories/the-night-press"' in page and "Member-only" in page
    for href in ("/auth/sign-in", "/schema/swagger", "/health/ready"):
        assert f'href="{href}"' in page


async def test_openapi_document_lists_health_but_not_the_forward(gateway: Client) -> None:
    response = await gateway.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "Tollgate gateway"
    assert {"/health/live", "/health/ready", "/stories/{story_id}"} <= set(document["paths"])
    assert "402" in document["paths"]["/stories/{story_id}"]["get"]["responses"]
    prefixes = Settings().forwarded_prefixes
    assert not [path for path in document["paths"] if path.startswith(prefixes)]


async def test_swagger_ui_is_served(gateway: Client) -> None:
    response = await gateway.get("/schema/swagger")
    assert response.status_code == 200
    assert "swagger-ui" in response.text


async def test_unknown_path_is_a_problem(gateway: Client) -> None:
    response = await gateway.get("/no/such/page")
    body = _is_problem(response, 404)
    assert body["instance"] == "/no/such/page"


async def test_request_id_from_the_client_comes_back(gateway: Client) -> None:
    response = await gateway.get("/health/live", headers={"X-Request-ID": "client-trace.42"})
    assert response.headers.get_list("x-request-id") == ["client-trace.42"]


async def test_malformed_request_id_is_replaced(gateway: Client) -> None:
    response = await gateway.get("/health/live", headers={"X-Request-ID": "no spaces <allowed>"})
    request_id = response.headers["x-request-id"]
    assert request_id != "no spaces <allowed>"
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)


@pytest.mark.parametrize("prefix", ["/api", "api/", "/"])
def test_forwarded_prefixes_are_whole_segments(prefix: str) -> None:
    with pytest.raises(ValidationError):
        Settings(forwarded_prefixes=(prefix,))


def test_membership_url_loses_its_trailing_slash() -> None:
    assert Settings(membership_url="http://membership:8001/").membership_url == "http://membership:8001"


async def test_logs_are_json_lines_with_the_request_id(
    make_gateway: Any, settings: Settings, capfd: Any
) -> None:
    async with make_gateway(settings) as client:
        await client.get("/health/live", headers={"X-Request-ID": "json-log-check"})
    lines = [line for line in capfd.readouterr().err.splitlines() if "json-log-check" in line]
    assert lines
    access = json.loads(lines[-1])
    assert access["logger"] == "tollgate.access"
    assert access["request_id"] == "json-log-check"
    assert access["status"] == 200


async def test_forwarded_query_strings_stay_out_of_the_logs(
    make_gateway: Any, settings: Settings, capfd: Any
) -> None:
    # Sign-in links carry their token in the query; no log line may repeat it, even at DEBUG.
    debug = settings.model_copy(update={"log_level": "DEBUG", "log_format": "json"})
    async with make_gateway(debug) as client:
        await client.get("/api/echo?token=very-secret-sign-in-token", headers={"x-request-id": "query-check"})
    err = capfd.readouterr().err
    assert "query-check" in err  # the request was logged
    assert "very-secret-sign-in-token" not in err
