"""Cross-cutting rules: read-only users cannot write, CSRF everywhere, no secrets in logs."""

import logging
import re

import pytest
from django.core import mail
from django.test import Client

from tests.accounts.conftest import code_at, link_in, sign_in
from tests.factories import PASSWORD, make_user
from trunkline.accounts import urls as accounts_urls
from trunkline.accounts.models import Invitation, Partner, User
from trunkline.core.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def viewer(partner):
    return make_user(partner, role=User.Role.PARTNER_USER)


@pytest.fixture
def pending_invitation(partner, admin, clock):
    sign_in(admin).post(
        "/settings/users/invite",
        {"email": "new@acme.example", "name": "New", "role": User.Role.PARTNER_USER},
    )
    return Invitation.objects.get(email="new@acme.example")


def _writes(admin, invitation):
    return [
        ("/settings/users/invite", {"email": "x@acme.example", "role": "PARTNER_USER"}),
        (f"/settings/users/{admin.pk}/role", {"role": "PARTNER_USER"}),
        (f"/settings/users/{admin.pk}/remove", {}),
        (f"/settings/invitations/{invitation.pk}/resend", {}),
        (f"/settings/invitations/{invitation.pk}/revoke", {}),
        ("/settings/notifications", {}),
        ("/settings/account/delete", {"confirmation": "DELETE"}),
    ]


def _state(partner):
    partner.refresh_from_db()
    return (
        sorted(User.objects.filter(partner=partner).values_list("pk", "role", "is_active")),
        sorted(
            Invitation.objects.filter(partner=partner).values_list(
                "pk", "token_hash", "revoked_at", "expires_at"
            )
        ),
        [getattr(partner, field) for field in ("notify_new_tenants", "notify_usage_alerts")],
        partner.deleted_at,
        len(mail.outbox),
        AuditEntry.objects.count(),
    )


def test_partner_users_get_403_on_every_write(viewer, admin, partner, pending_invitation):
    browser = sign_in(viewer)
    before = _state(partner)
    for path, data in _writes(admin, pending_invitation):
        response = browser.post(path, data)
        assert response.status_code == 403, path
        assert b"read-only" in response.content
    assert _state(partner) == before


def test_partner_users_can_read_the_settings_pages(viewer):
    browser = sign_in(viewer)
    for path in ("/settings/account", "/settings/users", "/settings/notifications"):
        assert browser.get(path).status_code == 200, path
    html = browser.get("/settings/users").content.decode()
    assert "/remove" not in html and "Invite User" not in html


def test_every_write_refuses_a_post_without_csrf_token(admin, partner, pending_invitation):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    before = _state(partner)
    posts = [
        *_writes(admin, pending_invitation),
        ("/settings/account/profile", {"name": "X"}),
        ("/settings/account/password", {}),
        ("/settings/account/2fa/start", {}),
        ("/settings/account/2fa/disable", {}),
        ("/verify-email/resend", {}),
        ("/logout", {}),
    ]
    for path, data in posts:
        assert browser.post(path, data).status_code == 403, path
    anonymous = Client(enforce_csrf_checks=True)
    for path in ("/login", "/signup", "/forgot-password", "/login/2fa"):
        assert anonymous.post(path, {"email": admin.email, "password": PASSWORD}).status_code == 403
    assert _state(partner) == before


def test_no_accounts_view_is_csrf_exempt():
    for pattern in accounts_urls.urlpatterns:
        assert not getattr(pattern.callback, "csrf_exempt", False), pattern.pattern


def _post_forms_have_tokens(html: str) -> None:
    forms = re.findall(r"<form[^>]*method=\"post\"[^>]*>.*?</form>", html, flags=re.S)
    assert forms
    for form in forms:
        assert "csrfmiddlewaretoken" in form, form[:200]


def test_every_form_carries_a_csrf_token(admin, partner, pending_invitation, clock):
    browser = sign_in(admin)
    browser.post("/settings/account/2fa/start")
    for path in ("/settings/account", "/settings/users", "/settings/notifications"):
        _post_forms_have_tokens(browser.get(path).content.decode())
    anonymous = Client()
    for path in ("/login", "/signup", "/forgot-password"):
        _post_forms_have_tokens(anonymous.get(path).content.decode())
    _post_forms_have_tokens(anonymous.get(link_in(mail.outbox[0], "/invite/")).content.decode())


def test_passwords_tokens_and_secrets_never_reach_the_logs(client, caplog, clock):
    caplog.set_level(logging.DEBUG)
    password = "Sign-up-Pass-99"
    client.post(
        "/signup",
        {
            "company_name": "Log Test",
            "name": "L T",
            "email": "log@test.example",
            "password": password,
        },
    )
    user = User.objects.get(email="log@test.example")
    verify_path = link_in(mail.outbox[0], "/verify-email/")
    client.get(verify_path)
    client.post("/login", {"email": user.email, "password": "Wrong-pass-123"})
    client.post("/forgot-password", {"email": user.email})
    reset_path = link_in(mail.outbox[1], "/reset-password/")
    client.get(reset_path)
    client.get(reset_path + "broken")
    client.force_login(user)
    client.post("/settings/account/2fa/start")
    user.refresh_from_db()
    from trunkline.core.crypto import decrypt

    secret = decrypt(user.totp_secret, context=f"totp:{user.pk}")
    client.post("/settings/account/2fa/confirm", {"code": code_at(user, clock.now)})

    logged = caplog.text
    for sensitive in (
        password,
        secret,
        verify_path.rsplit("/", 1)[1],
        reset_path.rsplit("/", 1)[1],
    ):
        assert sensitive not in logged
    assert Partner.objects.filter(company_name="Log Test").exists()
