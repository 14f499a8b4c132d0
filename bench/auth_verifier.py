"""What a site might build instead of the gateway: a token check for nginx's `auth_request`.

A minimal ASGI app (no framework) for `uvicorn bench.auth_verifier:app`: at start it fetches
membership's JWKS once from `VERIFIER_JWKS_URL`; then every request's `Authorization: Bearer`
token is verified with PyJWT (signature, issuer `VERIFIER_ISSUER`, audience `VERIFIER_AUDIENCE`,
the time claims, `typ`), with no cache, and answered 204 (let nginx serve the file) or 401. It
does not check membership's revocation feed nor which story is asked for: it is the cheap
"any valid token opens the page" check, the most favourable version of the alternative.
`/health` answers 204 without any check: what uvicorn alone costs per request.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

REQUIRED = ["exp", "iat", "nbf", "sub", "iss", "aud"]
ALLOWED = {"EdDSA", "ES256", "RS256"}

Scope = dict[str, Any]
Message = dict[str, Any]

_keys: dict[str, tuple[Any, str]] = {}  # kid -> (public key, algorithm)


def load_keys(url: str) -> dict[str, tuple[Any, str]]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - checked just above
        jwks = json.load(answer)
    algorithms = get_default_algorithms()
    keys = {}
    for jwk in jwks["keys"]:
        alg = jwk.get("alg")
        if alg in ALLOWED and jwk.get("kid"):
            keys[jwk["kid"]] = (algorithms[alg].from_jwk(json.dumps(jwk)), alg)
    if not keys:
        raise RuntimeError(f"no usable key in the JWKS at {url}")
    return keys


def verify(token: str) -> bool:
    try:
        header = jwt.get_unverified_header(token)
        key, alg = _keys[header["kid"]]
        if header.get("typ") != "at+jwt" or header.get("alg") != alg:
            return False
        jwt.decode(
            token,
            key,
            algorithms=[alg],
            audience=os.environ.get("VERIFIER_AUDIENCE", "tollgate"),
            issuer=os.environ["VERIFIER_ISSUER"],
            leeway=30,
            options={"require": REQUIRED},
        )
    except (jwt.InvalidTokenError, KeyError):
        return False
    return True


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    _keys.update(load_keys(os.environ["VERIFIER_JWKS_URL"]))
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    if scope["path"] == "/health":
        # The bench's reference for what uvicorn alone costs: no check, no body.
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    token = _bearer(scope)
    if token and verify(token):
        await send({"type": "http.response.start", "status": 204, "headers": []})
    else:
        await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})
