"""Buying, assigning, releasing and editing numbers through `/v1/phone-numbers`
(partner guide 004: "Your First Phone Number", "Phone Numbers (DIDs)"; CONTRACT.md)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_api_key, make_partner, make_tenant
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber

pytestmark = pytest.mark.django_db


def available(api, **params):
    answer = api.get("/v1/phone-numbers/available", params=params)
    assert answer.status_code == 200, answer.json()
    return answer.json()["data"]


def buy(api, numbers):
    return api.post("/v1/phone-numbers/purchase", json={"numbers": numbers})


def settle(after_seconds=31):
    requests_sync(now=timezone.now() + timedelta(seconds=after_seconds))


def test_search_shows_prices_of_the_partners_tier(api, inventory):
    local = available(api, type="local", state="AR", city="Little Rock")
    assert local and local[0]["region"] == "Little Rock, AR"
    assert local[0]["rate_center"] == "LITTLE ROCK"
    # Starter (the trial's tier): $1.75 a local number, $0.020 a minute, $1.00 setup.
    assert (local[0]["monthly"], local[0]["setup_fee"], local[0]["per_minute"]) == (
        "1.75",
        "1.00",
        "0.02",
    )
    toll_free = available(api, type="toll_free")
    assert len(toll_free) == 10
    assert (toll_free[0]["monthly"], toll_free[0]["per_minute"]) == ("2.50", "0.022")
    vanity = available(api, type="toll_free", pattern="8XX-XXX-XXX7", limit=5)
    assert len(vanity) == 5 and all(row["number"].endswith("7") for row in vanity)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"type": "local"}, "state"),
        ({"type": "local", "state": "ZZ"}, "state"),
        ({"type": "local", "state": "AR", "area_code": "5011"}, "area_code"),
        ({"type": "toll_free", "pattern": "501-XXX-XXXX"}, "pattern"),
        ({"type": "local", "state": "AR", "pattern": "8XXXXXXXXX"}, "pattern"),
        ({"type": "mobile"}, "type"),
        ({"state": "AR"}, "type"),
    ],
)
def test_search_refuses_bad_input(api, inventory, params, field):
    answer = api.get("/v1/phone-numbers/available", params=params)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"].endswith(field)


def test_city_autocomplete(api):
    answer = api.get("/v1/phone-numbers/cities", params={"state": "ar", "q": "little"})
    assert answer.json() == {"data": ["Little Rock"]}


def test_purchase_debits_monthly_and_setup_and_becomes_active(api, partner, inventory, fund):
    fund(partner, "20.00")
    local = available(api, type="local", state="AR", limit=2)
    toll_free = available(api, type="toll_free", limit=1)
    numbers = [row["number"] for row in local + toll_free]
    quote = api.post("/v1/phone-numbers/purchase/quote", json={"numbers": numbers}).json()
    assert (quote["monthly_total"], quote["setup_total"], quote["total"]) == (
        "6.00",
        "3.00",
        "9.00",
    )
    answer = buy(api, numbers)
    assert answer.status_code == 201, answer.json()
    bought = answer.json()["data"]
    assert [row["status"] for row in bought] == ["PENDING"] * 3
    assert {row["tenant_id"] for row in bought} == {None}
    assert ledger.wallet_balance(partner).to_json() == "11.00"
    types = sorted(Posting.objects.filter(partner=partner).values_list("type", flat=True))
    assert types.count("did_setup") == 3
    assert types.count("did_monthly_local") == 2 and types.count("did_monthly_toll_free") == 1
    assert not SupplyNumber.objects.filter(e164__in=numbers).exists()
    # Bought numbers are no longer for sale.
    assert not set(numbers) & {
        row["number"] for row in available(api, type="local", state="AR", limit=500)
    }
    settle(after_seconds=5)
    assert api.get(f"/v1/phone-numbers/{bought[0]['id']}").json()["status"] == "PENDING"
    settle()
    assert {row["status"] for row in api.get("/v1/phone-numbers").json()["data"]} == {"ACTIVE"}


def test_a_short_wallet_answers_402_and_changes_nothing(api, partner, inventory, fund):
    fund(partner, "2.00")
    number = available(api, type="local", state="AR", limit=1)[0]["number"]
    answer = buy(api, [number])
    assert answer.status_code == 402
    assert answer.json()["error"]["type"] == "insufficient_balance"
    assert ledger.wallet_balance(partner).to_json() == "2.00"
    assert not PhoneNumber.objects.exists()
    assert SupplyNumber.objects.filter(e164=number).exists()


def test_an_order_is_all_or_nothing(api, partner, inventory, fund):
    fund(partner)
    first, second = (row["number"] for row in available(api, type="local", state="AR", limit=2))
    SupplyNumber.objects.filter(e164=second).delete()  # sold elsewhere in the meantime
    answer = buy(api, [first, second])
    assert answer.status_code == 409
    assert answer.json()["error"]["type"] == "number_unavailable"
    assert second in answer.json()["error"]["message"]
    assert ledger.wallet_balance(partner).to_json() == "100.00"
    assert not PhoneNumber.objects.exists()
    assert SupplyNumber.objects.filter(e164=first).exists()


@pytest.mark.parametrize(
    ("numbers", "field"),
    [
        ([], "numbers"),
        (["5015550123"], "numbers.0"),
        (["+442079460000"], "numbers.0"),
        (["+15015550123", "+15015550123"], "numbers.1"),
        ([12], "numbers.0"),
    ],
)
def test_purchase_refuses_bad_numbers(api, partner, inventory, fund, numbers, field):
    fund(partner)
    answer = buy(api, numbers)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == field
    assert not PhoneNumber.objects.exists()


def bought(api, partner, fund, count=1, kind="local"):
    fund(partner)
    params = {"type": "local", "state": "AR"} if kind == "local" else {"type": "toll_free"}
    numbers = [row["number"] for row in available(api, limit=count, **params)]
    rows = buy(api, numbers).json()["data"]
    settle()
    return rows


def test_assign_respects_max_dids(api, partner, admin, inventory, fund):
    tenant = make_tenant(admin)
    tenant.max_dids = 2
    tenant.save()
    rows = bought(api, partner, fund, count=3)
    for row in rows[:2]:
        answer = api.post(f"/v1/phone-numbers/{row['id']}/assign", json={"tenant_id": tenant.id})
        assert answer.status_code == 200 and answer.json()["tenant_id"] == tenant.id
    third = api.post(f"/v1/phone-numbers/{rows[2]['id']}/assign", json={"tenant_id": tenant.id})
    assert third.status_code == 409
    assert third.json()["error"]["type"] == "limit_exceeded"
    assert PhoneNumber.objects.get(id=rows[2]["id"]).tenant_id is None
    # Assigning again to the same tenant is not a new place.
    again = api.post(f"/v1/phone-numbers/{rows[0]['id']}/assign", json={"tenant_id": tenant.id})
    assert again.status_code == 200


def test_release_then_reassign(api, partner, admin, inventory, fund):
    tenant = make_tenant(admin)
    row = bought(api, partner, fund)[0]
    api.post(f"/v1/phone-numbers/{row['id']}/assign", json={"tenant_id": tenant.id})
    released = api.post(f"/v1/phone-numbers/{row['id']}/release")
    assert released.status_code == 200
    assert (released.json()["status"], released.json()["tenant_id"]) == ("RELEASED", None)
    assert api.post(f"/v1/phone-numbers/{row['id']}/release").status_code == 409
    balance = ledger.wallet_balance(partner)
    # Paid through the end of this month already: assigning again costs nothing now.
    back = api.post(f"/v1/phone-numbers/{row['id']}/assign", json={"tenant_id": tenant.id})
    assert back.json()["status"] == "ACTIVE"
    assert ledger.wallet_balance(partner) == balance


def test_reserved_numbers_are_held(api, partner, admin, inventory, fund):
    tenant = make_tenant(admin)
    row = bought(api, partner, fund)[0]
    held = api.post(f"/v1/phone-numbers/{row['id']}/reserve", json={"note": "for Acme's move"})
    assert held.json()["reserved"] is True
    refused = api.post(f"/v1/phone-numbers/{row['id']}/assign", json={"tenant_id": tenant.id})
    assert refused.status_code == 409 and refused.json()["error"]["type"] == "number_reserved"
    api.post(f"/v1/phone-numbers/{row['id']}/unreserve")
    ok = api.post(f"/v1/phone-numbers/{row['id']}/assign", json={"tenant_id": tenant.id})
    assert ok.status_code == 200


def test_cnam_and_e911_through_the_carrier(api, partner, admin, inventory, fund):
    tenant = make_tenant(admin, default_cnam="OZARK PLUMBING")
    row = bought(api, partner, fund)[0]
    api.post(f"/v1/phone-numbers/{row['id']}/assign", json={"tenant_id": tenant.id})
    shown = api.get(f"/v1/phone-numbers/{row['id']}").json()
    assert (shown["cnam"], shown["cnam_effective"]) == (None, "OZARK PLUMBING")
    assert shown["e911_status"] == "NOT_SET"
    changed = api.patch(f"/v1/phone-numbers/{row['id']}", json={"cnam": "OZARK SALES"}).json()
    assert (changed["cnam_effective"], changed["cnam_status"]) == ("OZARK SALES", "PENDING")
    address = {
        "street": "1200 Main St",
        "street2": "Suite 200",
        "city": "Little Rock",
        "state": "AR",
        "postal_code": "72201",
    }
    placed = api.patch(f"/v1/phone-numbers/{row['id']}", json={"e911_address": address}).json()
    assert placed["e911_status"] == "PENDING"
    settle(after_seconds=3600)
    done = api.get(f"/v1/phone-numbers/{row['id']}").json()
    assert (done["cnam_status"], done["e911_status"]) == ("SYNCED", "REGISTERED")
    from trunkline.phone_numbers.caller_id import number_911_capable

    assert number_911_capable(row["number"])


@pytest.mark.parametrize(
    ("address", "field", "words"),
    [
        ({"street": "PO Box 42"}, "e911_address.street", "building number"),
        ({"street": "12 Main St", "street2": "P.O. Box 42"}, "e911_address.street2", "PO box"),
        ({"street": "Main Street"}, "e911_address.street", "building number"),
        ({"postal_code": "63101"}, "e911_address.postal_code", "not AR"),
        (
            {"city": "St. Louis", "state": "MO", "postal_code": "63101"},
            "e911_address.city",
            "Saint Louis",
        ),
        ({"postal_code": "00000"}, "e911_address.postal_code", "does not exist"),
        ({"country": "CA"}, "e911_address.country", "US"),
    ],
)
def test_e911_validation(api, partner, inventory, fund, address, field, words):
    row = bought(api, partner, fund)[0]
    base = {"street": "1200 Main St", "city": "Little Rock", "state": "AR", "postal_code": "72201"}
    answer = api.patch(f"/v1/phone-numbers/{row['id']}", json={"e911_address": {**base, **address}})
    assert answer.status_code == 422, answer.json()
    assert answer.json()["error"]["field"] == field
    assert words in answer.json()["error"]["message"]
    assert PhoneNumber.objects.get(id=row["id"]).e911_status == "NOT_SET"


@pytest.mark.parametrize("cnam", ["A", "1234", "TOO LONG A NAME!", "ACME*PLUMBING"])
def test_cnam_rules(api, partner, inventory, fund, cnam):
    row = bought(api, partner, fund)[0]
    answer = api.patch(f"/v1/phone-numbers/{row['id']}", json={"cnam": cnam})
    assert answer.status_code == 422


def test_other_partners_and_other_tenants_numbers_are_invisible(
    api, client, partner, admin, inventory, fund, make_api
):
    mine = make_tenant(admin)
    theirs = make_tenant(admin)
    rows = bought(api, partner, fund, count=2)
    api.post(f"/v1/phone-numbers/{rows[0]['id']}/assign", json={"tenant_id": mine.id})
    api.post(f"/v1/phone-numbers/{rows[1]['id']}/assign", json={"tenant_id": theirs.id})

    other_partner, other_admin = make_partner("Another Reseller")
    stranger = make_api(make_api_key(other_partner))
    foreign_tenant = make_tenant(other_admin)
    for row in rows:
        assert stranger.get(f"/v1/phone-numbers/{row['id']}").status_code == 404
        assert (
            stranger.patch(f"/v1/phone-numbers/{row['id']}", json={"cnam": "HACKED"}).status_code
            == 404
        )
        assert stranger.post(f"/v1/phone-numbers/{row['id']}/release").status_code == 404
        assert (
            stranger.post(
                f"/v1/phone-numbers/{row['id']}/assign", json={"tenant_id": foreign_tenant.id}
            ).status_code
            == 404
        )
    assert stranger.get("/v1/phone-numbers").json()["data"] == []
    # A tenant of another partner cannot receive my number.
    answer = api.post(
        f"/v1/phone-numbers/{rows[0]['id']}/assign", json={"tenant_id": foreign_tenant.id}
    )
    assert answer.status_code == 404

    scoped = make_api(make_api_key(partner, tenant_ids=[mine.id]))
    assert [row["id"] for row in scoped.get("/v1/phone-numbers").json()["data"]] == [rows[0]["id"]]
    assert scoped.get(f"/v1/phone-numbers/{rows[1]['id']}").status_code == 404
    reader = make_api(make_api_key(partner, scopes="phone_numbers:read"))
    assert reader.get("/v1/phone-numbers").status_code == 200
    assert reader.post(f"/v1/phone-numbers/{rows[0]['id']}/release").status_code == 403
    assert PhoneNumber.objects.get(id=rows[0]["id"]).cnam == ""


def test_apply_one_address_to_all_of_a_tenants_numbers(api, partner, admin, inventory, fund):
    tenant = make_tenant(admin)
    rows = bought(api, partner, fund, count=3)
    for row in rows[:2]:
        api.post(f"/v1/phone-numbers/{row['id']}/assign", json={"tenant_id": tenant.id})
    address = {
        "street": "1200 Main St",
        "city": "Little Rock",
        "state": "AR",
        "postal_code": "72201",
    }
    answer = api.patch(
        f"/v1/phone-numbers/{rows[0]['id']}",
        json={"e911_address": address, "apply_to_tenant": True},
    )
    assert answer.status_code == 200
    statuses = {
        row["id"]: row["e911_status"] for row in api.get("/v1/phone-numbers").json()["data"]
    }
    assert statuses == {
        rows[0]["id"]: "PENDING",
        rows[1]["id"]: "PENDING",
        rows[2]["id"]: "NOT_SET",
    }
