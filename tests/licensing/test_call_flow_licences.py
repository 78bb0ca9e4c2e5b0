"""Call-flow licences (`000_*.txt`): an auto attendant takes an Auto Attendant licence;
AA Basic has one menu level and no holiday menu, AA Standard has unlimited levels and a
holiday menu; Voicemail for Call Flows and Power Pack are call-flow add-ons; call-center
agents need the call-center user licence of the center's tier."""

from __future__ import annotations

import pytest

from tests.factories import make_tenant
from tests.licensing.conftest import hold
from trunkline.licensing.models import LicenseAssignment
from trunkline.pbx.models import CallFlow

pytestmark = pytest.mark.django_db


def user(api, tenant, number, **fields):
    made = api.post(
        f"/v1/tenants/{tenant.id}/extensions", {"number": number, "name": "Ann", **fields}
    )
    assert made.status_code == 201, made.json()
    return made.json()


def attendant(api, tenant, config, name="Front", **fields):
    return api.post(
        f"/v1/tenants/{tenant.id}/call-flows",
        {"kind": "auto_attendant", "name": name, "config": config, **fields},
    )


def one_level(target):
    return {
        "menus": {"main": {"options": {"0": {"type": "extension", "id": target["id"]}}}},
        "business_hours_menu": "main",
    }


def levels(target, depth: int) -> dict:
    """Menus nested `depth` deep: main → m2 → … → m{depth}."""
    menus = {"main": {"options": {"0": {"type": "extension", "id": target["id"]}}}}
    previous = "main"
    for level in range(2, depth + 1):
        key = f"m{level}"
        menus[previous]["options"]["1"] = {"type": "menu", "menu": key}
        menus[key] = {"options": {"0": {"type": "extension", "id": target["id"]}}}
        previous = key
    return {"menus": menus, "business_hours_menu": "main"}


def with_holiday(target):
    config = one_level(target)
    config["menus"]["closed"] = {"options": {}}
    return {**config, "holiday_menu": "closed"}


@pytest.fixture
def office(api, licensed):
    return api.post(f"/v1/tenants/{licensed.id}/schedules", {"name": "Office"}).json()


@pytest.fixture
def ann(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 5)
    return user(api, licensed, "2001")


def test_an_auto_attendant_needs_a_licence_and_takes_the_last_free_one(api, admin, licensed, ann):
    refused = attendant(api, licensed, one_level(ann))
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "license_required"
    assert not CallFlow.objects.exists()
    hold(admin, licensed, "aa_basic", 1)
    made = attendant(api, licensed, one_level(ann))  # N = 1
    assert made.status_code == 201, made.json()
    assert made.json()["license"] == "aa_basic"
    second = attendant(api, licensed, one_level(ann), name="Second")  # N + 1
    assert second.status_code == 409
    assert "Auto Attendant - Basic" in second.json()["error"]["message"]
    assert CallFlow.objects.count() == 1
    assert (
        api.delete(f"/v1/tenants/{licensed.id}/call-flows/{made.json()['id']}").status_code == 204
    )
    again = attendant(api, licensed, one_level(ann), name="Second")
    assert again.status_code == 201, "a deleted attendant's licence is free again"


def test_aa_basic_allows_one_menu_level_and_standard_allows_more(api, admin, licensed, ann):
    hold(admin, licensed, "aa_basic", 2)
    assert attendant(api, licensed, levels(ann, 1), license="aa_basic").status_code == 201
    refused = attendant(api, licensed, levels(ann, 2), name="Deep", license="aa_basic")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "license_required"
    assert "allows 1 menu levels" in error["message"]
    assert "Auto Attendant - Standard" in error["message"]
    assert CallFlow.objects.count() == 1
    assert LicenseAssignment.objects.filter(target_type="call_flow").count() == 1
    hold(admin, licensed, "aa_standard", 1)
    deep = attendant(api, licensed, levels(ann, 5), name="Deep", license="aa_standard")
    assert deep.status_code == 201, deep.json()


def test_aa_basic_has_no_holiday_menu_and_standard_has_one(api, admin, licensed, ann, office):
    hold(admin, licensed, "aa_basic", 1)
    refused = attendant(
        api, licensed, with_holiday(ann), license="aa_basic", schedule_id=office["id"]
    )
    assert refused.status_code == 409
    assert "holiday menu needs Auto Attendant - Standard" in refused.json()["error"]["message"]
    after_hours = one_level(ann)
    after_hours["menus"]["night"] = {"options": {}}
    after_hours["after_hours_menu"] = "night"
    basic = attendant(api, licensed, after_hours, license="aa_basic", schedule_id=office["id"])
    assert basic.status_code == 201, "AA Basic has an after-hours menu"
    hold(admin, licensed, "aa_standard", 1)
    standard = attendant(
        api, licensed, with_holiday(ann), name="Holidays", schedule_id=office["id"]
    )
    assert standard.status_code == 201, standard.json()
    assert standard.json()["license"] == "aa_standard", "the cheapest licence that fits"


def test_the_cheapest_fitting_licence_is_taken_when_none_is_named(api, admin, licensed, ann):
    hold(admin, licensed, "aa_basic", 1)
    hold(admin, licensed, "aa_standard", 1)
    deep = attendant(api, licensed, levels(ann, 3), name="Deep").json()
    assert deep["license"] == "aa_standard"
    flat = attendant(api, licensed, levels(ann, 1), name="Flat").json()
    assert flat["license"] == "aa_basic"


def test_upgrading_and_downgrading_an_attendant(api, admin, licensed, ann):
    hold(admin, licensed, "aa_basic", 1)
    hold(admin, licensed, "aa_standard", 1)
    made = attendant(api, licensed, levels(ann, 1), license="aa_basic").json()
    path = f"/v1/tenants/{licensed.id}/call-flows/{made['id']}"
    deeper = api.patch(path, {"config": levels(ann, 2)})
    assert deeper.status_code == 409
    assert api.get(path).json()["config"] == made["config"], "nothing changed"
    upgraded = api.patch(path, {"license": "aa_standard", "config": levels(ann, 2)})
    assert upgraded.status_code == 200, upgraded.json()
    assert upgraded.json()["license"] == "aa_standard"
    downgrade = api.patch(path, {"license": "aa_basic"})
    assert downgrade.status_code == 409
    assert api.get(path).json()["license"] == "aa_standard"
    flat = api.patch(path, {"license": "aa_basic", "config": levels(ann, 1)})
    assert flat.status_code == 200
    assert flat.json()["license"] == "aa_basic"
    wrong = api.patch(path, {"license": "seat_basic"})
    assert wrong.status_code == 422


def test_hunt_groups_need_no_licence_of_their_own(api, licensed, ann):
    made = api.post(
        f"/v1/tenants/{licensed.id}/call-flows",
        {"kind": "hunt_group", "name": "Sales", "config": {"members": [ann["id"]]}},
    )
    assert made.status_code == 201
    assert made.json()["license"] is None


def test_call_flow_add_ons_are_assigned_and_taken_back(api, admin, licensed, ann):
    hold(admin, licensed, "aa_basic", 1)
    hold(admin, licensed, "cf_power_pack", 1)
    made = attendant(api, licensed, one_level(ann), addons=["cf_power_pack"])
    assert made.status_code == 201, made.json()
    assert made.json()["addons"] == ["cf_power_pack"]
    group = api.post(
        f"/v1/tenants/{licensed.id}/call-flows",
        {"kind": "hunt_group", "name": "Sales", "config": {"members": [ann["id"]]}},
    ).json()
    path = f"/v1/tenants/{licensed.id}/license-assignments"
    refused = api.post(
        path, {"sku": "cf_power_pack", "target_type": "call_flow", "target_id": group["id"]}
    )
    assert refused.status_code == 409, "the only Power Pack is on the attendant"
    user_addon = api.post(
        path, {"sku": "call_recording", "target_type": "call_flow", "target_id": group["id"]}
    )
    assert user_addon.status_code in (404, 422)
    assignment = LicenseAssignment.objects.get(sku_id="cf_power_pack")
    moved = api.post(f"{path}/{assignment.id}/reassign", {"target_id": group["id"]})
    assert moved.status_code == 200, moved.json()
    assert api.get(f"/v1/tenants/{licensed.id}/call-flows/{group['id']}").json()["addons"] == [
        "cf_power_pack"
    ]


def test_call_center_agents_need_the_call_center_licence(api, admin, licensed, ann):
    bob = user(api, licensed, "2002")
    center = {"tier": "standard", "agents": [ann["id"], bob["id"]]}
    path = f"/v1/tenants/{licensed.id}/call-flows"
    refused = api.post(path, {"kind": "call_center", "name": "Help", "config": center})
    assert refused.status_code == 409
    assert "Call center agent" in refused.json()["error"]["message"]
    hold(admin, licensed, "call_center_agent", 2)
    assign = f"/v1/tenants/{licensed.id}/license-assignments"
    for agent in (ann, bob):
        assert (
            api.post(assign, {"sku": "call_center_agent", "target_id": agent["id"]}).status_code
            == 201
        )
    made = api.post(path, {"kind": "call_center", "name": "Help", "config": center})
    assert made.status_code == 201, made.json()
    taken = LicenseAssignment.objects.get(target_id=bob["id"], sku_id="call_center_agent")
    refused = api.delete(f"{assign}/{taken.id}")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "license_in_use"
    assert "agent of call center Help" in refused.json()["error"]["message"]
    premium = {"tier": "premium", "agents": [ann["id"]], "supervisors": [bob["id"]]}
    refused = api.patch(f"{path}/{made.json()['id']}", {"config": premium})
    assert refused.status_code == 409
    assert "Premium call center agent" in refused.json()["error"]["message"]


def test_tenants_without_licences_have_every_call_flow_feature(api, admin):
    tenant = make_tenant(admin, name="Pay as you go")
    ann = user(api, tenant, "2001")
    office = api.post(f"/v1/tenants/{tenant.id}/schedules", {"name": "Office"}).json()
    deep = attendant(api, tenant, levels(ann, 4))
    assert deep.status_code == 201
    assert deep.json()["license"] is None
    holiday = attendant(api, tenant, with_holiday(ann), name="Holidays", schedule_id=office["id"])
    assert holiday.status_code == 201
    center = api.post(
        f"/v1/tenants/{tenant.id}/call-flows",
        {
            "kind": "call_center",
            "name": "Help",
            "config": {"tier": "premium", "agents": [ann["id"]]},
        },
    )
    assert center.status_code == 201
    named = attendant(api, tenant, one_level(ann), name="Named", license="aa_basic")
    assert named.status_code == 422
