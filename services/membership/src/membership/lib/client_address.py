"""The reader's network address, as far as proxies we trust vouch for it (rate limits, sessions)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from litestar import Request

from membership.settings import Settings


def client_address(request: Request[Any, Any, Any]) -> str:
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else "unknown"
    return forwarded_client(peer, request.headers.get("x-forwarded-for", ""), settings.trusted_networks)


def forwarded_client(peer: str, forwarded_for: str, trusted: tuple[IPv4Network | IPv6Network, ...]) -> str:
    """The reader's address: walk X-Forwarded-For from the right past proxies we trust, no further."""
    hops = [peer, *reversed([h.strip() for h in forwarded_for.split(",") if h.strip()])]
    for i, hop in enumerate(hops):
        if not _is_trusted(hop, trusted) or i == len(hops) - 1:
            return hop
    return peer


def _is_trusted(address: str, trusted: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
