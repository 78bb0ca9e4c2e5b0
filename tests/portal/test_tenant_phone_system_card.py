"""The tenant page's Phone system card: sites and departments (`000_*.txt`, "What are sites
(or groups)?" and "What are departments?")."""

from __future__ import annotations

import pytest

from tests.factories import actor_for_user
from tests.portal.conftest import HTMX
from trunkline.pbx.extensions import extension_create
from trunkline.pbx.models import Department, Site
from trunkline.pbx.services import department_create

pytestmark = pytest.mark.django_db


def page(client, tenant) -> str:
    response = client.get(f"/tenants/{tenant.id}")
    assert response.status_code == 200
    return response.content.decode()


def test_the_card_shows_the_default_site_and_adds_one(admin_client, tenant):
    content = page(admin_client, tenant)
    assert "Phone system" in content and "Main site" in content
    assert "Default</span>" in content
    form = admin_client.get(f"/tenants/{tenant.id}/sites/new", **HTMX).content.decode()
    assert 'id="id_timezone"' in form
    added = admin_client.post(
        f"/tenants/{tenant.id}/sites/new",
        {"name": "Little Rock office", "timezone": "America/Chicago"},
        **HTMX,
    )
    assert added.status_code == 200 and added["HX-Redirect"] == f"/tenants/{tenant.id}#phone-system"
    again = admin_client.post(
        f"/tenants/{tenant.id}/sites/new", {"name": "little rock OFFICE"}, **HTMX
    )
    assert again.status_code == 409 and "already has a site named" in again.content.decode()
    assert Site.objects.filter(tenant=tenant).count() == 2


def test_make_another_site_the_default_then_delete_the_old_one(admin_client, tenant):
    main = Site.objects.get(tenant=tenant)
    admin_client.post(f"/tenants/{tenant.id}/sites/new", {"name": "Branch"}, **HTMX)
    branch = Site.objects.get(tenant=tenant, name="Branch")
    assert f"/sites/{main.id}/delete" not in page(admin_client, tenant)  # the default
    assert admin_client.post(f"/tenants/{tenant.id}/sites/{branch.id}/default").status_code == 302
    assert admin_client.post(f"/tenants/{tenant.id}/sites/{main.id}/delete").status_code == 302
    assert list(Site.objects.filter(tenant=tenant).values_list("name", "is_default")) == [
        ("Branch", True)
    ]
    # The default itself is refused with the reason, and stays.
    refused = admin_client.post(f"/tenants/{tenant.id}/sites/{branch.id}/delete", follow=True)
    assert "cannot be deleted" in refused.content.decode()
    assert Site.objects.filter(pk=branch.pk).exists()


def test_departments_nest_on_the_card(admin_client, tenant):
    path = f"/tenants/{tenant.id}/departments/new"
    assert admin_client.post(path, {"name": "Sales"}, **HTMX).status_code == 200
    sales = Department.objects.get(tenant=tenant, name="Sales")
    form = admin_client.get(path, **HTMX).content.decode()
    assert f'<option value="{sales.id}">Sales</option>' in form
    assert (
        admin_client.post(path, {"name": "Inside Sales", "parent": sales.id}, **HTMX).status_code
        == 200
    )
    content = page(admin_client, tenant)
    inside = Department.objects.get(tenant=tenant, name="Inside Sales")
    assert f'data-department="{inside.id}" class="depth-1"' in content
    assert content.index("Sales") < content.index("Inside Sales")
    refused = admin_client.post(f"/tenants/{tenant.id}/departments/{sales.id}/delete", follow=True)
    assert "has sub-departments: Inside Sales" in refused.content.decode()
    bad_parent = admin_client.post(path, {"name": "X", "parent": "dep_nope"}, **HTMX)
    assert bad_parent.status_code == 422
    assert Department.objects.filter(tenant=tenant).count() == 2


def test_read_only_users_see_the_card_without_its_buttons(reader_client, tenant):
    content = page(reader_client, tenant)
    assert "Main site" in content and "Add site" not in content and "Add department" not in content
    assert reader_client.post(f"/tenants/{tenant.id}/sites/new", {"name": "X"}).status_code == 403


def test_another_partners_sites_are_not_found(admin_client, other_partner):
    theirs = other_partner[2]
    site = Site.objects.get(tenant=theirs)
    assert admin_client.get(f"/tenants/{theirs.id}/sites/new").status_code == 404
    assert admin_client.post(f"/tenants/{theirs.id}/sites/{site.id}/delete").status_code == 404
    assert Site.objects.filter(pk=site.pk).exists()


def test_the_card_lists_the_extensions(admin_client, admin, tenant):
    actor = actor_for_user(admin)
    assert "No extensions yet" in page(admin_client, tenant)
    sales = department_create(actor=actor, tenant=tenant, name="Sales")
    extension_create(
        actor=actor,
        tenant=tenant,
        fields={"number": "101", "name": "Ann Lee", "department_id": sales.id},
    )
    content = page(admin_client, tenant)
    assert 'Extensions <span class="muted">(1)</span>' in content
    row = content[content.index('data-extension="') :]
    row = row[: row.index("</tr>")]
    assert "101" in row and "Ann Lee" in row and "Main site" in row and "Sales" in row
