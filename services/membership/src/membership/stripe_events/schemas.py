"""What the webhook endpoint answers Stripe."""

from __future__ import annotations

import msgspec


class Received(msgspec.Struct):
    received: bool
    stored: bool
