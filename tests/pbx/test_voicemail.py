"""Voicemail boxes: a user's own or standalone for call flows (`000_*.txt`, "Voicemail for
Call Flows: dedicated mailbox"), delivered to email with the audio attached or not
(`004_*.txt`, "Voicemail box has emails configured … Email Attach is on"). The PIN is a
secret: kept hashed, never shown except when the platform makes one up."""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient
from tests.factories import make_api_key, make_partner, make_tenant
from tests.licensing.conftest import hold
from trunkline.core.models import AuditEntry
from trunkline.licensing.models import LicenseSku
from trunkline.pbx.models import VoicemailBox
from trunkline.pbx.voicemail import voicemail_pin_matches
from trunkline.phone_numbers.models import PhoneNumber

pytestmark = pytest.mark.django_db


def boxes(tenant):
    return f"/v1/tenants/{tenant.id}/voicemail-boxes"


def user(api, tenant, number="2001", **fields):
    made = api.post(
        f"/v1/tenants/{tenant.id}/extensions", {"number": number, "name": "Ana Ruiz", **fields}
    )
    assert made.status_code == 201, made.json()
    return made.json()


def did(tenant, e164="+15015550123"):
    return PhoneNumber.objects.create(
        partner_id=tenant.partner_id,
        tenant=tenant,
        e164=e164,
        kind="local",
        status=PhoneNumber.Status.ACTIVE,
    )


def test_a_standalone_box_keeps_its_pin_hashed_and_never_shows_it(api, admin):
    tenant = make_tenant(admin)
    made = api.post(
        boxes(tenant),
        {
            "name": "Sales after hours",
            "pin": "480613",
            "emails": ["Sales@Example.com", "sales@example.com", "boss@example.com"],
            "attach_audio": True,
            "greeting": "custom",
            "max_message_seconds": 300,
        },
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["pin"] is None
    assert body["emails"] == ["sales@example.com", "boss@example.com"]
    assert (body["attach_audio"], body["greeting"], body["max_message_seconds"]) == (
        True,
        "custom",
        300,
    )
    assert body["owner_id"] is None
    assert body["site_id"]  # the default site
    stored = VoicemailBox.objects.get(pk=body["id"])
    assert "480613" not in stored.pin_hash
    assert voicemail_pin_matches(stored, "480613")
    assert not voicemail_pin_matches(stored, "480614")
    shown = api.get(f"{boxes(tenant)}/{body['id']}")
    listed = api.get(boxes(tenant))
    for text in (made.content, shown.content, listed.content):
        assert b"480613" not in text and b"pin_hash" not in text
    assert "pin" not in shown.json()
    assert AuditEntry.objects.get(action="voicemail_box.created").object_id == body["id"]


def test_a_box_made_without_a_pin_shows_the_made_up_one_once_and_it_resets(api, admin):
    tenant = make_tenant(admin)
    made = api.post(boxes(tenant), {"name": "Front desk"}).json()
    pin = made["pin"]
    assert pin.isdigit() and len(pin) == 6
    box = VoicemailBox.objects.get(pk=made["id"])
    assert voicemail_pin_matches(box, pin)
    reset = api.post(f"{boxes(tenant)}/{made['id']}/reset-pin")
    assert reset.status_code == 200
    box.refresh_from_db()
    assert voicemail_pin_matches(box, reset.json()["pin"])
    assert not voicemail_pin_matches(box, pin) or reset.json()["pin"] == pin
    assert AuditEntry.objects.filter(action="voicemail_box.pin_reset").count() == 1


def test_a_users_own_box_is_at_the_users_site_and_one_per_user(api, admin):
    tenant = make_tenant(admin)
    site = api.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"}).json()
    ana = user(api, tenant, site_id=site["id"])
    made = api.post(boxes(tenant), {"owner_id": ana["id"], "pin": "5739"})
    assert made.status_code == 201, made.json()
    assert made.json()["site_id"] == site["id"]
    assert made.json()["name"] == "2001 Ana Ruiz"
    again = api.post(boxes(tenant), {"owner_id": ana["id"]})
    assert again.status_code == 409
    assert again.json()["error"]["type"] == "voicemail_box_exists"
    elsewhere = api.post(boxes(tenant), {"owner_id": user(api, tenant, "2002")["id"]})
    assert elsewhere.json()["site_id"] != site["id"]
    default_site = api.get(f"/v1/tenants/{tenant.id}/sites").json()["data"][0]["id"]
    wrong_site = api.post(
        boxes(tenant), {"owner_id": user(api, tenant, "2003")["id"], "site_id": site["id"]}
    )
    assert wrong_site.status_code == 422
    assert elsewhere.json()["site_id"] == default_site
    listed = api.get(boxes(tenant), {"owner_id": ana["id"]}).json()["data"]
    assert [b["id"] for b in listed] == [made.json()["id"]]


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "Box", "pin": "12"},
        {"name": "Box", "pin": "12345678901"},
        {"name": "Box", "pin": "1234"},  # a straight run
        {"name": "Box", "pin": "98765"},
        {"name": "Box", "pin": "7777"},  # one digit repeated
        {"name": "Box", "pin": "12a4"},
        {"name": "Box", "pin": "１２９３"},  # digits, but not ASCII
        {"name": "Box", "emails": ["not an address"]},
        {"name": "Box", "emails": [f"a{n}@example.com" for n in range(6)]},
        {"name": "Box", "max_message_seconds": 5},
        {"name": "Box", "max_message_seconds": 601},
        {"name": "Box", "greeting": "loud"},
        {"name": "Box", "colour": "red"},
        {"name": "x" * 101},
        {},  # a standalone box needs a name
    ],
)
def test_bad_boxes_are_refused_and_nothing_is_made(api, admin, fields):
    tenant = make_tenant(admin)
    response = api.post(boxes(tenant), fields)
    assert response.status_code == 422, response.json()
    assert not VoicemailBox.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="voicemail_box").exists()


def test_a_box_changes_its_settings_and_pin_but_not_its_site_or_owner(api, admin):
    tenant = make_tenant(admin)
    made = api.post(boxes(tenant), {"name": "Support", "pin": "4826"}).json()
    path = f"{boxes(tenant)}/{made['id']}"
    changed = api.patch(
        path, {"name": "Support line", "emails": ["help@example.com"], "attach_audio": True}
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["emails"] == ["help@example.com"]
    new_pin = api.patch(path, {"pin": "93017"})
    assert new_pin.status_code == 200
    assert b"93017" not in new_pin.content
    box = VoicemailBox.objects.get(pk=made["id"])
    assert voicemail_pin_matches(box, "93017") and not voicemail_pin_matches(box, "4826")
    assert api.patch(path, {"emails": []}).json()["emails"] == []
    for refused in ({"site_id": None}, {"owner_id": "ext_x"}, {"pin": "1111"}, {"greeting": "x"}):
        assert api.patch(path, refused).status_code == 422, refused
    box.refresh_from_db()
    assert (box.name, box.attach_audio) == ("Support line", True)
    assert voicemail_pin_matches(box, "93017")
    assert AuditEntry.objects.filter(action="voicemail_box.updated").count() == 3


def test_a_routed_box_cannot_be_deleted_until_nothing_points_at_it(api, admin):
    tenant = make_tenant(admin)
    number = did(tenant)
    made = api.post(boxes(tenant), {"name": "Main box"}).json()
    target = {"type": "voicemail", "id": made["id"]}
    route = f"/v1/tenants/{tenant.id}/phone-numbers/{number.id}/route"
    assert api.put(route, {"destination": target}).status_code == 200
    assert (
        api.put(f"/v1/tenants/{tenant.id}/unassigned-did-route", {"destination": target})
    ).status_code == 200
    refused = api.delete(f"{boxes(tenant)}/{made['id']}")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "in_use"
    assert {(r["type"], r["id"]) for r in error["referrers"]} == {
        ("phone_number", number.id),
        ("tenant", tenant.id),
    }
    api.put(route, {"destination": None})
    api.put(f"/v1/tenants/{tenant.id}/unassigned-did-route", {"destination": None})
    assert api.delete(f"{boxes(tenant)}/{made['id']}").status_code == 204
    assert not VoicemailBox.objects.exists()
    assert AuditEntry.objects.filter(action="voicemail_box.deleted").count() == 1


def test_a_user_whose_own_box_is_routed_to_is_not_deleted(api, admin):
    tenant = make_tenant(admin)
    number = did(tenant)
    ana = user(api, tenant)
    box = api.post(boxes(tenant), {"owner_id": ana["id"]}).json()
    route = f"/v1/tenants/{tenant.id}/phone-numbers/{number.id}/route"
    api.put(route, {"destination": {"type": "voicemail", "id": box["id"]}})
    refused = api.delete(f"/v1/tenants/{tenant.id}/extensions/{ana['id']}")
    assert refused.status_code == 409
    (referrer,) = refused.json()["error"]["referrers"]
    assert referrer["id"] == number.id
    assert "voicemail box" in referrer["via"]
    api.put(route, {"destination": None})
    assert api.delete(f"/v1/tenants/{tenant.id}/extensions/{ana['id']}").status_code == 204
    assert not VoicemailBox.objects.exists()  # the user's box went with the user


def test_a_site_with_boxes_is_not_deleted(api, admin):
    tenant = make_tenant(admin)
    site = api.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"}).json()
    api.post(boxes(tenant), {"name": "Branch box", "site_id": site["id"]})
    refused = api.delete(f"/v1/tenants/{tenant.id}/sites/{site['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "site_not_empty"


def test_on_a_licensed_tenant_a_users_box_needs_the_voicemail_feature(api, admin, licensed):
    LicenseSku.objects.create(
        code="seat_lobby", name="Lobby phone", kind="user_base", price_micros=1, features=[]
    )
    hold(admin, licensed, "seat_basic", 1)
    hold(admin, licensed, "seat_lobby", 1)
    ana = user(api, licensed, license="seat_basic")
    lobby = user(api, licensed, "2002", license="seat_lobby")
    assert api.post(boxes(licensed), {"owner_id": ana["id"]}).status_code == 201
    refused = api.post(boxes(licensed), {"owner_id": lobby["id"]})
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "license_required"
    assert "Basic seat" in refused.json()["error"]["message"]
    # A box for call flows needs no licence.
    assert api.post(boxes(licensed), {"name": "Call flow box"}).status_code == 201
    assert VoicemailBox.objects.count() == 2


def test_boxes_of_another_partners_tenant_are_not_found(client, api, admin):
    tenant = make_tenant(admin)
    made = api.post(boxes(tenant), {"name": "Main box"}).json()
    other, _ = make_partner()
    outsider = ApiClient(client, make_api_key(other))
    path = f"{boxes(tenant)}/{made['id']}"
    assert outsider.get(boxes(tenant)).status_code == 404
    assert outsider.post(boxes(tenant), {"name": "Mine"}).status_code == 404
    assert outsider.get(path).status_code == 404
    assert outsider.patch(path, {"name": "Mine"}).status_code == 404
    assert outsider.post(f"{path}/reset-pin").status_code == 404
    assert outsider.delete(path).status_code == 404
    # The same partner's other tenant: the box is not there either.
    sibling = make_tenant(admin)
    assert api.get(f"{boxes(sibling)}/{made['id']}").status_code == 404
    foreign_user = user(api, sibling)
    assert api.post(boxes(tenant), {"owner_id": foreign_user["id"]}).status_code == 404
    foreign_site = api.get(f"/v1/tenants/{sibling.id}/sites").json()["data"][0]["id"]
    assert api.post(boxes(tenant), {"name": "B", "site_id": foreign_site}).status_code == 404
    assert VoicemailBox.objects.get().name == "Main box"


def test_voicemail_endpoints_need_the_voicemail_scope(client, partner, admin):
    tenant = make_tenant(admin)
    reader = ApiClient(client, make_api_key(partner, scopes="voicemail:read"))
    other = ApiClient(client, make_api_key(partner, scopes="extensions:write"))
    assert reader.get(boxes(tenant)).status_code == 200
    assert reader.post(boxes(tenant), {"name": "Box"}).status_code == 403
    assert other.get(boxes(tenant)).status_code == 403
