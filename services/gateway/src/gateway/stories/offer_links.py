"""Offer links: `/stories/<slug>?offer=CODE` remembers the offer for the reader, and the paywall
prices the offer's tier through it.

The code rides in the `tollgate_offer` cookie for 30 days (HttpOnly, SameSite=Lax, Secure when the
public URL is https), so the offer still shows on a later visit without the query. Only a code of
3 to 40 letters, digits and dashes is taken (upper-cased, as membership writes codes); anything
else in the query or the cookie is ignored. The cookie says nothing the reader could abuse: the
offer is looked up at membership (`Catalogue.promotion`), and checkout checks it again.

An offer changes the paywall only when membership says it is `open` and its tier is one the
paywall lists; then that tier's prices read as the offer prices them, and their forms carry it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from litestar import Request

from tollgate_client import Offer, Promotion

PARAM = "offer"
COOKIE = "tollgate_offer"
CODE = re.compile(r"[A-Za-z0-9-]{3,40}")
MAX_AGE_SECONDS = 30 * 86400


def valid_code(value: str | None) -> str | None:
    """The code, upper-cased, if it looks like one; else None."""
    return value.upper() if value and CODE.fullmatch(value) else None


def code_in_query(request: Request[Any, Any, Any]) -> str | None:
    """A well-formed `?offer=` code in the URL (the raw query is looked at first: most have none)."""
    if b"offer=" not in request.scope.get("query_string", b""):
        return None
    return valid_code(request.query_params.get(PARAM))


def code_for(request: Request[Any, Any, Any], from_query: str | None) -> str | None:
    """The offer this reader came through: the URL's, else the one remembered in the cookie."""
    return from_query or valid_code(request.cookies.get(COOKIE))


def remember(code: str, *, secure: bool) -> str:
    """The `Set-Cookie` value that keeps the code for the reader's later visits."""
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={code}; Path=/; Max-Age={MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax{flags}"


def applicable(promotion: Promotion | None, tiers: Sequence[Offer]) -> Promotion | None:
    """The offer, if it can change this paywall: open now, and for one of the tiers it lists."""
    if promotion is None or not promotion.open:
        return None
    return promotion if any(tier.id == promotion.tier_id for tier in tiers) else None
