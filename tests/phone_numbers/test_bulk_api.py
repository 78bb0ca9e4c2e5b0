"""Bulk assign, release and E911 update through `/v1/phone-numbers/bulk/…` (partner guide
004, "Bulk operations": "Bulk operations show a confirmation summary before executing").
Every one is all or nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.core.capture import assert_error, capture_audit, capture_events
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from trunkline.accounts.models import User
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.errors import PaymentRequired
from trunkline.core.money import Money
from trunkline.phone_numbers import bulk, quarantine, services
from trunkline.phone_numbers.carrier import SearchCriteria, carrier
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import PhoneNumber

pytestmark = pytest.mark.django_db

ADDRESS = {
    "street": "1200 Main St",
    "street2": "Suite 200",
    "city": "Little Rock",
    "state": "AR",
    "postal_code": "72201",
}


def owned(admin, fund, count):
    """`count` ACTIVE local numbers of the admin's partner, unassigned."""
    fund(admin.partner)
    offers = carrier().search(SearchCriteria(kind="local", state="AR", limit=count))
    rows = services.numbers_purchase(actor=actor_for_user(admin), numbers=[o.e164 for o in offers])
    requests_sync(now=timezone.now() + timedelta(seconds=31))
    return [PhoneNumber.objects.get(pk=row.pk) for row in rows]


def ids(numbers):
    return [number.id for number in numbers]


def state_of(numbers):
    return [
        (row.status, row.tenant_id, row.e911_street)
        for row in PhoneNumber.objects.filter(pk__in=ids(numbers)).order_by("e164")
    ]


def test_bulk_assign_previews_then_assigns_all(api, admin, inventory, fund):
    tenant = make_tenant(admin, name="Ozark Dental")
    tenant.max_dids = 5
    tenant.save()
    numbers = owned(admin, fund, 4)
    services.number_assign(actor=actor_for_user(admin), number=numbers[0], tenant=tenant)
    before = state_of(numbers)

    preview = api.post(
        "/v1/phone-numbers/bulk/assign/preview", json={"ids": ids(numbers), "tenant_id": tenant.id}
    )
    assert preview.status_code == 200, preview.json()
    summary = preview.json()
    assert (summary["action"], summary["count"], summary["can_proceed"]) == ("assign", 4, True)
    assert summary["tenants"] == [
        {
            "id": tenant.id,
            "name": "Ozark Dental",
            "before": 1,
            "after": 4,
            "max_dids": 5,
            "headroom": 1,
        }
    ]
    assert summary["refused"] == [] and summary["charge"]["total"] == "0.00"
    # dry_run answers the same summary; neither changed anything.
    dry = api.post(
        "/v1/phone-numbers/bulk/assign",
        json={"ids": ids(numbers), "tenant_id": tenant.id, "dry_run": True},
    )
    assert dry.json() == summary
    assert state_of(numbers) == before

    with capture_events(["phone_number.assigned"] * 4), capture_audit() as audit:
        done = api.post(
            "/v1/phone-numbers/bulk/assign", json={"ids": ids(numbers), "tenant_id": tenant.id}
        )
    assert done.status_code == 200, done.json()
    assert done.json()["count"] == 4
    assert {row["tenant_id"] for row in done.json()["data"]} == {tenant.id}
    assert [entry.action for entry in audit] == ["phone_number.assigned"] * 4


def test_one_past_max_dids_refuses_the_whole_batch(api, admin, inventory, fund):
    tenant = make_tenant(admin)
    tenant.max_dids = 2
    tenant.save()
    numbers = owned(admin, fund, 3)
    preview = api.post(
        "/v1/phone-numbers/bulk/assign/preview", json={"ids": ids(numbers), "tenant_id": tenant.id}
    ).json()
    assert preview["can_proceed"] is False
    assert preview["limit_error"]["type"] == "limit_exceeded"
    assert preview["tenants"][0]["headroom"] == -1
    with capture_events([]):
        refused = api.post(
            "/v1/phone-numbers/bulk/assign", json={"ids": ids(numbers), "tenant_id": tenant.id}
        )
    error = assert_error(refused, 409, "limit_exceeded", "tenant_id")
    assert "Max DIDs" in error["message"]
    assert {row.tenant_id for row in PhoneNumber.objects.all()} == {None}


def test_a_reserved_or_ported_out_number_refuses_the_batch_and_is_named(
    api, admin, inventory, fund
):
    tenant = make_tenant(admin)
    numbers = owned(admin, fund, 3)
    actor = actor_for_user(admin)
    services.number_reserve(actor=actor, number=numbers[1], reserved=True, note="held")
    preview = api.post(
        "/v1/phone-numbers/bulk/assign/preview", json={"ids": ids(numbers), "tenant_id": tenant.id}
    ).json()
    assert [(row["id"], row["type"]) for row in preview["refused"]] == [
        (numbers[1].id, "number_reserved")
    ]
    refused = api.post(
        "/v1/phone-numbers/bulk/assign", json={"ids": ids(numbers), "tenant_id": tenant.id}
    )
    error = assert_error(refused, 409, "number_reserved", "ids")
    assert numbers[1].id in error["message"] and numbers[0].id not in error["message"]
    assert {row.tenant_id for row in PhoneNumber.objects.all()} == {None}

    services.number_reserve(actor=actor, number=numbers[1], reserved=False)
    api.post("/v1/phone-numbers/bulk/assign", json={"ids": ids(numbers), "tenant_id": tenant.id})
    PhoneNumber.objects.filter(pk=numbers[2].pk).update(port_out_pending=True)
    with capture_events([]):
        refused = api.post("/v1/phone-numbers/bulk/release", json={"ids": ids(numbers)})
    error = assert_error(refused, 409, "port_out_pending", "ids")
    assert numbers[2].id in error["message"]
    assert {row.status for row in PhoneNumber.objects.all()} == {"ACTIVE"}


def test_bulk_release_summarises_then_releases(api, admin, inventory, fund):
    tenant = make_tenant(admin, name="Acme")
    numbers = owned(admin, fund, 3)
    for number in numbers[:2]:
        services.number_assign(actor=actor_for_user(admin), number=number, tenant=tenant)
    preview = api.post("/v1/phone-numbers/bulk/release/preview", json={"ids": ids(numbers)}).json()
    assert preview["tenants"][0] == {
        "id": tenant.id,
        "name": "Acme",
        "before": 2,
        "after": 0,
        "max_dids": 10,  # the recommended starting limit every new tenant gets
        "headroom": 10,
    }
    assert preview["monthly_stopping"] == "5.25"  # three local numbers at $1.75
    with capture_events(["phone_number.released"] * 3):
        done = api.post("/v1/phone-numbers/bulk/release", json={"ids": ids(numbers)})
    assert done.status_code == 200
    assert {(row["status"], row["tenant_id"]) for row in done.json()["data"]} == {
        ("RELEASED", None)
    }
    again = api.post("/v1/phone-numbers/bulk/release", json={"ids": ids(numbers)})
    assert_error(again, 409, "invalid_state_transition", "ids")


def test_reassigning_released_numbers_charges_the_month_shown_in_the_preview(
    api, admin, inventory, fund
):
    tenant = make_tenant(admin)
    numbers = owned(admin, fund, 2)
    api.post("/v1/phone-numbers/bulk/release", json={"ids": ids(numbers)})
    actor = actor_for_user(admin)
    # Bought and released this month, so paid for it: next month they are not.
    next_month = timezone.now() + timedelta(days=40)
    this_month = bulk.numbers_bulk_assign_preview(actor=actor, numbers=numbers, tenant=tenant)
    assert this_month["charge"]["total"] == "0.00"
    preview = bulk.numbers_bulk_assign_preview(
        actor=actor, numbers=numbers, tenant=tenant, now=next_month
    )
    assert preview["charge"]["total"] == "3.50"
    assert sorted(preview["charge"]["numbers"]) == sorted(ids(numbers))
    balance = ledger.wallet_balance(admin.partner)
    done = bulk.numbers_bulk_assign(actor=actor, numbers=numbers, tenant=tenant, now=next_month)
    assert {row.status for row in done} == {"ACTIVE"}
    assert (balance - ledger.wallet_balance(admin.partner)).to_json() == "3.50"


def test_bulk_e911_gives_every_number_the_address(api, admin, inventory, fund):
    numbers = owned(admin, fund, 3)
    bad = api.post(
        "/v1/phone-numbers/bulk/e911",
        json={"ids": ids(numbers), "e911_address": {**ADDRESS, "street": "PO Box 9"}},
    )
    assert_error(bad, 422, field="e911_address.street")
    preview = api.post(
        "/v1/phone-numbers/bulk/e911/preview", json={"ids": ids(numbers), "e911_address": ADDRESS}
    ).json()
    assert (preview["count"], preview["can_proceed"]) == (3, True)
    assert preview["e911_address"]["city"] == "Little Rock"
    assert {row[2] for row in state_of(numbers)} == {""}
    with capture_events(["phone_number.updated"] * 3):
        done = api.post(
            "/v1/phone-numbers/bulk/e911", json={"ids": ids(numbers), "e911_address": ADDRESS}
        )
    assert done.status_code == 200
    assert {row["e911_status"] for row in done.json()["data"]} == {"PENDING"}
    assert {row[2] for row in state_of(numbers)} == {"1200 Main St"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": []}, "ids"),
        ({"ids": "did_x"}, "ids"),
        ({"ids": [f"did_{n}" for n in range(501)]}, "ids"),
        ({"ids": [1]}, "ids.0"),
    ],
)
def test_bad_input_is_refused(api, admin, body, field):
    answer = api.post("/v1/phone-numbers/bulk/release", json=body)
    assert_error(answer, 422, field=field)


def test_a_listed_twice_id_is_refused(api, admin, inventory, fund):
    number = owned(admin, fund, 1)[0]
    answer = api.post("/v1/phone-numbers/bulk/release", json={"ids": [number.id, number.id]})
    assert_error(answer, 422, field="ids.1")


def test_another_partners_id_answers_404_and_changes_nothing(api, make_api, admin, inventory, fund):
    mine = owned(admin, fund, 2)
    partner_b, admin_b = make_partner()
    theirs = owned(admin_b, fund, 1)
    for path, extra in (
        ("/v1/phone-numbers/bulk/release", {}),
        ("/v1/phone-numbers/bulk/release/preview", {}),
        ("/v1/phone-numbers/bulk/e911", {"e911_address": ADDRESS}),
        ("/v1/phone-numbers/bulk/assign", {"tenant_id": None}),
    ):
        answer = api.post(path, json={"ids": [*ids(mine), theirs[0].id], **extra})
        error = assert_error(answer, 404, "not_found", "ids")
        assert theirs[0].id in error["message"]
    assert {row.status for row in PhoneNumber.objects.all()} == {"ACTIVE"}
    # Their tenant is not a target either.
    tenant_b = make_tenant(admin_b)
    answer = api.post(
        "/v1/phone-numbers/bulk/assign", json={"ids": ids(mine), "tenant_id": tenant_b.id}
    )
    assert_error(answer, 404, "not_found")


def test_a_tenant_scoped_key_touches_only_its_tenants_numbers(
    make_api, partner, admin, inventory, fund
):
    mine, other = make_tenant(admin), make_tenant(admin)
    numbers = owned(admin, fund, 3)
    actor = actor_for_user(admin)
    services.number_assign(actor=actor, number=numbers[0], tenant=mine)
    services.number_assign(actor=actor, number=numbers[1], tenant=other)
    scoped = make_api(make_api_key(partner, tenant_ids=[mine.id]))
    answer = scoped.post("/v1/phone-numbers/bulk/release", json={"ids": ids(numbers[:2])})
    assert_error(answer, 404, "not_found", "ids")
    answer = scoped.post(
        "/v1/phone-numbers/bulk/assign", json={"ids": ids(numbers[:1]), "tenant_id": other.id}
    )
    assert_error(answer, 404, "not_found", "tenant_id")
    done = scoped.post("/v1/phone-numbers/bulk/release", json={"ids": ids(numbers[:1])})
    assert done.status_code == 200 and done.json()["data"][0]["status"] == "RELEASED"


def test_bulk_needs_the_write_scope(make_api, partner, admin, inventory, fund):
    numbers = owned(admin, fund, 1)
    reader = make_api(make_api_key(partner, scopes="phone_numbers:read"))
    answer = reader.post("/v1/phone-numbers/bulk/release/preview", json={"ids": ids(numbers)})
    assert_error(answer, 403)


def test_a_quarantined_number_refuses_the_batch(api, admin, inventory, fund):
    numbers = owned(admin, fund, 2)
    staff = User.objects.create_superuser("ops@trunkline.example", "Correct-Horse9battery")
    quarantine.number_disconnect(actor=Actor(kind="user", user=staff), number=numbers[0])
    for path, extra in (
        ("/v1/phone-numbers/bulk/e911", {"e911_address": ADDRESS}),
        ("/v1/phone-numbers/bulk/assign", {"tenant_id": make_tenant(admin).id}),
        ("/v1/phone-numbers/bulk/release", {}),
    ):
        with capture_events([]):
            answer = api.post(path, json={"ids": ids(numbers), **extra})
        error = assert_error(answer, 409, "invalid_state_transition", "ids")
        assert numbers[0].id in error["message"] and numbers[1].id not in error["message"]
    assert PhoneNumber.objects.get(pk=numbers[1].pk).e911_street == ""


def test_the_bulk_operations_are_in_the_openapi_spec(api):
    spec = api.get("/v1/openapi.json").json()
    for path in ("assign", "release", "e911"):
        assert f"/v1/phone-numbers/bulk/{path}" in spec["paths"]
        assert f"/v1/phone-numbers/bulk/{path}/preview" in spec["paths"]
    assert "/v1/phone-numbers/{number_id}/reclaim" in spec["paths"]


def test_a_wallet_short_of_the_months_charges_answers_402_and_changes_nothing(
    admin, inventory, fund
):
    tenant = make_tenant(admin)
    numbers = owned(admin, fund, 2)
    actor = actor_for_user(admin)
    bulk.numbers_bulk_release(actor=actor, numbers=numbers)
    ledger.wallet_debit(
        partner=admin.partner,
        amount=ledger.wallet_balance(admin.partner) - Money.parse("2.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=admin.partner),
        idempotency_key="drain",
        memo="test",
    )
    next_month = timezone.now() + timedelta(days=40)
    preview = bulk.numbers_bulk_assign_preview(
        actor=actor, numbers=numbers, tenant=tenant, now=next_month
    )
    assert (preview["charge"]["total"], preview["charge"]["covered"]) == ("3.50", False)
    assert preview["can_proceed"] is False
    with capture_events([]), pytest.raises(PaymentRequired):
        bulk.numbers_bulk_assign(actor=actor, numbers=numbers, tenant=tenant, now=next_month)
    assert {(n.status, n.tenant_id) for n in PhoneNumber.objects.all()} == {("RELEASED", None)}
    assert ledger.wallet_balance(admin.partner) == Money.parse("2.00")
