"""Extensions (CONTRACT: `POST /v1/tenants/{id}/extensions {number, name, site_id?}`; the
partner guide `004_*.txt`: Max Extensions refuses "the (N+1)th", a suspended tenant gets
"No new extensions", the Starter plan stops at 300; `000_*.txt`: a user belongs to one
site and moves by being deleted and re-created)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.utils import timezone

from tests.concurrency import together
from tests.conftest import ApiClient
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from trunkline.billing.models import ServicePeriod
from trunkline.billing.subscription_cycle import billable_count
from trunkline.core.errors import Conflict
from trunkline.core.models import Event
from trunkline.pbx.extensions import extension_create
from trunkline.pbx.models import Department, Extension, Site
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing")


def path(tenant, rest=""):
    return f"/v1/tenants/{tenant.id}/extensions{rest}"


def create(api, tenant, number, name="Ann Lee", **fields):
    return api.post(path(tenant), {"number": number, "name": name, **fields})


def test_an_extension_is_created_at_the_default_site_and_announced(api, tenant):
    response = create(api, tenant, "101", email="ann@acme.example")
    assert response.status_code == 201, response.json()
    body = response.json()
    main = Site.objects.get(tenant=tenant, is_default=True)
    assert (body["number"], body["name"], body["email"], body["site_id"]) == (
        "101",
        "Ann Lee",
        "ann@acme.example",
        main.id,
    )
    assert api.get(path(tenant, f"/{body['id']}")).json() == body
    assert [e["number"] for e in api.get(path(tenant)).json()["data"]] == ["101"]
    event = Event.objects.get(type="extension.created")
    assert event.payload["extension"]["id"] == body["id"]
    assert event.payload["extension"]["number"] == "101"
    usage = api.get(f"/v1/tenants/{tenant.id}/usage").json()
    assert usage["extensions"] == 1
    period = ServicePeriod.objects.get(object_id=body["id"])
    assert (period.kind, period.tenant_id, period.ended_at) == ("extension", tenant.id, None)


def test_an_extension_at_a_named_site_and_department(api, tenant):
    branch = api.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"}).json()
    sales = api.post(f"/v1/tenants/{tenant.id}/departments", {"name": "Sales"}).json()
    body = create(api, tenant, "2001", site_id=branch["id"], department_id=sales["id"]).json()
    assert (body["site_id"], body["department_id"]) == (branch["id"], sales["id"])
    listed = api.get(path(tenant), {"site_id": branch["id"]}).json()["data"]
    assert [e["id"] for e in listed] == [body["id"]]
    # The site cannot go while the extension is there.
    refused = api.delete(f"/v1/tenants/{tenant.id}/sites/{branch['id']}")
    assert refused.status_code == 409 and "2001" in refused.json()["error"]["message"]
    # A department can: the extension simply has none then.
    assert api.delete(f"/v1/tenants/{tenant.id}/departments/{sales['id']}").status_code == 204
    assert api.get(path(tenant, f"/{body['id']}")).json()["department_id"] is None


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("1", "validation_error"),
        ("1234567", "validation_error"),
        ("10a", "validation_error"),
        ("911", "reserved_number"),
        ("9110", "reserved_number"),
        ("933", "reserved_number"),
        ("112", "reserved_number"),
        ("988", "reserved_number"),
        ("411", "reserved_number"),
    ],
)
def test_numbers_that_cannot_be_extensions(api, tenant, number, kind):
    response = create(api, tenant, number)
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["field"] == "number"
    if kind == "reserved_number":
        assert response.json()["error"]["type"] == kind
    assert not Extension.objects.filter(tenant=tenant).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"number": "101"},
        {"number": 101, "name": "Ann"},
        {"number": "101", "name": ""},
        {"number": "101", "name": "Ann", "email": "not-an-email"},
        {"number": "101", "name": "Ann", "colour": "red"},
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(api, tenant, body):
    response = api.post(path(tenant), body)
    assert response.status_code == 422, response.json()
    assert not Extension.objects.filter(tenant=tenant).exists()
    assert not Event.objects.filter(type="extension.created").exists()


def test_a_number_is_once_per_tenant(api, tenant, admin):
    assert create(api, tenant, "101").status_code == 201
    taken = create(api, tenant, "101", name="Bob")
    assert taken.status_code == 409 and taken.json()["error"]["type"] == "extension_taken"
    other = make_tenant(admin)
    assert create(api, other, "101").status_code == 201  # another tenant's 101 is its own


def test_max_extensions_allows_n_and_refuses_n_plus_1(api, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(max_extensions=3)
    for number in ("101", "102", "103"):
        assert create(api, tenant, number).status_code == 201
    refused = create(api, tenant, "104")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "limit_exceeded"
    assert "3 of its 3 extensions" in refused.json()["error"]["message"]
    assert Extension.objects.filter(tenant=tenant).count() == 3
    # Deleting one makes room again.
    first = Extension.objects.get(tenant=tenant, number="101")
    assert api.delete(path(tenant, f"/{first.id}")).status_code == 204
    assert create(api, tenant, "104").status_code == 201


@pytest.mark.parametrize("status", [Tenant.Status.SUSPENDED, Tenant.Status.CANCELLED])
def test_suspended_and_cancelled_tenants_get_no_new_extensions(api, tenant, status):
    Tenant.objects.filter(pk=tenant.pk).update(status=status)
    refused = create(api, tenant, "101")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == f"tenant_{status.lower()}"
    assert not Extension.objects.exists()


def test_the_starter_plan_stops_at_300_extensions_across_tenants(api, admin, tenant):
    partner = admin.partner
    others = [make_tenant(admin) for _ in range(3)]
    now = timezone.now()
    Extension.objects.bulk_create(
        [
            Extension(
                partner=partner,
                tenant=owner,
                site=Site.objects.get(tenant=owner),
                number=str(100 + n),
                name=f"User {n}",
                created_at=now,
                updated_at=now,
            )
            for owner in others
            for n in range(100)
        ]
    )
    Tenant.objects.filter(pk=tenant.pk).update(max_extensions=None)
    refused = create(api, tenant, "101")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "plan_limit"
    assert "Professional" in refused.json()["error"]["message"]
    assert not Extension.objects.filter(tenant=tenant).exists()


def test_renumber_rename_and_move_department_but_never_site(api, tenant):
    created = create(api, tenant, "101").json()
    create(api, tenant, "102", name="Bob")
    sales = api.post(f"/v1/tenants/{tenant.id}/departments", {"name": "Sales"}).json()
    one = path(tenant, f"/{created['id']}")
    changed = api.patch(
        one, {"number": "150", "name": "Ann Lee-Park", "department_id": sales["id"]}
    )
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["number"], changed.json()["department_id"]) == ("150", sales["id"])
    event = Event.objects.get(type="extension.updated")
    assert event.payload["previous_attributes"] == {
        "number": "101",
        "name": "Ann Lee",
        "department_id": None,
    }
    assert api.patch(one, {"number": "102"}).status_code == 409
    assert api.patch(one, {"number": "911"}).status_code == 422
    branch = api.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"}).json()
    moved = api.patch(one, {"site_id": branch["id"]})
    assert moved.status_code == 422 and moved.json()["error"]["field"] == "site_id"
    assert api.patch(one, {"department_id": None}).json()["department_id"] is None
    assert Extension.objects.get(pk=created["id"]).number == "150"


def test_delete_closes_its_service_period_and_announces_it(api, tenant):
    created = create(api, tenant, "101").json()
    assert api.delete(path(tenant, f"/{created['id']}")).status_code == 204
    assert api.get(path(tenant, f"/{created['id']}")).status_code == 404
    assert api.delete(path(tenant, f"/{created['id']}")).status_code == 404
    period = ServicePeriod.objects.get(object_id=created["id"])
    assert period.ended_at is not None
    deleted = Event.objects.get(type="extension.deleted")
    assert deleted.payload["extension"]["number"] == "101"


def test_the_partners_monthly_count_is_the_extensions_that_existed(admin, tenant):
    actor = actor_for_user(admin)
    jan = datetime(2026, 1, 10, tzinfo=UTC)
    extension_create(actor=actor, tenant=tenant, fields={"number": "101", "name": "A"}, now=jan)
    extension_create(
        actor=actor,
        tenant=tenant,
        fields={"number": "102", "name": "B"},
        now=datetime(2026, 2, 10, tzinfo=UTC),
    )
    partner = admin.partner
    assert billable_count("extensions", partner=partner, at=datetime(2026, 2, 1, tzinfo=UTC)) == 1
    assert billable_count("extensions", partner=partner, at=datetime(2026, 3, 1, tzinfo=UTC)) == 2


def test_extensions_are_the_tenants_own_and_need_the_scope(api, client, admin, tenant):
    _, other_admin = make_partner()
    theirs = make_tenant(other_admin)
    assert create(api, theirs, "101").status_code == 404
    mine = create(api, tenant, "101").json()
    other_tenant = make_tenant(admin)
    assert api.get(f"/v1/tenants/{other_tenant.id}/extensions/{mine['id']}").status_code == 404
    their_site = Site.objects.get(tenant=other_tenant)
    refused = create(api, tenant, "102", site_id=their_site.id)
    assert refused.status_code == 404 and refused.json()["error"]["field"] == "site_id"
    their_department = Department.objects.create(
        partner=admin.partner,
        tenant=other_tenant,
        name="Elsewhere",
        created_at=timezone.now(),
        updated_at=timezone.now(),
    )
    refused = create(api, tenant, "103", department_id=their_department.id)
    assert refused.status_code == 404 and refused.json()["error"]["field"] == "department_id"
    reader = ApiClient(client, make_api_key(admin.partner, scopes="extensions:read"))
    assert reader.get(path(tenant)).status_code == 200
    assert create(reader, tenant, "104").status_code == 403
    numbers_only = ApiClient(client, make_api_key(admin.partner, scopes="phone_numbers:read"))
    assert numbers_only.get(path(tenant)).status_code == 403


@pytest.mark.postgres_only
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
)
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creations_race_for_the_last_five_places(admin):
    tenant = make_tenant(admin)
    Tenant.objects.filter(pk=tenant.pk).update(max_extensions=5)
    actor = actor_for_user(admin)

    def attempt(slot: int):
        try:
            fields = {"number": str(1000 + slot), "name": f"User {slot}"}
            return extension_create(actor=actor, tenant=tenant, fields=fields).id
        except Conflict as refused:
            assert refused.type == "limit_exceeded"
            return None

    made = [found for found in together(attempt, 20) if found]
    assert len(made) == 5
    assert Extension.objects.filter(tenant=tenant).count() == 5
    assert Event.objects.filter(type="extension.created").count() == 5
