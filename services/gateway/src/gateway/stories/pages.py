"""What a reader receives for a story: the HTML page or the JSON, full or cut at the teaser.

Rendering takes a decision already made (`access.Decision`); it never decides. A teaser answer is
built from `Story.teaser_html` alone, so the rest of the story is not in reach of the template.
A full page that does not depend on the reader (public, or opened by a token) is rendered once
per story version and reused: members are the busiest readers and should cost a dict lookup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
import msgspec

from gateway import __version__
from gateway.access import Decision, Reason
from gateway.stories.models import Story
from tollgate_client import CheckoutState, Offer, OfferPrice, Promotion
from tollgate_common.words import TEMPLATE_FUNCTIONS, money


@lru_cache(maxsize=16)
def page_headers(image_hosts: tuple[str, ...] = ()) -> dict[str, str]:
    """The security headers of every page: all it loads is inline, but for the story images, which
    come from the gateway itself or the publisher's image hosts (``GATEWAY_IMAGE_HOSTS``)."""
    images = " ".join(("'self'", *image_hosts))
    return {
        "content-security-policy": (
            f"default-src 'none'; style-src 'unsafe-inline'; img-src {images}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "x-content-type-options": "nosniff",
        "referrer-policy": "strict-origin-when-cross-origin",
    }


PAGE_HEADERS = page_headers()
"""The page headers with no image hosts but the gateway's own."""
MEMBER_ONLY_SELECTOR = ".member-only"
# While a payment is confirmed, the page asks again this often (no script: a meta refresh).
CONFIRM_RELOAD_SECONDS = 3
CHECKOUT_NOTICES = {
    CheckoutState.ACTIVE: "Thank you for subscribing: your membership is active.",
    CheckoutState.EXPIRED: "Your checkout was not completed, and nothing was charged.",
}


def _money(price: OfferPrice) -> str:
    return money(price.unit_amount, price.currency)


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("gateway", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_env.filters["money"] = _money
_env.globals.update(TEMPLATE_FUNCTIONS)


@dataclass(frozen=True, slots=True)
class Paywall:
    title: str
    message: str
    sign_in: bool
    sign_in_note: str = ""


def paywall_for(decision: Decision, publication_name: str, anonymous_allowance: int) -> Paywall:
    """The words of the paywall for the reason the story stayed shut."""
    if decision.reason is Reason.SUBSCRIBE:
        return Paywall(
            "You have read your free stories this month",
            f"Subscribe to keep reading {publication_name}'s member-only stories. "
            "Your free stories come back next month.",
            sign_in=False,
        )
    if decision.reason is Reason.UNLOCK_AVAILABLE:
        return Paywall(
            "This story is for members",
            "Open it to read it with one of your free stories this month.",
            sign_in=False,
        )
    if decision.reason is Reason.TOKEN_REFUSED:
        return Paywall(
            "Please sign in again",
            "Your sign-in has expired or is no longer valid. "
            "Sign in again to read with your membership or a free story.",
            sign_in=True,
        )
    if decision.unlocks_left == 0 and anonymous_allowance:
        return Paywall(
            "You have read your free stories",
            "Sign in to read a few member-only stories a month for free, or become a member.",
            sign_in=True,
        )
    return Paywall(
        "This story is for members",
        "Become a member to read it, or sign in: "
        "signed-in readers read a few member-only stories a month for free.",
        sign_in=True,
        sign_in_note="to read it with a free story",
    )


def notice_for(decision: Decision) -> str:
    """The line above a full story that says why the reader is reading it."""
    left = decision.unlocks_left
    left_text = (
        ""
        if left is None
        else f" You have {left} free {'story' if left == 1 else 'stories'} left this month."
    )
    if decision.reason is Reason.FREE_UNLOCK:
        return f"You unlocked this member-only story with a free story.{left_text}"
    if decision.reason is Reason.UNLOCKED_BEFORE:
        return f"You unlocked this story this month: reading it again is free.{left_text}"
    if decision.reason is Reason.FRIEND_LINK:
        return "A friend shared this member-only story with you."
    if decision.reason is Reason.AUTHOR:
        return "You wrote this story: reading it costs you no free story."
    if decision.reason is Reason.STAFF:
        return "You are on this publication's staff: its stories cost you no free story."
    return ""


def json_ld(story: Story, base_url: str) -> str:
    """schema.org NewsArticle markup; member-only stories name the paywalled part (Google's guidance)."""
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": story.title,
        "datePublished": story.published.isoformat(),
        "author": {"@type": "Person", "name": story.author},
        "url": f"{base_url}/stories/{story.id}",
        "isAccessibleForFree": story.is_public,
    }
    if not story.is_public:
        data["hasPart"] = {
            "@type": "WebPageElement",
            "isAccessibleForFree": False,
            "cssSelector": MEMBER_ONLY_SELECTOR,
        }
    # "</" inside a script element would end it early; JSON allows the escaped form.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def promoted_prices(promotion: Promotion | None, offers: Sequence[Offer]) -> dict[str, str]:
    """Price id to what the reader pays through the offer, for the offer's tier among `offers`."""
    if promotion is None:
        return {}
    words = {str(price.price_id): price.words for price in promotion.prices}
    return {
        str(price.id): words[str(price.id)]
        for tier in offers
        if tier.id == promotion.tier_id
        for price in tier.prices
        if str(price.id) in words
    }


def render_page(
    story: Story,
    decision: Decision,
    *,
    base_url: str,
    offers: Sequence[Offer] = (),
    publication_name: str = "",
    anonymous_allowance: int = 0,
    share: bool = False,
    paywall: Paywall | None = None,
    signed_in: bool = False,
    checkout: CheckoutState | None = None,
    promotion: Promotion | None = None,
) -> bytes:
    """The story page for this decision; `paywall` replaces the words the decision would choose.

    Back from checkout, a payment still being confirmed replaces the paywall with a page that
    reloads itself until the story opens. `promotion` (an open offer for one of `offers`) prices
    its tier's Subscribe buttons as membership words them, and their forms carry its code.
    """
    confirming = checkout is CheckoutState.PENDING and not decision.full
    if paywall is None and not decision.full:
        paywall = paywall_for(decision, publication_name or story.publication, anonymous_allowance)
    template = _env.get_template("story.html")
    return template.render(
        story=story,
        full=decision.full,
        notice=CHECKOUT_NOTICES.get(checkout, "") if checkout and not confirming else notice_for(decision),
        confirming=confirming,
        reload_seconds=CONFIRM_RELOAD_SECONDS,
        paywall=paywall,
        offers=offers,
        promotion=promotion,
        promoted=promoted_prices(promotion, offers) if not decision.full else {},
        share=share,
        signed_in=signed_in,
        next_path=f"/stories/{story.id}",
        json_ld=json_ld(story, base_url),
        version=__version__,
    ).encode()


@lru_cache(maxsize=2048)
def shared_page(story: Story, reason: Reason, base_url: str, signed_in: bool = False) -> tuple[bytes, str]:
    """The full page that looks the same for everyone it opens to (public, or entitled), and its ETag.

    Two variants: the header offers "Sign in", or "My membership" to a reader with a session.
    """
    body = render_page(story, Decision(full=True, reason=reason), base_url=base_url, signed_in=signed_in)
    return body, etag_of(body)


def render_message(
    title: str, message: str, *, link: str = "", back: str = "", back_label: str = "Back to the story"
) -> bytes:
    return (
        _env.get_template("message.html")
        .render(
            title=title,
            message=message,
            link=link,
            back=back,
            back_label=back_label,
            signed_in=False,
            next_path="",
            version=__version__,
        )
        .encode()
    )


def render_index(
    groups: list[tuple[str, list[Story]]], names: dict[str, str], *, signed_in: bool = False
) -> bytes:
    return (
        _env.get_template("index.html")
        .render(groups=groups, names=names, signed_in=signed_in, next_path="", version=__version__)
        .encode()
    )


def etag_of(body: bytes) -> str:
    # Weak: the same bytes for the same reader, not a byte-range promise (ranges are not served).
    return f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'


class StoryJson(msgspec.Struct, kw_only=True):
    id: str
    publication: str
    title: str
    author: str
    published: str
    public: bool
    keys: list[str]
    teaser_html: str
    body_html: str | None = None
    access: str
    reason: str
    unlocks_left: int | None = None


def story_json(story: Story, decision: Decision) -> StoryJson:
    """The story as JSON; `body_html` only when the decision opens it."""
    return StoryJson(
        id=story.id,
        publication=story.publication,
        title=story.title,
        author=story.author,
        published=story.published.isoformat(),
        public=story.is_public,
        keys=list(story.keys),
        teaser_html=story.teaser_html,
        body_html=story.body_html if decision.full else None,
        access="full" if decision.full else "teaser",
        reason=decision.reason.value,
        unlocks_left=decision.unlocks_left,
    )


def offer_json(offer: Offer, return_to: str, promotion: Promotion | None = None) -> dict[str, Any]:
    """A tier on offer, with how to start checkout for each price (a form POST to membership).

    Through an offer link's `promotion` (open, for this tier), the tier names the offer, each price
    says what the reader pays through it (`offer_words`), and its form carries the code.
    """
    promoted = promoted_prices(promotion, [offer])
    answer: dict[str, Any] = {
        "tier": offer.name,
        "description": offer.description,
        "entitlement_keys": offer.entitlement_keys,
        "trial_days": offer.trial_days,
        "prices": [],
    }
    if promotion is not None and promoted:
        answer["offer"] = {
            "code": promotion.code,
            "name": promotion.name,
            "description": promotion.description,
        }
    for price in offer.prices:
        form = {"price_id": str(price.id), "return_to": return_to}
        shown: dict[str, Any] = {
            "id": str(price.id),
            "interval": price.interval,
            "currency": price.currency,
            "unit_amount": price.unit_amount,
        }
        words = promoted.get(str(price.id))
        if promotion is not None and words is not None:
            form["offer"] = promotion.code
            shown["offer_words"] = words
        shown["checkout"] = {"method": "POST", "action": "/account/checkout", "form": form}
        answer["prices"].append(shown)
    return answer
