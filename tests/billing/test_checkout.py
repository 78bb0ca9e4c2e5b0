"""Hosted checkout for a tenant invoice (billing/checkout.py) on the simulated processor:
the API, the public payment page under the partner's brand, completion exactly once,
`check-out.session.completed`, and how it sits beside the saved card's attempts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import Client, TestCase
from django.utils import timezone

from tests.core.capture import assert_error, capture_events
from tests.factories import make_api_key, make_partner, make_tenant
from tests.portal.conftest import htmx_headers
from tests.tasks import run_queued_tasks
from trunkline.billing import checkout, collection
from trunkline.billing.models import (
    CollectionSettings,
    Invoice,
    InvoiceCharge,
    InvoiceCheckout,
    LedgerAccount,
    Posting,
)
from trunkline.billing.payments import simulated_onboarding_finish
from trunkline.core.actors import Actor
from trunkline.core.events import EVENT_TYPES
from trunkline.core.models import Event
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db

VISA = "4242424242424242"
DECLINED = "4000000000000002"
DECLINES_ON_CHARGE = "4000000000000341"
SECRET = "sk_live_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789wxyz"


@pytest.fixture
def tenant(admin, partner):
    partner.brand_name = "ACME Phones"
    partner.brand_support_email = "help@acmephones.example"
    partner.save()
    return make_tenant(admin, name="Acme Plumbing")


def committed():
    return TestCase.captureOnCommitCallbacks(execute=True)


def invoice_for(api, tenant, price="12.53", send=True) -> dict:
    created = api.post(
        "/v1/invoices",
        {"tenant_id": tenant.id, "lines": [{"description": "Setup", "unit_price": price}]},
    )
    assert created.status_code == 201, created.json()
    if not send:
        return created.json()
    with committed():
        sent = api.post(f"/v1/invoices/{created.json()['id']}/send")
    assert sent.status_code == 200
    return sent.json()


def open_session(api, invoice_id: str) -> dict:
    response = api.post(f"/v1/invoices/{invoice_id}/checkout-session")
    assert response.status_code == 201, response.json()
    return response.json()


def page_path(session: dict) -> str:
    path = "/" + session["url"].split("://", 1)[1].split("/", 1)[1]
    assert re.fullmatch(r"/pay/[\w-]{40,}", path), path
    return path


def pay(client, session: dict, number=VISA):
    with committed():
        return client.post(page_path(session), {"card_number": number})


def balance(code, partner=None) -> int:
    account = LedgerAccount.objects.filter(code=code, partner=partner).first()
    return account.balance_micros if account else 0


# --- opening a session ------------------------------------------------------------------------


def test_a_session_for_the_amount_due_is_reused_while_open(api, tenant):
    invoice = invoice_for(api, tenant)
    session = open_session(api, invoice["id"])
    assert session["id"].startswith("ics_")
    assert (session["status"], session["amount"], session["fee"], session["mode"]) == (
        "OPEN",
        "12.53",
        "0.50",
        "platform",
    )
    assert "/pay/" in session["url"]
    created = datetime.fromisoformat(session["created_at"])
    expires = datetime.fromisoformat(session["expires_at"])
    assert expires - created == timedelta(hours=24)
    assert open_session(api, invoice["id"])["id"] == session["id"]
    fetched = api.get(f"/v1/invoices/{invoice['id']}/checkout-session/{session['id']}")
    assert fetched.status_code == 200 and fetched.json() == session
    # A checkout is not a card attempt.
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["charges"] == []


def test_a_session_near_its_end_or_for_another_amount_is_not_reused(api, admin, tenant):
    invoice = invoice_for(api, tenant, price="20.00")
    actor = Actor.system(partner=admin.partner)
    start = timezone.now()
    first = checkout.invoice_checkout_create(actor=actor, invoice_id=invoice["id"], now=start)
    later = start + timedelta(hours=23)
    same = checkout.invoice_checkout_create(actor=actor, invoice_id=invoice["id"], now=later)
    assert same.id == first.id
    near_end = start + timedelta(hours=23, minutes=45)
    fresh = checkout.invoice_checkout_create(actor=actor, invoice_id=invoice["id"], now=near_end)
    assert fresh.id != first.id and fresh.token != first.token
    # Part paid by hand: the next session asks for what is left.
    api.post(f"/v1/invoices/{invoice['id']}/payments", {"amount": "5.00"})
    rest = checkout.invoice_checkout_create(actor=actor, invoice_id=invoice["id"], now=near_end)
    assert rest.id != fresh.id and rest.amount_micros == 15_000_000


@pytest.mark.parametrize("state", ["draft", "paid", "void"])
def test_only_an_open_invoice_with_something_due_gets_a_session(api, tenant, state):
    invoice = invoice_for(api, tenant, send=state == "paid")
    if state == "paid":
        api.post(f"/v1/invoices/{invoice['id']}/payments")
    if state == "void":
        api.post(f"/v1/invoices/{invoice['id']}/void")
    response = api.post(f"/v1/invoices/{invoice['id']}/checkout-session")
    assert_error(response, 409, "nothing_due")
    assert not InvoiceCheckout.objects.exists()


def test_foreign_and_unknown_ids_are_not_found(api, make_api, tenant):
    invoice = invoice_for(api, tenant)
    session = open_session(api, invoice["id"])
    other_partner, _ = make_partner()
    other = make_api(make_api_key(other_partner))
    assert_error(other.post(f"/v1/invoices/{invoice['id']}/checkout-session"), 404)
    assert_error(other.get(f"/v1/invoices/{invoice['id']}/checkout-session/{session['id']}"), 404)
    # Another invoice's session is not this invoice's.
    second = invoice_for(api, tenant)
    assert_error(api.get(f"/v1/invoices/{second['id']}/checkout-session/{session['id']}"), 404)
    assert_error(api.get(f"/v1/invoices/{invoice['id']}/checkout-session/ics_nope"), 404)
    assert_error(api.post(f"/v1/invoices/{'x' * 300}/checkout-session"), 404)


def test_a_tenant_limited_key_and_a_read_only_key(api, make_api, admin, tenant):
    invoice = invoice_for(api, tenant)
    other_tenant = make_tenant(admin, name="Other Co")
    limited = make_api(make_api_key(tenant.partner, tenant_ids=[other_tenant.id]))
    assert_error(limited.post(f"/v1/invoices/{invoice['id']}/checkout-session"), 404)
    reader = make_api(make_api_key(tenant.partner, scopes="billing:read"))
    assert_error(reader.post(f"/v1/invoices/{invoice['id']}/checkout-session"), 403)
    session = open_session(api, invoice["id"])
    fetched = reader.get(f"/v1/invoices/{invoice['id']}/checkout-session/{session['id']}")
    assert fetched.status_code == 200


# --- the public page ------------------------------------------------------------------------


def test_the_page_shows_the_invoice_under_the_partners_brand_without_signing_in(api, tenant):
    invoice = invoice_for(api, tenant)
    session = open_session(api, invoice["id"])
    page = Client().get(page_path(session))
    assert page.status_code == 200
    text = page.content.decode()
    for expected in (
        "ACME Phones",
        "help@acmephones.example",
        invoice["number"],
        "Acme Plumbing",
        "$12.53",
        'name="card_number"',
    ):
        assert expected in text, expected
    assert "Trunkline" not in text
    assert page["Referrer-Policy"] == "no-referrer"
    assert Client().get("/pay/not-a-real-token-at-all-0123456789").status_code == 404
    assert Client().get("/pay/x").status_code == 404


def test_paying_on_the_simulated_page_pays_the_invoice_once(api, partner, tenant):
    invoice = invoice_for(api, tenant)
    session = open_session(api, invoice["id"])
    client = Client()
    with capture_events() as events:
        paid = pay(client, session)
    assert paid.status_code == 302 and paid["Location"].endswith("/done")
    done = client.get(paid["Location"])
    assert done.status_code == 200 and "Payment received" in done.content.decode()

    after = api.get(f"/v1/invoices/{invoice['id']}").json()
    assert (after["status"], after["amount_due"]) == ("PAID", "0.00")
    (payment,) = after["payments"]
    assert (payment["method"], payment["amount"]) == ("card", "12.53")
    assert after["charges"] == [] and after["next_charge_at"] is None
    stored = InvoiceCheckout.objects.get()
    assert stored.status == InvoiceCheckout.Status.COMPLETED
    assert stored.processor_charge_id.startswith("ch_sim_")
    # The books as for a card charge in Platform mode: held for the partner less the fee.
    Code = LedgerAccount.Code
    assert balance(Code.TENANT_PAYMENTS_HELD, partner) == 12_030_000
    assert balance(Code.REVENUE_APPLICATION_FEES) == 500_000

    assert [e.type for e in events] == ["invoice.paid", "check-out.session.completed"]
    completed = events[1].payload
    EVENT_TYPES["check-out.session.completed"].data_schema.model_validate(completed)
    assert completed["checkout_session"]["id"] == session["id"]
    assert completed["checkout_session"]["status"] == "COMPLETED"
    assert completed["checkout_session"]["tenant_id"] == tenant.id
    assert completed["invoice"]["status"] == "PAID"

    # Coming back again, the job, and asking again change nothing.
    client.get(paid["Location"])
    collection.invoice_charges_run(now=timezone.now() + timedelta(hours=1))
    checkout.invoice_checkout_complete(checkout_id=session["id"])
    assert Invoice.objects.get(id=invoice["id"]).payments.count() == 1
    assert Posting.objects.filter(type=Posting.Type.TENANT_PAYMENT).count() == 1
    assert Event.objects.filter(type="check-out.session.completed").count() == 1
    assert Event.objects.filter(type="invoice.paid").count() == 1
    again = pay(client, session)
    assert again.status_code == 409
    fetched = api.get(f"/v1/invoices/{invoice['id']}/checkout-session/{session['id']}").json()
    assert fetched["status"] == "COMPLETED" and fetched["completed_at"]


def test_a_declined_card_leaves_the_session_open_and_counts_no_attempt(api, tenant):
    invoice = invoice_for(api, tenant)
    session = open_session(api, invoice["id"])
    client = Client()
    declined = pay(client, session, DECLINED)
    assert declined.status_code == 402
    assert "The card was declined" in declined.content.decode()
    assert InvoiceCheckout.objects.get().status == InvoiceCheckout.Status.OPEN
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "SENT"
    assert not InvoiceCharge.objects.exists()
    assert not Event.objects.filter(type__in=["payment.failed", "invoice.failed"]).exists()
    for bad in ("1234", "", "4" * 41):
        response = pay(client, session, bad)
        assert response.status_code == 422, bad
    assert pay(client, session, VISA).status_code == 302
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "PAID"


def test_a_checkout_does_not_change_the_saved_cards_retries(api, tenant):
    with committed():
        api.post(f"/v1/tenants/{tenant.id}/payment-methods", {"token": DECLINES_ON_CHARGE})
    invoice = invoice_for(api, tenant)
    run_queued_tasks()
    first = InvoiceCharge.objects.get()
    assert first.status == InvoiceCharge.Status.DECLINED
    retry_at = api.get(f"/v1/invoices/{invoice['id']}").json()["next_charge_at"]
    session = open_session(api, invoice["id"])
    pay(Client(), session, DECLINED)
    after = api.get(f"/v1/invoices/{invoice['id']}").json()
    assert after["next_charge_at"] == retry_at and len(after["charges"]) == 1
    # The job still makes the second attempt a day after the first.
    collection.invoice_charges_run(now=first.created_at + timedelta(days=1, minutes=1))
    assert InvoiceCharge.objects.count() == 2
    # That run also closed the session, which had run out; a new one pays and stops the
    # retries.
    assert InvoiceCheckout.objects.get().status == InvoiceCheckout.Status.EXPIRED
    pay(Client(), open_session(api, invoice["id"]), VISA)
    collection.invoice_charges_run(now=first.created_at + timedelta(days=3, minutes=1))
    assert InvoiceCharge.objects.count() == 2
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "PAID"


def test_an_expired_session_is_closed_and_takes_no_card(api, admin, tenant):
    invoice = invoice_for(api, tenant)
    start = timezone.now()
    actor = Actor.system(partner=admin.partner)
    session = checkout.invoice_checkout_create(actor=actor, invoice_id=invoice["id"], now=start)
    assert collection.invoice_charges_run(now=start + timedelta(hours=2)) == 1
    assert InvoiceCheckout.objects.get().status == InvoiceCheckout.Status.OPEN
    collection.invoice_charges_run(now=start + timedelta(hours=24, minutes=1))
    assert InvoiceCheckout.objects.get().status == InvoiceCheckout.Status.EXPIRED
    page = Client().get(checkout.page_path(session))
    assert "This payment link has expired" in page.content.decode()
    refused = Client().post(checkout.page_path(session), {"card_number": VISA})
    assert refused.status_code == 409
    assert Invoice.objects.get(id=invoice["id"]).status == Invoice.Status.SENT
    # The expired session is not handed out again.
    fresh = checkout.invoice_checkout_create(
        actor=actor, invoice_id=invoice["id"], now=start + timedelta(hours=25)
    )
    assert fresh.id != session.id and fresh.status == InvoiceCheckout.Status.OPEN


def test_paying_lifts_a_suspension_for_non_payment(api, tenant):
    from trunkline.billing.tenant_invoices import (
        invoices_flag_overdue,
        tenants_suspend_for_non_payment,
    )

    invoice = invoice_for(api, tenant)
    due = Invoice.objects.get(id=invoice["id"]).due_date
    later = datetime(due.year, due.month, due.day, 12, tzinfo=UTC) + timedelta(days=15)
    invoices_flag_overdue(now=later)
    tenants_suspend_for_non_payment(now=later)
    tenant.refresh_from_db()
    assert (tenant.status, tenant.suspension_cause) == (Tenant.Status.SUSPENDED, "non_payment")
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "OVERDUE"
    session = open_session(api, invoice["id"])
    pay(Client(), session)
    tenant.refresh_from_db()
    assert tenant.status != Tenant.Status.SUSPENDED and tenant.suspension_cause == ""


def test_paid_some_other_way_meanwhile_the_payment_becomes_credit(api, tenant):
    invoice = invoice_for(api, tenant)
    session = open_session(api, invoice["id"])
    api.post(f"/v1/invoices/{invoice['id']}/payments")  # a cheque arrived
    pay(Client(), session)
    tenant.refresh_from_db()
    assert tenant.credit_micros == 12_530_000
    assert Invoice.objects.get(id=invoice["id"]).paid_micros == 12_530_000
    assert InvoiceCheckout.objects.get().status == InvoiceCheckout.Status.COMPLETED


def test_a_checkout_payment_can_be_refunded_to_the_card(api, partner, tenant):
    invoice = invoice_for(api, tenant)
    pay(Client(), open_session(api, invoice["id"]))
    refunded = api.post(
        f"/v1/invoices/{invoice['id']}/refunds", {"amount": "2.53", "destination": "card"}
    )
    assert refunded.status_code == 200, refunded.json()
    assert InvoiceCheckout.objects.get().refunded_micros == 2_530_000
    assert balance(LedgerAccount.Code.TENANT_PAYMENTS_HELD, partner) == 12_030_000 - 2_530_000


def test_connect_and_custom_keys_sessions_carry_their_modes_fee(api, partner, tenant):
    started = api.post("/v1/tenant-billing/connect/onboarding")
    assert started.status_code == 200
    account = CollectionSettings.objects.get(partner=partner).connect_account_id
    simulated_onboarding_finish(account=account)
    api.post("/v1/tenant-billing/connect/refresh")
    api.patch("/v1/tenant-billing", {"mode": "connect"})
    invoice = invoice_for(api, tenant, price="25.06")
    session = open_session(api, invoice["id"])
    assert (session["mode"], session["fee"]) == ("connect", "1.00")
    assert InvoiceCheckout.objects.get(id=session["id"]).account == account
    pay(Client(), session)
    Code = LedgerAccount.Code
    assert balance(Code.REVENUE_APPLICATION_FEES) == 1_000_000
    assert balance(Code.TENANT_PAYMENTS_HELD, partner) == 0

    api.put("/v1/tenant-billing/custom-keys", {"secret_key": SECRET})
    api.patch("/v1/tenant-billing", {"mode": "custom_keys"})
    second = invoice_for(api, tenant)
    own = open_session(api, second["id"])
    assert (own["mode"], own["fee"]) == ("custom_keys", "0.00")
    pay(Client(), own)
    assert api.get(f"/v1/invoices/{second['id']}").json()["status"] == "PAID"
    assert balance(Code.REVENUE_APPLICATION_FEES) == 1_000_000


def test_a_session_opened_before_a_mode_change_is_not_reused(api, partner, tenant):
    invoice = invoice_for(api, tenant)
    before = open_session(api, invoice["id"])
    api.put("/v1/tenant-billing/custom-keys", {"secret_key": SECRET})
    api.patch("/v1/tenant-billing", {"mode": "custom_keys"})
    after = open_session(api, invoice["id"])
    assert after["id"] != before["id"] and after["mode"] == "custom_keys"


# --- the invoice email's link -------------------------------------------------------------------


def test_the_invoice_email_links_to_a_page_that_opens_a_session(api, tenant, settings):
    settings.TRUNKLINE_PUBLIC_URL = "https://portal.acmephones.example"
    mail.outbox.clear()
    invoice = invoice_for(api, tenant)
    (email,) = [m for m in mail.outbox if invoice["number"] in m.subject]
    link = re.search(r"Pay online by card: (\S+)", email.body).group(1)
    assert link.startswith("https://portal.acmephones.example/pay/invoice/")
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    client = Client()
    first = client.get(path)
    assert first.status_code == 302
    assert first["Location"].startswith("/pay/")
    assert client.get(path)["Location"] == first["Location"]
    assert InvoiceCheckout.objects.count() == 1
    with committed():
        client.post(first["Location"], {"card_number": VISA})
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "PAID"
    # Once paid, the link says so instead of opening another session.
    after = client.get(path)
    assert after.status_code == 200 and "Payment received" in after.content.decode()
    assert InvoiceCheckout.objects.count() == 1
    assert client.get(path[:-3] + "abc").status_code == 404
    assert client.get("/pay/invoice/garbage").status_code == 404


def test_a_paid_invoices_email_has_no_pay_link(api, tenant):
    from trunkline.billing.tenant_invoices import _email_message

    invoice = invoice_for(api, tenant)
    api.post(f"/v1/invoices/{invoice['id']}/payments")
    *_, body = _email_message(Invoice.objects.get(id=invoice["id"]), reminder=False)
    assert "Pay online" not in body


# --- the portal ---------------------------------------------------------------------------------


def test_the_invoice_page_makes_a_payment_link(api, admin, tenant):
    invoice = invoice_for(api, tenant)
    client = Client()
    client.force_login(admin)
    url = f"/settings/billing/invoices/{invoice['id']}"
    page = client.get(url).content.decode()
    assert f'href="{url}/payment-link"' in page
    modal = client.get(f"{url}/payment-link", **htmx_headers("modal"))
    assert modal.status_code == 200 and "Get payment link" in modal.content.decode()
    made = client.post(f"{url}/payment-link", **htmx_headers("modal"))
    assert made.status_code == 200
    session = InvoiceCheckout.objects.get()
    assert f"/pay/{session.token}" in made.content.decode()
    again = client.post(f"{url}/payment-link", **htmx_headers("modal"))
    assert InvoiceCheckout.objects.count() == 1 and session.token in again.content.decode()
    listed = client.get(url).content.decode()
    assert f'data-checkout="{session.id}"' in listed
    # Paid: no button, and asking answers in the modal.
    api.post(f"/v1/invoices/{invoice['id']}/payments")
    assert f'href="{url}/payment-link"' not in client.get(url).content.decode()
    refused = client.post(f"{url}/payment-link", **htmx_headers("modal"))
    assert refused.status_code == 409 and "takes no payment" in refused.content.decode()


def test_partner_users_and_other_partners_cannot_make_links(api, tenant, partner):
    from tests.factories import make_user

    invoice = invoice_for(api, tenant)
    reader = Client()
    reader.force_login(make_user(partner))
    url = f"/settings/billing/invoices/{invoice['id']}/payment-link"
    assert reader.post(url).status_code == 403
    _, other_admin = make_partner()
    other = Client()
    other.force_login(other_admin)
    assert other.post(url).status_code == 404
    assert not InvoiceCheckout.objects.exists()
