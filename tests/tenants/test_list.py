"""`GET /v1/tenants`: the list shape, limits, sorting and cursors."""

import base64
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.core.capture import assert_error
from tests.factories import actor_for_user, make_tenant
from trunkline.accounts.models import User
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_delete, tenant_suspend

SORT_KEYS = [
    "name",
    "-name",
    "created_at",
    "-created_at",
    "status",
    "-status",
    "sip_prefix",
    "-sip_prefix",
    "users_count",
    "-users_count",
]


@pytest.fixture
def many(admin):
    """Nine tenants with ties on every sort key, so the id tie-breaker matters."""
    actor = actor_for_user(admin)
    names = ["delta", "alpha", "charlie", "alpha", "bravo", "alpha", "echo", "bravo", "foxtrot"]
    tenants = [make_tenant(admin, name=name, status="ACTIVE") for name in names]
    tenant_suspend(actor=actor, tenant=tenants[1])
    tenant_suspend(actor=actor, tenant=tenants[4])
    tenant_delete(actor=actor, tenant=tenants[6])
    same_moment = timezone.now() - timedelta(days=3)
    Tenant.objects.filter(pk__in=[t.pk for t in tenants[:4]]).update(created_at=same_moment)
    for index, users in ((0, 2), (2, 1), (5, 2), (8, 3)):
        for n in range(users):
            User.objects.create_user(
                f"u{index}-{n}@tenant.example",
                None,
                tenant=tenants[index],
                role=User.Role.TENANT_ADMIN,
            )
    return tenants


def _walk(api, sort: str, limit: int, **params) -> list[dict]:
    rows, cursor, pages = [], None, 0
    while True:
        query = {"sort": sort, "limit": limit, **params}
        if cursor:
            query["cursor"] = cursor
        response = api.get("/v1/tenants", query)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"data", "next_cursor"}
        assert len(body["data"]) <= limit
        rows.extend(body["data"])
        cursor = body["next_cursor"]
        pages += 1
        assert pages < 100
        if cursor is None:
            return rows


def _sort_value(row: dict, key: str):
    return row["counts"]["users"] if key == "users_count" else row[key]


@pytest.mark.parametrize("sort", SORT_KEYS)
@pytest.mark.parametrize("limit", [1, 3])
def test_cursor_walks_every_row_once_in_order(api, many, sort, limit):
    walked = _walk(api, sort, limit)
    ids = [row["id"] for row in walked]
    assert len(ids) == len(set(ids)) == len(many)
    assert set(ids) == {t.id for t in many}
    whole = api.get("/v1/tenants", {"sort": sort, "limit": 500}).json()
    assert whole["next_cursor"] is None
    assert ids == [row["id"] for row in whole["data"]]
    key = sort.lstrip("-")
    if key != "name":  # text order is the database's collation; the rest must be monotonic
        values = [(_sort_value(row, key), row["id"]) for row in walked]
        assert values == sorted(values, reverse=sort.startswith("-"))


def test_the_default_order_is_newest_first(api, admin):
    first = make_tenant(admin, name="first")
    second = make_tenant(admin, name="second")
    Tenant.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=1))
    assert [row["id"] for row in api.get("/v1/tenants").json()["data"]] == [second.id, first.id]


def test_the_default_limit_is_50(api, admin):
    for n in range(51):
        make_tenant(admin, name=f"Tenant {n:02}", sip_prefix=f"tenant{n:02}")
    body = api.get("/v1/tenants").json()
    assert len(body["data"]) == 50
    assert body["next_cursor"]
    rest = api.get("/v1/tenants", {"cursor": body["next_cursor"]}).json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None


def test_an_empty_list(api):
    assert api.get("/v1/tenants").json() == {"data": [], "next_cursor": None}


def test_exactly_one_full_page_has_no_next_cursor(api, admin):
    for _ in range(3):
        make_tenant(admin)
    assert api.get("/v1/tenants", {"limit": 3}).json()["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "-1", "501", "abc", "1.5", ""])
def test_limits_outside_1_to_500_are_422(api, limit):
    assert_error(api.get("/v1/tenants", {"limit": limit}), 422, "validation_error", "limit")


def test_a_limit_of_500_is_allowed(api):
    assert api.get("/v1/tenants", {"limit": 500}).status_code == 200


def _cursor(value, row_id="tnt_x") -> str:
    raw = json.dumps([value, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("sort", ["name", "-created_at", "users_count", "-status"])
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "x" * 501,
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b"[1, 2, 3]").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        _cursor("abc"),
        _cursor({"t": "yesterday"}),
        _cursor({"t": 5}),
        _cursor(None),
        _cursor(3.5),
        _cursor([1]),
        _cursor("x", 7),
    ],
)
def test_a_garbage_cursor_is_422(api, sort, cursor):
    response = api.get("/v1/tenants", {"sort": sort, "cursor": cursor})
    assert_error(response, 422, "validation_error", "cursor")


def test_a_cursor_from_another_sort_is_422(api, many):
    by_users = api.get("/v1/tenants", {"sort": "users_count", "limit": 2}).json()["next_cursor"]
    response = api.get("/v1/tenants", {"sort": "created_at", "cursor": by_users})
    assert_error(response, 422, "validation_error", "cursor")


def test_rows_added_between_pages_cause_no_duplicates(api, admin, many):
    first = api.get("/v1/tenants", {"sort": "name", "limit": 3}).json()
    make_tenant(admin, name="aaa first of all")  # sorts before the cursor
    make_tenant(admin, name="zulu")  # sorts after it
    rest = _walk(api, "name", 3, cursor=first["next_cursor"])
    ids = [row["id"] for row in first["data"] + rest]
    assert len(ids) == len(set(ids)) == len(many) + 1


def test_unknown_sort_is_422(api):
    assert_error(api.get("/v1/tenants", {"sort": "billing_email"}), 422, field="sort")


class TestFilters:
    @pytest.fixture
    def tenants(self, admin):
        actor = actor_for_user(admin)
        acme = make_tenant(admin, name="Acme Plumbing", billing_email="ap@acme.example")
        river = make_tenant(admin, name="Riverside Dental", billing_email="office@river.example")
        delta = make_tenant(admin, name="Delta Freight", sip_prefix="deltafrt", status="ACTIVE")
        tenant_suspend(actor=actor, tenant=delta)
        return acme, river, delta

    @pytest.mark.parametrize(
        ("search", "expected"),
        [
            ("acme", {"acme"}),
            ("PLUMB", {"acme"}),
            ("river.example", {"river"}),
            ("deltafrt", {"delta"}),
            ("e", {"acme", "river", "delta"}),
            ("nothing", set()),
            ("%", set()),
            ("_", set()),
        ],
    )
    def test_search_by_name_email_or_prefix(self, api, tenants, search, expected):
        acme, river, delta = tenants
        names = {acme.id: "acme", river.id: "river", delta.id: "delta"}
        found = api.get("/v1/tenants", {"search": search}).json()["data"]
        assert {names[row["id"]] for row in found} == expected

    def test_status_filter(self, api, tenants):
        delta = tenants[2]
        found = api.get("/v1/tenants", {"status": "SUSPENDED"}).json()["data"]
        assert [row["id"] for row in found] == [delta.id]
        assert_error(api.get("/v1/tenants", {"status": "GONE"}), 422, field="status")

    def test_users_are_counted(self, api, tenants):
        acme = tenants[0]
        User.objects.create_user("a@acme.example", None, tenant=acme)
        User.objects.create_user("b@acme.example", None, tenant=acme)
        found = api.get(f"/v1/tenants/{acme.id}").json()
        assert found["counts"] == {"users": 2}
        listed = api.get("/v1/tenants", {"search": "acme"}).json()["data"][0]
        assert listed["counts"] == {"users": 2}
