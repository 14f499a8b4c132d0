"""Strips request headers that look like the gateway's own, before anything reads them.

The gateway answers with `Tollgate-Access` and friends, and a deployment might put a cache or
another service behind it that trusts such headers. A client sending them itself (say
`X-Tollgate-Entitlements: member`) must not be believed by anyone downstream, so they are removed
from every request, forwarded ones included (by `request_layer.RequestLayer`, before anything
reads the headers). Nothing in the gateway reads them either: access is decided from tokens,
sessions and friend links only.
"""

from __future__ import annotations

OWN_PREFIXES: tuple[bytes, ...] = (
    b"tollgate-",
    b"x-tollgate-",
    b"x-member",
    b"x-entitlement",
    b"x-reader",
    b"x-decision",
    b"x-access-decision",
)


def is_own(name: bytes) -> bool:
    """Whether a (lower-case) header name is one the gateway sets, never one a client may send."""
    return name.startswith(OWN_PREFIXES)
