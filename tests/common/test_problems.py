"""Problem details on Litestar's plugin: every error, ours or Litestar's, answers RFC 9457 the same way."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from litestar import Controller, Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.params import JSONBody
from litestar.testing import TestClient

from tollgate_common.logging import configure_logging
from tollgate_common.problems import Conflict, Problems, TollgateError, TooManyRequests, exception_handlers


class Body(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    count: int


class Teapot(TollgateError):
    status_code = 418
    title = "No coffee here"


@get("/conflict")
async def conflict() -> None:
    raise Conflict("That name is taken.", extra={"field": "name"})


@get("/limited")
async def limited() -> None:
    raise TooManyRequests("Slow down.", retry_after=30)


@get("/teapot")
async def teapot() -> None:
    raise Teapot("Ask for tea.")


@post("/things", request_max_body_size=64)
async def make_thing(data: JSONBody[Body]) -> dict[str, str]:
    return {"name": data.name}


@get("/crash")
async def crash() -> None:
    raise RuntimeError("password=hunter2 at /srv/secret.py line 7")


def page(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    return Response(f"page for {type(exc).__name__}", status_code=400, media_type="text/html")


class Pages(Controller):
    """A layer with its own handlers, as the membership web wing has."""

    path = "/pages"
    exception_handlers = {TollgateError: page, HTTPException: page, Exception: page}

    @post("/form")
    async def form(self, data: JSONBody[Body]) -> None:
        return None


def problem_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    return body


@pytest.fixture
def client() -> Any:
    app = Litestar([conflict, limited, teapot, make_thing, crash, Pages], plugins=[Problems()], debug=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_our_errors_keep_status_title_detail_headers_and_extra_fields(client: TestClient[Litestar]) -> None:
    assert problem_of(client.get("/conflict"), 409) == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "That name is taken.",
        "instance": "/conflict",
        "field": "name",
    }
    limited = client.get("/limited")
    assert problem_of(limited, 429)["retry_after"] == 30
    assert limited.headers["retry-after"] == "30"
    assert problem_of(client.get("/teapot"), 418)["title"] == "No coffee here"


def test_validation_errors_name_the_bad_fields(client: TestClient[Litestar]) -> None:
    body = problem_of(client.post("/things", json={"name": "x", "count": "many"}), 400)
    assert body["title"] == "Bad Request"
    assert body["detail"].startswith("The request is not valid: ") and "count" in body["detail"]
    assert [error["key"] for error in body["errors"]] == ["count"]


def test_unknown_routes_methods_and_big_bodies(client: TestClient[Litestar]) -> None:
    assert problem_of(client.get("/nowhere"), 404)["instance"] == "/nowhere"
    assert problem_of(client.delete("/conflict"), 405)["title"] == "Method Not Allowed"
    big = problem_of(
        client.post("/things", content=b"x" * 100, headers={"content-type": "application/json"}), 413
    )
    assert big["detail"] == "The request body is larger than this endpoint accepts."


def test_a_crash_is_a_500_that_tells_nothing_and_is_logged(
    client: TestClient[Litestar], capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    response = client.get("/crash")
    body = problem_of(response, 500)
    assert body["detail"] == "Something went wrong on our side; it has been logged."
    assert "hunter2" not in response.text and "secret.py" not in response.text
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "unhandled error" in line]
    assert logged and logged[0]["path"] == "/crash" and "hunter2" in json.dumps(logged[0])


def test_a_layer_with_its_own_handlers_keeps_them_for_validation_errors_too(
    client: TestClient[Litestar],
) -> None:
    response = client.post("/pages/form", json={"name": 1})
    assert response.status_code == 400
    assert response.text == "page for ValidationException"


def test_an_app_can_leave_http_errors_to_its_own_handler() -> None:
    def own(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if request.url.path.startswith("/v1/"):
            return Response({"error": "unrecognized"}, status_code=404)
        return exception_handlers[HTTPException](request, exc)

    app = Litestar(
        [conflict], plugins=[Problems(leave=[HTTPException])], exception_handlers={HTTPException: own}
    )
    with TestClient(app) as client:
        assert client.get("/v1/nothing").json() == {"error": "unrecognized"}
        assert problem_of(client.get("/nothing"), 404)["instance"] == "/nothing"
        assert problem_of(client.get("/conflict"), 409)["detail"] == "That name is taken."
