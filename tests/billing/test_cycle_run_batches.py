"""The month-end run bills due tenants a chunk at a time: one transaction under all the
chunk's row locks, the invoices numbered and written together (partner guide 004_*.txt,
"Tenant invoices": an invoice per tenant per cycle, sequential numbers per partner, the
email to the tenant and `invoice.created`)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction

from tests.concurrency import together
from tests.factories import actor_for_user, make_partner, make_tenant
from trunkline.billing import tenant_invoices
from trunkline.billing.models import BillingProfile, Invoice, InvoicePayment
from trunkline.billing.tenant_invoices import tenant_cycles_run
from trunkline.core.models import AuditEntry, Event, OutgoingEmail
from trunkline.tenants.models import Tenant
from trunkline.webhooks.models import WebhookDelivery
from trunkline.webhooks.services import endpoint_create

JAN_1 = datetime(2026, 1, 1, 6, tzinfo=UTC)  # local midnight in Chicago
FEB_1_RUN = datetime(2026, 2, 1, 7, 35, tzinfo=UTC)


def flat_rate_tenants(admin, count: int, **fields) -> list[Tenant]:
    profile = BillingProfile.objects.get(partner=admin.partner, name="Flat Rate Starter")
    tenants = [make_tenant(admin, billing_profile_id=profile.id, **fields) for _ in range(count)]
    Tenant.objects.filter(pk__in=[t.pk for t in tenants]).update(
        created_at=JAN_1, billing_profile_since=JAN_1, billed_through=None, next_cycle_at=None
    )
    return list(Tenant.objects.filter(pk__in=[t.pk for t in tenants]))


@pytest.fixture
def two_partners(monkeypatch):
    monkeypatch.setattr(tenant_invoices, "PREFETCH_TENANTS", 3)  # several chunks
    ours, our_admin = make_partner(company_name="Ozark Voice")
    theirs, their_admin = make_partner(company_name="Delta Phones")
    endpoint_create(
        actor=actor_for_user(our_admin),
        url="https://hooks.example.com/in",
        events=["invoice.created"],
    )
    return our_admin, their_admin


def first_run_and_the_month(admin_tenants):
    # The first run only starts each tenant's cycle; the one after the month bills it.
    tenant_cycles_run(now=JAN_1)
    assert Invoice.objects.count() == 0


@pytest.mark.django_db
def test_every_due_tenant_is_billed_once_in_sequence_per_partner(
    two_partners, django_capture_on_commit_callbacks
):
    our_admin, their_admin = two_partners
    ours = flat_rate_tenants(our_admin, 5)
    theirs = flat_rate_tenants(their_admin, 4)
    first_run_and_the_month(ours + theirs)
    with django_capture_on_commit_callbacks(execute=True):
        assert tenant_cycles_run(now=FEB_1_RUN) == 9

    for admin, tenants in ((our_admin, ours), (their_admin, theirs)):
        invoices = Invoice.objects.filter(partner=admin.partner).order_by("number")
        assert [invoice.number for invoice in invoices] == list(range(1, len(tenants) + 1))
        assert {invoice.tenant_id for invoice in invoices} == {t.id for t in tenants}
        for invoice in invoices:
            assert (invoice.period_start, invoice.period_end) == (
                date(2026, 1, 1),
                date(2026, 2, 1),
            )
            assert invoice.status == Invoice.Status.SENT and invoice.total_micros == 99_000_000
            assert [line.kind for line in invoice.lines.all()] == ["base_fee"]
    for tenant in Tenant.objects.filter(pk__in=[t.id for t in ours + theirs]):
        assert tenant.billed_through == date(2026, 2, 1)
        assert tenant.next_cycle_at == datetime(2026, 3, 1, 6, tzinfo=UTC)

    events = Event.objects.filter(type="invoice.created")
    assert events.count() == 9
    assert AuditEntry.objects.filter(action="invoice.issued").count() == 9
    # Only the partner with an endpoint gets deliveries, one per invoice of its own.
    deliveries = WebhookDelivery.objects.all()
    assert {d.event.payload["invoice"]["tenant_id"] for d in deliveries} == {t.id for t in ours}
    assert {d.partner_id for d in deliveries} == {our_admin.partner_id}
    # The emails went out once the chunks committed, each under its partner's brand.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(t.billing_email for t in ours + theirs)
    invoice_mail = OutgoingEmail.objects.filter(subject__startswith="Invoice ")
    assert invoice_mail.count() == 9
    assert all(row.status == OutgoingEmail.Status.SENT for row in invoice_mail)
    sent_to = {m.to[0]: m for m in mail.outbox}
    assert "Delta Phones" in sent_to[theirs[0].billing_email].subject

    # A second run at the same moment writes nothing.
    assert tenant_cycles_run(now=FEB_1_RUN) == 0
    assert Invoice.objects.count() == 9


@pytest.mark.django_db
def test_a_tenant_with_account_credit_in_a_chunk_has_it_taken_off(two_partners):
    our_admin, _ = two_partners
    tenants = flat_rate_tenants(our_admin, 4)
    first_run_and_the_month(tenants)
    Tenant.objects.filter(pk=tenants[1].pk).update(credit_micros=30_000_000)
    assert tenant_cycles_run(now=FEB_1_RUN) == 4
    credited = Invoice.objects.get(tenant=tenants[1])
    assert credited.paid_micros == 30_000_000 and credited.status == Invoice.Status.PARTIALLY_PAID
    assert InvoicePayment.objects.get(invoice=credited).method == InvoicePayment.Method.CREDIT
    assert Tenant.objects.get(pk=tenants[1].pk).credit_micros == 0
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [1, 2, 3, 4]  # no gap where the credited invoice was written apart


@pytest.mark.django_db
def test_a_chunk_refused_by_an_invoice_written_meanwhile_is_billed_one_by_one(two_partners):
    our_admin, _ = two_partners
    tenants = flat_rate_tenants(our_admin, 3)
    first_run_and_the_month(tenants)
    ids = sorted(t.id for t in tenants)
    usage = tenant_invoices._prefetch(ids, FEB_1_RUN)  # read ahead: no invoice yet
    # Meanwhile the middle tenant's cycle is invoiced by another path.
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=ids[1])
        meanwhile = tenant_invoices.invoice_for_cycle(
            tenant, date(2026, 1, 1), date(2026, 2, 1), FEB_1_RUN
        )
    tenant_invoices._bill_chunk(ids, FEB_1_RUN, usage)

    assert Invoice.objects.count() == 3
    assert Invoice.objects.get(tenant_id=ids[1]).id == meanwhile.id
    assert sorted(Invoice.objects.values_list("number", flat=True)) == [1, 2, 3]
    assert Event.objects.filter(type="invoice.created").count() == 3
    assert all(t.billed_through == date(2026, 2, 1) for t in Tenant.objects.filter(pk__in=ids))


@pytest.mark.postgres_only
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_bill_each_tenant_once_without_gaps(monkeypatch):
    monkeypatch.setattr(tenant_invoices, "PREFETCH_TENANTS", 7)
    _, admin = make_partner()
    tenants = flat_rate_tenants(admin, 30)
    first_run_and_the_month(tenants)
    written = together(lambda slot: tenant_cycles_run(now=FEB_1_RUN), 4, timeout=120)
    assert sum(written) == 30
    assert Invoice.objects.count() == 30
    assert sorted(Invoice.objects.values_list("number", flat=True)) == list(range(1, 31))
    assert Event.objects.filter(type="invoice.created").count() == 30
