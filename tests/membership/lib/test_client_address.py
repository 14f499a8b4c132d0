"""Which address a sign-in request counts against, behind zero, one or several proxies."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from membership.lib.client_address import forwarded_client

LOOPBACK = (ip_network("127.0.0.1/32"), ip_network("::1/128"))
COMPOSE = (ip_network("172.16.0.0/12"),)


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("203.0.113.9", "", LOOPBACK, "203.0.113.9"),  # straight from the internet
        (
            "203.0.113.9",
            "10.0.0.1",
            LOOPBACK,
            "203.0.113.9",
        ),  # an untrusted peer cannot claim another address
        ("127.0.0.1", "198.51.100.7", LOOPBACK, "198.51.100.7"),  # through the local gateway
        ("172.18.0.5", "198.51.100.7", COMPOSE, "198.51.100.7"),  # through the gateway in compose
        ("172.18.0.5", "6.6.6.6, 198.51.100.7", COMPOSE, "198.51.100.7"),  # a spoofed left entry is ignored
        ("127.0.0.1", "", LOOPBACK, "127.0.0.1"),  # a local client with no header
        ("127.0.0.1", "not-an-ip", LOOPBACK, "not-an-ip"),  # kept as a key, never trusted further
        ("127.0.0.1", "127.0.0.1", LOOPBACK, "127.0.0.1"),
    ],
)
def test_forwarded_client(peer: str, header: str, trusted: tuple[object, ...], expected: str) -> None:
    assert forwarded_client(peer, header, trusted) == expected  # type: ignore[arg-type]
