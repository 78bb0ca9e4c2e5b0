"""The invoice emails carry the invoice's PDF, drawn when the email is delivered
(partner guide 004_*.txt, "Tenant invoices": the invoice emailed to the tenant)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.billing.subscription_helpers import pdf_text
from tests.billing.test_cycle_run_batches import JAN_1, flat_rate_tenants
from tests.factories import actor_for_user
from trunkline.billing import tenant_invoice_pdf as pdf_module
from trunkline.billing.models import Invoice
from trunkline.billing.tenant_invoices import invoice_send_reminder, tenant_cycles_run
from trunkline.core.email import emails_deliver
from trunkline.core.models import OutgoingEmail

pytestmark = pytest.mark.django_db

FEB_1_RUN = datetime(2026, 2, 1, 7, 35, tzinfo=UTC)


def invoice_pdfs(message) -> list[tuple[str, bytes]]:
    return [
        (name, content)
        for name, content, mimetype in message.attachments
        if mimetype == "application/pdf"
    ]


@pytest.fixture
def drawn(monkeypatch):
    """Counts the tenant invoice PDFs drawn."""
    counted = []
    draw = pdf_module.tenant_invoice_pdf

    def counting(invoice):
        counted.append(invoice.id)
        return draw(invoice)

    monkeypatch.setattr(pdf_module, "tenant_invoice_pdf", counting)
    return counted


def test_the_invoice_email_carries_the_invoice_pdf(admin, django_capture_on_commit_callbacks):
    [tenant] = flat_rate_tenants(admin, 1, billing_email="ap@tenant.example")
    tenant_cycles_run(now=JAN_1)
    with django_capture_on_commit_callbacks(execute=True):
        assert tenant_cycles_run(now=FEB_1_RUN) == 1
    invoice = Invoice.objects.get(tenant=tenant)
    [message] = mail.outbox
    [(name, document)] = invoice_pdfs(message)
    assert name == f"Invoice-{invoice.display_number}.pdf"
    assert document.startswith(b"%PDF-")
    assert invoice.display_number in pdf_text(document)
    assert "$99.00" in pdf_text(document)


def test_the_month_end_run_queues_in_one_insert_and_draws_no_pdf(
    admin, drawn, django_capture_on_commit_callbacks
):
    tenants = flat_rate_tenants(admin, 50)
    tenant_cycles_run(now=JAN_1)
    with (
        django_capture_on_commit_callbacks(execute=False) as after_commit,
        CaptureQueriesContext(connection) as queries,
    ):
        assert tenant_cycles_run(now=FEB_1_RUN) == 50
    inserts = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('INSERT INTO "core_outgoingemail"')
    ]
    assert len(inserts) == 1
    assert drawn == []  # nothing rendered while queuing
    invoice_mail = OutgoingEmail.objects.filter(subject__startswith="Invoice ")
    assert invoice_mail.filter(status=OutgoingEmail.Status.QUEUED).count() == 50

    for callback in after_commit:  # the delivery the run leaves for after its commit
        callback()
    assert len(mail.outbox) == 50
    assert len(drawn) == 50
    by_recipient = {message.to[0]: message for message in mail.outbox}
    for tenant in tenants:
        invoice = Invoice.objects.get(tenant=tenant)
        [(name, document)] = invoice_pdfs(by_recipient[tenant.billing_email])
        assert name == f"Invoice-{invoice.display_number}.pdf"
        assert invoice.display_number in pdf_text(document)
    assert not invoice_mail.exclude(status=OutgoingEmail.Status.SENT).exists()


def test_the_pdf_shows_the_invoice_as_it_is_when_sent(admin):
    [tenant] = flat_rate_tenants(admin, 1)
    tenant_cycles_run(now=JAN_1)
    tenant_cycles_run(now=FEB_1_RUN)  # queued, not yet delivered (no commit in this test)
    invoice = Invoice.objects.get(tenant=tenant)
    Invoice.objects.filter(pk=invoice.pk).update(memo="Thank you for your business")
    row = OutgoingEmail.objects.get(recipients=[tenant.billing_email])
    assert emails_deliver([row.id]) == 1
    [(_, document)] = invoice_pdfs(mail.outbox[0])
    assert "Thank you for your business" in pdf_text(document)


def test_an_invoice_deleted_before_delivery_is_left_out_of_the_email(admin):
    [tenant] = flat_rate_tenants(admin, 1)
    tenant_cycles_run(now=JAN_1)
    tenant_cycles_run(now=FEB_1_RUN)
    Invoice.objects.filter(tenant=tenant).delete()
    row = OutgoingEmail.objects.get(recipients=[tenant.billing_email])
    assert emails_deliver([row.id]) == 1
    [message] = mail.outbox
    assert message.attachments == []
    assert message.subject.startswith("Invoice ")


def test_the_reminder_carries_the_pdf_too(admin, django_capture_on_commit_callbacks):
    [tenant] = flat_rate_tenants(admin, 1)
    tenant_cycles_run(now=JAN_1)
    tenant_cycles_run(now=FEB_1_RUN)
    invoice = Invoice.objects.get(tenant=tenant)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_send_reminder(actor=actor_for_user(admin), invoice=invoice)
    [message] = mail.outbox
    assert message.subject.startswith(f"Reminder: invoice {invoice.display_number}")
    [(name, document)] = invoice_pdfs(message)
    assert name == f"Invoice-{invoice.display_number}.pdf"
    assert invoice.display_number in pdf_text(document)


def test_a_failed_subscription_charge_email_carries_the_platform_invoice(
    admin, django_capture_on_commit_callbacks
):
    from tests.billing.subscription_helpers import DECLINING_CARD, add_card, at, partner_actor
    from trunkline.billing.models import PlatformInvoice
    from trunkline.billing.subscription_cycle import subscriptions_bill
    from trunkline.billing.subscriptions import subscription_activate

    add_card(admin.partner)
    subscription_activate(actor=partner_actor(admin), plan="starter", now=at(2026, 11, 10))
    add_card(admin.partner, DECLINING_CARD)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions_bill(now=at(2026, 12, 1, 0, 30))
    invoice = PlatformInvoice.objects.get(partner=admin.partner, kind="monthly")
    [message] = mail.outbox
    [(name, document)] = invoice_pdfs(message)
    assert name == f"Invoice-{invoice.display_number}.pdf"
    assert invoice.display_number in pdf_text(document)
    assert "failed" in pdf_text(document).lower()  # drawn as it is now: unpaid
