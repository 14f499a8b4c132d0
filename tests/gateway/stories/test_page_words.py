"""The story page and its paywall write dates and money the way every Tollgate page does (issue 12).

¥500 showed as "5 JPY" on the paywall (defect 7); expected text is written out here.
"""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest

from gateway.access import Decision, Reason
from gateway.stories.models import Story
from gateway.stories.pages import render_page
from tollgate_client import Offer, OfferPrice


def story(published: date) -> Story:
    return Story(
        id="s",
        publication="daily",
        title="A story",
        author="Ada",
        published=published,
        keys=("pub:daily",),
        body_html="<p>All of it.</p>",
        teaser_html="<p>The start.</p>",
    )


def offer(currency: str, unit_amount: int) -> Offer:
    price = OfferPrice(id=uuid4(), interval="month", currency=currency, unit_amount=unit_amount)
    return Offer(id=uuid4(), name="Members", description="", entitlement_keys=("pub:daily",), trial_days=0,
                 prices=(price,))  # fmt: skip


@pytest.mark.parametrize(
    ("currency", "unit_amount", "expected"),
    [("jpy", 500, "¥500"), ("usd", 500, "$5"), ("usd", 450, "$4.50"), ("eur", 1250, "€12.50")],
)
def test_the_paywall_prices_in_the_currencys_own_units(
    currency: str, unit_amount: int, expected: str
) -> None:
    page = render_page(
        story(date(2027, 1, 6)),
        Decision(full=False, reason=Reason.SUBSCRIBE),
        base_url="http://gateway.test",
        offers=[offer(currency, unit_amount)],
    ).decode()
    assert f"Subscribe: {expected} a month" in page


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        (date(2027, 1, 6), "6 January 2027"),
        (date(2028, 2, 29), "29 February 2028"),
        (date(2026, 12, 31), "31 December 2026"),
    ],
)
def test_the_byline_dates_the_story_in_words(published: date, expected: str) -> None:
    page = render_page(
        story(published), Decision(full=True, reason=Reason.ENTITLED), base_url="http://g.test"
    )
    assert f'<time datetime="{published.isoformat()}">{expected}</time>' in page.decode()
