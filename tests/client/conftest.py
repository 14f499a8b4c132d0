"""A small real membership for the client tests: keys made at runtime, tokens signed with PyJWT.

`FakeMembership` is a Litestar app served by uvicorn over real HTTP. It publishes a JWKS, a
revocation feed and the entitlement API in the documented shapes, and records every request
it receives (path and query), so a test can count JWKS fetches or prove nothing else was asked.
A second instance plays the attacker: its key signs forged tokens and its JWKS must stay unasked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms
from litestar import Litestar, Request, Response, get, post
from litestar.enums import ScopeType
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.types import Receive, Scope, Send

from tests.servers import bound_socket, serve
from tollgate_client import MembershipClient, RevocationFeed, TokenVerifier

API_KEY = "tgk_test_key"
PROBLEM = "application/problem+json"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any
    jwk: dict[str, Any]

    @property
    def public_pem(self) -> bytes:
        pem: bytes = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem


def make_key(alg: str, kid: str | None = None) -> SigningKey:
    private: Any
    if alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(alg)
    public = get_default_algorithms()[alg].to_jwk(private.public_key(), as_dict=True)
    kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
    return SigningKey(kid, alg, private, {**public, "kid": kid, "alg": alg, "use": "sig"})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


@dataclass
class FakeMembership:
    """The state behind one fake membership server; `reset()` between tests."""

    url: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    down: bool = False
    jwks_body: Any = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    readers: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    bodies: list[Any] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)

    def reset(self) -> None:
        self.keys, self.requests, self.down, self.changes, self.jwks_body = [], [], False, [], None
        self.readers, self.members, self.bodies, self.authorizations = {}, {}, [], []

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    @property
    def jwks_fetches(self) -> int:
        return self.requests.count("/.well-known/jwks.json")

    def add_change(self, reader_id: str, version: int) -> None:
        seq = len(self.changes) + 1
        self.changes.append({"seq": seq, "reader_id": reader_id, "version": version})

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": "tollgate",
            "sub": str(uuid.uuid4()),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "ent": ["member", "pub:the-gazette"],
            "ver": 1,
            "sid": uuid.uuid4().hex,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not DROP}

    def mint(self, key: SigningKey, *, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
        """A token signed with `key` as membership would sign it, with claims and headers overridden."""
        header = {"kid": key.kid, "typ": "at+jwt", **(headers or {})}
        return jwt.encode(self.claims(**overrides), key.private, algorithm=key.alg, headers=header)

    def app(self) -> Callable[[Scope, Receive, Send], Any]:
        return recording(self, build_app(self))


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: Pass as a claim's value to leave the claim out.
DROP: Any = _Drop()


def forge(
    header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes] | None = None
) -> str:
    """A token built by hand, for headers and signatures PyJWT would refuse to produce."""
    signing_input = f"{segment(header)}.{segment(payload)}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def hmac_signer(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def problem(status: int, title: str, detail: str) -> Response[Any]:
    body = {"type": "about:blank", "status": status, "title": title, "detail": detail}
    return Response(body, status_code=status, media_type=PROBLEM)


def recording(state: FakeMembership, app: Litestar) -> Callable[[Scope, Receive, Send], Any]:
    """Wraps the app: every HTTP request is recorded first, and while `down` answers 503 without it."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            query = scope.get("query_string", b"").decode()
            # The raw path, as sent: percent-escapes show whether a value could add path segments.
            path = (scope.get("raw_path") or scope["path"].encode()).decode()
            state.requests.append(path + (f"?{query}" if query else ""))
            if state.down:
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b"down", "more_body": False})
                return
        await app(scope, receive, send)

    return asgi


def build_app(state: FakeMembership) -> Litestar:
    def authorized(request: Request[Any, Any, Any]) -> bool:
        header = request.headers.get("authorization")
        state.authorizations.append(header)
        return header == f"Bearer {API_KEY}"

    unauthorized = problem(401, "Unauthorized", "a valid API key is required")

    @get("/.well-known/jwks.json")
    async def jwks() -> Response[Any]:
        if isinstance(state.jwks_body, bytes):
            return Response(state.jwks_body, media_type="application/json")
        if state.jwks_body is not None:
            return Response(state.jwks_body)
        return Response(
            {"keys": [key.jwk for key in state.keys]}, headers={"Cache-Control": "public, max-age=300"}
        )

    @get("/api/entitlements/changes")
    async def changes(
        request: Request[Any, Any, Any], after: FromQuery[int], limit: FromQuery[int] = 100
    ) -> Response[Any]:
        if not authorized(request):
            return unauthorized
        newer = [change for change in state.changes if change["seq"] > after]
        page = newer[:limit]
        next_after = page[-1]["seq"] if page else after
        return Response({"changes": page, "next_after": next_after, "has_more": len(newer) > limit})

    @get("/api/entitlements/changes/latest")
    async def latest(request: Request[Any, Any, Any]) -> Response[Any]:
        if not authorized(request):
            return unauthorized
        return Response({"seq": state.changes[-1]["seq"] if state.changes else 0})

    @get("/api/readers/{reader_id:str}/entitlements")
    async def entitlements(request: Request[Any, Any, Any], reader_id: FromPath[str]) -> Response[Any]:
        if not authorized(request):
            return unauthorized
        if reader_id not in state.readers:
            return problem(404, "Not Found", f"no reader {reader_id}")
        return Response({"reader_id": reader_id, **state.readers[reader_id]})

    def decide(reader_id: str, keys: list[str]) -> dict[str, Any]:
        held = state.readers.get(reader_id, {})
        for grant in held.get("grants", []):
            if grant["key"] in keys:
                return {"allowed": True, "reason": "granted", "key": grant["key"], "until": grant["ends_at"]}
        return {"allowed": False, "reason": "no entitlement", "key": None, "until": None}

    @post("/api/access/check", status_code=200)
    async def check(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[Any]:
        if not authorized(request):
            return unauthorized
        state.bodies.append(data)
        if not isinstance(data.get("keys"), list) or not data["keys"]:
            return problem(422, "Unprocessable Content", "keys must be a non-empty list")
        return Response(decide(data["reader_id"], data["keys"]))

    @post("/api/access/check-batch", status_code=200)
    async def check_batch(request: Request[Any, Any, Any], data: JSONBody[dict[str, Any]]) -> Response[Any]:
        if not authorized(request):
            return unauthorized
        state.bodies.append(data)
        results = {}
        for reader_id in data["reader_ids"]:
            decision = decide(reader_id, data["keys"])
            results[reader_id] = {"allowed": decision["allowed"], "until": decision["until"]}
        return Response({"results": results})

    @get("/api/publications/{slug:str}/members")
    async def members(
        request: Request[Any, Any, Any],
        slug: FromPath[str],
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 2,
        source: FromQuery[str | None] = None,
    ) -> Response[Any]:
        if not authorized(request):
            return unauthorized
        if slug not in state.members:
            return problem(404, "Not Found", f"no publication {slug}")
        rows = [
            member for member in state.members[slug] if source is None or source in member.get("sources", [])
        ]
        start = int(cursor or 0)
        page = rows[start : start + limit]
        more = start + limit < len(rows)
        return Response({"members": page, "next_cursor": str(start + limit) if more else None})

    @get("/boom")
    async def boom() -> Response[Any]:
        return Response("<html>bad gateway</html>", status_code=502, media_type="text/html")

    return Litestar(
        [jwks, changes, latest, entitlements, check, check_batch, members, boom], openapi_config=None
    )


@contextmanager
def serve_on(app: Any, port: int) -> Iterator[str]:
    """Serves the app on a given port, so a server can stop and come back at the same address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    with serve(app, sock=sock) as url:
        yield url


@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    """One key of each algorithm, a second Ed25519 key for rotation, and the attacker's key."""
    return {
        "ed": make_key("EdDSA"),
        "es": make_key("ES256"),
        "rs": make_key("RS256"),
        "ed2": make_key("EdDSA"),
        "attacker": make_key("EdDSA", kid="attacker-key"),
    }


@pytest.fixture(scope="session")
def _membership_server() -> Iterator[FakeMembership]:
    state = FakeMembership()
    with serve(state.app()) as url:
        state.url = url
        yield state


@pytest.fixture(scope="session")
def _attacker_server(keys: dict[str, SigningKey]) -> Iterator[FakeMembership]:
    state = FakeMembership()
    with serve(state.app()) as url:
        state.url = url
        yield state


@pytest.fixture
def membership(_membership_server: FakeMembership, keys: dict[str, SigningKey]) -> FakeMembership:
    """The fake membership, emptied, publishing the Ed25519, P-256 and RSA keys."""
    _membership_server.reset()
    _membership_server.keys = [keys["ed"], keys["es"], keys["rs"]]
    return _membership_server


@pytest.fixture
def attacker(_attacker_server: FakeMembership, keys: dict[str, SigningKey]) -> FakeMembership:
    """Another server publishing the attacker's key; no test should make the verifier ask it anything."""
    _attacker_server.reset()
    _attacker_server.keys = [keys["attacker"]]
    return _attacker_server


@pytest.fixture(scope="session")
def dead_url() -> Iterator[str]:
    """An address where nothing listens: the port is bound, never listened on, so connecting is refused."""
    sock = bound_socket()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


VerifierFactory = Callable[..., TokenVerifier]


@pytest.fixture
async def make_verifier(membership: FakeMembership) -> AsyncIterator[VerifierFactory]:
    """Builds verifiers for the fake membership (any argument overridable) and closes them afterwards."""
    made: list[TokenVerifier] = []

    def make(**overrides: Any) -> TokenVerifier:
        options: dict[str, Any] = {"issuer": membership.url, "unknown_kid_cooldown": 60.0}
        options.update(overrides)
        verifier = TokenVerifier(options.pop("jwks_url", membership.jwks_url), **options)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        await verifier.aclose()


@pytest.fixture
async def client(membership: FakeMembership) -> AsyncIterator[MembershipClient]:
    async with MembershipClient(membership.url, API_KEY) as client:
        yield client


@pytest.fixture
async def make_feed(membership: FakeMembership) -> AsyncIterator[Callable[..., RevocationFeed]]:
    made: list[RevocationFeed] = []

    def make(**overrides: Any) -> RevocationFeed:
        options: dict[str, Any] = {"poll_interval": 0.05, "max_backoff": 0.1}
        options.update(overrides)
        feed = RevocationFeed(options.pop("base_url", membership.url), API_KEY, **options)
        made.append(feed)
        return feed

    yield make
    for feed in made:
        await feed.aclose()
