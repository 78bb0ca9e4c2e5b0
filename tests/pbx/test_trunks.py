"""SIP trunks to on-prem PBXs, made at a site (`000_*.txt`: "you must create those trunks at
site level. Only then can you decide to route certain numbers to your on-prem PBX"), and
needing no licence to be made ("trunking licenses are enforced in real time, not at
provisioning")."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.conftest import ApiClient
from tests.factories import make_api_key, make_partner, make_tenant
from trunkline.core.models import AuditEntry
from trunkline.pbx.models import SipTrunk
from trunkline.pbx.trunks import MAX_ADDRESSES, trunk_password
from trunkline.phone_numbers.models import PhoneNumber

pytestmark = pytest.mark.django_db


def trunks(tenant):
    return f"/v1/tenants/{tenant.id}/trunks"


def did(tenant, e164="+15015550123"):
    return PhoneNumber.objects.create(
        partner_id=tenant.partner_id,
        tenant=tenant,
        e164=e164,
        kind="local",
        status=PhoneNumber.Status.ACTIVE,
    )


def test_a_registering_trunk_gets_credentials_shown_once_and_sealed(api, admin):
    tenant = make_tenant(admin, name="Acme", sip_prefix="acme")
    made = api.post(trunks(tenant), {"name": "HQ PBX", "auth_mode": "registration"})
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["sip_username"] == "acme-trunk-1"
    assert body["registrar"] == settings.TRUNKLINE_SIP_REGISTRAR
    assert body["max_channels"] == 10
    assert body["allowed_ips"] == [] and body["numbers"] == []
    password = body["sip_password"]
    assert len(password) == 24
    stored = SipTrunk.objects.get(pk=body["id"])
    assert password.encode() not in bytes(stored.sealed_password)
    assert trunk_password(stored) == password
    shown = api.get(f"{trunks(tenant)}/{body['id']}")
    listed = api.get(trunks(tenant))
    for response in (shown, listed):
        assert password.encode() not in response.content
        assert b"sip_password" not in response.content
    reset = api.post(f"{trunks(tenant)}/{body['id']}/reset-password").json()
    assert reset["sip_password"] != password
    assert trunk_password(SipTrunk.objects.get(pk=body["id"])) == reset["sip_password"]
    second = api.post(trunks(tenant), {"name": "Branch PBX", "auth_mode": "registration"})
    assert second.json()["sip_username"] == "acme-trunk-2"
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"trunk.created", "trunk.password_reset"} <= actions


def test_an_ip_trunk_keeps_its_addresses_in_canonical_form(api, admin):
    tenant = make_tenant(admin)
    made = api.post(
        trunks(tenant),
        {
            "name": "Office PBX",
            "auth_mode": "ip",
            "allowed_ips": ["203.0.113.10", "198.51.100.0/24", "2001:DB8:10::/48", "203.0.113.10"],
            "max_channels": 30,
        },
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["allowed_ips"] == ["203.0.113.10", "198.51.100.0/24", "2001:db8:10::/48"]
    assert body["sip_password"] is None and body["sip_username"] is None
    assert body["registrar"] is None
    reset = api.post(f"{trunks(tenant)}/{body['id']}/reset-password")
    assert reset.status_code == 409


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_mode": "ip"},  # no addresses
        {"auth_mode": "ip", "allowed_ips": []},
        {"auth_mode": "ip", "allowed_ips": ["not an address"]},
        {"auth_mode": "ip", "allowed_ips": ["203.0.113.5/24"]},  # host bits set
        {"auth_mode": "ip", "allowed_ips": ["10.0.0.0/8"]},  # too wide
        {"auth_mode": "ip", "allowed_ips": ["2001:db8::/32"]},
        {"auth_mode": "ip", "allowed_ips": ["127.0.0.1"]},
        {"auth_mode": "ip", "allowed_ips": ["224.0.0.5"]},
        {"auth_mode": "ip", "allowed_ips": ["0.0.0.0"]},
        {"auth_mode": "ip", "allowed_ips": ["fe80::1"]},
        {"auth_mode": "ip", "allowed_ips": ["::ffff:203.0.113.1"]},
        {"auth_mode": "ip", "allowed_ips": [f"203.0.113.{n}" for n in range(MAX_ADDRESSES + 1)]},
        {"auth_mode": "ip", "allowed_ips": [12]},
        {"auth_mode": "registration", "allowed_ips": ["203.0.113.10"]},
        {"auth_mode": "sso"},
        {"auth_mode": "registration", "max_channels": 0},
        {"auth_mode": "registration", "max_channels": 1001},
        {"auth_mode": "registration", "password": "mine"},
    ],
)
def test_bad_trunks_are_refused_and_nothing_is_made(api, admin, fields):
    tenant = make_tenant(admin)
    response = api.post(trunks(tenant), {"name": "PBX", **fields})
    assert response.status_code == 422, response.json()
    assert not SipTrunk.objects.exists()


def test_a_trunk_changes_but_stays_at_its_site(api, admin):
    tenant = make_tenant(admin)
    site = api.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"}).json()
    made = api.post(
        trunks(tenant),
        {"name": "PBX", "site_id": site["id"], "auth_mode": "ip", "allowed_ips": ["203.0.113.10"]},
    ).json()
    assert made["site_id"] == site["id"]
    api.post(trunks(tenant), {"name": "Other", "auth_mode": "registration"})
    path = f"{trunks(tenant)}/{made['id']}"
    assert api.patch(path, {"site_id": None}).status_code == 422
    taken = api.patch(path, {"name": "other"})
    assert taken.status_code == 409
    moved = api.patch(path, {"allowed_ips": ["203.0.113.11"], "max_channels": 4})
    assert (moved.json()["allowed_ips"], moved.json()["max_channels"]) == (["203.0.113.11"], 4)
    assert moved.json()["sip_password"] is None
    switched = api.patch(path, {"auth_mode": "registration"})
    assert switched.status_code == 200, switched.json()
    password = switched.json()["sip_password"]
    assert password and switched.json()["allowed_ips"] == []
    assert trunk_password(SipTrunk.objects.get(pk=made["id"])) == password
    assert api.patch(path, {"auth_mode": "ip"}).status_code == 422  # needs addresses
    back = api.patch(path, {"auth_mode": "ip", "allowed_ips": ["2001:db8:10::1"]})
    assert back.json()["sip_username"] is None and back.json()["registrar"] is None
    stored = SipTrunk.objects.get(pk=made["id"])
    assert stored.sealed_password is None and stored.site_id == site["id"]
    refused = api.delete(f"/v1/tenants/{tenant.id}/sites/{site['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "site_not_empty"


def test_a_trunk_numbers_route_to_is_not_deleted(api, admin):
    tenant = make_tenant(admin)
    number = did(tenant)
    made = api.post(trunks(tenant), {"name": "PBX", "auth_mode": "registration"}).json()
    route = f"/v1/tenants/{tenant.id}/phone-numbers/{number.id}/route"
    assert api.put(route, {"destination": {"type": "trunk", "id": made["id"]}}).status_code == 200
    assert api.get(f"{trunks(tenant)}/{made['id']}").json()["numbers"] == ["+15015550123"]
    refused = api.delete(f"{trunks(tenant)}/{made['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "in_use"
    assert refused.json()["error"]["referrers"][0]["name"] == "+15015550123"
    api.put(route, {"destination": None})
    assert api.delete(f"{trunks(tenant)}/{made['id']}").status_code == 204
    assert AuditEntry.objects.filter(action="trunk.deleted").count() == 1


def test_a_licensed_tenant_makes_trunks_without_licences(api, licensed):
    made = api.post(trunks(licensed), {"name": "PBX", "auth_mode": "registration"})
    assert made.status_code == 201, made.json()


def test_trunks_of_another_partners_tenant_are_not_found(client, api, admin):
    tenant = make_tenant(admin)
    made = api.post(trunks(tenant), {"name": "PBX", "auth_mode": "registration"}).json()
    other, _ = make_partner()
    outsider = ApiClient(client, make_api_key(other))
    path = f"{trunks(tenant)}/{made['id']}"
    assert outsider.get(trunks(tenant)).status_code == 404
    assert (
        outsider.post(trunks(tenant), {"name": "X", "auth_mode": "registration"}).status_code == 404
    )
    assert outsider.get(path).status_code == 404
    assert outsider.patch(path, {"name": "Mine"}).status_code == 404
    assert outsider.post(f"{path}/reset-password").status_code == 404
    assert outsider.delete(path).status_code == 404
    sibling = make_tenant(admin)
    assert api.get(f"{trunks(sibling)}/{made['id']}").status_code == 404
    foreign_site = api.get(f"/v1/tenants/{sibling.id}/sites").json()["data"][0]["id"]
    refused = api.post(
        trunks(tenant), {"name": "B", "site_id": foreign_site, "auth_mode": "registration"}
    )
    assert refused.status_code == 404
    stored = SipTrunk.objects.get()
    assert stored.name == "PBX" and trunk_password(stored) == made["sip_password"]


def test_no_two_trunks_and_no_pbx_node_share_an_address(api, admin):
    """The call engine tells IP trunks apart by where calls come from: an address another
    tenant's trunk (or the platform itself) uses would hand those calls over."""
    from trunkline.core.actors import Actor
    from trunkline.telephony.nodes import pbx_node_create

    first, second = make_tenant(admin, name="First"), make_tenant(admin, name="Second")
    mine = {"name": "PBX", "auth_mode": "ip", "allowed_ips": ["198.51.100.0/24"]}
    assert api.post(trunks(first), mine).status_code == 201
    for addresses in (["198.51.100.77"], ["198.51.100.0/25"], ["198.51.100.0/24"]):
        taken = api.post(trunks(second), {**mine, "allowed_ips": addresses})
        assert taken.status_code == 409, taken.json()
        assert taken.json()["error"]["type"] == "address_taken"
    assert api.post(trunks(second), {**mine, "allowed_ips": ["198.51.101.5"]}).status_code == 201
    pbx_node_create(
        actor=Actor.system(), fields={"name": "pbx-1", "address": "203.0.113.40", "capacity": 10}
    )
    node = api.post(trunks(first), {**mine, "name": "Other", "allowed_ips": ["203.0.113.0/24"]})
    assert node.status_code == 422 and "platform's own" in node.json()["error"]["message"]
    assert SipTrunk.objects.count() == 2
