"""Devices, their SIP credentials, and the seat quotas that cap them (`000_*.txt`:
"Additional devices 3 / 8"; the devices of a Basic seat stop at 3, a 4th needs a Premium
seat or a device add-on)."""

from __future__ import annotations

import pytest

from tests.factories import make_api_key, make_partner, make_tenant
from tests.licensing.conftest import hold
from trunkline.pbx.devices import MAX_DEVICES, device_password
from trunkline.pbx.models import Device

pytestmark = pytest.mark.django_db


def user(api, tenant, number="101", **fields):
    made = api.post(
        f"/v1/tenants/{tenant.id}/extensions", {"number": number, "name": "Ann", **fields}
    )
    assert made.status_code == 201, made.json()
    return made.json()


def device(api, tenant, ext, kind="softphone", **fields):
    return api.post(
        f"/v1/tenants/{tenant.id}/extensions/{ext['id']}/devices", {"kind": kind, **fields}
    )


def test_a_device_gets_sip_credentials_shown_once(api, admin):
    tenant = make_tenant(admin, name="Acme", sip_prefix="acme")
    ann = user(api, tenant)
    made = device(api, tenant, ann, kind="desk_phone", mac="00:1a:2b:3c:4d:5e", name="Desk")
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["sip_username"] == "acme-101-1"
    assert body["mac"] == "001A2B3C4D5E"
    password = body["sip_password"]
    assert len(password) == 24
    stored = Device.objects.get(pk=body["id"])
    assert password.encode() not in bytes(stored.sealed_password)
    assert device_password(stored) == password
    shown = api.get(f"/v1/tenants/{tenant.id}/devices/{body['id']}").json()
    assert "sip_password" not in shown
    listed = api.get(f"/v1/tenants/{tenant.id}/extensions/{ann['id']}/devices").json()["data"]
    assert "sip_password" not in listed[0]
    reset = api.post(f"/v1/tenants/{tenant.id}/devices/{body['id']}/reset-password").json()
    assert reset["sip_password"] != password
    assert device_password(Device.objects.get(pk=body["id"])) == reset["sip_password"]
    second = device(api, tenant, ann).json()
    assert second["sip_username"] == "acme-101-2"


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "desk_phone"},  # a desk phone needs its MAC
        {"kind": "desk_phone", "mac": "00:1a:2b:3c:4d"},
        {"kind": "desk_phone", "mac": "01:00:5e:00:00:01"},  # multicast
        {"kind": "fax"},
        {"kind": "softphone", "colour": "red"},
        {"kind": "softphone", "name": "x" * 201},
    ],
)
def test_bad_devices_are_refused_and_nothing_is_made(api, admin, fields):
    tenant = make_tenant(admin)
    ann = user(api, tenant)
    response = api.post(f"/v1/tenants/{tenant.id}/extensions/{ann['id']}/devices", fields)
    assert response.status_code in (400, 422), response.json()
    assert not Device.objects.exists()


def test_a_mac_is_on_one_desk(api, admin):
    tenant = make_tenant(admin)
    ann = user(api, tenant)
    assert device(api, tenant, ann, kind="desk_phone", mac="001A2B3C4D5E").status_code == 201
    again = device(api, tenant, ann, kind="desk_phone", mac="00-1A-2B-3C-4D-5E")
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "device_taken"


def test_a_tenant_not_billed_by_licence_has_a_plain_device_cap(api, admin):
    tenant = make_tenant(admin)
    ann = user(api, tenant)
    for _ in range(MAX_DEVICES):
        assert device(api, tenant, ann).status_code == 201
    assert device(api, tenant, ann).status_code == 409


def test_a_basic_seat_has_three_devices_and_a_fourth_needs_a_licence(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 1)
    ann = user(api, licensed)
    for _ in range(3):
        assert device(api, licensed, ann).status_code == 201
    fourth = device(api, licensed, ann)
    assert fourth.status_code == 409
    error = fourth.json()["error"]
    assert error["type"] == "license_required"
    assert "Basic seat allows 3 devices" in error["message"]
    assert "Premium seat" in error["message"]
    assert Device.objects.count() == 3


def test_a_premium_seat_has_eight(api, admin, licensed):
    hold(admin, licensed, "seat_premium", 1)
    ann = user(api, licensed)
    for _ in range(8):
        assert device(api, licensed, ann).status_code == 201
    assert device(api, licensed, ann).json()["error"]["type"] == "license_required"


def test_a_device_add_on_adds_one_and_cannot_go_while_it_is_used(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 1)
    hold(admin, licensed, "device_ip_phone", 1)
    ann = user(api, licensed)
    for _ in range(3):
        device(api, licensed, ann)
    base = f"/v1/tenants/{licensed.id}/license-assignments"
    addon = api.post(base, {"sku": "device_ip_phone", "target_id": ann["id"]}).json()
    fourth = device(api, licensed, ann, kind="desk_phone", mac="001A2B3C4D5F")
    assert fourth.status_code == 201
    assert device(api, licensed, ann).status_code == 409  # 5th
    taken_off = api.delete(f"{base}/{addon['id']}")
    assert taken_off.status_code == 409
    assert taken_off.json()["error"]["type"] == "license_in_use"
    api.delete(f"/v1/tenants/{licensed.id}/devices/{fourth.json()['id']}")
    assert api.delete(f"{base}/{addon['id']}").status_code == 204


def test_changing_seat_keeps_what_the_user_has_within_the_new_seat(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 1)
    hold(admin, licensed, "seat_premium", 1)
    ann = user(api, licensed, license="seat_premium")
    for _ in range(4):
        device(api, licensed, ann)
    path = f"/v1/tenants/{licensed.id}/extensions/{ann['id']}"
    down = api.patch(path, {"license": "seat_basic"})
    assert down.status_code == 409
    assert down.json()["error"]["type"] == "license_in_use"
    assert api.get(path).json()["license"] == "seat_premium"
    only = api.get(f"/v1/tenants/{licensed.id}/extensions/{ann['id']}/devices").json()["data"][0]
    api.delete(f"/v1/tenants/{licensed.id}/devices/{only['id']}")
    changed = api.patch(path, {"license": "seat_basic"})
    assert changed.status_code == 200, changed.json()
    assert changed.json()["license"] == "seat_basic"
    # The Premium seat is free again for the next user.
    assert user(api, licensed, "102", license="seat_premium")["license"] == "seat_premium"
    # And with both seats taken there is nothing to move to.
    assert api.patch(path, {"license": "seat_premium"}).status_code == 409


def test_devices_of_another_partners_tenant_are_not_found(client, api, admin):
    from tests.conftest import ApiClient

    tenant = make_tenant(admin)
    ann = user(api, tenant)
    made = device(api, tenant, ann).json()
    other, _ = make_partner()
    outsider = ApiClient(client, make_api_key(other))
    assert outsider.get(f"/v1/tenants/{tenant.id}/devices/{made['id']}").status_code == 404
    assert (
        outsider.post(f"/v1/tenants/{tenant.id}/devices/{made['id']}/reset-password").status_code
        == 404
    )
    assert (
        outsider.post(
            f"/v1/tenants/{tenant.id}/extensions/{ann['id']}/devices", {"kind": "softphone"}
        ).status_code
        == 404
    )
    assert outsider.delete(f"/v1/tenants/{tenant.id}/devices/{made['id']}").status_code == 404
    assert Device.objects.count() == 1


def test_a_device_is_renamed_and_its_mac_changed(api, admin):
    tenant = make_tenant(admin)
    ann = user(api, tenant)
    desk = device(api, tenant, ann, kind="desk_phone", mac="001A2B3C4D5E").json()
    other = device(api, tenant, ann, kind="desk_phone", mac="001A2B3C4D5F").json()
    path = f"/v1/tenants/{tenant.id}/devices/{desk['id']}"
    changed = api.patch(path, {"name": "Front desk", "mac": "00:1a:2b:3c:4d:60"})
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["name"], changed.json()["mac"]) == ("Front desk", "001A2B3C4D60")
    assert changed.json()["sip_username"] == desk["sip_username"]
    taken = api.patch(path, {"mac": other["mac"]})
    assert taken.status_code == 409
    assert taken.json()["error"]["type"] == "device_taken"
    assert api.patch(path, {"mac": None}).status_code == 422  # a desk phone keeps one
    assert api.patch(path, {"kind": "softphone"}).status_code == 422
    assert Device.objects.get(pk=desk["id"]).mac == "001A2B3C4D60"


def test_a_cancelled_tenant_gets_no_devices_or_licences(api, admin, licensed):
    from trunkline.tenants.models import Tenant

    hold(admin, licensed, "seat_basic", 1)
    ann = user(api, licensed)
    Tenant.objects.filter(pk=licensed.pk).update(status=Tenant.Status.CANCELLED)
    refused = device(api, licensed, ann)
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "tenant_cancelled"
    more = api.post(
        f"/v1/tenants/{licensed.id}/license-subscriptions", {"sku": "seat_basic", "quantity": 1}
    )
    assert more.status_code == 409
    assert not Device.objects.exists()


def test_add_ons_need_a_tenant_billed_by_licence(api, admin):
    tenant = make_tenant(admin)
    ann = user(api, tenant)
    refused = api.post(
        f"/v1/tenants/{tenant.id}/license-assignments", {"sku": "webex", "target_id": ann["id"]}
    )
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "not_licensed"
