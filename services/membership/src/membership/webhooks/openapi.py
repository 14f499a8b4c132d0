"""The outgoing webhooks in membership's OpenAPI document: one entry per event type in OpenAPI
3.1's `webhooks`, each a POST whose body is that event's payload. The JSON Schema comes from
msgspec (the structs in `payloads.py`) and is turned into Litestar's OpenAPI objects here, inline
(Litestar rebuilds `components` from its own routes, so references into it would dangle)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    PathItem,
    Reference,
    RequestBody,
    Schema,
)

from membership.webhooks.payloads import PAYLOADS

REF = "#/components/schemas/{name}"
HEADERS = (
    "Sent as Standard Webhooks: `webhook-id` (the same on every retry), `webhook-timestamp` and "
    "`webhook-signature` (`v1,` and an HMAC-SHA256 over `id.timestamp.body` with the endpoint's "
    "secret; two signatures while a rotated secret's old one is still valid). Answer 2xx within "
    "10 s; anything else is retried (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), "
    "410 Gone disables the endpoint. Ordering is not promised: keep the highest `data.version`."
)


def _schema(node: dict[str, Any], defs: dict[str, Any]) -> Schema:
    if "$ref" in node:
        return _schema(defs[node["$ref"].rpartition("/")[2]], defs)
    if "anyOf" in node:
        return Schema(one_of=[_schema(n, defs) for n in node["anyOf"]])
    kind = node.get("type")
    return Schema(
        type=OpenAPIType(kind) if isinstance(kind, str) else None,
        title=node.get("title"),
        description=node.get("description"),
        format=node.get("format"),
        properties={k: _schema(v, defs) for k, v in node.get("properties", {}).items()} or None,
        required=node.get("required"),
        items=_schema(node["items"], defs) if "items" in node else None,
    )


def webhook_docs() -> dict[str, PathItem | Reference]:
    names = list(PAYLOADS)
    refs, defs = msgspec.json.schema_components([PAYLOADS[n] for n in names], ref_template=REF)
    webhooks: dict[str, PathItem | Reference] = {}
    for name, ref in zip(names, refs, strict=True):
        body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=_schema(ref, defs))}, required=True
        )
        webhooks[name] = PathItem(
            post=Operation(
                summary=f"{name}: sent to the publication's endpoints that take it",
                description=HEADERS,
                request_body=body,
                responses={"2XX": OpenAPIResponse(description="Received: not sent again.")},
                tags=["webhooks"],
            )
        )
    return webhooks
