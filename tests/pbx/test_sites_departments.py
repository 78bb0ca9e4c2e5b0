"""Sites and departments of a tenant's phone system (`../shared/seeds/000_*.txt`: "You need
at least one site in your tenant"; departments "can be nested" and users "can—but don't
have to—be assigned to a department")."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.concurrency import together
from tests.conftest import ApiClient
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from trunkline.core.errors import Conflict
from trunkline.core.models import AuditEntry
from trunkline.pbx.models import Department, Site
from trunkline.pbx.services import MAX_DEPTH, site_create, site_update
from trunkline.tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing", timezone_name="America/Denver")


def sites_of(api, tenant):
    response = api.get(f"/v1/tenants/{tenant.id}/sites")
    assert response.status_code == 200
    return response.json()["data"]


# --- sites ----------------------------------------------------------------------------------


def test_a_new_tenant_has_its_default_site(api, tenant):
    (site,) = sites_of(api, tenant)
    assert (site["name"], site["is_default"], site["timezone"]) == (
        "Main site",
        True,
        "America/Denver",
    )


def test_sites_are_added_renamed_made_default_and_deleted(api, tenant):
    path = f"/v1/tenants/{tenant.id}/sites"
    created = api.post(path, {"name": "  Little  Rock office ", "timezone": "America/Chicago"})
    assert created.status_code == 201, created.json()
    branch = created.json()
    assert (branch["name"], branch["timezone"], branch["is_default"]) == (
        "Little Rock office",
        "America/Chicago",
        False,
    )
    assert api.post(path, {"name": "little rock OFFICE"}).status_code == 409  # names once
    renamed = api.patch(f"{path}/{branch['id']}", {"name": "Little Rock"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Little Rock"

    main = next(site for site in sites_of(api, tenant) if site["is_default"])
    refused = api.delete(f"{path}/{main['id']}")
    assert refused.status_code == 409
    assert refused.json()["error"]["type"] == "invalid_state_transition"
    assert api.patch(f"{path}/{branch['id']}", {"is_default": True}).status_code == 200
    assert [s["name"] for s in sites_of(api, tenant)] == ["Little Rock", "Main site"]
    assert [s["is_default"] for s in sites_of(api, tenant)] == [True, False]
    assert api.delete(f"{path}/{main['id']}").status_code == 204
    assert [s["name"] for s in sites_of(api, tenant)] == ["Little Rock"]
    actions = list(AuditEntry.objects.filter(object_type="site").values_list("action", flat=True))
    assert sorted(actions) == [
        "site.created",
        "site.deleted",
        "site.updated",
        "site.updated",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": 7},
        {"name": "Branch", "timezone": "Mars/Olympus"},
        {"name": "Branch", "colour": "red"},
    ],
)
def test_bad_sites_are_refused_and_change_nothing(api, tenant, body):
    response = api.post(f"/v1/tenants/{tenant.id}/sites", body)
    assert response.status_code == 422, response.json()
    assert "error" in response.json()
    assert len(sites_of(api, tenant)) == 1


def test_a_site_cannot_stop_being_the_default_by_itself(api, tenant):
    (main,) = sites_of(api, tenant)
    response = api.patch(f"/v1/tenants/{tenant.id}/sites/{main['id']}", {"is_default": False})
    assert response.status_code == 422
    assert sites_of(api, tenant)[0]["is_default"] is True


def test_sites_are_the_tenants_own(api, client, tenant, admin):
    _, other_admin = make_partner()
    theirs = make_tenant(other_admin)
    their_site = Site.objects.get(tenant=theirs)
    assert api.get(f"/v1/tenants/{theirs.id}/sites").status_code == 404
    assert api.post(f"/v1/tenants/{theirs.id}/sites", {"name": "Mine"}).status_code == 404
    # Another tenant's site under our tenant's path is not found either.
    assert api.get(f"/v1/tenants/{tenant.id}/sites/{their_site.id}").status_code == 404
    assert api.delete(f"/v1/tenants/{tenant.id}/sites/{their_site.id}").status_code == 404
    reader = ApiClient(client, make_api_key(admin.partner, scopes="tenants:read"))
    assert reader.get(f"/v1/tenants/{tenant.id}/sites").status_code == 200
    assert reader.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"}).status_code == 403
    assert Site.objects.filter(tenant=tenant).count() == 1


def test_a_cancelled_tenants_sites_cannot_change(api, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(status=Tenant.Status.CANCELLED)
    response = api.post(f"/v1/tenants/{tenant.id}/sites", {"name": "Branch"})
    assert response.status_code == 409
    assert Site.objects.filter(tenant=tenant).count() == 1


def test_tenants_made_before_sites_get_a_default_one(transactional_db, admin):
    tenant = make_tenant(admin, timezone_name="America/New_York")
    Site.objects.filter(tenant=tenant).delete()
    executor = MigrationExecutor(connection)
    executor.migrate([("pbx", "0001_sites_and_departments")])
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    (site,) = Site.objects.filter(tenant=tenant)
    assert (site.name, site.is_default, site.timezone) == ("Main site", True, "America/New_York")


# --- departments ----------------------------------------------------------------------------


def department(api, tenant, name, parent=None):
    body = {"name": name} if parent is None else {"name": name, "parent_id": parent}
    response = api.post(f"/v1/tenants/{tenant.id}/departments", body)
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def tree(api, tenant) -> dict:
    data = api.get(f"/v1/tenants/{tenant.id}/departments").json()["data"]
    names = {d["id"]: d["name"] for d in data}
    return {d["name"]: names.get(d["parent_id"]) for d in data}


def test_departments_nest_and_move(api, tenant):
    sales = department(api, tenant, "Sales")
    inside = department(api, tenant, "Inside Sales", sales)
    support = department(api, tenant, "Support")
    assert tree(api, tenant) == {"Inside Sales": "Sales", "Sales": None, "Support": None}
    path = f"/v1/tenants/{tenant.id}/departments"
    moved = api.patch(f"{path}/{inside}", {"parent_id": support})
    assert moved.status_code == 200 and moved.json()["parent_id"] == support
    to_top = api.patch(f"{path}/{inside}", {"parent_id": None})
    assert to_top.status_code == 200 and to_top.json()["parent_id"] is None
    renamed = api.patch(f"{path}/{inside}", {"name": "Telesales"})
    assert renamed.json()["name"] == "Telesales" and renamed.json()["parent_id"] is None
    # The same name twice under one parent is refused; under another it is fine.
    assert api.post(path, {"name": "sales"}).status_code == 409
    department(api, tenant, "Sales", support)


def test_a_department_cannot_move_under_itself_or_its_own(api, tenant):
    path = f"/v1/tenants/{tenant.id}/departments"
    top = department(api, tenant, "Operations")
    middle = department(api, tenant, "Field", top)
    bottom = department(api, tenant, "North crew", middle)
    for target in (top, middle, bottom):
        refused = api.patch(f"{path}/{top}", {"parent_id": target})
        assert refused.status_code == 422, target
        assert refused.json()["error"]["type"] == "department_cycle"
    assert tree(api, tenant) == {"Operations": None, "Field": "Operations", "North crew": "Field"}


def test_departments_nest_at_most_ten_deep(api, tenant):
    parent = None
    for level in range(MAX_DEPTH):
        parent = department(api, tenant, f"Level {level + 1}", parent)
    path = f"/v1/tenants/{tenant.id}/departments"
    too_deep = api.post(path, {"name": "Level 11", "parent_id": parent})
    assert too_deep.status_code == 422
    # Moving a two-level branch under the ninth level would make eleven.
    branch = department(api, tenant, "Branch")
    department(api, tenant, "Leaf", branch)
    ninth = Department.objects.get(tenant=tenant, name="Level 9").id
    assert api.patch(f"{path}/{branch}", {"parent_id": ninth}).status_code == 422
    assert Department.objects.get(pk=branch).parent_id is None


def test_a_department_with_sub_departments_is_not_deleted(api, tenant):
    path = f"/v1/tenants/{tenant.id}/departments"
    sales = department(api, tenant, "Sales")
    inside = department(api, tenant, "Inside Sales", sales)
    refused = api.delete(f"{path}/{sales}")
    assert refused.status_code == 409
    assert "Inside Sales" in refused.json()["error"]["message"]
    assert api.delete(f"{path}/{inside}").status_code == 204
    assert api.delete(f"{path}/{sales}").status_code == 204
    assert api.get(f"{path}/{sales}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "Sales", "parent_id": 12},
        {"name": "Sales", "manager": "Ann"},
        {"name": "x" * 101},
    ],
)
def test_bad_departments_are_refused(api, tenant, body):
    response = api.post(f"/v1/tenants/{tenant.id}/departments", body)
    assert response.status_code == 422, response.json()
    assert Department.objects.filter(tenant=tenant).count() == 0


def test_a_parent_must_be_one_of_the_tenants_departments(api, tenant, admin):
    other = make_tenant(admin)
    foreign = department(api, other, "Elsewhere")
    response = api.post(
        f"/v1/tenants/{tenant.id}/departments", {"name": "Sales", "parent_id": foreign}
    )
    assert response.status_code == 404
    assert response.json()["error"]["field"] == "parent_id"
    assert api.get(f"/v1/tenants/{tenant.id}/departments/{foreign}").status_code == 404
    assert Department.objects.filter(tenant=tenant).count() == 0


@pytest.mark.postgres_only
@pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_take_a_name_once_and_keep_one_default(admin):
    tenant = make_tenant(admin)
    actor = actor_for_user(admin)

    def create(slot: int):
        try:
            return site_create(actor=actor, tenant=tenant, name="Branch").id
        except Conflict:
            return None

    created = [site for site in together(create, 10) if site]
    assert len(created) == 1
    others = [site_create(actor=actor, tenant=tenant, name=f"Office {n}").id for n in range(5)]

    def make_default(slot: int):
        site = Site.objects.get(pk=others[slot])
        return site_update(actor=actor, site=site, changes={"is_default": True}).id

    together(make_default, 5)
    assert Site.objects.filter(tenant=tenant, is_default=True).count() == 1
