"""The last seats under concurrent provisioning, on PostgreSQL row locks."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.concurrency import together
from tests.factories import actor_for_user, make_tenant
from tests.licensing.conftest import hold, licence_profile
from trunkline.core.errors import Conflict
from trunkline.licensing.models import LicenseAllocation, LicenseAssignment
from trunkline.pbx.extensions import extension_create
from trunkline.pbx.models import Extension

pg_only = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
]


def _apply(test):
    for mark in reversed(pg_only):
        test = mark(test)
    return test


@_apply
def test_thirty_creations_race_for_the_last_five_seats(admin):
    tenant = make_tenant(admin, billing_profile_id=licence_profile(admin).id)
    hold(admin, tenant, "seat_basic", 25)
    actor = actor_for_user(admin)
    for n in range(20):
        extension_create(actor=actor, tenant=tenant, fields={"number": str(2000 + n), "name": "x"})

    def attempt(slot: int):
        try:
            fields = {"number": str(1000 + slot), "name": f"User {slot}"}
            return extension_create(actor=actor, tenant=tenant, fields=fields).id
        except Conflict as refused:
            assert refused.type == "license_required"
            return None

    made = [found for found in together(attempt, 30) if found]
    assert len(made) == 5
    assert Extension.objects.filter(tenant=tenant).count() == 25
    assert LicenseAssignment.objects.filter(tenant=tenant, is_base=True).count() == 25
    assert LicenseAllocation.objects.get(tenant=tenant, sku="seat_basic").quantity == 25


@_apply
def test_concurrent_add_on_assignments_never_exceed_what_is_held(admin):
    from trunkline.licensing.services import assignment_create

    tenant = make_tenant(admin, billing_profile_id=licence_profile(admin).id)
    hold(admin, tenant, "seat_basic", 12)
    hold(admin, tenant, "webex", 3)
    actor = actor_for_user(admin)
    users = [
        extension_create(actor=actor, tenant=tenant, fields={"number": str(2000 + n), "name": "x"})
        for n in range(12)
    ]

    def attempt(slot: int):
        try:
            return assignment_create(
                actor=actor,
                tenant=tenant,
                sku_code="webex",
                target_type="extension",
                target_id=users[slot].id,
            ).id
        except Conflict as refused:
            assert refused.type == "license_required"
            return None

    assert len([found for found in together(attempt, 12) if found]) == 3
    assert LicenseAssignment.objects.filter(tenant=tenant, sku="webex").count() == 3


@_apply
def test_assignments_racing_for_the_last_number_entitlements(admin):
    """Eight numbers racing for the last three local entitlements: exactly three land."""
    from trunkline.phone_numbers.models import PhoneNumber
    from trunkline.phone_numbers.services import number_assign

    tenant = make_tenant(admin, billing_profile_id=licence_profile(admin).id)
    hold(admin, tenant, "number_local", 5)
    actor = actor_for_user(admin)
    numbers = [
        PhoneNumber.objects.create(
            partner=admin.partner, e164=f"+1501555{7000 + n}", kind="local", status="ACTIVE"
        )
        for n in range(10)
    ]
    for number in numbers[:2]:
        number_assign(actor=actor, number=number, tenant=tenant)

    def attempt(slot: int):
        try:
            return number_assign(actor=actor, number=numbers[2 + slot], tenant=tenant).id
        except Conflict as refused:
            assert refused.type == "license_required"
            return None

    assert len([found for found in together(attempt, 8) if found]) == 3
    assert PhoneNumber.objects.filter(tenant=tenant).count() == 5
    assert LicenseAssignment.objects.filter(tenant=tenant, target_type="number").count() == 5
    assert LicenseAllocation.objects.get(tenant=tenant, sku="number_local").quantity == 5
