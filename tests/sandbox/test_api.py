"""The `/v1` API's conventions through the real SDK: keys, errors, idempotency, lists, expansion, forms."""

from __future__ import annotations

import secrets

import pytest
import stripe

from stripe_sandbox.app import create_app
from stripe_sandbox.errors import StripeError
from stripe_sandbox.forms import parse_form
from stripe_sandbox.settings import Settings
from tests.sandbox.conftest import Sandbox


def test_form_parsing_matches_stripe_encoding() -> None:
    parsed = parse_form(
        "email=a%40b.example&metadata[reader]=r1&line_items[0][price]=price_1&line_items[0][quantity]=2"
        "&line_items[1][price]=price_2&expand[]=customer&expand[]=latest_invoice&recurring[interval]=month"
    )
    assert parsed == {
        "email": "a@b.example",
        "metadata": {"reader": "r1"},
        "line_items": [{"price": "price_1", "quantity": "2"}, {"price": "price_2"}],
        "expand": ["customer", "latest_invoice"],
        "recurring": {"interval": "month"},
    }
    # Indexes sort as numbers, not as text.
    assert parse_form("a[10]=ten&a[2]=two")["a"] == ["two", "ten"]
    with pytest.raises(StripeError):
        parse_form("a=1&a[b]=2")


async def test_bad_or_missing_key_is_an_authentication_error(sandbox: Sandbox) -> None:
    wrong = stripe.StripeClient(
        api_key="pk_test_" + secrets.token_hex(8), base_addresses={"api": sandbox.url}
    )
    with pytest.raises(stripe.AuthenticationError):
        await wrong.v1.customers.list_async()
    response = await sandbox.http.get("/v1/customers")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    live = stripe.StripeClient(api_key="sk_live_" + secrets.token_hex(8), base_addresses={"api": sandbox.url})
    with pytest.raises(stripe.AuthenticationError, match="test keys"):
        await live.v1.customers.list_async()


async def test_unknown_parameter_names_the_parameter(sandbox: Sandbox) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sandbox.stripe.v1.customers.create_async(params={"emial": "x@example.com"})  # type: ignore[arg-type]
    assert caught.value.param == "emial"
    assert caught.value.code == "parameter_unknown"
    assert caught.value.http_status == 400
    price = await sandbox.price()
    with pytest.raises(stripe.InvalidRequestError) as nested:
        await sandbox.session(price.id, subscription_data={"trial_days": 3})
    assert nested.value.param == "subscription_data[trial_days]"
    assert "Received unknown parameter: subscription_data[trial_days]" in str(nested.value)


async def test_missing_and_invalid_parameters(sandbox: Sandbox) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        await sandbox.stripe.v1.products.create_async(params={})  # type: ignore[typeddict-item]
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "name")
    response = await sandbox.http.post(
        "/v1/prices",
        data={"currency": "usd", "unit_amount": "lots", "product": "prod_x"},
        headers={"Authorization": f"Bearer {sandbox.api_key}"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parameter_invalid_integer"


async def test_unknown_url_and_missing_object_are_404(sandbox: Sandbox) -> None:
    auth = {"Authorization": f"Bearer {sandbox.api_key}"}
    response = await sandbox.http.get("/v1/nonsense/things", headers=auth)
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("Unrecognized request URL (GET: /v1/nonsense/things)")
    # A known path with a method it does not take is unrecognized too.
    put = await sandbox.http.put("/v1/customers", headers=auth)
    assert put.status_code == 404
    assert "PUT: /v1/customers" in put.json()["error"]["message"]
    with pytest.raises(stripe.InvalidRequestError) as caught:
        await sandbox.stripe.v1.customers.retrieve_async("cus_doesnotexist")
    assert caught.value.http_status == 404
    assert (caught.value.code, caught.value.param) == ("resource_missing", "id")
    assert "No such customer: 'cus_doesnotexist'" in str(caught.value)


async def test_idempotency_key_replays_and_refuses_other_parameters(sandbox: Sandbox) -> None:
    key = secrets.token_hex(8)
    first = await sandbox.stripe.v1.customers.create_async(
        params={"email": "same@example.com"}, options={"idempotency_key": key}
    )
    again = await sandbox.stripe.v1.customers.create_async(
        params={"email": "same@example.com"}, options={"idempotency_key": key}
    )
    assert again.id == first.id
    listed = await sandbox.stripe.v1.customers.list_async(params={"email": "same@example.com"})
    assert [c.id for c in listed.data] == [first.id]  # created once
    with pytest.raises(stripe.IdempotencyError):
        await sandbox.stripe.v1.customers.create_async(
            params={"email": "other@example.com"}, options={"idempotency_key": key}
        )
    raw = await sandbox.http.post(
        "/v1/customers",
        data={"email": "same@example.com"},
        headers={"Authorization": f"Bearer {sandbox.api_key}", "Idempotency-Key": key},
    )
    assert raw.headers["idempotent-replayed"] == "true"
    assert raw.json()["id"] == first.id


async def test_lists_paginate_newest_first(sandbox: Sandbox) -> None:
    made = [
        (await sandbox.stripe.v1.customers.create_async(params={"name": f"reader {i}"})).id for i in range(5)
    ]
    page = await sandbox.stripe.v1.customers.list_async(params={"limit": 2})
    assert [c.id for c in page.data] == [made[4], made[3]]
    assert page.has_more is True
    assert page.url == "/v1/customers"
    rest = await sandbox.stripe.v1.customers.list_async(params={"limit": 10, "starting_after": made[3]})
    assert [c.id for c in rest.data] == [made[2], made[1], made[0]]
    assert rest.has_more is False
    before = await sandbox.stripe.v1.customers.list_async(params={"limit": 2, "ending_before": made[1]})
    assert [c.id for c in before.data] == [made[3], made[2]]
    assert before.has_more is True
    everyone = [
        c.id
        async for c in (await sandbox.stripe.v1.customers.list_async(params={"limit": 2})).auto_paging_iter()
    ]
    assert everyone == list(reversed(made))
    with pytest.raises(stripe.InvalidRequestError):
        await sandbox.stripe.v1.customers.list_async(params={"limit": 101})


async def test_expand_replaces_ids_with_objects(sandbox: Sandbox) -> None:
    _, session = await sandbox.subscribe()
    subscription = await sandbox.stripe.v1.subscriptions.retrieve_async(
        session["subscription"], params={"expand": ["latest_invoice", "customer", "items.data.price.product"]}
    )
    assert subscription.latest_invoice.object == "invoice"  # type: ignore[union-attr]
    assert subscription.customer.email == "reader@example.com"  # type: ignore[union-attr]
    assert subscription["items"].data[0].price.product.name == "Membership"
    expanded = await sandbox.stripe.v1.checkout.sessions.retrieve_async(
        session["id"], params={"expand": ["subscription", "line_items"]}
    )
    assert expanded.subscription.status == "active"  # type: ignore[union-attr]
    assert expanded["line_items"].data[0].price.unit_amount == 500
    listed = await sandbox.stripe.v1.subscriptions.list_async(params={"expand": ["data.customer"]})
    assert listed.data[0].customer.object == "customer"  # type: ignore[union-attr]
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        await sandbox.stripe.v1.subscriptions.retrieve_async(
            session["subscription"], params={"expand": ["status"]}
        )


async def test_pages_and_health(sandbox: Sandbox) -> None:
    live = await sandbox.http.get("/health/live")
    assert live.json() == {"status": "ok"}
    ready = await sandbox.http.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"delivery": "ok"}
    home = await sandbox.http.get("/")
    assert "no real payment happens" in home.text.lower()
    # Outside /v1, an unknown path gets the services' usual problem details.
    missing = await sandbox.http.get("/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_stripe_version_header_is_answered(sandbox: Sandbox) -> None:
    response = await sandbox.http.get(
        "/v1/customers",
        headers={"Authorization": f"Bearer {sandbox.api_key}", "Stripe-Version": stripe.api_version},
    )
    assert response.status_code == 200
    assert response.headers["stripe-version"] == stripe.api_version == "2026-10-28.endive"
    assert response.headers["request-id"].startswith("req_")


def test_refuses_to_run_in_production() -> None:
    with pytest.raises(RuntimeError, match="production"):
        create_app(Settings(environment="production"))
