"""Forgot password, the reset link, changing a password, and the password rule on each path."""

import pytest
from django.contrib.sessions.models import Session
from django.core import mail

from tests.accounts.conftest import link_in, sign_in
from tests.factories import PASSWORD
from trunkline.accounts.models import LoginFailure
from trunkline.core.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "Brand-new-Pass42"
WEAK_PASSWORDS = ["Short1A", "alllowercase123", "NoDigitsHereAtAll"]


def _main(response) -> bytes:
    # The page minus the per-response CSRF token: what the visitor reads.
    return response.content.split(b"<main", 1)[1]


def _request_reset(client, email):
    return client.post("/forgot-password", {"email": email})


def _open_reset_link(client, message):
    """Follow the emailed link; the token moves into the session and the URL changes."""
    response = client.get(link_in(message, "/reset-password/"))
    assert response.status_code == 302
    assert response["Location"].endswith("/set-password")
    return response["Location"]


def test_unknown_email_gets_the_same_answer_and_no_mail(client, admin):
    known = _request_reset(client, admin.email)
    unknown = _request_reset(client, "nobody@nowhere.example")
    assert known.status_code == unknown.status_code == 200
    assert _main(known) == _main(unknown)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [admin.email]


def test_removed_user_gets_no_reset_mail(client, admin):
    admin.is_active = False
    admin.save()
    assert _request_reset(client, admin.email).status_code == 200
    assert mail.outbox == []


def test_reset_flow_sets_the_password_once(client, admin, clock):
    _request_reset(client, admin.email)
    message = mail.outbox[0]
    form_url = _open_reset_link(client, message)
    assert client.get(form_url).status_code == 200

    response = client.post(
        form_url, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    )
    assert response["Location"] == "/login"
    admin.refresh_from_db()
    assert admin.check_password(NEW_PASSWORD)
    assert AuditEntry.objects.filter(action="user.password_reset", object_id=admin.pk).exists()

    # The token is single use: the same link (in any browser) no longer works.
    again = client.get(link_in(message, "/reset-password/"))
    assert again.status_code == 200
    assert b"expired or was already used" in again.content
    other_browser = type(client)()
    assert (
        b"expired or was already used"
        in other_browser.get(link_in(message, "/reset-password/")).content
    )

    # And the new password signs in.
    login = client.post("/login", {"email": admin.email, "password": NEW_PASSWORD})
    assert login["Location"] == "/"


def test_reset_link_expires_after_two_hours(client, admin, clock):
    _request_reset(client, admin.email)
    clock.advance(hours=2, seconds=1)
    response = client.get(link_in(mail.outbox[0], "/reset-password/"))
    assert b"expired or was already used" in response.content


def test_reset_link_with_a_wrong_token_is_refused(client, admin, clock):
    _request_reset(client, admin.email)
    path = link_in(mail.outbox[0], "/reset-password/")
    response = client.get(path[:-2] + "00")
    assert b"expired or was already used" in response.content


def test_reset_ends_every_session_of_the_user(client, admin, clock):
    browser = sign_in(admin)
    _request_reset(client, admin.email)
    form_url = _open_reset_link(client, mail.outbox[0])
    client.post(form_url, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert browser.get("/settings/account")["Location"].startswith("/login")


def test_reset_clears_the_sign_in_lockout(client, admin, clock):
    for _ in range(5):
        client.post("/login", {"email": admin.email, "password": "wrong"})
    _request_reset(client, admin.email)
    form_url = _open_reset_link(client, mail.outbox[0])
    client.post(form_url, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert not LoginFailure.objects.filter(email=admin.email).exists()
    assert (
        client.post("/login", {"email": admin.email, "password": NEW_PASSWORD}).status_code == 302
    )


@pytest.mark.parametrize("weak", WEAK_PASSWORDS)
def test_reset_enforces_the_password_rule(client, admin, clock, weak):
    _request_reset(client, admin.email)
    form_url = _open_reset_link(client, mail.outbox[0])
    response = client.post(form_url, {"new_password": weak, "new_password_again": weak})
    assert response.status_code == 422
    assert b"The password needs" in response.content
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)


def test_reset_requires_matching_passwords(client, admin, clock):
    _request_reset(client, admin.email)
    form_url = _open_reset_link(client, mail.outbox[0])
    response = client.post(
        form_url, {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD + "x"}
    )
    assert response.status_code == 422
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)


def test_reset_mail_is_branded_and_links_to_the_platform_host(client, admin, partner):
    partner.brand_name = "ACME Phones"
    partner.brand_support_email = "help@acme.example"
    partner.save()
    client.post("/forgot-password", {"email": admin.email}, HTTP_HOST="attacker.example")
    [message] = mail.outbox
    assert message.from_email.startswith('"ACME Phones" <')
    assert "Support: help@acme.example" in message.body
    assert "attacker.example" not in message.body


def _change(browser, current, new, again=None):
    return browser.post(
        "/settings/account/password",
        {"current_password": current, "new_password": new, "new_password_again": again or new},
    )


def test_change_password_keeps_this_session_and_ends_the_others(admin):
    here = sign_in(admin)
    elsewhere = sign_in(admin)
    assert Session.objects.count() == 2

    response = _change(here, PASSWORD, NEW_PASSWORD)
    assert response["Location"] == "/settings/account"
    assert here.get("/settings/account").status_code == 200
    assert elsewhere.get("/settings/account")["Location"].startswith("/login")
    assert Session.objects.count() == 1
    admin.refresh_from_db()
    assert admin.check_password(NEW_PASSWORD)
    assert AuditEntry.objects.filter(action="user.password_changed", object_id=admin.pk).exists()


def test_change_password_needs_the_current_one(admin):
    browser = sign_in(admin)
    response = _change(browser, "Not-my-password1", NEW_PASSWORD)
    assert response.status_code == 422
    assert b"not your current password" in response.content
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)


def test_change_password_needs_the_new_one_twice(admin):
    browser = sign_in(admin)
    response = _change(browser, PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert response.status_code == 422
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)


@pytest.mark.parametrize("weak", WEAK_PASSWORDS)
def test_change_password_enforces_the_password_rule(admin, weak):
    browser = sign_in(admin)
    response = _change(browser, PASSWORD, weak)
    assert response.status_code == 422
    assert b"The password needs" in response.content
    admin.refresh_from_db()
    assert admin.check_password(PASSWORD)
