"""Licences on the tenant's invoice: a tenant on the licence pricing model pays for the
licences it holds, prorated by days held, and not per extension (`001_*.txt`; `003_*.txt`:
"Licences renew automatically based on your selected billing frequency")."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tests.factories import actor_for_user, make_tenant
from tests.licensing.conftest import licence_profile
from trunkline.billing.models import Invoice
from trunkline.billing.tenant_invoices import tenant_cycles_run
from trunkline.core.money import Money
from trunkline.licensing import services as licences
from trunkline.licensing.models import LicenseSku
from trunkline.pbx.extensions import extension_create
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db


def chicago(month, day, hour=0):
    return datetime(2026, month, day, hour + 6, tzinfo=UTC)


def lines(invoice):
    return [
        (line.kind, format(line.quantity.normalize(), "f"), Money(line.amount_micros).to_json())
        for line in invoice.lines.all()
    ]


@pytest.fixture
def seat_tenant(admin):
    tenant = make_tenant(admin, billing_profile_id=licence_profile(admin).id)
    since = chicago(1, 1)
    Tenant.objects.filter(pk=tenant.pk).update(
        created_at=since, billing_profile_since=since, billed_through=None, next_cycle_at=None
    )
    return Tenant.objects.get(pk=tenant.pk)


def test_licences_are_billed_by_days_held_and_extensions_are_not(admin, seat_tenant):
    actor = actor_for_user(admin)
    tenant_cycles_run(now=chicago(1, 1, 1))
    licences.subscription_add(
        actor=actor, tenant=seat_tenant, sku_code="seat_basic", quantity=10, now=chicago(1, 20)
    )
    premium = licences.subscription_add(
        actor=actor, tenant=seat_tenant, sku_code="seat_premium", quantity=2, now=chicago(2, 15)
    )
    for number in ("201", "202", "203"):
        extension_create(
            actor=actor,
            tenant=seat_tenant,
            fields={"number": number, "name": "x"},
            now=chicago(1, 21),
        )
    licences.subscription_terminate(
        actor=actor, tenant=seat_tenant, subscription_id=premium.id, now=chicago(2, 22)
    )
    tenant_cycles_run(now=chicago(3, 1, 1))
    february = Invoice.objects.get(tenant=seat_tenant, period_start=date(2026, 2, 1))
    # 10 Basic seats all month at $15; 2 Premium seats for 15–21 February (7 of 28 days)
    # at $25: 2 × 7/28 = 0.5.
    assert lines(february) == [("licenses", "10", "150.00"), ("licenses", "0.5", "12.50")]
    assert "prorated by days held" in february.lines.get(amount_micros=12_500_000).description


def test_a_yearly_licence_is_billed_in_the_cycle_it_renews_in(admin, seat_tenant):
    LicenseSku.objects.filter(pk="webex").update(frequency="yearly", price_micros=80_000_000)
    tenant_cycles_run(now=chicago(1, 1, 1))
    licences.subscription_add(
        actor=actor_for_user(admin),
        tenant=seat_tenant,
        sku_code="webex",
        quantity=3,
        now=chicago(1, 10),
    )
    tenant_cycles_run(now=chicago(3, 1, 1))
    january = Invoice.objects.get(tenant=seat_tenant, period_start=date(2026, 1, 1))
    assert lines(january) == [("licenses", "3", "240.00")]
    # Nothing renews in February: a cycle with nothing to bill makes no invoice.
    assert not Invoice.objects.filter(tenant=seat_tenant, period_start=date(2026, 2, 1)).exists()
