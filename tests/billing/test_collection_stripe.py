"""Collecting tenant invoices through the Stripe implementation, with Stripe's own SDK,
against a Stripe-shaped server on loopback (tests/billing/fake_stripe.py): the platform's
account, a partner's connected (Express) account, and a partner's own keys."""

from __future__ import annotations

import pytest
from django.test import TestCase

from tests.billing.fake_stripe import PARTNER_KEY, serving_collection
from tests.factories import make_tenant
from tests.tasks import run_queued_tasks
from trunkline.billing.models import CollectionSettings, InvoiceCharge

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    with serving_collection(settings) as fake:
        yield fake


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing")


def committed():
    return TestCase.captureOnCommitCallbacks(execute=True)


def charge_an_invoice(api, tenant, token="pm_card_visa", price="12.53") -> dict:
    with committed():
        added = api.post(f"/v1/tenants/{tenant.id}/payment-methods", {"token": token})
    assert added.status_code == 201, added.json()
    created = api.post(
        "/v1/invoices",
        {"tenant_id": tenant.id, "lines": [{"description": "Service", "unit_price": price}]},
    ).json()
    with committed():
        api.post(f"/v1/invoices/{created['id']}/send")
    run_queued_tasks()
    return api.get(f"/v1/invoices/{created['id']}").json()


def intent_request(fake):
    (request,) = fake.posted("/v1/payment_intents")
    return request


def test_platform_mode_charges_the_platforms_account_with_the_partners_descriptor(
    api, fake, tenant
):
    api.patch("/v1/tenant-billing", {"statement_descriptor": "ACME PHONES"})
    invoice = charge_an_invoice(api, tenant)
    assert invoice["status"] == "PAID"
    request = intent_request(fake)
    assert "stripe-account" not in request.headers
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.form["amount"] == "1253" and request.form["off_session"] == "true"
    assert "application_fee_amount" not in request.form  # the platform keeps the fee itself
    # "TRUNKLINE* " leaves 11 of the 22 characters.
    assert request.form["statement_descriptor_suffix"] == "ACME PHONES"
    assert request.headers["idempotency-key"] == f"invoice:{invoice['id']}:1"
    (customer,) = fake.customers.values()
    assert customer["metadata"]["tenant_id"] == tenant.id


def test_connect_onboarding_and_a_direct_charge_with_the_application_fee(
    api, fake, partner, tenant
):
    started = api.post("/v1/tenant-billing/connect/onboarding").json()
    (account_id,) = fake.accounts
    assert started["url"].startswith("https://connect.stripe.com/setup/")
    (created,) = fake.posted("/v1/accounts")
    assert created.form["type"] == "express"
    assert created.form["capabilities[card_payments][requested]"] == "true"
    (link,) = fake.posted("/v1/account_links")
    assert link.form["type"] == "account_onboarding"
    assert link.form["return_url"].endswith("/settings/billing/tenant-billing?connect=return")

    pending = api.post("/v1/tenant-billing/connect/refresh").json()
    assert pending["connect"]["status"] == "pending"
    assert pending["connect"]["requirements_due"] == ["business_type", "external_account"]
    fake.onboard(account_id)
    api.patch("/v1/tenant-billing", {"statement_descriptor": "ACME PHONES"})
    active = api.post("/v1/tenant-billing/connect/refresh").json()
    assert active["connect"] == {
        **active["connect"],
        "status": "active",
        "account_id": account_id,
        "requirements_due": [],
    }
    # The connected account's own descriptor is the partner's.
    assert fake.accounts[account_id]["settings"]["payments"]["statement_descriptor"] == (
        "ACME PHONES"
    )
    api.patch("/v1/tenant-billing", {"mode": "connect"})

    invoice = charge_an_invoice(api, tenant, price="25.06")
    assert invoice["status"] == "PAID" and invoice["charges"][0]["fee"] == "1.00"
    request = intent_request(fake)
    assert request.headers["stripe-account"] == account_id
    assert request.form["application_fee_amount"] == "100"
    assert "statement_descriptor_suffix" not in request.form
    # The customer and the card live on the connected account.
    for path in ("/v1/customers",):
        assert all(r.headers.get("stripe-account") == account_id for r in fake.posted(path))


def test_a_restricted_connected_account_falls_back_to_platform(api, fake, partner):
    api.post("/v1/tenant-billing/connect/onboarding")
    (account_id,) = fake.accounts
    fake.onboard(account_id)
    api.post("/v1/tenant-billing/connect/refresh")
    api.patch("/v1/tenant-billing", {"mode": "connect"})
    fake.accounts[account_id]["charges_enabled"] = False
    after = api.post("/v1/tenant-billing/connect/refresh").json()
    assert (after["connect"]["status"], after["mode"]) == ("restricted", "platform")


def test_custom_keys_are_checked_with_stripe_and_charge_as_the_partner(api, fake, tenant):
    wrong = api.put(
        "/v1/tenant-billing/custom-keys", {"secret_key": "sk_test_51NotAKeyStripeKnows00"}
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["type"] == "invalid_secret_key"
    saved = api.put("/v1/tenant-billing/custom-keys", {"secret_key": PARTNER_KEY})
    assert saved.status_code == 200
    check = fake.requests[-1]
    assert (check.method, check.path) == ("GET", "/v1/account")
    assert check.headers["authorization"] == f"Bearer {PARTNER_KEY}"
    api.patch("/v1/tenant-billing", {"mode": "custom_keys"})

    invoice = charge_an_invoice(api, tenant)
    assert invoice["status"] == "PAID" and invoice["charges"][0]["fee"] == "0.00"
    request = intent_request(fake)
    assert request.headers["authorization"] == f"Bearer {PARTNER_KEY}"
    assert "application_fee_amount" not in request.form
    assert "stripe-account" not in request.headers
    stored = CollectionSettings.objects.get()
    assert PARTNER_KEY not in stored.custom_secret_key_sealed


def test_a_decline_then_a_refund_to_the_card(api, fake, tenant):
    declined = charge_an_invoice(api, tenant, token="pm_card_chargeCustomerFail")
    assert declined["status"] == "SENT"
    (attempt,) = declined["charges"]
    assert (attempt["status"], attempt["message"]) == ("DECLINED", "Your card was declined.")

    with committed():
        api.post(f"/v1/tenants/{tenant.id}/payment-methods", {"token": "pm_card_visa"})
    run_queued_tasks()
    paid = api.get(f"/v1/invoices/{declined['id']}").json()
    assert paid["status"] == "PAID"
    assert [c["status"] for c in paid["charges"]] == ["DECLINED", "SUCCEEDED"]
    second = [r for r in fake.posted("/v1/payment_intents") if r.headers.get("idempotency-key")]
    assert [r.headers["idempotency-key"] for r in second] == [
        f"invoice:{declined['id']}:1",
        f"invoice:{declined['id']}:2",
    ]

    refunded = api.post(
        f"/v1/invoices/{declined['id']}/refunds", {"amount": "5.00", "destination": "card"}
    )
    assert refunded.status_code == 200, refunded.json()
    (refund,) = fake.refunds.values()
    intent_id = InvoiceCharge.objects.get(attempt=2).processor_charge_id
    assert (refund["payment_intent"], refund["amount"]) == (intent_id, 500)
    assert refunded.json()["payments"][-1]["amount"] == "-5.00"
