"""Collecting tenant invoices by card: the three modes, the statement descriptor, custom
keys, charges on issue, retries, refunds to the card (partner guide 004_*.txt, "Getting
Paid: Connect Stripe" and "Tenant Billing & Stripe"), on the simulated processor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.test import TestCase

from tests.billing.subscription_helpers import pdf_text
from tests.factories import make_partner, make_tenant
from tests.tasks import run_queued_tasks
from trunkline.billing import collection, ledger
from trunkline.billing.models import (
    CollectionSettings,
    Invoice,
    InvoiceCharge,
    LedgerAccount,
    Posting,
)
from trunkline.billing.payments import simulated_onboarding_finish
from trunkline.core.models import AuditEntry, Event
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db

VISA = "4242424242424242"
DECLINES_ON_CHARGE = "4000000000000341"
SECRET = "sk_live_51AbCdEfGhIjKlMnOpQrStUvWxYz0123456789wxyz"
NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing")


def committed():
    """Run what waits for the transaction's commit (the test's own transaction never
    commits)."""
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


def add_card(api, tenant, token=VISA):
    with committed():
        response = api.post(f"/v1/tenants/{tenant.id}/payment-methods", {"token": token})
    assert response.status_code == 201, response.json()
    return response.json()


def balance(code, partner=None) -> int:
    account = LedgerAccount.objects.filter(code=code, partner=partner).first()
    return account.balance_micros if account else 0


def connect_active(api, partner):
    started = api.post("/v1/tenant-billing/connect/onboarding")
    assert started.status_code == 200
    account = CollectionSettings.objects.get(partner=partner).connect_account_id
    assert f"/simulated-onboarding/{account}" in started.json()["url"]
    assert simulated_onboarding_finish(account=account)
    refreshed = api.post("/v1/tenant-billing/connect/refresh").json()
    assert refreshed["connect"]["status"] == "active"
    assert api.patch("/v1/tenant-billing", {"mode": "connect"}).status_code == 200
    return account


# --- the statement descriptor ---------------------------------------------------------------


@pytest.mark.parametrize("good", ["ACME PHONES", "HRC TELECOM", "PINEDALE VOIP", "A&B Tel-Co 24"])
def test_the_guides_examples_of_descriptors_that_work(api, good):
    response = api.patch("/v1/tenant-billing", {"statement_descriptor": good})
    assert response.status_code == 200
    assert response.json()["statement_descriptor"] == good.upper()


@pytest.mark.parametrize(
    "bad",
    [
        "Acme's Phone Co.",  # apostrophe and full stop (the guide's example)
        "THIS IS A REALLY LONG NAME",  # 26 characters (the guide's example)
        "ACME",  # under 5
        "12345 678",  # no letter
        "ÄCME PHONES",  # not Latin
        "ACME_PHONES",
    ],
)
def test_descriptors_the_card_networks_refuse(api, partner, bad):
    api.patch("/v1/tenant-billing", {"statement_descriptor": "ACME PHONES"})
    response = api.patch("/v1/tenant-billing", {"statement_descriptor": bad})
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_statement_descriptor"
    assert response.json()["error"]["field"] == "statement_descriptor"
    assert api.get("/v1/tenant-billing").json()["statement_descriptor"] == "ACME PHONES"


def test_a_blank_descriptor_falls_back_to_the_platforms(api):
    api.patch("/v1/tenant-billing", {"statement_descriptor": "ACME PHONES"})
    assert (
        api.patch("/v1/tenant-billing", {"statement_descriptor": ""}).json()["statement_descriptor"]
        is None
    )


def test_the_invoice_pdf_tells_the_tenant_how_the_charge_reads(api, partner, tenant):
    invoice = invoice_for(api, tenant)
    assert "appear on your statement" not in pdf_text(api.get(invoice["pdf_url"]).content)
    api.patch("/v1/tenant-billing", {"statement_descriptor": "acme phones"})
    text = pdf_text(api.get(invoice["pdf_url"]).content)
    # Platform mode: the platform's prefix, then as much of the partner's as fits in 22.
    assert "Card payments appear on your statement as TRUNKLINE* ACME PHONES." in text
    connect_active(api, partner)
    text = pdf_text(api.get(invoice["pdf_url"]).content)
    assert "Card payments appear on your statement as ACME PHONES." in text


def test_bad_settings_bodies_are_refused(api):
    assert api.patch("/v1/tenant-billing", {"mode": "bitcoin"}).status_code == 422
    assert api.patch("/v1/tenant-billing", {"colour": "red"}).status_code == 422
    assert api.patch("/v1/tenant-billing", {"statement_descriptor": 7}).status_code == 422
    assert api.get("/v1/tenant-billing").json()["mode"] == "platform"


# --- modes --------------------------------------------------------------------------------


def test_platform_is_the_default_and_other_modes_need_their_setup(api):
    settings = api.get("/v1/tenant-billing").json()
    assert settings["mode"] == "platform" and settings["application_fee_percent"] == "3.99"
    assert settings["connect"]["status"] == "none"
    assert settings["custom_keys"] == {
        "configured": False,
        "secret_key_hint": None,
        "publishable_key": None,
    }
    for mode in ("connect", "custom_keys"):
        response = api.patch("/v1/tenant-billing", {"mode": mode})
        assert response.status_code == 409
        assert response.json()["error"]["type"] == "collection_not_ready"
    assert api.get("/v1/tenant-billing").json()["mode"] == "platform"


def test_connect_onboarding_to_active(api, partner):
    started = api.post("/v1/tenant-billing/connect/onboarding")
    settings = api.get("/v1/tenant-billing").json()
    assert settings["connect"]["status"] == "pending"
    assert settings["connect"]["account_id"].startswith("acct_")
    # Not finished yet: still pending, and Connect cannot be chosen.
    pending = api.post("/v1/tenant-billing/connect/refresh").json()
    assert pending["connect"]["status"] == "pending"
    assert pending["connect"]["requirements_due"]
    assert api.patch("/v1/tenant-billing", {"mode": "connect"}).status_code == 409
    # Starting again reuses the account.
    again = api.post("/v1/tenant-billing/connect/onboarding").json()
    assert again["url"] == started.json()["url"]
    connect_active(api, partner)
    assert api.get("/v1/tenant-billing").json()["mode"] == "connect"


def test_the_simulated_onboarding_page_completes_it(client, admin, api, partner):
    url = api.post("/v1/tenant-billing/connect/onboarding").json()["url"]
    client.force_login(admin)
    path = url.split("://", 1)[-1].split("/", 1)[-1]
    page = client.get(f"/{path}")
    assert page.status_code == 200 and b"onboarding" in page.content.lower()
    done = client.post(f"/{path.split('?')[0]}", {"return_url": "/settings/billing/tenant-billing"})
    assert done.status_code == 302
    assert api.post("/v1/tenant-billing/connect/refresh").json()["connect"]["status"] == "active"


# --- custom keys --------------------------------------------------------------------------


def test_a_custom_secret_key_is_sealed_and_never_shown_again(api, partner):
    response = api.put(
        "/v1/tenant-billing/custom-keys",
        {"secret_key": SECRET, "publishable_key": "pk_live_51AbCdEfGhIjKlMnOp"},
    )
    assert response.status_code == 200
    assert response.json()["custom_keys"] == {
        "configured": True,
        "secret_key_hint": "sk_live_…wxyz",
        "publishable_key": "pk_live_51AbCdEfGhIjKlMnOp",
    }
    stored = CollectionSettings.objects.get(partner=partner)
    assert SECRET not in stored.custom_secret_key_sealed
    assert stored.custom_secret_key_sealed.startswith("v1:")
    assert SECRET not in api.get("/v1/tenant-billing").content.decode()
    for row in AuditEntry.objects.all():
        assert SECRET not in str(row.before) + str(row.after)
    assert (
        api.patch("/v1/tenant-billing", {"mode": "custom_keys"}).json()["application_fee_percent"]
        == "0"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"secret_key": "pk_live_51AbCdEfGhIjKlMnOp"},  # a publishable key
        {"secret_key": "rk_live_51AbCdEfGhIjKlMnOp"},  # a restricted key
        {"secret_key": "sk_live_short"},
        {"secret_key": SECRET, "publishable_key": "pk_test_51AbCdEfGhIjKlMnOp"},  # mixed modes
        {"secret_key": SECRET, "publishable_key": "nope"},
    ],
)
def test_keys_that_are_not_saved(api, body):
    response = api.put("/v1/tenant-billing/custom-keys", body)
    assert response.status_code == 422
    assert api.get("/v1/tenant-billing").json()["custom_keys"]["configured"] is False


def test_removing_custom_keys_returns_to_platform(api):
    api.put("/v1/tenant-billing/custom-keys", {"secret_key": SECRET})
    api.patch("/v1/tenant-billing", {"mode": "custom_keys"})
    removed = api.delete("/v1/tenant-billing/custom-keys").json()
    assert removed["mode"] == "platform" and removed["custom_keys"]["configured"] is False


# --- fees ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "mode", "fee"),
    [
        (10_000_000, "platform", 400_000),  # $10.00 × 3.99 % = 39.9¢ → 40¢
        (12_530_000, "connect", 500_000),  # $12.53 → 49.9947¢ → 50¢
        (12_520_000, "connect", 500_000),  # $12.52 → 49.9548¢ → 50¢
        (12_280_000, "platform", 490_000),  # $12.28 → 48.9972¢ → 49¢
        (25_060_000, "platform", 1_000_000),  # $25.06 → 99.99¢ → $1.00
        (12_530_000, "custom_keys", 0),
    ],
)
def test_the_fee_is_399_percent_half_up_to_the_cent(amount, mode, fee):
    assert collection.fee_micros(amount, mode) == fee


# --- charging on issue ---------------------------------------------------------------------


def test_platform_mode_charges_on_issue_and_holds_the_rest_for_the_partner(api, partner, tenant):
    card = add_card(api, tenant)
    assert (card["brand"], card["last4"], card["is_default"], card["chargeable"]) == (
        "visa",
        "4242",
        True,
        True,
    )
    invoice = invoice_for(api, tenant)
    assert invoice["status"] == "SENT"  # charged once the issue committed
    run_queued_tasks()
    paid = api.get(f"/v1/invoices/{invoice['id']}").json()
    assert (paid["status"], paid["amount_due"]) == ("PAID", "0.00")
    assert [p["method"] for p in paid["payments"]] == ["card"]
    (charge,) = paid["charges"]
    assert (charge["status"], charge["amount"], charge["fee"], charge["mode"]) == (
        "SUCCEEDED",
        "12.53",
        "0.50",
        "platform",
    )
    Code = LedgerAccount.Code
    assert balance(Code.TENANT_PAYMENTS_HELD, partner) == 12_030_000
    assert balance(Code.REVENUE_APPLICATION_FEES) == 500_000
    assert balance(Code.PROCESSOR_CLEARING) == -12_530_000
    # The partner's wallet is another flow of money: untouched, and not in its history.
    assert ledger.wallet_balance(partner).micros == 0
    assert api.get("/v1/wallet/transactions").json()["data"] == []
    assert api.get("/v1/wallet/transactions?type=tenant_payment").status_code == 422
    assert Event.objects.filter(type="invoice.paid").count() == 1


def test_connect_mode_charges_on_the_partners_account_with_the_fee(api, partner, tenant):
    account = connect_active(api, partner)
    card = add_card(api, tenant)
    invoice = invoice_for(api, tenant, price="25.06")
    run_queued_tasks()
    paid = api.get(f"/v1/invoices/{invoice['id']}").json()
    assert paid["status"] == "PAID"
    assert paid["charges"][0]["fee"] == "1.00"
    assert InvoiceCharge.objects.get().account == account
    Code = LedgerAccount.Code
    assert balance(Code.REVENUE_APPLICATION_FEES) == 1_000_000
    assert balance(Code.TENANT_PAYMENTS_HELD, partner) == 0  # it went to the partner
    assert Posting.objects.get(type=Posting.Type.APPLICATION_FEE).reference == invoice["id"]
    assert card["id"].startswith("tpm_")


def test_custom_keys_charge_with_the_partners_key_and_no_fee(api, partner, tenant):
    api.put("/v1/tenant-billing/custom-keys", {"secret_key": SECRET})
    api.patch("/v1/tenant-billing", {"mode": "custom_keys"})
    add_card(api, tenant)
    invoice = invoice_for(api, tenant)
    run_queued_tasks()
    paid = api.get(f"/v1/invoices/{invoice['id']}").json()
    assert paid["status"] == "PAID" and paid["charges"][0]["fee"] == "0.00"
    assert not Posting.objects.filter(
        type__in=[Posting.Type.TENANT_PAYMENT, Posting.Type.APPLICATION_FEE]
    ).exists()


def test_cards_saved_before_a_mode_change_are_not_charged(api, partner, tenant):
    add_card(api, tenant)
    connect_active(api, partner)
    (card,) = api.get(f"/v1/tenants/{tenant.id}/payment-methods").json()["data"]
    assert card["chargeable"] is False
    invoice = invoice_for(api, tenant)
    run_queued_tasks()
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["charges"] == []
    manual = api.post(f"/v1/invoices/{invoice['id']}/charge")
    assert manual.status_code == 409
    assert manual.json()["error"]["type"] == "payment_method_required"


def test_no_card_no_charge_and_a_draft_is_never_charged(api, tenant):
    draft = invoice_for(api, tenant, send=False)
    add_card(api, tenant)
    run_queued_tasks()
    assert not InvoiceCharge.objects.exists()
    assert api.post(f"/v1/invoices/{draft['id']}/charge").json()["error"]["type"] == "nothing_due"


# --- failures and retries -----------------------------------------------------------------


def test_a_declined_card_is_retried_1_3_and_7_days_after_then_no_more(api, partner, tenant):
    add_card(api, tenant, DECLINES_ON_CHARGE)
    invoice = invoice_for(api, tenant)
    mail.outbox.clear()
    with committed():
        run_queued_tasks()
    stored = Invoice.objects.get(id=invoice["id"])
    first = InvoiceCharge.objects.get(invoice=stored)
    assert first.status == InvoiceCharge.Status.DECLINED and first.message == "card declined"
    after = api.get(f"/v1/invoices/{invoice['id']}").json()
    assert after["status"] == "SENT" and after["amount_due"] == "12.53"
    assert after["next_charge_at"] is not None

    failed = Event.objects.get(type="invoice.failed").payload
    assert (failed["attempt"], failed["message"]) == (1, "card declined")
    assert failed["invoice"]["id"] == invoice["id"] and failed["next_attempt_at"]
    payment = Event.objects.get(type="payment.failed").payload
    assert (payment["tenant_id"], payment["invoice_id"], payment["status"]) == (
        tenant.id,
        invoice["id"],
        "declined",
    )
    (email,) = [m for m in mail.outbox if m.subject.startswith("Payment failed")]
    assert email.to == [tenant.billing_email]
    assert "ending 0341" in email.body and "We will try again on" in email.body

    start = first.created_at
    # Not due before a day has passed; then one attempt per step.
    assert collection.invoice_charges_run(now=start + timedelta(hours=23)) == 0
    for days, attempts in [(1, 2), (2, 2), (3, 3), (7, 4), (30, 4)]:
        collection.invoice_charges_run(now=start + timedelta(days=days, minutes=1))
        assert InvoiceCharge.objects.filter(invoice=stored).count() == attempts, days
    assert Event.objects.filter(type="invoice.failed").count() == 4
    last = Event.objects.filter(type="invoice.failed").order_by("-created_at").first()
    assert last.payload["next_attempt_at"] is None
    # A partner can still try by hand.
    assert api.post(f"/v1/invoices/{invoice['id']}/charge").status_code == 200
    assert InvoiceCharge.objects.filter(invoice=stored).count() == 5


def test_a_new_card_pays_the_open_invoices(api, tenant):
    add_card(api, tenant, DECLINES_ON_CHARGE)
    invoice = invoice_for(api, tenant)
    run_queued_tasks()
    add_card(api, tenant, VISA)
    run_queued_tasks()
    paid = api.get(f"/v1/invoices/{invoice['id']}").json()
    assert paid["status"] == "PAID"
    assert [c["status"] for c in paid["charges"]] == ["DECLINED", "SUCCEEDED"]


def test_an_attempt_left_pending_is_asked_again_with_its_own_key(api, tenant, monkeypatch):
    add_card(api, tenant)
    invoice = invoice_for(api, tenant)
    # The process dies after writing the attempt, before the processor answered.
    monkeypatch.setattr(collection, "_ask", lambda attempt, invoice, now: attempt)
    run_queued_tasks()
    pending = InvoiceCharge.objects.get()
    assert pending.status == InvoiceCharge.Status.PENDING
    monkeypatch.undo()
    assert collection.invoice_charges_run(now=pending.created_at + timedelta(minutes=5)) == 0
    collection.invoice_charges_run(now=pending.created_at + timedelta(minutes=11))
    settled = InvoiceCharge.objects.get()
    assert settled.status == InvoiceCharge.Status.SUCCEEDED and settled.attempt == 1
    assert settled.processor_charge_id
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["status"] == "PAID"
    # Asking once more changes nothing: one payment, one posting.
    collection.invoice_charges_run(now=pending.created_at + timedelta(hours=2))
    assert Invoice.objects.get(id=invoice["id"]).payments.count() == 1
    assert Posting.objects.filter(type=Posting.Type.TENANT_PAYMENT).count() == 1


def test_paid_by_hand_meanwhile_the_card_payment_becomes_credit(api, tenant, monkeypatch):
    add_card(api, tenant)
    invoice = invoice_for(api, tenant)
    monkeypatch.setattr(collection, "_ask", lambda attempt, invoice, now: attempt)
    run_queued_tasks()
    monkeypatch.undo()
    api.post(f"/v1/invoices/{invoice['id']}/payments")  # a cheque arrived
    collection.invoice_charges_run(now=datetime.now(UTC) + timedelta(minutes=11))
    tenant.refresh_from_db()
    assert tenant.credit_micros == 12_530_000
    assert Invoice.objects.get(id=invoice["id"]).paid_micros == 12_530_000


def test_overdue_suspension_is_lifted_when_the_card_pays(api, admin, tenant):
    from trunkline.billing.tenant_invoices import tenants_suspend_for_non_payment

    invoice = invoice_for(api, tenant)
    due = Invoice.objects.get(id=invoice["id"]).due_date
    later = datetime(due.year, due.month, due.day, 12, tzinfo=UTC) + timedelta(days=15)
    from trunkline.billing.tenant_invoices import invoices_flag_overdue

    invoices_flag_overdue(now=later)
    tenants_suspend_for_non_payment(now=later)
    tenant.refresh_from_db()
    assert (tenant.status, tenant.suspension_cause) == (Tenant.Status.SUSPENDED, "non_payment")
    add_card(api, tenant)
    run_queued_tasks()
    tenant.refresh_from_db()
    assert tenant.status != Tenant.Status.SUSPENDED and tenant.suspension_cause == ""


# --- refunds to the card -------------------------------------------------------------------


def test_a_refund_goes_back_to_the_card(api, partner, tenant):
    add_card(api, tenant)
    invoice = invoice_for(api, tenant)
    run_queued_tasks()
    path = f"/v1/invoices/{invoice['id']}/refunds"
    part = api.post(path, {"amount": "2.53", "destination": "card", "note": "outage"})
    assert part.status_code == 200, part.json()
    assert part.json()["amount_refunded"] == "2.53"
    assert part.json()["charges"][0]["refunded"] == "2.53"
    too_much = api.post(path, {"amount": "10.01", "destination": "card"})
    assert too_much.status_code == 409
    assert too_much.json()["error"]["type"] == "refund_exceeds_payment"
    # The held money goes back; the fee on the payment is not returned.
    Code = LedgerAccount.Code
    assert balance(Code.TENANT_PAYMENTS_HELD, partner) == 12_030_000 - 2_530_000
    assert balance(Code.REVENUE_APPLICATION_FEES) == 500_000
    tenant.refresh_from_db()
    assert tenant.credit_micros == 0  # to the card, not to account credit


def test_a_manual_payment_cannot_be_refunded_to_a_card(api, tenant):
    invoice = invoice_for(api, tenant)
    api.post(f"/v1/invoices/{invoice['id']}/payments")
    refused = api.post(f"/v1/invoices/{invoice['id']}/refunds", {"destination": "card"})
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "refund_exceeds_card_payment"
    assert api.get(f"/v1/invoices/{invoice['id']}").json()["amount_refunded"] == "0.00"


# --- tenants' cards ------------------------------------------------------------------------


def test_tenant_cards_default_delete_and_bad_input(api, partner, tenant):
    first = add_card(api, tenant)
    second = add_card(api, tenant, "5555555555554444")
    listed = api.get(f"/v1/tenants/{tenant.id}/payment-methods").json()["data"]
    assert [(c["last4"], c["is_default"]) for c in listed] == [("4444", True), ("4242", False)]
    made = api.post(f"/v1/tenants/{tenant.id}/payment-methods/{first['id']}/default")
    assert made.json()["is_default"] is True
    assert api.delete(f"/v1/tenants/{tenant.id}/payment-methods/{first['id']}").status_code == 204
    (left,) = api.get(f"/v1/tenants/{tenant.id}/payment-methods").json()["data"]
    assert (left["id"], left["is_default"]) == (second["id"], True)
    assert Event.objects.filter(type="payment_method.attached").count() == 2
    attached = Event.objects.filter(type="payment_method.attached").first().payload
    assert attached["payment_method"]["tenant_id"] == tenant.id

    declined = api.post(f"/v1/tenants/{tenant.id}/payment-methods", {"token": "4000000000000002"})
    assert declined.status_code == 402
    unknown = api.post(f"/v1/tenants/{tenant.id}/payment-methods", {"token": "1234"})
    assert unknown.status_code == 422
    extra = api.post(f"/v1/tenants/{tenant.id}/payment-methods", {"token": VISA, "number": VISA})
    assert extra.status_code == 422
    assert api.delete(f"/v1/tenants/{tenant.id}/payment-methods/tpm_nope").status_code == 404
    assert len(api.get(f"/v1/tenants/{tenant.id}/payment-methods").json()["data"]) == 1


def test_another_partners_tenant_and_cards_are_not_found(api, make_api, tenant):
    add_card(api, tenant)
    other_partner, other_admin = make_partner()
    from tests.factories import make_api_key

    other = make_api(make_api_key(other_partner))
    assert other.get(f"/v1/tenants/{tenant.id}/payment-methods").status_code == 404
    assert (
        other.post(f"/v1/tenants/{tenant.id}/payment-methods", {"token": VISA}).status_code == 404
    )
    invoice = invoice_for(api, tenant)
    assert other.post(f"/v1/invoices/{invoice['id']}/charge").status_code == 404
