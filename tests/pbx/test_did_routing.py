"""DID routing (`004_*.txt`: a DID "gets routed wherever you've told it to go — an
extension, a voicemail box, an auto-attendant, a call queue"; until then "calls follow
their Unassigned DID Behavior setting"), and the seat's additional numbers (`000_*.txt`:
Basic 0, Premium 10)."""

from __future__ import annotations

import pytest

from tests.conftest import ApiClient
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from tests.licensing.conftest import hold
from trunkline.core.models import AuditEntry, Event
from trunkline.pbx.references import TARGETS
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.services import number_assign, number_release

pytestmark = pytest.mark.django_db


def did(tenant, e164="+15015550123", status=PhoneNumber.Status.ACTIVE):
    return PhoneNumber.objects.create(
        partner_id=tenant.partner_id, tenant=tenant, e164=e164, kind="local", status=status
    )


def route_path(tenant, number):
    return f"/v1/tenants/{tenant.id}/phone-numbers/{number.id}/route"


def user(api, tenant, number="2001", **fields):
    made = api.post(
        f"/v1/tenants/{tenant.id}/extensions", {"number": number, "name": "Ana Ruiz", **fields}
    )
    assert made.status_code == 201, made.json()
    return made.json()


def box(api, tenant, name="Main box"):
    return api.post(f"/v1/tenants/{tenant.id}/voicemail-boxes", {"name": name}).json()


def trunk(api, tenant, name="PBX"):
    return api.post(
        f"/v1/tenants/{tenant.id}/trunks", {"name": name, "auth_mode": "registration"}
    ).json()


def test_a_number_routes_to_each_kind_of_destination(api, admin):
    tenant = make_tenant(admin)
    number = did(tenant)
    ana = user(api, tenant)
    destinations = [
        ({"type": "extension", "id": ana["id"]}, "user 2001 Ana Ruiz"),
        ({"type": "voicemail", "id": box(api, tenant)["id"]}, "voicemail box Main box"),
        ({"type": "trunk", "id": trunk(api, tenant)["id"]}, "trunk PBX"),
        ({"type": "external", "number": "+1 501 555 0199"}, "+15015550199"),
        ({"type": "hangup"}, "hang up"),
    ]
    for destination, label in destinations:
        response = api.put(route_path(tenant, number), {"destination": destination})
        assert response.status_code == 200, response.json()
        body = response.json()
        stored = {k: v.replace(" ", "") for k, v in destination.items()}
        assert body["destination"] == stored
        assert body["effective_destination"] == stored
        assert body["effective_label"] == label
        assert api.get(f"/v1/phone-numbers/{number.id}").json()["route"] == stored
    events = Event.objects.filter(type="phone_number.updated").order_by("created_at")
    assert events.count() == len(destinations)
    last = events.last().payload
    assert last["phone_number"]["route"] == {"type": "hangup"}
    assert last["previous_attributes"] == {"route": {"type": "external", "number": "+15015550199"}}
    assert AuditEntry.objects.filter(action="phone_number.routed").count() == len(destinations)


def test_call_flows_are_a_destination_once_they_exist(api, admin):
    tenant = make_tenant(admin)
    number = did(tenant)
    response = api.put(
        route_path(tenant, number), {"destination": {"type": "call_flow", "id": "cfl_nothere"}}
    )
    # With call flows registered, an unknown one is not found; without, the type is unknown.
    assert response.status_code == (404 if "call_flow" in TARGETS else 422)
    number.refresh_from_db()
    assert number.route is None


def test_a_number_routed_nowhere_follows_the_main_number_or_the_unassigned_route(api, admin):
    tenant = make_tenant(admin)
    number = did(tenant)
    path = route_path(tenant, number)
    shown = api.get(path).json()
    assert shown["destination"] is None and shown["effective_destination"] is None
    assert "isn't configured" in shown["effective_label"]
    unassigned = f"/v1/tenants/{tenant.id}/unassigned-did-route"
    assert api.get(unassigned).json()["destination"] is None
    mailbox = box(api, tenant)
    set_ = api.put(unassigned, {"destination": {"type": "voicemail", "id": mailbox["id"]}})
    assert set_.status_code == 200, set_.json()
    assert set_.json()["label"] == "voicemail box Main box"
    assert api.get(path).json()["effective_destination"]["id"] == mailbox["id"]
    ana = user(api, tenant, main_number=number.e164)
    assert api.get(path).json()["effective_destination"] == {"type": "extension", "id": ana["id"]}
    assert api.put(unassigned, {"destination": None}).json()["destination"] is None
    assert AuditEntry.objects.filter(action="tenant.unassigned_did_route_set").count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"destination": {"type": "pager", "id": "x"}},
        {"destination": {"type": "extension"}},
        {"destination": {"type": "external", "number": "555"}},
        {"destination": {"type": "external", "number": "+1" + "5" * 30}},
        {"destination": {"type": "hangup", "colour": "red"}},
        {"destination": {"type": "extension", "id": "e" * 65}},
        {"destination": "hangup"},
        {"route": {"type": "hangup"}},
        {},
    ],
)
def test_bad_routes_are_refused_and_change_nothing(api, admin, body):
    tenant = make_tenant(admin)
    number = did(tenant)
    api.put(route_path(tenant, number), {"destination": {"type": "hangup"}})
    response = api.put(route_path(tenant, number), body)
    assert response.status_code == 422, response.json()
    unassigned = api.put(f"/v1/tenants/{tenant.id}/unassigned-did-route", body)
    assert unassigned.status_code == 422
    number.refresh_from_db()
    assert number.route == {"type": "hangup"}
    assert api.get(f"/v1/tenants/{tenant.id}/unassigned-did-route").json()["destination"] is None


def test_only_the_tenants_own_objects_and_numbers_are_routed(client, api, admin):
    tenant, sibling = make_tenant(admin), make_tenant(admin)
    number = did(tenant)
    theirs = did(sibling, "+15015550124")
    for destination in (
        {"type": "extension", "id": user(api, sibling)["id"]},
        {"type": "voicemail", "id": box(api, sibling)["id"]},
        {"type": "trunk", "id": trunk(api, sibling)["id"]},
    ):
        response = api.put(route_path(tenant, number), {"destination": destination})
        assert response.status_code == 404, destination
        refused = api.put(
            f"/v1/tenants/{tenant.id}/unassigned-did-route", {"destination": destination}
        )
        assert refused.status_code == 404
    # Another tenant's number, through this tenant's path.
    hangup = {"destination": {"type": "hangup"}}
    assert (
        api.put(f"/v1/tenants/{tenant.id}/phone-numbers/{theirs.id}/route", hangup).status_code
        == 404
    )
    assert api.get(f"/v1/tenants/{tenant.id}/phone-numbers/{theirs.id}/route").status_code == 404
    # A number the tenant no longer holds.
    gone = did(tenant, "+15015550125")
    number_release(actor=actor_for_user(admin), number=gone)
    assert api.put(route_path(tenant, gone), hangup).status_code == 404
    # Another partner sees none of it.
    other, _ = make_partner()
    outsider = ApiClient(client, make_api_key(other))
    assert outsider.get(route_path(tenant, number)).status_code == 404
    assert outsider.put(route_path(tenant, number), hangup).status_code == 404
    assert outsider.get(f"/v1/tenants/{tenant.id}/unassigned-did-route").status_code == 404
    assert outsider.put(f"/v1/tenants/{tenant.id}/unassigned-did-route", hangup).status_code == 404
    number.refresh_from_db()
    theirs.refresh_from_db()
    assert number.route is None and theirs.route is None
    assert api.get(f"/v1/tenants/{tenant.id}/unassigned-did-route").json()["destination"] is None


def test_a_routed_user_is_not_deleted(api, admin):
    tenant = make_tenant(admin)
    number = did(tenant)
    ana = user(api, tenant)
    api.put(route_path(tenant, number), {"destination": {"type": "extension", "id": ana["id"]}})
    refused = api.delete(f"/v1/tenants/{tenant.id}/extensions/{ana['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "in_use"
    assert refused.json()["error"]["referrers"] == [
        {"type": "phone_number", "id": number.id, "name": "+15015550123", "via": "DID route"}
    ]


def test_a_number_leaving_the_tenant_forgets_its_route(api, admin):
    tenant, other = make_tenant(admin), make_tenant(admin)
    actor = actor_for_user(admin)
    mailbox = box(api, tenant)
    to_box = {"destination": {"type": "voicemail", "id": mailbox["id"]}}
    released, moved, kept = (did(tenant, f"+1501555012{n}") for n in (3, 4, 5))
    for number in (released, moved, kept):
        assert api.put(route_path(tenant, number), to_box).status_code == 200
    number_release(actor=actor, number=released)
    number_assign(actor=actor, number=moved, tenant=other)
    number_assign(actor=actor, number=kept, tenant=tenant)  # stays: keeps its route
    for number in (released, moved, kept):
        number.refresh_from_db()
    assert released.route is None and moved.route is None
    assert kept.route == to_box["destination"]
    released_event = Event.objects.get(type="phone_number.released")
    assert released_event.payload["phone_number"]["route"] is None
    api.put(route_path(tenant, kept), {"destination": None})
    assert api.delete(f"/v1/tenants/{tenant.id}/voicemail-boxes/{mailbox['id']}").status_code == 204


def test_a_basic_seat_has_no_additional_numbers(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 1)
    main, extra = did(licensed), did(licensed, "+15015550124")
    ana = user(api, licensed, main_number=main.e164)
    to_ana = {"destination": {"type": "extension", "id": ana["id"]}}
    # The user's own main number is not an additional one.
    assert api.put(route_path(licensed, main), to_ana).status_code == 200
    refused = api.put(route_path(licensed, extra), to_ana)
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "license_required"
    assert "Basic seat allows 0 additional numbers" in refused.json()["error"]["message"]
    extra.refresh_from_db()
    assert extra.route is None
    # Nor can the main number move away and leave the routed one as an additional.
    moved = api.patch(
        f"/v1/tenants/{licensed.id}/extensions/{ana['id']}", {"main_number": extra.e164}
    )
    assert moved.status_code == 409
    assert moved.json()["error"]["type"] == "license_required"
    shown = api.get(f"/v1/tenants/{licensed.id}/extensions/{ana['id']}").json()
    assert shown["main_number"] == main.e164 and shown["additional_numbers"] == []


def test_a_premium_seat_has_ten_additional_numbers(api, admin, licensed):
    hold(admin, licensed, "seat_premium", 1)
    ana = user(api, licensed)
    to_ana = {"destination": {"type": "extension", "id": ana["id"]}}
    numbers = [did(licensed, f"+150155501{n:02d}") for n in range(11)]
    for number in numbers[:10]:
        assert api.put(route_path(licensed, number), to_ana).status_code == 200
    # Routing one of them again is no new number.
    assert api.put(route_path(licensed, numbers[0]), to_ana).status_code == 200
    eleventh = api.put(route_path(licensed, numbers[10]), to_ana)
    assert eleventh.status_code == 409
    assert eleventh.json()["error"]["type"] == "license_required"
    shown = api.get(f"/v1/tenants/{licensed.id}/extensions/{ana['id']}").json()
    assert shown["additional_numbers"] == sorted(n.e164 for n in numbers[:10])
    listed = api.get(f"/v1/tenants/{licensed.id}/extensions").json()["data"]
    assert listed[0]["additional_numbers"] == shown["additional_numbers"]
    # A seat cannot drop to Basic while the numbers are routed to the user.
    hold(admin, licensed, "seat_basic", 1)
    down = api.patch(f"/v1/tenants/{licensed.id}/extensions/{ana['id']}", {"license": "seat_basic"})
    assert down.status_code == 409
    assert down.json()["error"]["type"] == "license_in_use"


def test_a_tenant_not_billed_by_licence_routes_numbers_to_users_freely(api, admin):
    tenant = make_tenant(admin)
    ana = user(api, tenant)
    to_ana = {"destination": {"type": "extension", "id": ana["id"]}}
    for n in range(12):
        number = did(tenant, f"+150155502{n:02d}")
        assert api.put(route_path(tenant, number), to_ana).status_code == 200


def test_routes_need_the_phone_numbers_scope(client, partner, admin):
    tenant = make_tenant(admin)
    number = did(tenant)
    reader = ApiClient(client, make_api_key(partner, scopes="phone_numbers:read"))
    hangup = {"destination": {"type": "hangup"}}
    assert reader.get(route_path(tenant, number)).status_code == 200
    assert reader.put(route_path(tenant, number), hangup).status_code == 403
    assert reader.put(f"/v1/tenants/{tenant.id}/unassigned-did-route", hangup).status_code == 403
