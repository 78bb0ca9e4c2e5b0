"""Where the pieces meet: numbers routed to call flows, call flows sending calls to
voicemail (`000_*.txt`: "Voicemail for call flows" is a call-flow add-on), sites that
still hold call flows, and the licence policy's numbers per user (`003_*.txt`)."""

from __future__ import annotations

import pytest

from tests.factories import make_tenant
from tests.licensing.conftest import hold
from trunkline.licensing.models import LicenseAssignment
from trunkline.phone_numbers.models import PhoneNumber

pytestmark = pytest.mark.django_db


def did(tenant, e164):
    return PhoneNumber.objects.create(
        partner_id=tenant.partner_id, tenant=tenant, e164=e164, kind="local", status="ACTIVE"
    )


def user(api, tenant, number, **fields):
    made = api.post(
        f"/v1/tenants/{tenant.id}/extensions", {"number": number, "name": "Ann", **fields}
    )
    assert made.status_code == 201, made.json()
    return made.json()


def hunt_group(api, tenant, members, **more):
    return api.post(
        f"/v1/tenants/{tenant.id}/call-flows",
        {"kind": "hunt_group", "name": "Sales", "config": {"members": members, **more}},
    )


def test_a_number_routed_to_a_call_flow_keeps_it_from_being_deleted(api, admin):
    tenant = make_tenant(admin, name="Acme")
    ann = user(api, tenant, "2001")
    group = hunt_group(api, tenant, [ann["id"]]).json()
    number = did(tenant, "+15015550150")
    path = f"/v1/tenants/{tenant.id}/phone-numbers/{number.id}/route"
    routed = api.put(path, {"destination": {"type": "call_flow", "id": group["id"]}})
    assert routed.status_code == 200, routed.json()
    assert api.get(path).json()["effective_label"] == "hunt group Sales"
    refused = api.delete(f"/v1/tenants/{tenant.id}/call-flows/{group['id']}")
    assert refused.status_code == 409
    assert [r["type"] for r in refused.json()["error"]["referrers"]] == ["phone_number"]
    assert api.put(path, {"destination": None}).status_code == 200
    assert api.delete(f"/v1/tenants/{tenant.id}/call-flows/{group['id']}").status_code == 204


def test_a_call_flow_sends_calls_to_voicemail_with_the_voicemail_add_on(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 1)
    ann = user(api, licensed, "2001")
    box = api.post(f"/v1/tenants/{licensed.id}/voicemail-boxes", {"name": "Sales box"}).json()
    to_box = {"type": "voicemail", "id": box["id"]}
    refused = hunt_group(api, licensed, [ann["id"]], no_answer_destination=to_box)
    assert refused.status_code == 409
    assert "Voicemail for Call Flows" in refused.json()["error"]["message"]
    hold(admin, licensed, "cf_voicemail", 1)
    made = api.post(
        f"/v1/tenants/{licensed.id}/call-flows",
        {
            "kind": "hunt_group",
            "name": "Sales",
            "config": {"members": [ann["id"]], "no_answer_destination": to_box},
            "addons": ["cf_voicemail"],
        },
    )
    assert made.status_code == 201, made.json()
    addon = LicenseAssignment.objects.get(sku_id="cf_voicemail")
    taken = api.delete(f"/v1/tenants/{licensed.id}/license-assignments/{addon.id}")
    assert taken.status_code == 409
    assert taken.json()["error"]["type"] == "license_in_use"
    in_use = api.delete(f"/v1/tenants/{licensed.id}/voicemail-boxes/{box['id']}")
    assert in_use.status_code == 409
    assert in_use.json()["error"]["referrers"][0]["via"] == "no answer"


def test_a_site_with_call_flows_is_not_deleted(api, admin):
    tenant = make_tenant(admin, name="Acme")
    site = api.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"}).json()
    ann = user(api, tenant, "2001")
    made = api.post(
        f"/v1/tenants/{tenant.id}/call-flows",
        {
            "kind": "hunt_group",
            "name": "Branch group",
            "site_id": site["id"],
            "config": {"members": [ann["id"]]},
        },
    )
    assert made.status_code == 201
    refused = api.delete(f"/v1/tenants/{tenant.id}/sites/{site['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "site_not_empty"
    assert "Branch group" in refused.json()["error"]["message"]


def test_the_licence_policy_caps_the_numbers_of_a_user(api, admin, licensed):
    hold(admin, licensed, "seat_premium", 1)
    policy = api.put("/v1/license-policy", {"numbers_per_user": {"seat_premium": 3}})
    assert policy.status_code == 200, policy.json()
    main, second, third, fourth = (did(licensed, f"+1501555016{n}") for n in range(4))
    ann = user(api, licensed, "2001", main_number=main.e164)
    to_ann = {"destination": {"type": "extension", "id": ann["id"]}}
    for number in (second, third):  # numbers 2 and 3 of 3
        routed = api.put(f"/v1/tenants/{licensed.id}/phone-numbers/{number.id}/route", to_ann)
        assert routed.status_code == 200, routed.json()
    refused = api.put(f"/v1/tenants/{licensed.id}/phone-numbers/{fourth.id}/route", to_ann)
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "limit_exceeded"
    fourth.refresh_from_db()
    assert fourth.route is None
