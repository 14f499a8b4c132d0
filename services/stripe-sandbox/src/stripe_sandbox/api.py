"""The `/v1` API: one Litestar route that authenticates, parses and dispatches like Stripe.

It checks the `Authorization: Bearer sk_test_...` key, parses the form (or query string),
finds the endpoint in the route table, checks its parameters, replays or refuses reused
`Idempotency-Key`s, runs the handler inside one state action, cuts list pages and expands what
`expand[]` names. Every answer, error or not, is JSON in Stripe's shape with a `Request-Id`.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from typing import Any

import structlog
from litestar import Request, Response, route
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from stripe_sandbox import (
    API_VERSION,
    billing,
    catalog,
    checkout,
    customers,
    discounts,
    events,
    payments,
    portal,
    refunds,
    subscriptions,
)
from stripe_sandbox.endpoints import Endpoint, Page
from stripe_sandbox.errors import (
    StripeError,
    authentication,
    exclusive,
    invalid,
    json_response,
    no_such,
    unrecognized_url,
)
from stripe_sandbox.forms import in_range, parse_form
from stripe_sandbox.state import JSON, PREFIXES, Sandbox, new_id
from tollgate_common.problems import exception_handlers

log = structlog.get_logger("stripe_sandbox.api")

ENDPOINTS: list[Endpoint] = [
    *customers.ROUTES,
    *catalog.ROUTES,
    *discounts.ROUTES,
    *checkout.ROUTES,
    *subscriptions.ROUTES,
    *billing.ROUTES,
    *payments.ROUTES,
    *refunds.ROUTES,
    *portal.ROUTES,
    *events.ROUTES,
]
IDEMPOTENCY_TTL = 24 * 3600  # Stripe keeps a key's result for 24 hours
MAX_EXPAND_DEPTH = 4
_ID = re.compile(r"^[a-z]+_[A-Za-z0-9_]+$")
_warned_versions: set[str] = set()


@route("/v1/{path:path}", http_method=["GET", "POST", "DELETE", "PUT", "PATCH"], include_in_schema=False)
async def stripe_api(request: Request[Any, Any, Any], path: FromPath[str]) -> Response[bytes]:
    sb: Sandbox = request.app.state.sandbox
    request_id = new_id("req", 14)
    request.scope.setdefault("state", {})["access_log_extra"] = {"stripe_request_id": request_id}
    headers = {"Request-Id": request_id, "Stripe-Version": API_VERSION}
    try:
        _authenticate(request.headers.get("authorization", ""))
        _note_version(request.headers.get("stripe-version"))
        method = request.method.upper()
        raw = request.scope["query_string"] if method in ("GET", "DELETE") else await request.body()
        endpoint, path_args = _match(method, request.url.path)
        params = endpoint.params.coerce(parse_form(raw), "")
        key = request.headers.get("idempotency-key") if method == "POST" else None
        # A read changes nothing: it takes the lock for a consistent view but saves and sends nothing.
        guard = sb.lock if method == "GET" else sb.action(request_id=request_id, idempotency_key=key)
        async with guard:
            replay = _replay(sb, key, method, request.url.path, params) if key else None
            if replay is not None:
                return json_response(replay["body"], replay["status"], {**headers, **replay["headers"]})
            try:
                body = _render(sb, endpoint, endpoint.handler(sb, params, **path_args), params)
            except StripeError as exc:
                if key and exc.status == 402:  # a decline happened and is part of the key's result
                    _remember(sb, key, method, request.url.path, params, exc.status, exc.body(), request_id)
                raise
            if key:
                _remember(sb, key, method, request.url.path, params, 200, body, request_id)
            # Serialized under the lock: the body may be the live object itself.
            return json_response(body, 200, headers)
    except StripeError as exc:
        return json_response(exc.body(), exc.status, headers)
    except Exception:  # a sandbox bug still answers in Stripe's shape, so the SDK raises APIError
        log.exception("the sandbox failed on an API call", path=request.url.path)
        error = StripeError(
            "The Stripe sandbox failed on this request; see its log.", status=500, type_="api_error"
        )
        return json_response(error.body(), 500, headers)


def _authenticate(header: str) -> None:
    scheme, _, credential = header.partition(" ")
    if not credential:
        raise authentication(
            "You did not provide an API key. You need to provide your API key in the Authorization header, "
            "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    key = credential.strip()
    if scheme.lower() == "basic":  # curl -u sk_test_...:
        try:
            key = base64.b64decode(key).decode().split(":", 1)[0]
        except ValueError:
            key = ""
    if key.startswith(("sk_live_", "rk_live_")):
        raise authentication(
            "This is the Stripe sandbox: it takes test keys (sk_test_...) only, never a live key."
        )
    if not key.startswith(("sk_test_", "rk_test_")) or len(key) < 12:
        raise authentication(
            f"Invalid API Key provided: {key[:8]}{'*' * 4}{key[-4:] if len(key) > 12 else ''}"
        )


def _note_version(version: str | None) -> None:
    if version and version != API_VERSION and version not in _warned_versions:
        _warned_versions.add(version)
        log.warning("client asked for another Stripe API version", asked=version, served=API_VERSION)


def _match(method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
    for endpoint in ENDPOINTS:
        if endpoint.method == method and (found := endpoint.pattern.match(path)):
            return endpoint, found.groupdict()
    raise unrecognized_url(method, path)


def _fingerprint(method: str, path: str, params: JSON) -> str:
    return json.dumps([method, path, params], sort_keys=True)


def _replay(sb: Sandbox, key: str, method: str, path: str, params: JSON) -> JSON | None:
    stored = sb.data["idempotency"].get(key)
    if stored is None:
        return None
    if stored["fingerprint"] != _fingerprint(method, path, params):
        raise StripeError(
            "Keys for idempotent requests can only be used with the same parameters they were first used "
            f"with. Try using a key other than '{key}' if you meant to execute a different request.",
            type_="idempotency_error",
        )
    return {
        "status": stored["status"],
        "body": stored["body"],
        "headers": {"Idempotent-Replayed": "true", "Original-Request": stored["request_id"]},
    }


def _remember(
    sb: Sandbox, key: str, method: str, path: str, params: JSON, status: int, body: Any, request_id: str
) -> None:
    now = time.time()
    kept = sb.data["idempotency"]
    for old in [k for k, v in kept.items() if now - v["stored_at"] > IDEMPOTENCY_TTL]:
        del kept[old]
    kept[key] = {
        "fingerprint": _fingerprint(method, path, params),
        "status": status,
        "body": copy.deepcopy(body),
        "request_id": request_id,
        "stored_at": now,
    }


# Lists and expansion.


def _render(sb: Sandbox, endpoint: Endpoint, result: JSON | Page, params: JSON) -> JSON:
    expand = params.get("expand", [])
    if isinstance(result, Page):
        body = _paginate(result, params)
        for path in expand:
            if not path.startswith("data."):
                hint = f"You may want to try expanding 'data.{path}' instead."
                raise invalid(f"This property cannot be expanded ({path}). {hint}", param="expand")
            _expand_path(sb, body, path)
        return body
    if not expand:
        return result
    body = copy.deepcopy(result)
    for path in expand:
        _expand_path(sb, body, path)
    return body


def _paginate(page: Page, params: JSON) -> JSON:
    items = [item for item in page.items if in_range(item.get("created", 0), params.get("created"))]
    limit = params.get("limit", 10)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise exclusive("starting_after", "ending_before")
    if after or before:
        cursor = after or before
        ids = [item["id"] for item in items]
        if cursor not in ids:
            raise no_such(
                PREFIXES.get(str(cursor).split("_", 1)[0], "object"),
                str(cursor),
                param="starting_after" if after else "ending_before",
            )
        index = ids.index(cursor)
        if after:
            rest = items[index + 1 :]
            data, has_more = rest[:limit], len(rest) > limit
        else:
            rest = items[:index]
            data, has_more = rest[-limit:], len(rest) > limit
    else:
        data, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": copy.deepcopy(data), "has_more": has_more, "url": page.url}


def _expand_path(sb: Sandbox, body: JSON, path: str) -> None:
    segments = path.split(".")
    if len([s for s in segments if s != "data"]) > MAX_EXPAND_DEPTH:
        raise invalid(
            f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property ({path}).", param="expand"
        )
    _expand(sb, body, segments, path)


def _expand(sb: Sandbox, node: Any, segments: list[str], path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(sb, item, segments, path)
        return
    if not isinstance(node, dict) or not segments:
        return
    key, rest = segments[0], segments[1:]
    if key == "line_items" and node.get("object") == "checkout.session":
        node[key] = {
            "object": "list",
            "data": checkout.line_items(sb, node),
            "has_more": False,
            "url": f"/v1/checkout/sessions/{node['id']}/line_items",
        }
    elif key == "payments" and node.get("object") == "invoice":
        found = [p for p in sb.newest_first("invoice_payments") if p["invoice"] == node["id"]]
        node[key] = {
            "object": "list",
            "data": copy.deepcopy(found),
            "has_more": False,
            "url": "/v1/invoice_payments",
        }
    elif key == "applies_to" and node.get("object") == "coupon":
        # An includable field: absent unless asked for.
        node[key] = discounts.applies_to(sb, node["id"])
    elif key not in node:
        raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    elif isinstance(node[key], list) and node[key] and all(isinstance(i, str) for i in node[key]):
        # A list of ids (a subscription's or an invoice's `discounts`): each becomes its object.
        objects: list[Any] = []
        for object_id in node[key]:
            target = sb.find(object_id)
            objects.append(copy.deepcopy(target) if target is not None else object_id)
        node[key] = objects
    elif isinstance(node[key], str):
        target = sb.find(node[key])
        if target is not None:
            node[key] = copy.deepcopy(target)
        elif not _ID.match(node[key]):
            raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    elif node[key] is not None and not isinstance(node[key], dict | list):
        raise invalid(f"This property cannot be expanded ({path}).", param="expand")
    _expand(sb, node[key], rest, path)


def not_found_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Stripe's 404 under /v1 (even for `/v1` itself); problem details everywhere else."""
    if request.url.path == "/v1" or request.url.path.startswith("/v1/"):
        return json_response(unrecognized_url(request.method, request.url.path).body(), 404)
    return exception_handlers[HTTPException](request, exc)
