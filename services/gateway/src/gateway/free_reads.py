"""The anonymous allowance: a few free member-only reads a month for readers not signed in.

Off unless `GATEWAY_ANONYMOUS_UNLOCKS_PER_MONTH` is above zero. The stories read are kept in a
cookie signed with HMAC-SHA256, so a reader cannot write their own list, but anyone can clear
cookies or open a private window and start again: it is a taste of the paper, not a meter. The
count is for the whole gateway, not per publication. Written by hand (stdlib hmac) since the
format is one line and a dependency would not make it clearer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from gateway.slugs import is_slug
from tollgate_common.months import this_month

COOKIE = "tollgate_free_reads"
_VERSION = "v1"


def month_now() -> str:
    # The UTC calendar month, by the same rule as membership's unlocks.
    return this_month()


class FreeReads:
    """Reads and writes the signed cookie; `secret` empty means a random one for this process."""

    def __init__(self, secret: str, allowance: int) -> None:
        self.allowance = allowance
        self._key = (secret or secrets.token_urlsafe(32)).encode()

    @property
    def enabled(self) -> bool:
        return self.allowance > 0

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def read(self, value: str | None, month: str) -> frozenset[str]:
        """The stories this cookie says were read in `month`; nothing if unsigned, forged or old."""
        if not value:
            return frozenset()
        payload, _, signature = value.rpartition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return frozenset()
        version, _, rest = payload.partition(".")
        cookie_month, _, ids = rest.partition(".")
        if version != _VERSION or cookie_month != month:
            return frozenset()
        stories = frozenset(i for i in ids.split(",") if is_slug(i))
        # A list longer than the allowance was not written by us; trust none of it.
        return stories if len(stories) <= self.allowance else frozenset()

    def write(self, stories: frozenset[str], month: str) -> str:
        payload = f"{_VERSION}.{month}.{','.join(sorted(stories))}"
        return f"{payload}.{self._sign(payload)}"
