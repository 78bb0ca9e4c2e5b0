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
def test_concurrent_attendants_and_users_take_one_dial_plan_and_the_last_aa_licences(admin):
    """Twelve auto attendants race for three AA Basic licences while eight users race
    eight of them for their extension numbers: exactly three attendants are made (four
    have numbers nobody else wants, so at least four reach the licences), and no number
    is held twice."""
    from trunkline.pbx.call_flows import call_flow_create
    from trunkline.pbx.models import CallFlow

    tenant = make_tenant(admin, billing_profile_id=licence_profile(admin).id)
    hold(admin, tenant, "seat_basic", 12)
    hold(admin, tenant, "aa_basic", 3)
    actor = actor_for_user(admin)
    target = extension_create(actor=actor, tenant=tenant, fields={"number": "2000", "name": "x"})
    config = {
        "menus": {"main": {"options": {"0": {"type": "extension", "id": target.id}}}},
        "business_hours_menu": "main",
    }

    def attempt(slot: int):
        number = str(4000 + slot % 12)
        try:
            if slot >= 12:
                fields = {"number": number, "name": f"User {slot}"}
                return ("user", extension_create(actor=actor, tenant=tenant, fields=fields).id)
            fields = {
                "kind": "auto_attendant",
                "name": f"AA {slot}",
                "number": number,
                "config": config,
            }
            return ("flow", call_flow_create(actor=actor, tenant=tenant, fields=fields).id)
        except Conflict as refused:
            assert refused.type in ("license_required", "extension_taken")
            return None

    made = [found for found in together(attempt, 20) if found]
    flows = CallFlow.objects.filter(tenant=tenant)
    assert flows.count() == len([m for m in made if m[0] == "flow"]) == 3
    assert LicenseAssignment.objects.filter(tenant=tenant, target_type="call_flow").count() == (
        flows.count()
    )
    numbers = list(flows.values_list("number", flat=True)) + list(
        Extension.objects.filter(tenant=tenant).values_list("number", flat=True)
    )
    assert len(numbers) == len(set(numbers)) == len(made) + 1


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
