"""`GET /v1/tenants` builds its page from rows; it must answer exactly what TenantOut renders.

A search takes the ORM path (model instances validated and encoded by django-ninja), so
the same listing with and without a search that matches everything is compared value for
value and key order for key order, cursors included.
"""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from tests.factories import actor_for_user, make_api_key, make_tenant
from trunkline.accounts.models import User
from trunkline.core.responses import api_datetime
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_delete, tenant_suspend

E911 = {
    "street": "1 Main St",
    "street2": "Suite 5",
    "city": "Little Rock",
    "state": "AR",
    "postal_code": "72201",
}


@pytest.fixture
def varied(admin):
    actor = actor_for_user(admin)
    plain = make_tenant(admin, name="acme plain")
    full = make_tenant(
        admin, name="acme full", default_cnam="ACME", e911_address=E911, status="ACTIVE"
    )
    suspended = make_tenant(admin, name="acme suspended", status="ACTIVE")
    tenant_suspend(actor=actor, tenant=suspended, reason="unpaid")
    cancelled = make_tenant(admin, name="acme cancelled ☎ café")
    tenant_delete(actor=actor, tenant=cancelled)
    # A timestamp without microseconds renders without a fraction.
    whole_second = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    Tenant.objects.filter(pk=plain.pk).update(created_at=whole_second)
    Tenant.objects.filter(pk=full.pk).update(created_at=whole_second + timedelta(microseconds=999))
    User.objects.create_user("someone@acme.example", None, tenant=full, role=User.Role.TENANT_ADMIN)
    return [plain, full, suspended, cancelled]


def _ordered(value):
    """The JSON value with each object's keys in order, so key order is compared too."""
    if isinstance(value, dict):
        return [(key, _ordered(item)) for key, item in value.items()]
    if isinstance(value, list):
        return [_ordered(item) for item in value]
    return value


def _pages(api, **params) -> list:
    pages, cursor = [], None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = api.get("/v1/tenants", query)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/json; charset=utf-8"
        body = json.loads(response.content)
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


@pytest.mark.parametrize("sort", ["-created_at", "name", "-users_count", "status"])
@pytest.mark.parametrize("limit", [2, 50])
def test_row_page_is_the_schema_rendering(api, varied, sort, limit):
    from_rows = _pages(api, sort=sort, limit=limit)
    from_models = _pages(api, sort=sort, limit=limit, search="acme")
    assert _ordered(from_rows) == _ordered(from_models)
    listed = [row for page in from_rows for row in page["data"]]
    assert len(listed) == 4


def test_fields_render_as_the_contract_says(api, varied):
    rows = {row["name"]: row for row in _pages(api, limit=50)[0]["data"]}
    assert rows["acme plain"]["created_at"] == "2026-01-02T03:04:05Z"
    assert rows["acme full"]["created_at"] == "2026-01-02T03:04:05.000Z"
    assert rows["acme full"]["e911_address"] == {**E911, "country": "US"}
    assert rows["acme full"]["default_cnam"] == "ACME"
    assert rows["acme full"]["counts"] == {"users": 1}
    assert rows["acme plain"]["default_cnam"] is None
    assert rows["acme plain"]["e911_address"] is None
    assert rows["acme suspended"]["suspension_reason"] == "unpaid"
    assert rows["acme cancelled ☎ café"]["status"] == "CANCELLED"
    assert rows["acme cancelled ☎ café"]["cancelled_at"].endswith("Z")


def test_status_filter_and_tenant_scoped_keys(make_api, partner, varied):
    plain, full, suspended, _ = varied
    scoped = make_api(make_api_key(partner, tenant_ids=[plain.id, suspended.id]))
    listed = _pages(scoped, sort="name")[0]["data"]
    assert [row["id"] for row in listed] == [plain.id, suspended.id]
    only_suspended = _pages(scoped, status="SUSPENDED")[0]["data"]
    assert [row["id"] for row in only_suspended] == [suspended.id]
    assert full.id not in {row["id"] for row in listed}


@pytest.mark.parametrize(
    ("stored", "rendered"),
    [
        ("2026-01-02 03:04:05.678901", "2026-01-02T03:04:05.678Z"),
        ("2026-01-02 03:04:05.000999", "2026-01-02T03:04:05.000Z"),
        ("2026-01-02 03:04:05", "2026-01-02T03:04:05Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 678901), "2026-01-02T03:04:05.678Z"),
        (
            datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1))),
            "2026-01-02T03:04:05Z",
        ),
        (None, None),
    ],
)
def test_timestamps_render_like_djangos_encoder(stored, rendered):
    assert api_datetime(stored) == rendered
    if isinstance(stored, datetime):
        in_utc = stored.astimezone(UTC) if stored.tzinfo else stored.replace(tzinfo=UTC)
        encoded = DjangoJSONEncoder().default(in_utc)  # what the ORM path renders
        assert encoded == rendered
