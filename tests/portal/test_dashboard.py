"""The dashboard shows real counts only."""

from tests.factories import actor_for_user, make_api_key, make_tenant, make_user
from trunkline.accounts.models import ApiKey
from trunkline.tenants.services import tenant_suspend


def test_counts_come_from_the_partners_rows(admin_client, admin, partner, other_partner):
    make_tenant(admin, status="ACTIVE")
    make_tenant(admin, status="ACTIVE")
    trial = make_tenant(admin)
    tenant_suspend(actor=actor_for_user(admin), tenant=trial)
    make_user(partner)
    make_api_key(partner, name="live")
    make_api_key(partner, name="revoked")
    ApiKey.objects.filter(name="revoked").update(revoked_at=admin.created_at)

    response = admin_client.get("/")
    counts = response.context["counts"]
    assert counts["tenants_total"] == 3
    assert counts["tenants_by_status"] == {
        "TRIAL": 0,
        "ACTIVE": 2,
        "SUSPENDED": 1,
        "CANCELLED": 0,
    }
    assert counts["team_users"] == 2
    assert counts["api_keys_active"] == 1
    content = response.content.decode()
    for label in ("Manage Tenants", "View Analytics", "Partner Settings"):
        assert label in content


def test_new_partner_sees_the_first_tenant_prompt(admin_client):
    content = admin_client.get("/").content.decode()
    assert "Create your first tenant" in content


def test_trial_banner_is_shown(admin_client):
    assert "Your trial ends in" in admin_client.get("/").content.decode()
