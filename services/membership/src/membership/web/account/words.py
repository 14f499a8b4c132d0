"""How the account pages say things: devices, subscription states and entitlements in words.

Money and dates come from tollgate_common.words, the one way every service writes them.
"""

from __future__ import annotations

import re
from datetime import datetime

from membership.grants.states import GrantSource
from membership.subscriptions.states import SubscriptionStatus
from tollgate_common.words import day

SOURCES: dict[GrantSource, str] = {
    GrantSource.SUBSCRIPTION: "your subscription",
    GrantSource.TRIAL: "your free trial",
    GrantSource.COMP: "a complimentary membership from the publication",
    GrantSource.GIFT: "a gift",
}


# Order matters: Edge and Opera say "Chrome", Chrome says "Safari".
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("HeadlessChrome/", "Chrome (headless)"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx/", "A Python program"),
    ("python-requests/", "A Python program"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def device(user_agent: str) -> str:
    """A person's name for the device behind a user agent: `Firefox on Linux`."""
    browser = next((name for marker, name in _BROWSERS if marker in user_agent), None)
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or f"A browser on {system}"
    cleaned = re.sub(r"\s+", " ", user_agent).strip()
    return cleaned[:60] if cleaned else "An unknown device"


def subscription_state(
    *,
    status: SubscriptionStatus,
    cancel_at_period_end: bool,
    current_period_end: datetime | None,
    trial_end: datetime | None,
    ended_at: datetime | None,
    canceled_at: datetime | None,
    revoked_at: datetime | None,
) -> tuple[str, str]:
    """A short status and the sentence that goes with it."""
    if revoked_at is not None:
        return "Ended", f"Ended on {day(revoked_at)}: the payment was refunded or disputed."
    if status == SubscriptionStatus.TRIALING:
        then = (
            "Then it ends: you will not be charged."
            if cancel_at_period_end
            else "Then it continues as a paid subscription."
        )
        return ("Free trial, cancelled" if cancel_at_period_end else "Free trial"), (
            f"Your free trial ends on {day(trial_end)}. {then}"
        )
    if status == SubscriptionStatus.ACTIVE:
        if cancel_at_period_end:
            return "Cancelled", f"Ends on {day(current_period_end)}. You keep access until then."
        return "Active", f"Renews on {day(current_period_end)}."
    if status == SubscriptionStatus.PAST_DUE:
        return "Payment failed", (
            "Your last payment did not go through. Update your card under Manage billing; "
            "you keep access for a few days meanwhile."
        )
    if status == SubscriptionStatus.UNPAID:
        return (
            "Unpaid",
            "Payments did not go through, so access is paused. Update your card under Manage billing.",
        )
    if status == SubscriptionStatus.CANCELED:
        ended = ended_at or canceled_at
        return "Ended", f"Ended on {day(ended)}." if ended else "Ended."
    if status == SubscriptionStatus.INCOMPLETE:
        return "Waiting for payment", "The first payment has not gone through yet."
    if status == SubscriptionStatus.INCOMPLETE_EXPIRED:
        return "Not started", "The first payment never went through, so this subscription did not start."
    if status == SubscriptionStatus.PAUSED:
        return "Paused", "Paused: no access and no payments until it is resumed."
    return status.replace("_", " ").capitalize(), ""


def entitlement_name(key: str, publication_names: dict[str, str]) -> str:
    """What an entitlement key opens, in words (the key itself when we do not know it)."""
    if key == "member":
        return "Every member-only story on every publication"
    if key.startswith("pub:"):
        slug, _, rest = key.removeprefix("pub:").partition(":")
        name = publication_names.get(slug, slug)
        return f"{name}: {rest.replace('-', ' ')}" if rest else f"Every member-only story in {name}"
    return key


def source_words(source: GrantSource) -> str:
    return SOURCES[source]
