"""A user's main number (`000_*.txt`: an end user "has one or more phone numbers through
which they can be called"): one of the tenant's own DIDs, one user's at a time."""

from __future__ import annotations

import pytest

from tests.factories import actor_for_user, make_tenant
from trunkline.pbx.models import Extension
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.services import number_release

pytestmark = pytest.mark.django_db


def did(tenant, e164):
    return PhoneNumber.objects.create(
        partner_id=tenant.partner_id,
        tenant=tenant,
        e164=e164,
        kind="local",
        status=PhoneNumber.Status.ACTIVE,
    )


def test_a_user_takes_one_of_the_tenants_numbers(api, admin):
    tenant, other = make_tenant(admin), make_tenant(admin)
    did(tenant, "+15015550123")
    did(other, "+15015550124")
    base = f"/v1/tenants/{tenant.id}/extensions"
    made = api.post(base, {"number": "101", "name": "Ann", "main_number": "(501) 555-0123"})
    assert made.status_code == 201, made.json()
    assert made.json()["main_number"] == "+15015550123"
    taken = api.post(base, {"number": "102", "name": "Bo", "main_number": "+15015550123"})
    assert taken.status_code == 409
    assert taken.json()["error"]["type"] == "number_taken"
    foreign = api.post(base, {"number": "102", "name": "Bo", "main_number": "+15015550124"})
    assert foreign.status_code == 404
    assert api.post(base, {"number": "102", "name": "Bo", "main_number": "12"}).status_code == 422
    assert Extension.objects.filter(tenant=tenant).count() == 1
    path = f"{base}/{made.json()['id']}"
    assert api.patch(path, {"main_number": None}).json()["main_number"] is None
    assert api.patch(path, {"main_number": "+15015550123"}).json()["main_number"]


def test_a_released_number_is_let_go(api, admin):
    tenant = make_tenant(admin)
    number = did(tenant, "+15015550123")
    api.post(
        f"/v1/tenants/{tenant.id}/extensions",
        {"number": "101", "name": "Ann", "main_number": "+15015550123"},
    )
    number_release(actor=actor_for_user(admin), number=number)
    assert Extension.objects.get(number="101").main_number is None
