"""Helpers the membership tests share: reading the outbox and signing a reader in."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

LINK = re.compile(r"https?://\S+/auth/sign-in/confirm\?token=(\S+)")


async def latest_token(client: AsyncTestClient[Litestar], email: str) -> str:
    response = await client.get("/dev/outbox/messages", params={"to": email, "limit": 1})
    assert response.status_code == 200, response.text
    messages = response.json()
    assert messages, f"no mail for {email}"
    match = LINK.search(messages[0]["body"])
    assert match, messages[0]["body"]
    return match.group(1)


async def sign_in(client: AsyncTestClient[Litestar], email: str) -> dict[str, Any]:
    """Asks for a link, reads it from the outbox, spends it: the client then holds the cookie."""
    asked = await client.post("/api/auth/sign-in", json={"email": email})
    assert asked.status_code == 202, asked.text
    token = await latest_token(client, email)
    done = await client.post("/api/auth/sign-in/complete", json={"token": token})
    assert done.status_code == 200, done.text
    body: dict[str, Any] = done.json()
    return body


def with_cookie(token: str) -> dict[str, str]:
    """Headers presenting one session cookie (with the client's own jar cleared)."""
    return {"cookie": f"tollgate_session={token}"}
