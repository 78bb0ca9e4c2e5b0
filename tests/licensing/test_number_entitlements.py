"""Number entitlements and the partner's licence policy for numbers (`000_*.txt` "Number
Entitlements"; `003_*.txt`: "Assign a new number — one licence is consumed", "Delete a
number — the licence becomes reusable", "Reassign a number to another user — you keep
using the same licence", "No licences available — a new license is automatically
purchased", and the "Max numbers per user" table)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant, make_user
from tests.licensing.conftest import hold
from trunkline.accounts.models import User
from trunkline.billing.models import Invoice
from trunkline.billing.tenant_invoices import tenant_cycles_run
from trunkline.core.errors import PermissionDenied
from trunkline.core.models import AuditEntry
from trunkline.licensing import policy as policies
from trunkline.licensing.models import LicenseAssignment, LicensePolicy, LicenseSubscription
from trunkline.licensing.services import user_number_cap
from trunkline.pbx.extensions import extension_create
from trunkline.pbx.models import Site
from trunkline.pbx.services import site_create
from trunkline.phone_numbers import porting, porting_out
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.services import number_assign
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_delete

pytestmark = pytest.mark.django_db

_serial = iter(range(100, 10_000))


def spare(partner, kind="local"):
    """An ACTIVE number in the partner's inventory, on no tenant (assigning it is free)."""
    area = "877" if kind == "toll_free" else "501"
    return PhoneNumber.objects.create(
        partner=partner,
        e164=f"+1{area}555{next(_serial):04d}",
        kind=kind,
        status=PhoneNumber.Status.ACTIVE,
    )


def assign(api, number, tenant):
    return api.post(
        f"/v1/phone-numbers/{number.id}/assign", {"tenant_id": tenant.id if tenant else None}
    )


def entitlements(tenant, sku=None):
    found = LicenseAssignment.objects.filter(tenant=tenant, target_type="number")
    return found.filter(sku=sku) if sku else found


def tenant_of(number):
    return PhoneNumber.objects.get(pk=number.pk).tenant_id


def auto_purchase(admin, on=True):
    policies.license_policy_set(actor=actor_for_user(admin), changes={"auto_purchase_numbers": on})


# --- consuming, refusing, freeing ------------------------------------------------------------


def test_the_last_free_entitlement_is_taken_and_the_next_number_is_refused(
    api, admin, partner, licensed
):
    hold(admin, licensed, "number_local", 2)
    first, second, third = spare(partner), spare(partner), spare(partner)
    assert assign(api, first, licensed).status_code == 200
    assert assign(api, second, licensed).status_code == 200
    refused = assign(api, third, licensed)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["type"] == "license_required"
    assert "Local number entitlement" in error["message"] and "number_local" in error["message"]
    assert tenant_of(third) is None
    held = entitlements(licensed)
    assert sorted(held.values_list("target_id", flat=True)) == sorted([first.id, second.id])
    default = Site.objects.get(tenant=licensed, is_default=True)
    assert all(a.is_base and a.sku_id == "number_local" and a.site_id == default.id for a in held)
    assert not LicenseSubscription.objects.filter(tenant=licensed, automatic=True).exists()


def test_local_and_toll_free_entitlements_are_separate(api, admin, partner, licensed):
    hold(admin, licensed, "number_local", 1)
    toll_free, local = spare(partner, "toll_free"), spare(partner)
    refused = assign(api, toll_free, licensed)
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "license_required"
    assert "Toll-free number entitlement" in refused.json()["error"]["message"]
    hold(admin, licensed, "number_toll_free", 1)
    assert assign(api, toll_free, licensed).status_code == 200
    assert assign(api, local, licensed).status_code == 200
    assert entitlements(licensed, "number_toll_free").get().target_id == toll_free.id
    assert entitlements(licensed, "number_local").get().target_id == local.id


def test_a_released_or_unassigned_number_frees_its_entitlement(api, admin, partner, licensed):
    hold(admin, licensed, "number_local", 1)
    first, second, third = spare(partner), spare(partner), spare(partner)
    assert assign(api, first, licensed).status_code == 200
    assert api.post(f"/v1/phone-numbers/{first.id}/release").status_code == 200
    assert not entitlements(licensed).exists()
    assert assign(api, second, licensed).status_code == 200
    # Taken back to the partner's inventory (still ACTIVE): the entitlement is free again.
    assert assign(api, second, None).status_code == 200
    assert not entitlements(licensed).exists()
    assert assign(api, third, licensed).status_code == 200
    assert entitlements(licensed).get().target_id == third.id
    # The subscription stays, billed until terminated (`003_*.txt`).
    assert LicenseSubscription.objects.get(tenant=licensed).status == "ACTIVE"
    freed = AuditEntry.objects.filter(tenant_id=licensed.id, action="license.unassigned")
    assert freed.count() == 2


def test_a_cancelled_tenants_numbers_free_their_entitlements(api, admin, partner, licensed):
    hold(admin, licensed, "number_local", 2)
    numbers = [spare(partner), spare(partner)]
    for number in numbers:
        assert assign(api, number, licensed).status_code == 200
    tenant_delete(actor=actor_for_user(admin), tenant=licensed)
    assert not entitlements(licensed).exists()
    assert all(tenant_of(number) is None for number in numbers)


def test_moving_a_number_to_another_tenant_moves_the_entitlement(api, admin, partner, licensed):
    other = make_tenant(admin, name="Other Co", billing_profile_id=licensed.billing_profile_id)
    hold(admin, licensed, "number_local", 1)
    number = spare(partner)
    assert assign(api, number, licensed).status_code == 200
    refused = assign(api, number, other)
    assert refused.status_code == 409 and refused.json()["error"]["type"] == "license_required"
    assert tenant_of(number) == licensed.id and entitlements(licensed).count() == 1
    hold(admin, other, "number_local", 1)
    assert assign(api, number, other).status_code == 200
    assert not entitlements(licensed).exists()
    assert entitlements(other).get().target_id == number.id
    # The first tenant's entitlement is free for another number.
    assert assign(api, spare(partner), licensed).status_code == 200


def test_routing_a_number_inside_the_tenant_keeps_its_entitlement(api, admin, partner, licensed):
    hold(admin, licensed, "number_local", 1)
    hold(admin, licensed, "seat_basic", 2)
    number = spare(partner)
    assert assign(api, number, licensed).status_code == 200
    taken = entitlements(licensed).get()
    # Assigned again to the tenant it is on: nothing new is taken.
    assert assign(api, number, licensed).status_code == 200
    actor = actor_for_user(admin)
    ann = extension_create(
        actor=actor,
        tenant=licensed,
        fields={"number": "2001", "name": "Ann", "main_number": number.e164},
    )
    bo = extension_create(actor=actor, tenant=licensed, fields={"number": "2002", "name": "Bo"})
    moved = api.patch(f"/v1/tenants/{licensed.id}/extensions/{ann.id}", {"main_number": None})
    assert moved.status_code == 200, moved.json()
    given = api.patch(f"/v1/tenants/{licensed.id}/extensions/{bo.id}", {"main_number": number.e164})
    assert given.status_code == 200, given.json()
    assert list(entitlements(licensed)) == [taken]


def test_tenants_not_on_licences_take_numbers_without_entitlements(api, admin, partner):
    plain_tenant = make_tenant(admin, name="Pay As You Go Co")
    local, toll_free = spare(partner), spare(partner, "toll_free")
    assert assign(api, local, plain_tenant).status_code == 200
    assert assign(api, toll_free, plain_tenant).status_code == 200
    assert not LicenseAssignment.objects.filter(target_type="number").exists()
    assert not LicenseSubscription.objects.filter(tenant=plain_tenant).exists()


def test_an_entitlement_in_use_keeps_its_subscription(api, admin, partner, licensed):
    subscription = hold(admin, licensed, "number_local", 1)
    assert assign(api, spare(partner), licensed).status_code == 200
    ended = api.post(f"/v1/tenants/{licensed.id}/license-subscriptions/{subscription.id}/terminate")
    assert ended.status_code == 409 and ended.json()["error"]["type"] == "license_in_use"


def test_an_entitlement_allocated_to_another_site_is_used_there(api, admin, partner, licensed):
    hold(admin, licensed, "number_local", 1)
    branch = site_create(actor=actor_for_user(admin), tenant=licensed, name="Branch")
    put = api.put(
        f"/v1/tenants/{licensed.id}/sites/{branch.id}/licenses/number_local", {"quantity": 1}
    )
    assert put.status_code == 200, put.json()
    assert assign(api, spare(partner), licensed).status_code == 200
    assert entitlements(licensed).get().site_id == branch.id


def test_the_overview_counts_numbers_holding_an_entitlement(api, admin, partner, licensed):
    hold(admin, licensed, "number_local", 3)
    first, second = spare(partner), spare(partner)
    assign(api, first, licensed)
    assign(api, second, licensed)
    api.post(f"/v1/phone-numbers/{first.id}/release")
    overview = api.get(f"/v1/tenants/{licensed.id}/licenses", {"kind": "number"}).json()
    (row,) = overview["data"]
    assert (row["sku"], row["limit"], row["assigned"], row["in_use"]) == ("number_local", 3, 1, 2)
    assert row["depleted"] is False
    listed = api.get(f"/v1/tenants/{licensed.id}/license-assignments", {"kind": "number"}).json()[
        "data"
    ]
    assert [(a["target_type"], a["target_id"]) for a in listed] == [("number", second.id)]


# --- many numbers at once ---------------------------------------------------------------------


def test_bulk_assignment_is_all_or_nothing_on_entitlements(api, admin, partner, licensed):
    hold(admin, licensed, "number_local", 2)
    numbers = [spare(partner) for _ in range(3)]
    body = {"ids": [n.id for n in numbers], "tenant_id": licensed.id}
    preview = api.post("/v1/phone-numbers/bulk/assign/preview", body).json()
    assert preview["can_proceed"] is False
    assert preview["limit_error"]["type"] == "license_required"
    refused = api.post("/v1/phone-numbers/bulk/assign", body)
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "license_required"
    assert "Local number entitlement" in refused.json()["error"]["message"]
    assert not PhoneNumber.objects.filter(tenant=licensed).exists()
    assert not entitlements(licensed).exists()
    body["ids"] = body["ids"][:2]
    done = api.post("/v1/phone-numbers/bulk/assign", body)
    assert done.status_code == 200, done.json()
    assert entitlements(licensed).count() == 2


def test_bulk_assignment_buys_what_is_missing_when_the_policy_says_so(
    api, admin, partner, licensed
):
    auto_purchase(admin)
    hold(admin, licensed, "number_local", 1)
    numbers = [spare(partner), spare(partner), spare(partner, "toll_free")]
    body = {"ids": [n.id for n in numbers], "tenant_id": licensed.id}
    preview = api.post("/v1/phone-numbers/bulk/assign/preview", body).json()
    assert preview["can_proceed"] is True
    assert preview["licenses_bought"] == [
        {"sku": "number_local", "quantity": 1},
        {"sku": "number_toll_free", "quantity": 1},
    ]
    assert api.post("/v1/phone-numbers/bulk/assign", body).status_code == 200
    bought = LicenseSubscription.objects.filter(tenant=licensed, automatic=True)
    assert sorted(bought.values_list("sku", "quantity")) == [
        ("number_local", 1),
        ("number_toll_free", 1),
    ]
    assert entitlements(licensed).count() == 3


# --- automatic purchase -------------------------------------------------------------------------


def test_with_auto_purchase_a_missing_entitlement_is_bought_and_audited(
    api, admin, partner, licensed
):
    auto_purchase(admin)
    hold(admin, licensed, "number_local", 1)
    first, second = spare(partner), spare(partner)
    assert assign(api, first, licensed).status_code == 200
    assert not LicenseSubscription.objects.filter(tenant=licensed, automatic=True).exists()
    assert assign(api, second, licensed).status_code == 200
    bought = LicenseSubscription.objects.get(tenant=licensed, automatic=True)
    assert (bought.sku_id, bought.quantity, bought.status) == ("number_local", 1, "ACTIVE")
    assert entitlements(licensed).count() == 2
    created = AuditEntry.objects.get(
        action="license.subscription_created", object_id=str(bought.id)
    )
    assert created.after["automatic"] is True and created.tenant_id == licensed.id
    listed = api.get(f"/v1/tenants/{licensed.id}/license-subscriptions").json()["data"]
    assert sorted(s["automatic"] for s in listed) == [False, True]
    # Off again: the next number without a free entitlement is refused.
    auto_purchase(admin, on=False)
    assert assign(api, spare(partner), licensed).status_code == 409


def test_another_partners_policy_buys_nothing_here(api, admin, partner, licensed):
    _, other_admin = make_partner()
    auto_purchase(other_admin)
    assert assign(api, spare(partner), licensed).status_code == 409
    assert not LicenseSubscription.objects.filter(tenant=licensed).exists()


def chicago(month, day, hour=0):
    return datetime(2026, month, day, hour + 6, tzinfo=UTC)


def test_an_entitlement_bought_automatically_is_on_the_next_invoice(admin, partner, licensed):
    since = chicago(1, 1)
    Tenant.objects.filter(pk=licensed.pk).update(
        created_at=since, billing_profile_since=since, billed_through=None, next_cycle_at=None
    )
    tenant = Tenant.objects.get(pk=licensed.pk)
    actor = actor_for_user(admin)
    auto_purchase(admin)
    tenant_cycles_run(now=chicago(1, 1, 1))
    number_assign(actor=actor, number=spare(partner), tenant=tenant, now=chicago(1, 20))
    number_assign(actor=actor, number=spare(partner), tenant=tenant, now=chicago(2, 15))
    assert LicenseSubscription.objects.filter(tenant=tenant, automatic=True).count() == 2
    tenant_cycles_run(now=chicago(3, 1, 1))
    february = Invoice.objects.get(tenant=tenant, period_start=date(2026, 2, 1))
    # $1 a month each: one held all February, one from the 15th (14 of 28 days).
    (line,) = february.lines.all()
    assert line.kind == "licenses" and "Local number entitlement" in line.description
    assert format(line.quantity.normalize(), "f") == "1.5"
    assert line.amount_micros == 1_500_000
    assert "prorated by days held" in line.description


# --- other ways a number joins or leaves a tenant ---------------------------------------------


def test_a_ported_out_number_frees_its_entitlement(api, admin, partner, licensed):
    hold(admin, licensed, "number_local", 1)
    number = spare(partner)
    assert assign(api, number, licensed).status_code == 200
    actor = actor_for_user(admin)
    porting_out.number_port_out_request(
        actor=actor, number=number, gaining_carrier="Other Telco", account_number=licensed.id
    )
    porting_out.number_port_out_complete(actor=actor, number=number)
    assert not entitlements(licensed).exists()


def test_a_port_in_assigns_only_as_far_as_the_entitlements_go(admin, licensed):
    hold(admin, licensed, "number_local", 1)
    actor = actor_for_user(admin)
    monday = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
    port = porting.port_request_create(
        actor=actor,
        tenant=licensed,
        fields={
            "numbers": ["+12125550101", "+12125550102"],
            "current_carrier": "Spectrum",
            "account_holder": "Acme Plumbing LLC",
            "business_name": "Acme Plumbing",
            "account_number": "5550001000",
            "pin": "4417",
            "service_address": {
                "street": "100 Main St",
                "city": "Little Rock",
                "state": "AR",
                "postal_code": "72201",
            },
            "desired_date": None,
        },
        now=monday,
    )
    porting.port_document_upload(
        actor=actor, port=port, kind="loa", filename="loa.pdf", content=b"%PDF-1.4\n", now=monday
    )
    porting.port_request_submit(actor=actor, port=port, now=monday)
    requests_sync(now=monday + timedelta(days=30))
    port.refresh_from_db()
    assert port.status == "COMPLETED"
    numbers = PhoneNumber.objects.filter(e164__in=port.numbers).order_by("e164")
    assert [n.tenant_id for n in numbers] == [licensed.id, None]
    assert entitlements(licensed).get().target_id == numbers[0].id
    assert "+12125550102" in port.notes and "entitlement" in port.notes


# --- the policy API -------------------------------------------------------------------------------


def test_the_policy_reads_its_defaults_and_changes_what_is_given(api, partner):
    assert api.get("/v1/license-policy").json() == {
        "auto_purchase_numbers": False,
        "numbers_per_user": {},
        "updated_at": None,
    }
    put = api.put(
        "/v1/license-policy",
        {"auto_purchase_numbers": True, "numbers_per_user": {"seat_basic": 5, "seat_premium": 10}},
    )
    assert put.status_code == 200, put.json()
    assert put.json()["numbers_per_user"] == {"seat_basic": 5, "seat_premium": 10}
    # A field left out keeps its value.
    kept = api.put("/v1/license-policy", {"numbers_per_user": {"seat_basic": 3}}).json()
    assert kept["auto_purchase_numbers"] is True and kept["numbers_per_user"] == {"seat_basic": 3}
    audit = AuditEntry.objects.filter(action="license.policy_updated", partner=partner)
    assert audit.count() == 2
    assert audit.order_by("created_at").last().before["numbers_per_user"] == {
        "seat_basic": 5,
        "seat_premium": 10,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"auto_purchase_numbers": "yes"}, None),
        ({"auto_purchase_numbers": None}, "auto_purchase_numbers"),
        ({"numbers_per_user": {"seat_gold": 5}}, "numbers_per_user.seat_gold"),
        ({"numbers_per_user": {"webex": 5}}, "numbers_per_user.webex"),
        ({"numbers_per_user": {"seat_basic": -1}}, None),
        ({"numbers_per_user": {"seat_basic": True}}, None),
        ({"numbers_per_user": {"seat_basic": "5"}}, None),
        ({"numbers_per_user": {"seat_basic": 1001}}, None),
        ({"numbers_per_user": [5]}, None),
        ({"numbers_per_user": {"x" * 65: 5}}, None),
        ({"numbers_per_seat": {}}, None),
    ],
)
def test_a_bad_policy_is_refused_and_changes_nothing(api, partner, body, field):
    api.put("/v1/license-policy", {"numbers_per_user": {"seat_basic": 5}})
    refused = api.put("/v1/license-policy", body)
    assert refused.status_code == 422, refused.json()
    if field is not None:
        assert refused.json()["error"]["field"] == field
    assert api.get("/v1/license-policy").json()["numbers_per_user"] == {"seat_basic": 5}
    assert LicensePolicy.objects.get(partner=partner).auto_purchase_numbers is False


def test_one_partner_cannot_read_or_change_anothers_policy(api, make_api, partner):
    api.put(
        "/v1/license-policy", {"auto_purchase_numbers": True, "numbers_per_user": {"seat_basic": 5}}
    )
    other, _ = make_partner()
    theirs = make_api(make_api_key(other))
    assert theirs.get("/v1/license-policy").json()["auto_purchase_numbers"] is False
    assert theirs.put("/v1/license-policy", {"numbers_per_user": {}}).status_code == 200
    mine = api.get("/v1/license-policy").json()
    assert mine["auto_purchase_numbers"] is True and mine["numbers_per_user"] == {"seat_basic": 5}
    assert LicensePolicy.objects.get(partner=other).numbers_per_user == {}


def test_only_a_partner_wide_writer_changes_the_policy(make_api, admin, partner, licensed):
    scoped = make_api(make_api_key(partner, tenant_ids=[licensed.id]))
    assert scoped.get("/v1/license-policy").status_code == 200
    assert scoped.put("/v1/license-policy", {"auto_purchase_numbers": True}).status_code == 403
    reader = make_api(make_api_key(partner, scopes=["licenses:read"]))
    assert reader.get("/v1/license-policy").status_code == 200
    assert reader.put("/v1/license-policy", {"auto_purchase_numbers": True}).status_code == 403
    viewer = make_user(partner, role=User.Role.PARTNER_USER)
    with pytest.raises(PermissionDenied):
        policies.license_policy_set(
            actor=actor_for_user(viewer), changes={"auto_purchase_numbers": True}
        )
    assert not LicensePolicy.objects.filter(partner=partner).exists()


# --- the per-seat cap on numbers per user ------------------------------------------------------


def test_user_number_cap_is_the_policy_cap_for_the_users_seat(admin, licensed):
    actor = actor_for_user(admin)
    hold(admin, licensed, "seat_basic", 1)
    hold(admin, licensed, "seat_premium", 1)
    basic = extension_create(
        actor=actor,
        tenant=licensed,
        fields={"number": "2001", "name": "Ann", "license": "seat_basic"},
    )
    premium = extension_create(
        actor=actor,
        tenant=licensed,
        fields={"number": "2002", "name": "Bo", "license": "seat_premium"},
    )
    assert user_number_cap(licensed, basic.id) is None
    policies.license_policy_set(actor=actor, changes={"numbers_per_user": {"seat_basic": 5}})
    assert user_number_cap(licensed, basic.id) == 5
    assert user_number_cap(licensed, premium.id) is None
    policies.license_policy_set(
        actor=actor, changes={"numbers_per_user": {"seat_basic": 5, "seat_premium": 10}}
    )
    assert user_number_cap(licensed, premium.id) == 10
    plain_tenant = make_tenant(admin)
    user = extension_create(
        actor=actor, tenant=plain_tenant, fields={"number": "2003", "name": "Cy"}
    )
    assert user_number_cap(plain_tenant, user.id) is None
