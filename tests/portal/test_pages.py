"""Every portal page renders for an admin and for a read-only Partner User, escaping input."""

import pytest

from tests.factories import make_api_key, make_tenant
from tests.portal.conftest import htmx_headers

PAGES = [
    "/",
    "/tenants",
    "/tenants/new",
    "/tenants/defaults",
    "/settings/api-keys",
    "/settings/api-keys/new",
    "/settings/audit-log",
    "/settings/audit-log/api-requests",
]


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_for_admin(admin_client, tenant, path):
    response = admin_client.get(path)
    assert response.status_code == 200
    assert b"<html" in response.content


def test_tenant_pages_render_for_admin(admin_client, tenant):
    for path in (
        f"/tenants/{tenant.id}",
        f"/tenants/{tenant.id}/edit",
        f"/tenants/{tenant.id}/delete",
        f"/tenants/{tenant.id}/suspend",
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path


def test_api_key_pages_render_for_admin(admin_client, partner):
    make_api_key(partner, name="CRM")
    key = partner.api_keys.get()
    for path in (f"/settings/api-keys/{key.id}/edit", f"/settings/api-keys/{key.id}/revoke"):
        assert admin_client.get(path).status_code == 200, path


def test_modals_render_as_fragments_for_htmx(admin_client, tenant):
    response = admin_client.get(f"/tenants/{tenant.id}/edit", **htmx_headers("modal"))
    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'class="modal"' in response.content


@pytest.mark.parametrize(
    "path",
    ["/", "/tenants", "/tenants/defaults", "/settings/api-keys", "/settings/audit-log"],
)
def test_read_only_user_sees_pages_without_write_buttons(reader_client, tenant, path):
    response = reader_client.get(path)
    assert response.status_code == 200
    assert b"New Tenant" not in response.content
    assert b"Create API Key" not in response.content


def test_signed_out_visitor_is_sent_to_sign_in(client):
    response = client.get("/tenants")
    assert response.status_code == 302
    assert response["Location"].startswith("/login?next=/tenants")


def test_user_input_is_escaped_everywhere(admin_client, admin):
    hostile = make_tenant(admin, name="<script>alert(1)</script>", billing_email="x@example.com")
    for path in (
        "/",
        "/tenants",
        "/tenants?q=%3Cscript%3E",
        f"/tenants/{hostile.id}",
        f"/tenants/{hostile.id}/edit",
        f"/tenants/{hostile.id}/delete",
        "/settings/audit-log",
        "/settings/api-keys/new",
    ):
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert b"<script>alert(1)" not in response.content, path
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in admin_client.get("/tenants").content


def test_every_form_carries_a_csrf_token(admin_client, tenant):
    for path in ("/tenants/new", f"/tenants/{tenant.id}/edit", "/settings/api-keys/new"):
        assert b"csrfmiddlewaretoken" in admin_client.get(path).content, path


def test_posts_without_csrf_token_are_refused(admin, tenant):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post(f"/tenants/{tenant.id}/unsuspend")
    assert response.status_code == 403
