"""A user's call settings, each where the user's seat grants it (`000_*.txt`, the Basic /
Premium table: forwarding unconditional, busy, no reply and unreachable, do not disturb,
simultaneous and sequential ringing, reject anonymous, selective rejection, hiding the
number and flexible outgoing CLI in both seats; selective (time/CLI based) forwarding and
selective call acceptance in Premium only)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from tests.licensing.conftest import hold, licence_profile
from trunkline.core.models import AuditEntry, Event
from trunkline.licensing.models import LicenseSku
from trunkline.pbx.call_settings import rule_applies
from trunkline.pbx.models import CallSettings
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.services import number_release

pytestmark = pytest.mark.django_db

OUTSIDE = {"type": "external", "number": "+15015550199"}
AFTER_HOURS = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "18:00", "end": "24:00"}


def user(api, tenant, number, **fields):
    made = api.post(
        f"/v1/tenants/{tenant.id}/extensions", {"number": number, "name": f"U {number}", **fields}
    )
    assert made.status_code == 201, made.json()
    return made.json()


def path(tenant, ext) -> str:
    return f"/v1/tenants/{tenant.id}/extensions/{ext['id']}/call-settings"


def did(tenant, e164, status=PhoneNumber.Status.ACTIVE):
    return PhoneNumber.objects.create(
        partner_id=tenant.partner_id, tenant=tenant, e164=e164, kind="local", status=status
    )


# One change per setting that switches it on; the table's Basic column says Yes to these.
BASIC = {
    "do_not_disturb": {"do_not_disturb": True},
    "forward_always": {"forward_always": {"enabled": True, "destination": OUTSIDE}},
    "forward_busy": {"forward_busy": {"enabled": True, "destination": OUTSIDE}},
    "forward_no_reply": {
        "forward_no_reply": {"enabled": True, "destination": OUTSIDE, "ring_seconds": 30}
    },
    "forward_unreachable": {"forward_unreachable": {"enabled": True, "destination": OUTSIDE}},
    "linked_mobiles": {"linked_mobiles": ["+15015550177"]},
    "simultaneous_ringing": {
        "linked_mobiles": ["+15015550177"],
        "simultaneous_ringing": {"enabled": True},
    },
    "sequential_ringing": {
        "linked_mobiles": ["+15015550177", "+15015550178"],
        "sequential_ringing": {"enabled": True, "ring_seconds": 10},
    },
    "reject_anonymous": {"reject_anonymous": True},
    "selective_rejection": {
        "selective_rejection": {"enabled": True, "rules": [{"callers": ["+1900*"]}]}
    },
    "hide_number": {"hide_number": True},
    "outgoing_caller_id": {"outgoing_caller_id": "+15015550123"},
}
# Only the Premium column says Yes.
PREMIUM = {
    "forward_selective": {
        "forward_selective": {
            "enabled": True,
            "rules": [{"name": "evenings", "times": [AFTER_HOURS], "destination": OUTSIDE}],
        }
    },
    "selective_acceptance": {
        "selective_acceptance": {
            "enabled": True,
            "rules": [{"callers": ["+15015550100", "+1501555*"]}],
        }
    },
}


@pytest.fixture
def seats(admin):
    """A licence-billed tenant with two Basic and two Premium seats free, and a number."""
    licensed = make_tenant(admin, name="Seat Co", billing_profile_id=licence_profile(admin).id)
    hold(admin, licensed, "seat_basic", 2)
    hold(admin, licensed, "seat_premium", 2)
    did(licensed, "+15015550123")
    return licensed


def test_a_user_starts_with_every_setting_off(api, admin):
    tenant = make_tenant(admin, timezone_name="America/Denver")
    ann = user(api, tenant, "2001")
    body = api.get(path(tenant, ann)).json()
    assert body["extension_id"] == ann["id"]
    assert body["timezone"] == "America/Denver"
    assert body["updated_at"] is None
    assert body["do_not_disturb"] is False
    assert body["forward_busy"] == {"enabled": False, "destination": None}
    assert body["forward_no_reply"]["ring_seconds"] == 20
    assert body["linked_mobiles"] == [] and body["outgoing_caller_id"] is None
    assert not CallSettings.objects.exists()  # made when something changes


@pytest.mark.parametrize("setting", sorted(BASIC))
def test_a_basic_seat_has_the_settings_its_column_grants(api, seats, setting):
    ann = user(api, seats, "2001", license="seat_basic")
    response = api.patch(path(seats, ann), BASIC[setting])
    assert response.status_code == 200, response.json()
    for key, value in BASIC[setting].items():
        shown = response.json()[key]
        if isinstance(value, dict):
            assert {k: shown[k] for k in value if k != "rules"} == {
                k: v for k, v in value.items() if k != "rules"
            }
        else:
            assert shown == value


@pytest.mark.parametrize("setting", sorted(PREMIUM))
def test_premium_settings_need_a_premium_seat(api, seats, setting):
    ann = user(api, seats, "2001", license="seat_basic")
    refused = api.patch(path(seats, ann), PREMIUM[setting])
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "license_required"
    assert error["field"] == setting
    assert "Premium seat" in error["message"] and "Basic seat" not in error["message"]
    assert not CallSettings.objects.exists()
    bo = user(api, seats, "2002", license="seat_premium")
    allowed = api.patch(path(seats, bo), PREMIUM[setting])
    assert allowed.status_code == 200, allowed.json()
    assert allowed.json()[setting]["enabled"] is True


def test_a_tenant_not_billed_by_licence_has_every_setting(api, admin):
    tenant = make_tenant(admin)  # Pay-As-You-Go
    did(tenant, "+15015550123")
    ann = user(api, tenant, "2001")
    everything = {}
    for change in [*BASIC.values(), *PREMIUM.values()]:
        everything.update(change)
    everything.pop("simultaneous_ringing")  # the mobiles ring together or in turn
    response = api.patch(path(tenant, ann), everything)
    assert response.status_code == 200, response.json()
    shown = api.get(path(tenant, ann)).json()
    assert shown["forward_selective"]["rules"][0]["times"] == [AFTER_HOURS]
    assert shown["selective_acceptance"]["enabled"] is True
    assert shown["outgoing_caller_id"] == "+15015550123"
    assert shown["updated_at"] is not None


def test_switching_off_needs_no_licence_and_keeps_what_was_set(api, seats):
    ann = user(api, seats, "2001", license="seat_basic")
    api.patch(path(seats, ann), BASIC["forward_busy"])
    off = api.patch(path(seats, ann), {"forward_busy": {"enabled": False}})
    assert off.json()["forward_busy"] == {
        "enabled": False,
        "destination": {"type": "external", "number": "+15015550199"},
    }
    # Switching off a Premium setting a Basic user does not have is a no-op, not a refusal.
    assert api.patch(path(seats, ann), {"forward_selective": {"enabled": False}}).status_code == 200
    cleared = api.patch(path(seats, ann), {"forward_busy": None}).json()
    assert cleared["forward_busy"] == {"enabled": False, "destination": None}


def test_a_change_is_audited_and_sent_as_extension_updated(api, seats):
    ann = user(api, seats, "2001", license="seat_basic")
    Event.objects.all().delete()
    api.patch(path(seats, ann), {"do_not_disturb": True, "hide_number": True})
    event = Event.objects.get(type="extension.updated")
    assert event.payload["extension"]["id"] == ann["id"]
    assert event.payload["call_settings"]["do_not_disturb"] is True
    assert event.payload["previous_attributes"] == {
        "call_settings": {"do_not_disturb": False, "hide_number": False}
    }
    entry = AuditEntry.objects.get(action="extension.call_settings_updated")
    assert entry.object_id == ann["id"] and entry.after == {
        "do_not_disturb": True,
        "hide_number": True,
    }
    # The same values again change nothing, so nothing is sent.
    api.patch(path(seats, ann), {"do_not_disturb": True})
    assert Event.objects.filter(type="extension.updated").count() == 1


def test_the_caller_id_is_one_of_the_tenants_own_numbers(api, admin):
    tenant, neighbour = make_tenant(admin), make_tenant(admin)
    own = did(tenant, "+15015550123")
    did(tenant, "+15015550124", status=PhoneNumber.Status.RELEASED)
    did(neighbour, "+15015550125")
    ann = user(api, tenant, "2001")
    url = path(tenant, ann)
    for taken_elsewhere in ("+15015550125", "+15015550124", "+15015550126"):
        refused = api.patch(url, {"outgoing_caller_id": taken_elsewhere})
        assert refused.status_code == 404, taken_elsewhere
        assert refused.json()["error"]["field"] == "outgoing_caller_id"
    assert api.patch(url, {"outgoing_caller_id": "12"}).status_code == 422
    assert not CallSettings.objects.exists()
    chosen = api.patch(url, {"outgoing_caller_id": "(501) 555-0123"})
    assert chosen.json()["outgoing_caller_id"] == "+15015550123"
    # Several users may show the same company number.
    bo = user(api, tenant, "2002", main_number="+15015550123")
    assert api.patch(path(tenant, bo), {"outgoing_caller_id": "+15015550123"}).status_code == 200
    number_release(actor=actor_for_user(admin), number=own)
    assert api.get(url).json()["outgoing_caller_id"] is None
    assert api.get(path(tenant, bo)).json()["outgoing_caller_id"] is None


def test_forwarding_to_another_tenants_user_is_not_found(api, admin):
    tenant, neighbour = make_tenant(admin), make_tenant(admin)
    ann = user(api, tenant, "2001")
    stranger = user(api, neighbour, "2001")
    refused = api.patch(
        path(tenant, ann),
        {
            "forward_always": {
                "enabled": True,
                "destination": {"type": "extension", "id": stranger["id"]},
            }
        },
    )
    assert refused.status_code == 404
    assert refused.json()["error"]["field"] == "forward_always.destination"
    in_rule = api.patch(
        path(tenant, ann),
        {
            "forward_selective": {
                "enabled": True,
                "rules": [
                    {
                        "callers": ["+1501*"],
                        "destination": {"type": "extension", "id": stranger["id"]},
                    }
                ],
            }
        },
    )
    assert in_rule.status_code == 404
    assert not CallSettings.objects.exists()


def test_a_user_forwarded_to_cannot_be_deleted(api, admin):
    tenant = make_tenant(admin)
    ann, bo = user(api, tenant, "2001"), user(api, tenant, "2002")
    to_ann = {"type": "extension", "id": ann["id"]}
    response = api.patch(
        path(tenant, bo),
        {
            "forward_busy": {"enabled": True, "destination": to_ann},
            "forward_selective": {
                "enabled": True,
                "rules": [
                    {"name": "boss", "callers": ["+15015550100"], "destination": to_ann},
                    {"times": [AFTER_HOURS], "destination": OUTSIDE},
                ],
            },
        },
    )
    assert response.status_code == 200, response.json()
    assert response.json()["forward_busy"]["destination"]["id"] == ann["id"]
    refused = api.delete(f"/v1/tenants/{tenant.id}/extensions/{ann['id']}")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "in_use"
    assert {(r["id"], r["via"]) for r in error["referrers"]} == {
        (bo["id"], "forwarding when busy"),
        (bo["id"], "selective forwarding rule 1 boss"),
    }
    cleared = api.patch(path(tenant, bo), {"forward_busy": None, "forward_selective": None})
    assert cleared.status_code == 200, cleared.json()
    assert api.delete(f"/v1/tenants/{tenant.id}/extensions/{ann['id']}").status_code == 204
    # A user with settings goes with them.
    assert api.delete(f"/v1/tenants/{tenant.id}/extensions/{bo['id']}").status_code == 204
    assert not CallSettings.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"colour": "red"},
        {"forward_busy": {"enabled": True, "destination": OUTSIDE, "delay": 3}},
        {"do_not_disturb": "true"},
        {"do_not_disturb": 1},
        {"forward_busy": {"enabled": True}},  # nowhere to go
        {"forward_busy": {"enabled": True, "destination": {"type": "hangup"}}},
        {"forward_busy": {"enabled": True, "destination": {"type": "trunk", "id": "trk_1"}}},
        {"forward_busy": {"enabled": True, "destination": {"type": "external", "number": "555"}}},
        {
            "forward_busy": {
                "enabled": True,
                "destination": {"type": "external", "number": "+1" + "5" * 30},
            }
        },
        {"forward_no_reply": {"ring_seconds": 500}},
        {"linked_mobiles": ["+15015550177"] * 2},
        {"linked_mobiles": [f"+1501555017{n}" for n in range(6)]},
        {"linked_mobiles": ["+15015550123"]},  # the tenant's own number is not a mobile
        {"linked_mobiles": ["mobile"]},
        {"simultaneous_ringing": {"enabled": True}},  # no linked mobile
        {
            "linked_mobiles": ["+15015550177"],
            "simultaneous_ringing": {"enabled": True},
            "sequential_ringing": {"enabled": True},
        },
        {"selective_rejection": {"enabled": True}},  # no rule
        {"selective_rejection": {"enabled": True, "rules": [{"name": "empty"}]}},
        {"selective_rejection": {"enabled": True, "rules": [{"callers": ["+1501", "abc"]}]}},
        {"selective_rejection": {"enabled": True, "rules": [{"callers": ["+*"]}]}},
        {"selective_rejection": {"enabled": True, "rules": [{"callers": ["+1" + "5" * 40]}]}},
        {"selective_rejection": {"enabled": True, "rules": [{"callers": ["+1501*"]}] * 11}},
        {"selective_rejection": {"rules": [{"name": "x" * 101, "callers": ["+1501*"]}]}},
        {"selective_rejection": {"rules": [{"times": [{**AFTER_HOURS, "start": "25:00"}]}]}},
        {"selective_rejection": {"rules": [{"times": [{**AFTER_HOURS, "end": "17:00"}]}]}},
        {"selective_rejection": {"rules": [{"times": [{**AFTER_HOURS, "days": ["someday"]}]}]}},
        {"selective_rejection": {"rules": [{"times": [{**AFTER_HOURS, "days": []}]}]}},
        {"forward_selective": {"rules": [{"callers": ["+1501*"]}]}},  # rule without destination
        {"outgoing_caller_id": "x" * 40},
        {"hide_number": True, "outgoing_caller_id": 15015550123},
    ],
)
def test_bad_input_is_refused_and_nothing_changes(api, admin, change):
    tenant = make_tenant(admin)
    did(tenant, "+15015550123")
    ann = user(api, tenant, "2001")
    api.patch(path(tenant, ann), {"reject_anonymous": True})
    before = api.get(path(tenant, ann)).json()
    audited = AuditEntry.objects.count()
    response = api.patch(path(tenant, ann), change)
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["type"] == "validation_error"
    assert api.get(path(tenant, ann)).json() == before
    assert AuditEntry.objects.count() == audited


def test_a_user_cannot_forward_to_itself(api, admin):
    tenant = make_tenant(admin)
    ann = user(api, tenant, "2001")
    loop = {"enabled": True, "destination": {"type": "extension", "id": ann["id"]}}
    refused = api.patch(path(tenant, ann), {"forward_unreachable": loop})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "forward_unreachable.destination"


def test_another_partners_user_is_not_found(client, api, admin, make_api):
    tenant = make_tenant(admin)
    ann = user(api, tenant, "2001")
    other_partner, other_admin = make_partner()
    outsider = make_api(make_api_key(other_partner))
    assert outsider.get(path(tenant, ann)).status_code == 404
    assert outsider.patch(path(tenant, ann), {"do_not_disturb": True}).status_code == 404
    their_tenant = make_tenant(other_admin)
    # Their own tenant's id with our user's id is just as unknown.
    assert outsider.get(path(their_tenant, ann)).status_code == 404
    assert outsider.patch(path(their_tenant, ann), {"do_not_disturb": True}).status_code == 404
    sibling = make_tenant(admin)
    assert api.get(path(sibling, ann)).status_code == 404
    assert not CallSettings.objects.exists()


def test_reading_needs_extensions_read_and_changing_extensions_write(api, admin, partner, make_api):
    tenant = make_tenant(admin)
    ann = user(api, tenant, "2001")
    reader = make_api(make_api_key(partner, scopes="extensions:read"))
    assert reader.get(path(tenant, ann)).status_code == 200
    assert reader.patch(path(tenant, ann), {"do_not_disturb": True}).status_code == 403
    nobody = make_api(make_api_key(partner, scopes="tenants:read"))
    assert nobody.get(path(tenant, ann)).status_code == 403


# --- the licences a user has cannot shrink below the settings it has on ---------------------


def test_a_premium_user_with_a_premium_setting_on_keeps_its_seat(api, seats):
    ann = user(api, seats, "2001", license="seat_premium")
    api.patch(path(seats, ann), {**PREMIUM["forward_selective"], **BASIC["forward_busy"]})
    url = f"/v1/tenants/{seats.id}/extensions/{ann['id']}"
    refused = api.patch(url, {"license": "seat_basic"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "license_in_use"
    assert "forward_selective" in error["message"] and "forward_busy" not in error["message"]
    assert api.get(url).json()["license"] == "seat_premium"
    api.patch(path(seats, ann), {"forward_selective": {"enabled": False}})
    moved = api.patch(url, {"license": "seat_basic"})
    assert moved.status_code == 200 and moved.json()["license"] == "seat_basic"
    assert api.get(path(seats, ann)).json()["forward_busy"]["enabled"] is True


def test_an_add_on_that_grants_a_setting_in_use_stays(api, admin, seats):
    LicenseSku.objects.create(
        code="screening_pack",
        name="Screening pack",
        kind=LicenseSku.Kind.USER_ADDON,
        price_micros=1_000_000,
        features=["selective_call_acceptance"],
    )
    hold(admin, seats, "screening_pack", 1)
    ann = user(api, seats, "2001", license="seat_basic")
    bo = user(api, seats, "2002", license="seat_basic")
    base = f"/v1/tenants/{seats.id}/license-assignments"
    addon = api.post(base, {"sku": "screening_pack", "target_id": ann["id"]}).json()
    response = api.patch(path(seats, ann), PREMIUM["selective_acceptance"])
    assert response.status_code == 200, response.json()
    taken_off = api.delete(f"{base}/{addon['id']}")
    assert taken_off.status_code == 409
    assert taken_off.json()["error"]["type"] == "license_in_use"
    assert "selective_acceptance" in taken_off.json()["error"]["message"]
    moved = api.post(f"{base}/{addon['id']}/reassign", {"target_id": bo["id"]})
    assert moved.status_code == 409
    api.patch(path(seats, ann), {"selective_acceptance": {"enabled": False}})
    assert api.delete(f"{base}/{addon['id']}").status_code == 204


def test_mass_configuration_does_not_move_a_user_off_a_seat_its_settings_need(client, api, seats):
    ann = user(api, seats, "2001", license="seat_premium")
    api.patch(path(seats, ann), PREMIUM["selective_acceptance"])
    file = io.BytesIO(b"Ext key,User,Seat\n2001,Ann,seat_basic\n")
    file.name = "users.csv"
    response = client.post(
        f"/v1/tenants/{seats.id}/mass-configuration",
        {"file": file},
        HTTP_AUTHORIZATION=f"Bearer {api.key}",
    )
    assert response.status_code == 422, response.json()
    errors = response.json()["error"]["errors"]
    assert any("selective_acceptance" in e["message"] for e in errors), errors
    assert api.get(f"/v1/tenants/{seats.id}/extensions/{ann['id']}").json()["license"] == (
        "seat_premium"
    )


# --- what the rules mean ------------------------------------------------------------------


def test_a_rule_matches_its_times_in_the_sites_zone_and_its_callers():
    rule = {"times": [AFTER_HOURS], "callers": ["+15015550100", "+1212*"]}
    # Monday 19:30 in Chicago is Tuesday 00:30 UTC.
    evening = datetime(2026, 3, 3, 0, 30, tzinfo=UTC)
    assert rule_applies(rule, caller="+12125550000", at=evening, zone="America/Chicago")
    assert rule_applies(rule, caller="+15015550100", at=evening, zone="America/Chicago")
    assert not rule_applies(rule, caller="+15015550101", at=evening, zone="America/Chicago")
    assert not rule_applies(rule, caller=None, at=evening, zone="America/Chicago")
    assert not rule_applies(rule, caller="+12125550000", at=evening, zone="UTC")  # 00:30 Tue
    anyone_evenings = {"times": [AFTER_HOURS]}
    assert rule_applies(anyone_evenings, caller=None, at=evening, zone="America/Chicago")
