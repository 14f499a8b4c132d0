"""Mail over SMTP: a real SMTP server (aiosmtpd) receives the sign-in link; failures are 503."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.conftest import ClientFactory


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append((envelope, message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def test_sign_in_link_goes_over_smtp(
    client_with: ClientFactory, smtp_server: tuple[Inbox, int]
) -> None:
    inbox, port = smtp_server
    async with client_with(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none") as client:
        response = await client.post("/api/auth/sign-in", json={"email": "smtp@example.com"})
        assert response.status_code == 202
        # Nothing lands in the development outbox when SMTP is configured.
        assert (await client.get("/dev/outbox/messages")).json() == []
    assert len(inbox.messages) == 1
    envelope, message = inbox.messages[0]
    assert envelope.rcpt_tos == ["smtp@example.com"]
    assert message["Subject"] == "Your Tollgate sign-in link"
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "/auth/sign-in/confirm?token=tgsignin_" in body.decode()


async def test_smtp_down_is_a_503_and_no_link_is_kept(client_with: ClientFactory) -> None:
    port = free_port()  # nothing listens here
    async with client_with(smtp_host="127.0.0.1", smtp_port=port, smtp_security="none") as client:
        response = await client.post("/api/auth/sign-in", json={"email": "down@example.com"})
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
    async with client_with() as client:
        # The link was rolled back with the failed request: nothing counts against the rate limit.
        for _ in range(5):
            assert (
                await client.post("/api/auth/sign-in", json={"email": "down@example.com"})
            ).status_code == 202
