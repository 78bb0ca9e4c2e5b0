"""Settings → API Keys: the plaintext is shown once, only the hash is kept."""

import hashlib
from datetime import date, timedelta

from tests.factories import make_api_key, make_tenant, make_user
from tests.portal.conftest import htmx_headers
from trunkline.accounts.models import ApiKey
from trunkline.core.models import AuditEntry


def _create(client, **fields):
    data = {"name": "CRM", "scopes": ["tenants:read", "tenants:write"], "rate_limit": "250"}
    data.update(fields)
    return client.post("/settings/api-keys/new", data, **htmx_headers("modal"))


def test_create_shows_the_plaintext_exactly_once(admin_client, partner):
    response = _create(admin_client)
    assert response.status_code == 201
    plaintext = response.context["plaintext"]
    assert plaintext.startswith("sk_live_")
    assert plaintext in response.content.decode()
    assert "no-store" in response["Cache-Control"]

    api_key = ApiKey.objects.get(partner=partner)
    assert api_key.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    stored = [str(value) for value in ApiKey.objects.filter(pk=api_key.pk).values().get().values()]
    assert all(plaintext not in value for value in stored)
    assert api_key.scopes == ["tenants:read", "tenants:write"]
    assert api_key.rate_limit == 250

    listing = admin_client.get("/settings/api-keys").content.decode()
    assert plaintext not in listing
    assert api_key.masked in listing
    assert plaintext not in admin_client.get("/settings/api-keys").content.decode()
    edit_form = admin_client.get(f"/settings/api-keys/{api_key.id}/edit").content.decode()
    assert plaintext not in edit_form
    entry = AuditEntry.objects.get(action="api_key.created", object_id=api_key.id)
    assert plaintext not in str(entry.after)


def test_select_all_grants_all(admin_client, partner):
    _create(admin_client, scopes=["all", "tenants:read", "billing:write"])
    assert ApiKey.objects.get(partner=partner).scopes == ["all"]


def test_tenant_scope_and_expiry(admin_client, admin, partner):
    tenant = make_tenant(admin)
    expires = date.today() + timedelta(days=30)
    response = _create(admin_client, tenant_ids=[tenant.id], expires_on=expires.isoformat())
    assert response.status_code == 201
    api_key = ApiKey.objects.get(partner=partner)
    assert list(api_key.tenants.values_list("id", flat=True)) == [tenant.id]
    assert api_key.expires_at.date() == expires + timedelta(days=1)
    listing = admin_client.get("/settings/api-keys").content.decode()
    assert "1 tenant<" in listing


def test_partner_level_key_shows_all_tenants_badge(admin_client, partner):
    make_api_key(partner, name="Everything")
    listing = admin_client.get("/settings/api-keys").content.decode()
    assert "All tenants" in listing
    assert "Never" in listing


def test_another_partners_tenant_cannot_be_put_in_scope(admin_client, partner, other_partner):
    _, _, foreign_tenant = other_partner
    response = _create(admin_client, tenant_ids=[foreign_tenant.id])
    assert response.status_code == 422
    assert not ApiKey.objects.filter(partner=partner).exists()


def test_create_errors_are_shown_next_to_fields(admin_client, partner):
    response = _create(admin_client, scopes=[])
    assert response.status_code == 422
    assert "At least one scope" in response.context["form"].errors["scopes"][0]
    response = _create(admin_client, rate_limit="10001")
    assert "rate limit" in response.context["form"].errors["rate_limit"][0].lower()
    response = _create(admin_client, name="")
    assert response.context["form"].errors["name"]
    response = _create(admin_client, expires_on=(date.today() - timedelta(days=2)).isoformat())
    assert response.context["form"].errors["expires_on"]
    assert not ApiKey.objects.filter(partner=partner).exists()


def test_edit_scopes_tenants_and_rate_limit(admin_client, admin, partner):
    make_api_key(partner, name="CRM", scopes="tenants:read")
    api_key = ApiKey.objects.get(partner=partner)
    tenant = make_tenant(admin)
    response = admin_client.post(
        f"/settings/api-keys/{api_key.id}/edit",
        {
            "name": "Renamed",
            "scopes": ["billing:read"],
            "tenant_ids": [tenant.id],
            "rate_limit": "500",
        },
    )
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.name == "CRM"
    assert api_key.scopes == ["billing:read"]
    assert api_key.rate_limit == 500
    assert list(api_key.tenants.values_list("id", flat=True)) == [tenant.id]
    assert AuditEntry.objects.filter(action="api_key.updated", object_id=api_key.id).exists()


def test_edit_form_shows_current_scopes(admin_client, partner):
    make_api_key(partner, scopes="calls:read")
    api_key = ApiKey.objects.get(partner=partner)
    content = admin_client.get(f"/settings/api-keys/{api_key.id}/edit").content.decode()
    assert 'value="calls:read" aria-label="Calls read" checked' in content
    assert 'value="calls:write" aria-label="Calls write">' in content


def test_revoke(admin_client, partner):
    make_api_key(partner, name="Leaked")
    api_key = ApiKey.objects.get(partner=partner)
    assert "Revoke" in admin_client.get(f"/settings/api-keys/{api_key.id}/revoke").content.decode()
    response = admin_client.post(f"/settings/api-keys/{api_key.id}/revoke")
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "REVOKED" in admin_client.get("/settings/api-keys").content.decode()
    assert AuditEntry.objects.filter(action="api_key.revoked", object_id=api_key.id).exists()
    again = admin_client.post(f"/settings/api-keys/{api_key.id}/revoke", **htmx_headers("modal"))
    assert again.status_code == 409
    assert "already revoked" in again.content.decode()


def test_revoked_key_no_longer_authenticates(admin_client, client, partner):
    plaintext = make_api_key(partner)
    api_key = ApiKey.objects.get(partner=partner)
    admin_client.post(f"/settings/api-keys/{api_key.id}/revoke")
    response = client.get("/v1/tenants", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 401


def test_other_partners_keys_answer_404(admin_client, other_partner):
    partner_b, _, _ = other_partner
    make_api_key(partner_b, name="B key")
    foreign = ApiKey.objects.get(partner=partner_b)
    assert admin_client.get(f"/settings/api-keys/{foreign.id}/edit").status_code == 404
    assert admin_client.get(f"/settings/api-keys/{foreign.id}/revoke").status_code == 404
    assert admin_client.post(f"/settings/api-keys/{foreign.id}/revoke").status_code == 404
    response = admin_client.post(
        f"/settings/api-keys/{foreign.id}/edit", {"scopes": ["all"], "rate_limit": "9"}
    )
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.revoked_at is None
    assert foreign.rate_limit == 100
    assert "B key" not in admin_client.get("/settings/api-keys").content.decode()


def test_partner_user_cannot_create_edit_or_revoke(reader_client, partner):
    make_api_key(partner, name="CRM")
    api_key = ApiKey.objects.get(partner=partner)
    assert reader_client.get("/settings/api-keys").status_code == 200
    assert reader_client.get("/settings/api-keys/new").status_code == 403
    assert _create(reader_client).status_code == 403
    response = reader_client.post(
        f"/settings/api-keys/{api_key.id}/edit", {"scopes": ["all"], "rate_limit": "9"}
    )
    assert response.status_code == 403
    assert reader_client.post(f"/settings/api-keys/{api_key.id}/revoke").status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert api_key.rate_limit == 100
    assert ApiKey.objects.filter(partner=partner).count() == 1


def test_second_partner_admin_can_manage_keys(partner):
    from django.test import Client

    second = make_user(partner, role="PARTNER_ADMIN")
    client = Client()
    client.force_login(second)
    assert _create(client).status_code == 201
