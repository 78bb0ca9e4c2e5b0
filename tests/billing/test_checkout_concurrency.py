"""A paid hosted checkout completed from several places at once — the payer's return page
and the hourly job — applies the payment once: each completion locks the invoice and the
session row and acts only on a session still OPEN (PostgreSQL)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from tests.concurrency import together
from tests.factories import make_partner, make_tenant
from trunkline.billing import checkout, tenant_invoices
from trunkline.billing.models import InvoiceCheckout, InvoicePayment, Posting
from trunkline.billing.payments import simulated_checkout_pay
from trunkline.core.actors import Actor
from trunkline.core.models import Event

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_the_return_page_and_the_job_at_once_apply_the_payment_once():
    partner, admin = make_partner()
    actor = Actor.system(partner=partner)
    tenant = make_tenant(admin, name="Acme Plumbing")
    invoice = tenant_invoices.invoice_create_off_cycle(
        actor=actor, tenant=tenant, lines=[{"description": "Setup", "unit_price": "12.53"}]
    )
    invoice = tenant_invoices.invoice_send(actor=actor, invoice=invoice)
    session = checkout.invoice_checkout_create(actor=actor, invoice_id=invoice.id)
    # Paid on the hosted page; its completion has not run yet.
    simulated_checkout_pay(session_id=session.processor_session_id, card_number="4242424242424242")
    later = timezone.now() + timedelta(minutes=5)

    def complete(slot: int):
        if slot % 2:
            return checkout.invoice_checkouts_reconcile(now=later)
        return checkout.invoice_checkout_complete(checkout_id=session.id, now=later).status

    together(complete, 6)
    assert InvoiceCheckout.objects.get(pk=session.pk).status == InvoiceCheckout.Status.COMPLETED
    assert InvoicePayment.objects.filter(invoice=invoice).count() == 1
    assert Posting.objects.filter(type=Posting.Type.TENANT_PAYMENT).count() == 1
    assert Event.objects.filter(type="check-out.session.completed").count() == 1
    assert Event.objects.filter(type="invoice.paid").count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_micros) == ("PAID", 12_530_000)
    tenant.refresh_from_db()
    assert tenant.credit_micros == 0
