"""Hosted checkout through Stripe Checkout, with Stripe's own SDK, against the Stripe-shaped
server on loopback (tests/billing/fake_stripe.py): the session each collection mode opens
(account, key, fee, descriptor), the return page, and the hourly job's reconcile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, TestCase
from django.utils import timezone

from tests.billing.fake_stripe import PARTNER_KEY, serving_collection
from tests.factories import make_tenant
from trunkline.billing import collection
from trunkline.billing.models import InvoiceCheckout, LedgerAccount
from trunkline.core.events import EVENT_TYPES
from trunkline.core.models import Event

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


def sent_invoice(api, tenant, price="12.53") -> dict:
    created = api.post(
        "/v1/invoices",
        {"tenant_id": tenant.id, "lines": [{"description": "Service", "unit_price": price}]},
    ).json()
    with committed():
        api.post(f"/v1/invoices/{created['id']}/send")
    return created


def open_session(api, invoice) -> dict:
    response = api.post(f"/v1/invoices/{invoice['id']}/checkout-session")
    assert response.status_code == 201, response.json()
    return response.json()


def session_request(fake):
    (request,) = fake.posted("/v1/checkout/sessions")
    return request


def come_back(session) -> str:
    """The payer back from Stripe on the success URL; returns the page."""
    stored = InvoiceCheckout.objects.get(id=session["id"])
    with committed():
        page = Client().get(
            f"/pay/{stored.token}/done", {"session_id": stored.processor_session_id}
        )
    assert page.status_code == 200
    return page.content.decode()


def balance(code, partner=None) -> int:
    account = LedgerAccount.objects.filter(code=code, partner=partner).first()
    return account.balance_micros if account else 0


def test_platform_mode_opens_a_checkout_session_on_the_platforms_account(
    api, fake, partner, tenant
):
    api.patch("/v1/tenant-billing", {"statement_descriptor": "ACME PHONES"})
    invoice = sent_invoice(api, tenant)
    session = open_session(api, invoice)
    stored = InvoiceCheckout.objects.get(id=session["id"])
    assert session["url"] == f"https://checkout.stripe.com/c/pay/{stored.processor_session_id}"
    request = session_request(fake)
    form = request.form
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert "stripe-account" not in request.headers
    assert request.headers["idempotency-key"] == f"checkout:{session['id']}"
    assert form["mode"] == "payment"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][unit_amount]"] == "1253"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert form["line_items[0][price_data][product_data][name]"] == f"Invoice {invoice['number']}"
    assert form["metadata[invoice_id]"] == invoice["id"]
    assert form["payment_intent_data[metadata][invoice_id]"] == invoice["id"]
    assert form["client_reference_id"] == invoice["id"]
    assert form["success_url"].endswith(
        f"/pay/{stored.token}/done?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert form["cancel_url"].endswith(f"/pay/{stored.token}")
    assert form["payment_intent_data[statement_descriptor_suffix]"] == "ACME PHONES"
    assert "payment_intent_data[application_fee_amount]" not in form
    expires = int(form["expires_at"])
    assert 0 < stored.expires_at.timestamp() - expires <= 600  # inside Stripe's 24 hours
    # Asking again reuses the session: Stripe is not asked again.
    assert open_session(api, invoice)["id"] == session["id"]
    assert len(fake.posted("/v1/checkout/sessions")) == 1

    # The public page sends the payer on to Stripe's page.
    page = Client().get(f"/pay/{stored.token}").content.decode()
    assert session["url"] in page and 'name="card_number"' not in page

    fake.pay_session(stored.processor_session_id)
    assert "Payment received" in come_back(session)
    paid = api.get(f"/v1/invoices/{invoice['id']}").json()
    assert paid["status"] == "PAID" and paid["charges"] == []
    assert balance(LedgerAccount.Code.TENANT_PAYMENTS_HELD, partner) == 12_030_000
    assert balance(LedgerAccount.Code.REVENUE_APPLICATION_FEES) == 500_000
    (event,) = Event.objects.filter(type="check-out.session.completed")
    data = EVENT_TYPES[event.type].data_schema.model_validate(event.payload)
    assert data.checkout_session.payment_id.startswith("pi_")

    # The job and the return page again change nothing.
    collection.invoice_charges_run(now=timezone.now() + timedelta(hours=1))
    come_back(session)
    assert len(paid["payments"]) == 1
    assert len(api.get(f"/v1/invoices/{invoice['id']}").json()["payments"]) == 1
    assert Event.objects.filter(type="check-out.session.completed").count() == 1

    # The payment refunds to the card through its PaymentIntent.
    refunded = api.post(
        f"/v1/invoices/{invoice['id']}/refunds", {"amount": "2.00", "destination": "card"}
    )
    assert refunded.status_code == 200, refunded.json()
    (refund,) = fake.refunds.values()
    stored.refresh_from_db()
    assert (refund["payment_intent"], refund["amount"]) == (stored.processor_charge_id, 200)


def test_connect_mode_opens_the_session_on_the_connected_account_with_the_fee(
    api, fake, partner, tenant
):
    api.post("/v1/tenant-billing/connect/onboarding")
    (account_id,) = fake.accounts
    fake.onboard(account_id)
    api.patch("/v1/tenant-billing", {"statement_descriptor": "ACME PHONES"})
    api.post("/v1/tenant-billing/connect/refresh")
    api.patch("/v1/tenant-billing", {"mode": "connect"})
    invoice = sent_invoice(api, tenant, price="25.06")
    session = open_session(api, invoice)
    assert (session["mode"], session["fee"]) == ("connect", "1.00")
    request = session_request(fake)
    assert request.headers["stripe-account"] == account_id
    assert request.form["payment_intent_data[application_fee_amount]"] == "100"
    assert "payment_intent_data[statement_descriptor_suffix]" not in request.form

    stored = InvoiceCheckout.objects.get(id=session["id"])
    intent = fake.pay_session(stored.processor_session_id)
    assert (intent["application_fee_amount"], intent["_account"]) == (100, account_id)
    # Paid, but the payer never came back: the hourly job finds it.
    collection.invoice_charges_run(now=timezone.now() + timedelta(hours=1))
    retrieved = [
        r for r in fake.requests if r.method == "GET" and r.path.startswith("/v1/checkout/")
    ]
    assert retrieved and all(r.headers["stripe-account"] == account_id for r in retrieved)
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "PAID"
    assert balance(LedgerAccount.Code.REVENUE_APPLICATION_FEES) == 1_000_000
    assert balance(LedgerAccount.Code.TENANT_PAYMENTS_HELD, partner) == 0


def test_custom_keys_open_the_session_with_the_partners_key_and_no_fee(api, fake, tenant):
    assert api.put("/v1/tenant-billing/custom-keys", {"secret_key": PARTNER_KEY}).status_code == 200
    api.patch("/v1/tenant-billing", {"mode": "custom_keys"})
    invoice = sent_invoice(api, tenant)
    session = open_session(api, invoice)
    assert session["fee"] == "0.00"
    request = session_request(fake)
    assert request.headers["authorization"] == f"Bearer {PARTNER_KEY}"
    assert "stripe-account" not in request.headers
    assert "payment_intent_data[application_fee_amount]" not in request.form
    stored = InvoiceCheckout.objects.get(id=session["id"])
    assert fake.sessions[stored.processor_session_id]["_account"] == "acct_partner_own"
    fake.pay_session(stored.processor_session_id)
    come_back(session)
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "PAID"
    (retrieve,) = [r for r in fake.requests if r.method == "GET" and "checkout" in r.path]
    assert retrieve.headers["authorization"] == f"Bearer {PARTNER_KEY}"


def test_an_unpaid_return_and_a_session_stripe_expired(api, fake, tenant):
    invoice = sent_invoice(api, tenant)
    session = open_session(api, invoice)
    stored = InvoiceCheckout.objects.get(id=session["id"])
    assert "not received the payment yet" in come_back(session)
    assert InvoiceCheckout.objects.get(id=session["id"]).status == InvoiceCheckout.Status.OPEN
    fake.expire_session(stored.processor_session_id)
    collection.invoice_charges_run(now=timezone.now() + timedelta(hours=1))
    assert InvoiceCheckout.objects.get(id=session["id"]).status == InvoiceCheckout.Status.EXPIRED
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "SENT"
    # The next link is a new session.
    assert open_session(api, invoice)["id"] != session["id"]
    assert len(fake.posted("/v1/checkout/sessions")) == 2


def test_stripe_unreachable_answers_502_and_the_retry_reuses_the_key(api, fake, tenant, settings):
    invoice = sent_invoice(api, tenant)
    base = settings.STRIPE_API_BASE
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens
    failed = api.post(f"/v1/invoices/{invoice['id']}/checkout-session")
    assert failed.status_code == 502
    assert failed.json()["error"]["type"] == "processor_error"
    settings.STRIPE_API_BASE = base
    session = open_session(api, invoice)
    assert InvoiceCheckout.objects.count() == 1
    assert session_request(fake).headers["idempotency-key"] == f"checkout:{session['id']}"
