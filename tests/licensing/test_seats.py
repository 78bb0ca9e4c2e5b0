"""The licence engine at provisioning (`000_*.txt` "Licenses": "With 10 basic seat
licenses, you cannot create user 11"; the in-use note; site allocation and migration;
`001_*.txt`: assign, unassign, reassign, terminate by UUID)."""

from __future__ import annotations

import pytest

from tests.factories import make_api_key, make_partner, make_tenant
from tests.licensing.conftest import hold
from trunkline.billing.models import ServicePeriod
from trunkline.core.models import AuditEntry
from trunkline.licensing.models import LicenseAllocation, LicenseAssignment, LicenseSubscription
from trunkline.pbx.models import Extension, Site

pytestmark = pytest.mark.django_db


def user(api, tenant, number, **fields):
    return api.post(
        f"/v1/tenants/{tenant.id}/extensions", {"number": number, "name": f"U {number}", **fields}
    )


def overview(api, tenant):
    body = api.get(f"/v1/tenants/{tenant.id}/licenses").json()
    return {row["sku"]: row for row in body["data"]}


def test_the_catalog_lists_the_seeds_licences_with_their_grants(api):
    skus = {s["code"]: s for s in api.get("/v1/license-skus").json()["data"]}
    assert skus["seat_basic"]["quotas"] == {
        "devices": 3,
        "additional_numbers": 0,
        "conference_participants": 3,
    }
    assert skus["seat_premium"]["quotas"]["additional_numbers"] == 10
    assert "call_forwarding_selective" in skus["seat_premium"]["features"]
    assert "call_forwarding_selective" not in skus["seat_basic"]["features"]
    assert skus["aa_basic"]["quotas"] == {"menu_levels": 1}
    assert "holiday_menu" in skus["aa_standard"]["features"]
    assert skus["trunk_burst"]["is_burst"] is True
    addons = api.get("/v1/license-skus?kind=user_addon").json()["data"]
    assert {"device_ip_phone", "license_number", "team_chat", "webex"} <= {
        s["code"] for s in addons
    }
    assert api.get("/v1/license-skus?kind=nonsense").status_code == 422


def test_a_tenant_not_billed_by_licence_needs_none(api, admin):
    tenant = make_tenant(admin)  # Pay-As-You-Go
    assert user(api, tenant, "101").status_code == 201
    assert api.get(f"/v1/tenants/{tenant.id}/licenses").json() == {"governed": False, "data": []}
    refused = user(api, tenant, "102", license="seat_basic")
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "license"


def test_no_user_without_a_seat(api, licensed):
    refused = user(api, licensed, "101")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "license_required"
    assert not Extension.objects.filter(tenant=licensed).exists()
    assert not ServicePeriod.objects.filter(tenant=licensed).exists()


def test_ten_basic_seats_make_ten_users_and_not_eleven(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 10)
    for n in range(10):
        made = user(api, licensed, str(100 + n))
        assert made.status_code == 201, made.json()
        assert made.json()["license"] == "seat_basic"
    eleventh = user(api, licensed, "110")
    assert eleventh.status_code == 409
    assert eleventh.json()["error"]["type"] == "license_required"
    assert "Basic seat" in eleventh.json()["error"]["message"]
    row = overview(api, licensed)["seat_basic"]
    assert (row["limit"], row["in_use"], row["assigned"], row["depleted"]) == (10, 10, 10, True)
    assert Extension.objects.filter(tenant=licensed).count() == 10


def test_the_cheapest_free_seat_is_taken_unless_one_is_named(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 1)
    hold(admin, licensed, "seat_premium", 1)
    assert user(api, licensed, "101").json()["license"] == "seat_basic"
    assert user(api, licensed, "102").json()["license"] == "seat_premium"
    assert user(api, licensed, "103").status_code == 409


def test_a_named_seat_must_be_held(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 5)
    refused = user(api, licensed, "101", license="seat_premium")
    assert refused.status_code == 409
    assert "Premium seat" in refused.json()["error"]["message"]
    assert user(api, licensed, "101", license="team_chat").status_code == 422
    assert user(api, licensed, "101", license="no_such").status_code == 422
    assert not Extension.objects.filter(tenant=licensed).exists()


def test_deleting_a_user_frees_its_seat_and_add_ons(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 1)
    hold(admin, licensed, "team_chat", 1)
    first = user(api, licensed, "101").json()
    api.post(
        f"/v1/tenants/{licensed.id}/license-assignments",
        {"sku": "team_chat", "target_id": first["id"]},
    )
    assert api.delete(f"/v1/tenants/{licensed.id}/extensions/{first['id']}").status_code == 204
    assert not LicenseAssignment.objects.filter(tenant=licensed).exists()
    second = user(api, licensed, "102").json()
    assert second["license"] == "seat_basic"


# --- sites ------------------------------------------------------------------------------------


@pytest.fixture
def two_sites(api, licensed):
    main = Site.objects.get(tenant=licensed, is_default=True)
    branch = api.post(f"/v1/tenants/{licensed.id}/sites", {"name": "Branch"}).json()
    return main, Site.objects.get(pk=branch["id"])


def allocate(api, tenant, site, sku, quantity):
    return api.put(
        f"/v1/tenants/{tenant.id}/sites/{site.id}/licenses/{sku}", {"quantity": quantity}
    )


def test_sites_get_allocations_within_what_the_tenant_holds(api, admin, licensed, two_sites):
    main, branch = two_sites
    hold(admin, licensed, "seat_basic", 3)
    assert allocate(api, licensed, main, "seat_basic", 2).json()["allocated"] == 2
    assert allocate(api, licensed, branch, "seat_basic", 1).status_code == 200
    too_many = allocate(api, licensed, main, "seat_basic", 3)  # branch holds 1 of the 3
    assert too_many.status_code == 409
    assert too_many.json()["error"]["type"] == "license_required"
    assert LicenseAllocation.objects.get(site=main).quantity == 2
    # The branch's one seat makes one user there; the second finds none free anywhere.
    assert user(api, licensed, "201", site_id=branch.id).status_code == 201
    assert user(api, licensed, "202", site_id=branch.id).status_code == 409
    # Below what is assigned is refused.
    below = allocate(api, licensed, branch, "seat_basic", 0)
    assert below.status_code == 409
    assert below.json()["error"]["type"] == "license_in_use"


def test_in_use_counts_allocations_not_assignments(api, admin, licensed, two_sites):
    main, _ = two_sites
    hold(admin, licensed, "seat_basic", 10)
    allocate(api, licensed, main, "seat_basic", 10)
    user(api, licensed, "101")
    row = overview(api, licensed)["seat_basic"]
    # The seed's note: the group has 10 and uses 1; the tenant shows 10 in use.
    assert (row["limit"], row["in_use"], row["assigned"], row["unallocated"]) == (10, 10, 1, 0)
    assert row["depleted"] is False
    assert row["sites"] == [
        {"site_id": main.id, "site_name": main.name, "allocated": 10, "used": 1}
    ]
    # "even when licenses appear depleted, you may still be able to create users"
    assert user(api, licensed, "102").status_code == 201


def test_free_licences_migrate_between_sites(api, admin, licensed, two_sites):
    main, branch = two_sites
    hold(admin, licensed, "seat_basic", 3)
    allocate(api, licensed, main, "seat_basic", 3)
    user(api, licensed, "101")
    assert user(api, licensed, "201", site_id=branch.id).status_code == 409

    def migrate(quantity):
        return api.post(
            f"/v1/tenants/{licensed.id}/licenses/migrate",
            {
                "sku": "seat_basic",
                "from_site_id": main.id,
                "to_site_id": branch.id,
                "quantity": quantity,
            },
        )

    assert migrate(3).status_code == 409  # one of the three is assigned
    moved = migrate(2)
    assert moved.status_code == 200, moved.json()
    sites = {s["site_id"]: s for s in moved.json()["data"][0]["sites"]}
    assert (sites[main.id]["allocated"], sites[branch.id]["allocated"]) == (1, 2)
    assert user(api, licensed, "201", site_id=branch.id).status_code == 201
    site_page = api.get(f"/v1/tenants/{licensed.id}/sites/{branch.id}/licenses").json()
    assert site_page["data"][0]["sites"] == [
        {"site_id": branch.id, "site_name": "Branch", "allocated": 2, "used": 1}
    ]
    assert AuditEntry.objects.filter(action="license.migrated").count() == 1


# --- subscriptions ----------------------------------------------------------------------------


def test_terminate_by_uuid_only_while_the_rest_covers_the_assigned(api, admin, licensed):
    base = f"/v1/tenants/{licensed.id}/license-subscriptions"
    two = api.post(base, {"sku": "seat_basic", "quantity": 2}).json()
    one = api.post(base, {"sku": "seat_basic", "quantity": 1}).json()
    users = [user(api, licensed, str(101 + n)).json() for n in range(3)]
    refused = api.post(f"{base}/{one['id']}/terminate")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "license_in_use"
    api.delete(f"/v1/tenants/{licensed.id}/extensions/{users[0]['id']}")
    ended = api.post(f"{base}/{one['id']}/terminate")
    assert ended.status_code == 200
    assert ended.json()["status"] == "TERMINATED"
    # The allocation shrank to what is still held.
    assert overview(api, licensed)["seat_basic"]["in_use"] == 2
    assert api.post(f"{base}/{one['id']}/terminate").status_code == 409
    assert api.get(f"{base}/{two['id']}").json()["quantity"] == 2
    assert api.post(f"{base}/6f1c1f0e-0000-4000-8000-000000000000/terminate").status_code == 404
    assert api.post(f"{base}/not-a-uuid/terminate").status_code == 404
    assert [s["id"] for s in api.get(f"{base}?status=ACTIVE").json()["data"]] == [two["id"]]


@pytest.mark.parametrize("quantity", [0, -1, "3", 1.5, True, 100_001])
def test_bad_quantities_are_refused(api, licensed, quantity):
    response = api.post(
        f"/v1/tenants/{licensed.id}/license-subscriptions",
        {"sku": "seat_basic", "quantity": quantity},
    )
    assert response.status_code in (400, 422)
    assert "error" in response.json()
    assert not LicenseSubscription.objects.exists()


def test_unknown_skus_and_fields_are_refused(api, licensed):
    base = f"/v1/tenants/{licensed.id}/license-subscriptions"
    assert api.post(base, {"sku": "gold_seat", "quantity": 1}).status_code == 422
    assert api.post(base, {"sku": "seat_basic", "quantity": 1, "price": 0}).status_code == 422
    assert not LicenseSubscription.objects.exists()


# --- add-ons ----------------------------------------------------------------------------------


def test_add_ons_are_assigned_unassigned_and_reassigned(api, admin, licensed, two_sites):
    main, branch = two_sites
    hold(admin, licensed, "seat_basic", 3)
    hold(admin, licensed, "webex", 1)
    ann = user(api, licensed, "101").json()
    bob = user(api, licensed, "102").json()
    far = user(api, licensed, "201", site_id=branch.id).json()
    base = f"/v1/tenants/{licensed.id}/license-assignments"
    given = api.post(base, {"sku": "webex", "target_id": ann["id"]})
    assert given.status_code == 201, given.json()
    webex = given.json()
    assert api.get(f"/v1/tenants/{licensed.id}/extensions/{ann['id']}").json()["addons"] == [
        "webex"
    ]
    # One Webex licence: Bob cannot have a second.
    second = api.post(base, {"sku": "webex", "target_id": bob["id"]})
    assert second.status_code == 409
    assert second.json()["error"]["type"] == "license_required"
    moved = api.post(f"{base}/{webex['id']}/reassign", {"target_id": bob["id"]})
    assert moved.status_code == 200
    assert moved.json()["target_id"] == bob["id"]
    # The licence is the main site's: the branch user cannot take it over.
    elsewhere = api.post(f"{base}/{webex['id']}/reassign", {"target_id": far["id"]})
    assert elsewhere.status_code == 409
    # Search by extension number and by licence.
    assert [a["sku"] for a in api.get(f"{base}?extension=102").json()["data"]] == [
        "seat_basic",
        "webex",
    ]
    assert len(api.get(f"{base}?sku=seat_basic").json()["data"]) == 3
    assert len(api.get(f"{base}?kind=user_addon").json()["data"]) == 1
    assert api.delete(f"{base}/{webex['id']}").status_code == 204
    assert api.post(base, {"sku": "webex", "target_id": ann["id"]}).status_code == 201


def test_a_seat_cannot_be_unassigned_or_given_as_an_add_on(api, admin, licensed):
    hold(admin, licensed, "seat_basic", 2)
    ann = user(api, licensed, "101").json()
    base = f"/v1/tenants/{licensed.id}/license-assignments"
    seat = api.get(f"{base}?target_id={ann['id']}").json()["data"][0]
    assert api.delete(f"{base}/{seat['id']}").status_code == 409
    assert api.post(base, {"sku": "seat_basic", "target_id": ann["id"]}).status_code == 422
    assert api.post(base, {"sku": "webex", "target_id": "ext_nope"}).status_code == 404


def test_another_partners_tenant_is_not_found_on_every_licence_endpoint(client, api, licensed):
    from tests.conftest import ApiClient

    other, _ = make_partner()
    outsider = ApiClient(client, make_api_key(other))
    site = Site.objects.get(tenant=licensed, is_default=True)
    t = f"/v1/tenants/{licensed.id}"
    for method, url, body in [
        ("get", f"{t}/licenses", None),
        ("get", f"{t}/license-subscriptions", None),
        ("post", f"{t}/license-subscriptions", {"sku": "seat_basic", "quantity": 1}),
        ("get", f"{t}/sites/{site.id}/licenses", None),
        ("put", f"{t}/sites/{site.id}/licenses/seat_basic", {"quantity": 1}),
        (
            "post",
            f"{t}/licenses/migrate",
            {"sku": "seat_basic", "from_site_id": site.id, "to_site_id": site.id, "quantity": 1},
        ),
        ("get", f"{t}/license-assignments", None),
        ("post", f"{t}/license-assignments", {"sku": "webex", "target_id": "ext_x"}),
    ]:
        response = getattr(outsider, method)(url, body) if body else getattr(outsider, method)(url)
        assert response.status_code == 404, (method, url, response.json())
    assert not LicenseSubscription.objects.exists()
