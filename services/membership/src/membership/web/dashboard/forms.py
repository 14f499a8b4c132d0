"""The dashboard's forms: read what was typed, check it, and say what is wrong in a sentence.

Each form is checked against the same msgspec schema the JSON API uses, after the checks that
can be worded for a person, so a form can never do what the API would refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import msgspec
from litestar.datastructures import FormMultiDict

from membership.comps.schemas import CompIn
from membership.friendlinks.schemas import STORY_ID, StaffLinkIn
from membership.plans.schemas import PriceIn, TierIn
from membership.web.dashboard.words import parse_amount
from tollgate_common.problems import BadRequest
from tollgate_common.words import decimals, money

MIN_AMOUNT = 50  # Stripe's smallest charge, in minor units of a two-decimal currency
CURRENCY = re.compile(r"^[a-zA-Z]{3}$")


def _text(form: FormMultiDict, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _checked(schema: type[msgspec.Struct], data: dict[str, object], what: str) -> None:
    try:
        msgspec.convert(data, schema)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"The {what} was not filled in as expected: {exc}.") from exc


@dataclass(frozen=True)
class TierForm:
    name: str
    description: str
    trial_days: int
    currency: str
    prices: list[PriceIn]

    @classmethod
    def read(cls, form: FormMultiDict) -> TierForm:
        name, description = _text(form, "name"), _text(form, "description")
        if not name:
            raise BadRequest("Give the tier a name readers will recognise, such as “Supporter”.")
        if len(name) > 100:
            raise BadRequest("A tier's name is at most 100 characters.")
        if len(description) > 2000:
            raise BadRequest("A tier's description is at most 2,000 characters.")
        trial = _text(form, "trial_days") or "0"
        if not trial.isdigit() or int(trial) > 730:
            raise BadRequest("Free trial days are a whole number from 0 to 730.")
        currency = (_text(form, "currency") or "usd").lower()
        if not CURRENCY.match(currency):
            raise BadRequest("The currency is a three-letter code, such as USD or EUR.")
        prices = [
            price
            for interval, field in (("month", "monthly"), ("year", "yearly"))
            if (price := read_price(form, field, interval, currency)) is not None
        ]
        if not prices:
            raise BadRequest("Give the tier a monthly price, a yearly price, or both.")
        _checked(
            TierIn,
            {
                "name": name,
                "description": description,
                "trial_days": int(trial),
                "prices": [msgspec.to_builtins(p) for p in prices],
            },
            "tier",
        )
        return cls(name, description, int(trial), currency, prices)


def read_price(form: FormMultiDict, field: str, interval: str, currency: str) -> PriceIn | None:
    """The amount typed in `field` as a price, None when the field is empty."""
    typed = _text(form, field)
    if not typed:
        return None
    what = "monthly" if interval == "month" else "yearly"
    amount = parse_amount(typed, currency)
    if amount is None:
        example = {0: "500", 3: "5.000"}.get(decimals(currency), "5.00")
        raise BadRequest(f"The {what} price “{typed}” is not an amount; write it like {example}.")
    if amount < MIN_AMOUNT:
        raise BadRequest(
            f"The {what} price must be at least {money(MIN_AMOUNT, currency)} (Stripe's minimum)."
        )
    if amount > 99_999_999:
        raise BadRequest(f"The {what} price is more than Stripe accepts for one payment.")
    return PriceIn(interval=interval, currency=currency, unit_amount=amount)  # type: ignore[arg-type]


def read_added_price(form: FormMultiDict) -> PriceIn:
    interval = _text(form, "interval")
    if interval not in ("month", "year"):
        raise BadRequest("Choose whether the price is charged every month or every year.")
    currency = (_text(form, "currency") or "usd").lower()
    if not CURRENCY.match(currency):
        raise BadRequest("The currency is a three-letter code, such as USD or EUR.")
    price = read_price(form, "amount", interval, currency)
    if price is None:
        raise BadRequest("Give the new price's amount.")
    return price


@dataclass(frozen=True)
class CompForm:
    email: str
    until: datetime | None
    keys: list[str]
    note: str

    @classmethod
    def read(cls, form: FormMultiDict, keys_on_offer: list[str], *, today: date) -> CompForm:
        email = _text(form, "email")
        if "@" not in email or len(email) < 3:
            raise BadRequest("Give the reader's email address, such as reader@example.com.")
        last_day = _text(form, "last_day")
        until = None
        if last_day:
            try:
                chosen = date.fromisoformat(last_day)
            except ValueError as exc:
                raise BadRequest("The last day is a date, such as 2027-01-31.") from exc
            if chosen < today:
                raise BadRequest("The last day has passed; choose today or a later day, or leave it empty.")
            # Through the whole of the last day, UTC.
            until = datetime.combine(chosen + timedelta(days=1), time(), tzinfo=UTC)
        keys = [k for k in form.getall("keys") if isinstance(k, str)] if "keys" in form else []
        unknown = [k for k in keys if k not in keys_on_offer]
        if unknown:
            raise BadRequest(f"This publication cannot give {', '.join(unknown)}.")
        note = _text(form, "note")
        if len(note) > 500:
            raise BadRequest("The note is at most 500 characters.")
        data: dict[str, object] = {"email": email, "keys": keys or None, "note": note}
        if until:
            data["until"] = until.isoformat()
        _checked(CompIn, data, "comp")
        return cls(email, until, keys, note)


def read_story_id(form: FormMultiDict) -> str:
    story_id = _text(form, "story_id")
    if "/stories/" in story_id:  # a pasted address: keep the story's id
        story_id = story_id.split("/stories/", 1)[1].split("?", 1)[0].split("#", 1)[0].strip("/")
    if not story_id:
        raise BadRequest("Give the story's id: the last part of its address, as in /stories/<id>.")
    if not re.match(STORY_ID, story_id):
        raise BadRequest(
            f"“{story_id[:100]}” is not a story id: lower-case letters, digits and hyphens, "
            "as in /stories/<id>."
        )
    _checked(StaffLinkIn, {"story_id": story_id}, "friend link")
    return story_id
