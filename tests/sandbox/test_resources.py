"""Customers, products, prices and the shapes of every object, through stripe-python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.sandbox.conftest import Sandbox

FIXTURE_FIELDS: dict[str, list[str]] = json.loads(
    (Path(__file__).parent / "stripe_fixture_fields.json").read_text()
)
# `invoice.subscription` is gone from current API versions (stripe-python 16's Invoice has no such
# field); the link is `parent.subscription_details.subscription`. The fixture still lists it.
DELIBERATELY_ABSENT = {"invoice": {"subscription"}}


async def test_customer_create_retrieve_update_list(sandbox: Sandbox) -> None:
    created = await sandbox.stripe.v1.customers.create_async(
        params={"email": "ada@example.com", "name": "Ada", "metadata": {"reader": "r-1", "tier": "gold"}}
    )
    assert created.id.startswith("cus_")
    assert (created.object, created.livemode, created.delinquent) == ("customer", False, False)
    fetched = await sandbox.stripe.v1.customers.retrieve_async(created.id)
    assert fetched.email == "ada@example.com"
    assert fetched.to_dict()["metadata"] == {"reader": "r-1", "tier": "gold"}
    updated = await sandbox.stripe.v1.customers.update_async(
        created.id, params={"name": "Ada L.", "metadata": {"tier": "", "source": "test"}}
    )
    # Metadata merges; an empty value removes its key.
    assert updated.to_dict()["metadata"] == {"reader": "r-1", "source": "test"}
    assert updated.name == "Ada L."
    await sandbox.stripe.v1.customers.create_async(params={"email": "someone-else@example.com"})
    found = await sandbox.stripe.v1.customers.list_async(params={"email": "ada@example.com"})
    assert [c.id for c in found.data] == [created.id]
    await sandbox.wait()
    change = [e for e in sandbox.inbox.of(created.id) if e["type"] == "customer.updated"]
    assert len(change) == 1
    assert change[0]["data"]["previous_attributes"] == {
        "name": "Ada",
        "metadata": {"tier": "gold", "source": None},
    }


async def test_product_create_update_and_active_filter(sandbox: Sandbox) -> None:
    chosen = await sandbox.stripe.v1.products.create_async(
        params={"id": "prod_tollgate_member", "name": "Member", "metadata": {"tier": "t1"}}
    )
    assert chosen.id == "prod_tollgate_member"
    assert chosen.active is True
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        await sandbox.stripe.v1.products.create_async(params={"id": "prod_tollgate_member", "name": "Again"})
    assert duplicate.value.code == "resource_already_exists"
    other = await sandbox.stripe.v1.products.create_async(params={"name": "Other"})
    archived = await sandbox.stripe.v1.products.update_async(
        chosen.id, params={"active": False, "description": "Old"}
    )
    assert (archived.active, archived.description) == (False, "Old")
    active = await sandbox.stripe.v1.products.list_async(params={"active": True})
    assert [p.id for p in active.data] == [other.id]
    inactive = await sandbox.stripe.v1.products.list_async(params={"active": False})
    assert [p.id for p in inactive.data] == [chosen.id]
    await sandbox.wait()
    assert [e["type"] for e in sandbox.inbox.of(chosen.id)] == ["product.created", "product.updated"]
    assert sandbox.inbox.of(chosen.id)[1]["data"]["previous_attributes"]["active"] is True


async def test_price_create_retrieve_update_list(sandbox: Sandbox) -> None:
    product = await sandbox.stripe.v1.products.create_async(params={"name": "Member"})
    monthly = await sandbox.stripe.v1.prices.create_async(
        params={
            "product": product.id,
            "currency": "EUR",
            "unit_amount": 700,
            "recurring": {"interval": "month", "interval_count": 1},
            "lookup_key": "member_monthly",
            "nickname": "Monthly",
            "metadata": {"tier": "t1"},
        }
    )
    assert monthly.id.startswith("price_")
    assert (monthly.currency, monthly.unit_amount, monthly.type) == ("eur", 700, "recurring")
    assert monthly.recurring is not None
    assert (monthly.recurring.interval, monthly.recurring.interval_count) == ("month", 1)
    yearly = await sandbox.stripe.v1.prices.create_async(
        params={
            "product": product.id,
            "currency": "eur",
            "unit_amount": 7000,
            "recurring": {"interval": "year"},
        }
    )
    fetched = await sandbox.stripe.v1.prices.retrieve_async(monthly.id)
    assert fetched.lookup_key == "member_monthly"
    renamed = await sandbox.stripe.v1.prices.update_async(
        monthly.id, params={"nickname": "Monthly (old)", "active": False}
    )
    assert (renamed.nickname, renamed.active) == ("Monthly (old)", False)
    by_key = await sandbox.stripe.v1.prices.list_async(params={"lookup_keys": ["member_monthly"]})
    assert [p.id for p in by_key.data] == [monthly.id]
    active = await sandbox.stripe.v1.prices.list_async(params={"product": product.id, "active": True})
    assert [p.id for p in active.data] == [yearly.id]
    with pytest.raises(stripe.InvalidRequestError) as too_long:
        await sandbox.stripe.v1.prices.create_async(
            params={
                "product": product.id,
                "currency": "eur",
                "unit_amount": 1,
                "recurring": {"interval": "month", "interval_count": 13},
            }
        )
    assert too_long.value.param == "recurring[interval_count]"
    with pytest.raises(stripe.InvalidRequestError) as no_product:
        await sandbox.stripe.v1.prices.create_async(
            params={"product": "prod_nope", "currency": "eur", "unit_amount": 1}
        )
    assert (no_product.value.code, no_product.value.param) == ("resource_missing", "product")
    await sandbox.wait()
    assert [e["type"] for e in sandbox.inbox.of(monthly.id)] == ["price.created", "price.updated"]


async def test_lookup_key_is_unique_unless_transferred(sandbox: Sandbox) -> None:
    old = await sandbox.price(lookup_key="member_monthly")
    with pytest.raises(stripe.InvalidRequestError) as taken:
        await sandbox.price(amount=600, lookup_key="member_monthly")
    assert taken.value.param == "lookup_key"
    assert old.id in str(taken.value)
    other = await sandbox.price(amount=650)
    with pytest.raises(stripe.InvalidRequestError):
        await sandbox.stripe.v1.prices.update_async(other.id, params={"lookup_key": "member_monthly"})
    new = await sandbox.price(amount=600, lookup_key="member_monthly", transfer_lookup_key=True)
    assert new.lookup_key == "member_monthly"
    assert (await sandbox.stripe.v1.prices.retrieve_async(old.id)).lookup_key is None
    by_key = await sandbox.stripe.v1.prices.list_async(params={"lookup_keys": ["member_monthly"]})
    assert [p.id for p in by_key.data] == [new.id]
    # Moving it again by update works the same way.
    moved = await sandbox.stripe.v1.prices.update_async(
        other.id, params={"lookup_key": "member_monthly", "transfer_lookup_key": True}
    )
    assert moved.lookup_key == "member_monthly"
    assert (await sandbox.stripe.v1.prices.retrieve_async(new.id)).lookup_key is None
    await sandbox.wait()
    lost = [e for e in sandbox.inbox.of(old.id) if e["type"] == "price.updated"]
    assert lost[0]["data"]["previous_attributes"] == {"lookup_key": "member_monthly"}


async def test_every_object_has_the_fields_of_stripes_own_examples(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    client = sandbox.stripe.v1
    subscription = (await client.subscriptions.retrieve_async(session["subscription"])).to_dict()
    invoice = (await client.invoices.retrieve_async(session["invoice"])).to_dict()
    payment = (await client.invoice_payments.list_async(params={"invoice": invoice["id"]})).data[0].to_dict()
    intent = (await client.payment_intents.retrieve_async(payment["payment"]["payment_intent"])).to_dict()
    charge = (await client.charges.retrieve_async(intent["latest_charge"])).to_dict()
    refund = (await client.refunds.create_async(params={"charge": charge["id"], "amount": 100})).to_dict()
    dispute = await sandbox.control("POST", f"/charges/{charge['id']}/dispute", {})
    portal = (
        await client.billing_portal.sessions.create_async(params={"customer": session["customer"]})
    ).to_dict()
    price = subscription["items"]["data"][0]["price"]
    objects: dict[str, dict[str, Any]] = {
        "subscription": subscription,
        "subscription_item": subscription["items"]["data"][0],
        "invoice": invoice,
        "line_item": invoice["lines"]["data"][0],
        "checkout.session": (await client.checkout.sessions.retrieve_async(session["id"])).to_dict(),
        "invoice_payment": payment,
        "payment_intent": intent,
        "charge": charge,
        "refund": refund,
        "dispute": dispute,
        "billing_portal.session": portal,
        "customer": (await client.customers.retrieve_async(session["customer"])).to_dict(),
        "price": price,
        "product": (await client.products.retrieve_async(price["product"])).to_dict(),
        "event": (await client.events.list_async(params={"limit": 1})).data[0].to_dict(),
    }
    for name, obj in objects.items():
        expected = set(FIXTURE_FIELDS[name]) - DELIBERATELY_ABSENT.get(name, set())
        assert expected <= set(obj), f"{name} lacks {sorted(expected - set(obj))}"
        if "livemode" in obj:
            assert obj["livemode"] is False, name
    assert "subscription" not in invoice
    # The current-API links the brief insists on.
    item = subscription["items"]["data"][0]
    assert item["current_period_end"] > item["current_period_start"]
    assert "current_period_end" not in subscription
    assert invoice["parent"]["type"] == "subscription_details"
    assert invoice["parent"]["subscription_details"]["subscription"] == subscription["id"]
    assert (
        invoice["lines"]["data"][0]["parent"]["subscription_item_details"]["subscription"]
        == subscription["id"]
    )
    assert "invoice" not in charge and "invoice" not in intent
    assert payment["invoice"] == invoice["id"]
    assert payment["payment"] == {"type": "payment_intent", "payment_intent": intent["id"]}
    assert charge["customer"] == session["customer"] == intent["customer"]
    prefixes = {
        "cus_": session["customer"],
        "sub_": subscription["id"],
        "si_": item["id"],
        "in_": invoice["id"],
    }
    prefixes |= {"inpay_": payment["id"], "pi_": intent["id"], "ch_": charge["id"], "re_": refund["id"]}
    prefixes |= {"dp_": dispute["id"], "bps_": portal["id"], "cs_test_": session["id"], "price_": price["id"]}
    prefixes |= {"prod_": price["product"], "evt_": objects["event"]["id"]}
    assert all(value.startswith(prefix) for prefix, value in prefixes.items()), prefixes


async def test_invoice_payments_link_a_payment_intent_to_its_invoice(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    await sandbox.advance(days=32)
    invoices = await sandbox.stripe.v1.invoices.list_async(params={"subscription": session["subscription"]})
    assert len(invoices.data) == 2
    intents = await sandbox.stripe.v1.payment_intents.list_async(params={"customer": session["customer"]})
    assert len(intents.data) == 2
    for intent in intents.data:
        found = await sandbox.stripe.v1.invoice_payments.list_async(
            params={"payment": {"type": "payment_intent", "payment_intent": intent.id}}
        )
        assert len(found.data) == 1
        invoice = await sandbox.stripe.v1.invoices.retrieve_async(found.data[0].invoice)  # type: ignore[arg-type]
        assert invoice.amount_paid == intent.amount == 500
        assert invoice.parent is not None and invoice.parent.subscription_details is not None
        assert invoice.parent.subscription_details.subscription == session["subscription"]
    assert {i.id for i in invoices.data} == {
        p.invoice for p in (await sandbox.stripe.v1.invoice_payments.list_async()).data
    }
    with pytest.raises(stripe.InvalidRequestError) as missing_type:
        await sandbox.stripe.v1.invoice_payments.list_async(
            params={"payment": {"payment_intent": intents.data[0].id}}  # type: ignore[arg-type]
        )
    assert missing_type.value.param == "payment[type]"


async def test_discount_objects_have_the_fields_of_stripes_examples_and_nothing_the_sdk_lacks(
    sandbox: Sandbox,
) -> None:
    client = sandbox.stripe.v1
    coupon = await client.coupons.create_async(params={"percent_off": 10, "duration": "forever"})
    promo = await client.promotion_codes.create_async(
        params={"promotion": {"type": "coupon", "coupon": coupon.id}}
    )
    _, session = await sandbox.subscribe(discounts=[{"promotion_code": promo.id}])
    subscription = await client.subscriptions.retrieve_async(
        session["subscription"], params={"expand": ["discounts"]}
    )
    discount = subscription.discounts[0]
    assert isinstance(discount, stripe.Discount)
    objects: dict[str, tuple[dict[str, Any], type]] = {
        "coupon": ((await client.coupons.retrieve_async(coupon.id)).to_dict(), stripe.Coupon),
        "promotion_code": (
            (await client.promotion_codes.retrieve_async(promo.id)).to_dict(),
            stripe.PromotionCode,
        ),
        "discount": (discount.to_dict(), stripe.Discount),
    }
    for name, (obj, sdk_class) in objects.items():
        expected = set(FIXTURE_FIELDS[name])
        assert expected <= set(obj), f"{name} lacks {sorted(expected - set(obj))}"
        # Every field shown is one stripe-python 16 types for this API version.
        assert set(obj) <= set(sdk_class.__annotations__), (
            f"{name}: {sorted(set(obj) - set(sdk_class.__annotations__))}"
        )
        assert obj["object"] == name and obj.get("livemode", False) is False
    assert objects["promotion_code"][0]["promotion"] == {"coupon": coupon.id, "type": "coupon"}
    assert objects["discount"][0]["source"] == {"coupon": coupon.id, "type": "coupon"}
