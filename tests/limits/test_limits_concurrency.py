"""20 concurrent batches of rated calls that together cross a tenant's spend cap suspend
it exactly once, with one alert and one suspension email (PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from tests.concurrency import together
from tests.factories import make_partner, make_tenant
from trunkline.billing.cdrs import cdrs_ingest
from trunkline.billing.models import TenantUsage
from trunkline.core.actors import Actor
from trunkline.core.models import Event, OutgoingEmail
from trunkline.limits.models import LimitAlert
from trunkline.limits.services import tenant_limits_set
from trunkline.tenants.models import Tenant

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_concurrent_batches_crossing_the_spend_cap_suspend_once(carrier):
    partner, admin = make_partner()
    tenant = make_tenant(admin)
    at = datetime.now(UTC) - timedelta(minutes=10)

    def batch(slot: int, size: int = 10):
        return [
            {
                "call_id": f"{slot}-{n}",
                "tenant_id": tenant.id,
                "direction": "outbound",
                "from": "+15015550100",
                "to": "+15015550123",
                "started_at": at.isoformat(),
                "ended_at": (at + timedelta(seconds=60)).isoformat(),
                "billsec": 60,
            }
            for n in range(size)
        ]

    # Price one minute, then cap the tenant at 150 of the 200 minutes the batches bring.
    cdrs_ingest(actor=Actor.system(partner=partner), records=batch(99, 1))
    per_minute = TenantUsage.objects.get(tenant=tenant).wholesale_micros
    from trunkline.core.money import Money

    tenant_limits_set(
        actor=Actor.system(partner=partner),
        tenant=tenant,
        changes={"monthly_spend_limit": Money(per_minute * 150).rounded_to_cents().to_json()},
    )

    results = together(
        lambda slot: cdrs_ingest(actor=Actor.system(partner=partner), records=batch(slot)), 20
    )
    assert sum(result.accepted for result in results) == 200
    tenant.refresh_from_db()
    assert (tenant.status, tenant.suspension_cause) == (Tenant.Status.SUSPENDED, "usage_cap")
    assert Event.objects.filter(type="tenant.suspended").count() == 1
    assert LimitAlert.objects.filter(tenant=tenant, level="threshold").count() == 1
    suspended_mail = [e for e in OutgoingEmail.objects.all() if "Tenant suspended" in e.subject]
    assert len(suspended_mail) == 1
    usage = TenantUsage.objects.get(tenant=tenant)
    assert usage.calls == 201
