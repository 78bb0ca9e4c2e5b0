"""Settings → Account (profile, deleting the account) and Settings → Notifications."""

import pytest
from django.contrib.sessions.models import Session
from django.core import mail
from django.test import Client

from tests.accounts.conftest import sign_in
from tests.factories import PASSWORD, make_api_key, make_partner, make_tenant, make_user
from trunkline.accounts import account_settings
from trunkline.accounts.api_auth import resolve_key
from trunkline.accounts.models import ApiKey, Invitation, Partner, User
from trunkline.core.email import send_branded_email
from trunkline.core.models import AuditEntry
from trunkline.tenants.services import tenant_delete

pytestmark = pytest.mark.django_db


def test_profile_name_is_saved_and_audited(admin):
    browser = sign_in(admin)
    response = browser.post("/settings/account/profile", {"name": "  Jo   Park "})
    assert response["Location"] == "/settings/account"
    admin.refresh_from_db()
    assert admin.name == "Jo Park"
    assert AuditEntry.objects.filter(action="user.profile_updated", object_id=admin.pk).exists()
    assert browser.post("/settings/account/profile", {"name": ""}).status_code == 422


def test_account_page_shows_each_section(admin):
    html = sign_in(admin).get("/settings/account").content.decode()
    for section in ("Profile", "Change password", "Two-factor authentication", "Delete account"):
        assert section in html


def test_read_only_users_do_not_see_account_deletion(partner):
    viewer = make_user(partner, role=User.Role.PARTNER_USER)
    html = sign_in(viewer).get("/settings/account").content.decode()
    assert "Delete account" not in html
    assert "Change password" in html


# --- Deleting the account ---------------------------------------------------------------


def test_tenants_block_deletion_including_cancelled_ones_not_yet_purged(admin, partner):
    assert account_settings.partner_deletion_blockers(partner) == []
    tenant = make_tenant(admin)
    blockers = account_settings.partner_deletion_blockers(partner)
    assert blockers == ["You have 1 tenant. Delete every tenant first."]

    from tests.factories import actor_for_user

    tenant_delete(actor=actor_for_user(admin), tenant=tenant)
    blockers = account_settings.partner_deletion_blockers(partner)
    assert len(blockers) == 1 and "waiting to be purged" in blockers[0]

    page = sign_in(admin).get("/settings/account").content.decode()
    assert "waiting to be purged" in page
    assert 'action="/settings/account/delete"' not in page

    response = sign_in(admin).post("/settings/account/delete", {"confirmation": "DELETE"})
    assert response.status_code == 409
    partner.refresh_from_db()
    assert partner.deleted_at is None


def test_other_apps_add_their_blockers_through_the_extension_point(admin, partner):
    def unpaid_invoices(checked: Partner) -> list[str]:
        return ["You have 2 outstanding invoices."] if checked == partner else []

    account_settings.partner_deletion_check_register(unpaid_invoices)
    try:
        assert account_settings.partner_deletion_blockers(partner) == [
            "You have 2 outstanding invoices."
        ]
        response = sign_in(admin).post("/settings/account/delete", {"confirmation": "DELETE"})
        assert response.status_code == 409
        assert b"outstanding invoices" in response.content
    finally:
        account_settings._deletion_checks.remove(unpaid_invoices)


@pytest.mark.parametrize("typed", ["", "delete", "DELETE IT", "yes"])
def test_deletion_needs_delete_typed_exactly(admin, partner, typed):
    response = sign_in(admin).post("/settings/account/delete", {"confirmation": typed})
    assert response.status_code == 422
    partner.refresh_from_db()
    assert partner.deleted_at is None


def test_deletion_closes_everything(admin, partner, clock, django_capture_on_commit_callbacks):
    member = make_user(partner, role=User.Role.PARTNER_USER)
    member_browser = sign_in(member)
    key = make_api_key(partner)
    assert resolve_key(key) is not None  # cached now
    Invitation.objects.create(
        partner=partner,
        email="pending@acme.example",
        role=User.Role.PARTNER_USER,
        token_hash="x" * 64,
        expires_at=clock.now,
    )
    other_partner, other_admin = make_partner()
    other_browser = sign_in(other_admin)

    browser = sign_in(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post("/settings/account/delete", {"confirmation": "DELETE"})
    assert response["Location"] == "/login"

    partner.refresh_from_db()
    assert partner.deleted_at == clock.now
    assert partner.status == Partner.Status.CANCELLED
    assert not User.objects.filter(partner=partner, is_active=True).exists()
    assert User.objects.get(pk=member.pk).removed_at == clock.now
    assert not ApiKey.objects.filter(partner=partner, revoked_at__isnull=True).exists()
    assert resolve_key(key) is None  # the cached record was dropped
    assert Invitation.objects.get(email="pending@acme.example").revoked_at == clock.now
    assert AuditEntry.objects.filter(action="partner.deleted", partner=partner).exists()

    # Everyone is signed out and nobody can sign in again.
    assert browser.get("/")["Location"].startswith("/login")
    assert member_browser.get("/")["Location"].startswith("/login")
    login = Client().post("/login", {"email": admin.email, "password": PASSWORD})
    assert b"do not match" in login.content
    owners = {s.get_decoded().get("_auth_user_id") for s in Session.objects.all()}
    assert owners == {other_admin.pk}
    # Another partner is untouched.
    assert other_browser.get("/").status_code == 200
    other_partner.refresh_from_db()
    assert other_partner.deleted_at is None


# --- Notifications ----------------------------------------------------------------------

FIELDS = [
    "notify_new_tenants",
    "notify_usage_alerts",
    "notify_monthly_reports",
    "notify_system_updates",
]


def test_notifications_page_shows_the_four_toggles(admin):
    html = sign_in(admin).get("/settings/notifications").content.decode()
    for field in FIELDS:
        assert f'name="{field}"' in html
    assert 'hx-trigger="change"' in html
    assert ">Save<" not in html.replace("<noscript>", "").split("</noscript>")[-1]


def test_toggle_saves_on_click_with_htmx(admin, partner):
    browser = sign_in(admin)
    # The form posts every checkbox; unchecking "Usage alerts" leaves it out.
    response = browser.post(
        "/settings/notifications",
        {"notify_new_tenants": "on", "notify_monthly_reports": "on", "notify_system_updates": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"Saved." in response.content
    assert b"<html" not in response.content  # a partial for htmx to swap in
    partner.refresh_from_db()
    assert partner.notify_usage_alerts is False
    assert partner.notify_new_tenants and partner.notify_monthly_reports
    entry = AuditEntry.objects.get(action="partner.notifications_updated")
    assert entry.before["notify_usage_alerts"] is True
    assert entry.after["notify_usage_alerts"] is False


def test_saved_toggles_are_honoured_by_email(admin, partner):
    browser = sign_in(admin)
    browser.post("/settings/notifications", {}, HTTP_HX_REQUEST="true")  # all off
    partner.refresh_from_db()
    assert not any(getattr(partner, field) for field in FIELDS)
    for category in ("new_tenant", "usage_alert", "monthly_report", "system_update"):
        assert not send_branded_email(
            partner=partner, to=admin.email, subject="x", body="x", category=category
        )
    assert send_branded_email(partner=partner, to=admin.email, subject="x", body="x")

    browser.post("/settings/notifications", {"notify_usage_alerts": "on"}, HTTP_HX_REQUEST="true")
    assert send_branded_email(
        partner=partner, to=admin.email, subject="x", body="x", category="usage_alert"
    )
    assert mail.outbox == []  # queued for commit; the test transaction never commits


def test_without_htmx_the_form_still_saves(admin, partner):
    response = sign_in(admin).post("/settings/notifications", {"notify_new_tenants": "on"})
    assert response["Location"] == "/settings/notifications"
    partner.refresh_from_db()
    assert partner.notify_new_tenants and not partner.notify_system_updates


def test_read_only_users_see_disabled_toggles(partner):
    viewer = make_user(partner, role=User.Role.PARTNER_USER)
    html = sign_in(viewer).get("/settings/notifications").content.decode()
    assert html.count(" disabled>") == 4
