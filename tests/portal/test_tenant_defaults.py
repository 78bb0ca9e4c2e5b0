"""Tenants → Tenant Defaults."""

from trunkline.core.models import AuditEntry


def test_defaults_page_shows_current_values(admin_client, partner):
    content = admin_client.get("/tenants/defaults").content.decode()
    assert "new tenants only" in content
    assert f'<option value="{partner.default_timezone}" selected>' in content


def test_save_defaults(admin_client, partner):
    response = admin_client.post(
        "/tenants/defaults",
        {
            "default_timezone": "America/Phoenix",
            "default_cnam": "DOCS DEMO",
            "default_suspension_behavior": "alert_only",
        },
    )
    assert response.status_code == 302
    partner.refresh_from_db()
    assert partner.default_timezone == "America/Phoenix"
    assert partner.default_cnam == "DOCS DEMO"
    assert partner.default_suspension_behavior == "alert_only"
    assert AuditEntry.objects.filter(action="partner.tenant_defaults_updated").exists()


def test_invalid_default_cnam_is_shown(admin_client, partner):
    response = admin_client.post(
        "/tenants/defaults",
        {
            "default_timezone": "America/Phoenix",
            "default_cnam": "X" * 16,
            "default_suspension_behavior": "suspend",
        },
    )
    assert response.status_code == 422
    assert response.context["form"].errors["default_cnam"]
    partner.refresh_from_db()
    assert partner.default_timezone != "America/Phoenix"


def test_invalid_timezone_is_shown_next_to_the_timezone(admin_client):
    response = admin_client.post(
        "/tenants/defaults",
        {
            "default_timezone": "Mars/Olympus",
            "default_cnam": "",
            "default_suspension_behavior": "suspend",
        },
    )
    assert response.status_code == 422
    assert response.context["form"].errors["default_timezone"]
