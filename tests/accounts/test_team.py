"""Settings → Users: invitations (7-day expiry, resend, revoke, accept), roles, removal."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core import mail

from tests.accounts.conftest import link_in, sign_in
from tests.factories import PASSWORD, make_partner, make_user
from trunkline.accounts.models import Invitation, User
from trunkline.core.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

INVITEE_PASSWORD = "Invitee-Pass-2026"


@pytest.fixture
def admin_browser(admin):
    return sign_in(admin)


def _invite(browser, email="sam@acme.example", role=User.Role.PARTNER_USER, name="Sam Ortiz"):
    return browser.post("/settings/users/invite", {"email": email, "name": name, "role": role})


def _accept(client, path, password=INVITEE_PASSWORD, again=None, name="Sam Ortiz"):
    return client.post(
        path, {"name": name, "password": password, "password_again": again or password}
    )


def test_users_page_lists_the_team(admin_browser, admin, partner):
    member = make_user(partner, role=User.Role.PARTNER_USER)
    page = admin_browser.get("/settings/users")
    assert page.status_code == 200
    html = page.content.decode()
    for header in ("Email", "Name", "Role", "Email Verified", "Last Login", "Created", "Actions"):
        assert f"<th>{header}</th>" in html
    assert admin.email in html and member.email in html
    assert "Partner User" in html and "Partner Admin" in html
    # Other partners' people never show.
    _, stranger = make_partner()
    assert stranger.email not in admin_browser.get("/settings/users").content.decode()


def test_invite_sends_a_branded_email_with_a_set_password_link(admin_browser, partner, clock):
    partner.brand_name = "ACME Phones"
    partner.brand_from_email = "team@acme.example"
    partner.save()
    response = _invite(admin_browser)
    assert response["Location"] == "/settings/users"

    invitation = Invitation.objects.get(email="sam@acme.example")
    assert invitation.partner == partner
    assert invitation.role == User.Role.PARTNER_USER
    assert invitation.expires_at == clock.now + timedelta(days=7)
    [message] = mail.outbox
    assert message.to == ["sam@acme.example"]
    assert message.from_email == '"ACME Phones" <team@acme.example>'
    token_path = link_in(message, "/invite/")
    # Only a hash of the token is stored.
    assert token_path.rsplit("/", 1)[1] not in invitation.token_hash
    assert b"Pending" in admin_browser.get("/settings/users").content


def test_accepting_creates_a_verified_user_with_the_invited_role(client, admin_browser, clock):
    _invite(admin_browser, role=User.Role.PARTNER_ADMIN)
    path = link_in(mail.outbox[0], "/invite/")
    page = client.get(path)
    assert page.status_code == 200
    assert b"sam@acme.example" in page.content

    response = _accept(client, path)
    assert response["Location"] == "/login"
    user = User.objects.get(email="sam@acme.example")
    assert user.role == User.Role.PARTNER_ADMIN
    assert user.email_verified_at == clock.now
    assert user.name == "Sam Ortiz"
    assert Invitation.objects.get(email="sam@acme.example").accepted_at == clock.now
    assert AuditEntry.objects.filter(action="invitation.accepted", object_id=user.pk).exists()

    # They can sign in straight away, and the link cannot be used twice.
    assert (
        client.post("/login", {"email": user.email, "password": INVITEE_PASSWORD})["Location"]
        == "/"
    )
    assert client.get("/").status_code == 200
    assert b"expired or was withdrawn" in type(client)().get(path).content


def test_invitation_works_until_seven_days_and_not_after(client, admin_browser, clock):
    _invite(admin_browser)
    path = link_in(mail.outbox[0], "/invite/")
    clock.advance(days=7, seconds=-1)
    assert b"Set your password" in client.get(path).content
    clock.advance(seconds=1)
    page = client.get(path)
    assert b"expired or was withdrawn" in page.content
    _accept(client, path)
    assert not User.objects.filter(email="sam@acme.example").exists()
    assert b"Expired" in admin_browser.get("/settings/users").content


def test_resend_issues_a_new_link_and_a_new_expiry(client, admin_browser, clock):
    _invite(admin_browser)
    old_path = link_in(mail.outbox[0], "/invite/")
    invitation = Invitation.objects.get(email="sam@acme.example")
    clock.advance(days=8)  # expired

    response = admin_browser.post(f"/settings/invitations/{invitation.pk}/resend")
    assert response["Location"] == "/settings/users"
    invitation.refresh_from_db()
    assert invitation.sent_at == clock.now
    assert invitation.expires_at == clock.now + timedelta(days=7)
    new_path = link_in(mail.outbox[1], "/invite/")
    assert new_path != old_path
    assert b"expired or was withdrawn" in client.get(old_path).content
    assert _accept(client, new_path)["Location"] == "/login"
    assert User.objects.filter(email="sam@acme.example").exists()


def test_revoked_invitation_cannot_be_accepted(client, admin_browser, clock):
    _invite(admin_browser)
    path = link_in(mail.outbox[0], "/invite/")
    invitation = Invitation.objects.get(email="sam@acme.example")
    assert admin_browser.post(f"/settings/invitations/{invitation.pk}/revoke").status_code == 302
    assert b"expired or was withdrawn" in client.get(path).content
    _accept(client, path)
    assert not User.objects.filter(email="sam@acme.example").exists()
    # A revoked invitation cannot be resent either.
    assert admin_browser.post(f"/settings/invitations/{invitation.pk}/resend").status_code == 409


@pytest.mark.parametrize("weak", ["Short1A", "alllowercase123", "NoDigitsHereAtAll"])
def test_accepting_enforces_the_password_rule(client, admin_browser, clock, weak):
    _invite(admin_browser)
    path = link_in(mail.outbox[0], "/invite/")
    response = _accept(client, path, password=weak)
    assert response.status_code == 422
    assert b"The password needs" in response.content
    assert not User.objects.filter(email="sam@acme.example").exists()
    assert _accept(client, path)["Location"] == "/login"  # still usable


def test_accepting_needs_matching_passwords(client, admin_browser, clock):
    _invite(admin_browser)
    path = link_in(mail.outbox[0], "/invite/")
    assert _accept(client, path, again=INVITEE_PASSWORD + "x").status_code == 422
    assert not User.objects.filter(email="sam@acme.example").exists()


def test_cannot_invite_an_existing_account_or_twice(admin_browser, admin, clock):
    _, other_admin = make_partner()
    assert _invite(admin_browser, email=other_admin.email).status_code == 409
    assert _invite(admin_browser, email=admin.email).status_code == 409
    assert _invite(admin_browser).status_code == 302
    assert _invite(admin_browser).status_code == 409
    assert len(mail.outbox) == 1


def test_invite_only_offers_the_two_partner_roles(admin_browser):
    assert _invite(admin_browser, role=User.Role.PLATFORM_STAFF).status_code == 422
    assert _invite(admin_browser, role=User.Role.TENANT_ADMIN).status_code == 422
    assert not Invitation.objects.exists()


def test_foreign_invitation_ids_answer_404(admin_browser):
    other_partner, other_admin = make_partner()
    _invite(sign_in(other_admin))
    foreign = Invitation.objects.get(partner=other_partner)
    assert admin_browser.post(f"/settings/invitations/{foreign.pk}/revoke").status_code == 404
    assert admin_browser.post(f"/settings/invitations/{foreign.pk}/resend").status_code == 404


def test_change_role(admin_browser, partner):
    member = make_user(partner, role=User.Role.PARTNER_USER)
    response = admin_browser.post(
        f"/settings/users/{member.pk}/role", {"role": User.Role.PARTNER_ADMIN}
    )
    assert response["Location"] == "/settings/users"
    member.refresh_from_db()
    assert member.role == User.Role.PARTNER_ADMIN
    entry = AuditEntry.objects.get(action="user.role_changed", object_id=member.pk)
    assert entry.before == {"role": "PARTNER_USER"} and entry.after == {"role": "PARTNER_ADMIN"}


def test_the_last_admin_cannot_be_demoted(admin_browser, admin):
    response = admin_browser.post(
        f"/settings/users/{admin.pk}/role", {"role": User.Role.PARTNER_USER}
    )
    assert response.status_code == 409
    assert b"at least one Partner Admin" in response.content
    admin.refresh_from_db()
    assert admin.role == User.Role.PARTNER_ADMIN


def test_an_admin_can_step_down_when_another_admin_remains(admin_browser, admin, partner):
    make_user(partner, role=User.Role.PARTNER_ADMIN)
    response = admin_browser.post(
        f"/settings/users/{admin.pk}/role", {"role": User.Role.PARTNER_USER}
    )
    assert response.status_code == 302
    admin.refresh_from_db()
    assert admin.role == User.Role.PARTNER_USER


def test_removed_admins_do_not_count_towards_the_last_admin(admin_browser, admin, partner):
    other = make_user(partner, role=User.Role.PARTNER_ADMIN)
    admin_browser.post(f"/settings/users/{other.pk}/remove")
    response = admin_browser.post(
        f"/settings/users/{admin.pk}/role", {"role": User.Role.PARTNER_USER}
    )
    assert response.status_code == 409


def test_an_admin_cannot_remove_themselves(admin_browser, admin, partner):
    make_user(partner, role=User.Role.PARTNER_ADMIN)
    response = admin_browser.post(f"/settings/users/{admin.pk}/remove")
    assert response.status_code == 409
    assert b"cannot remove yourself" in response.content
    admin.refresh_from_db()
    assert admin.is_active


def test_remove_ends_sessions_at_once_and_blocks_sign_in(admin_browser, admin, partner, clock):
    member = make_user(partner, role=User.Role.PARTNER_USER)
    member_browser = sign_in(member)
    second_browser = sign_in(member)
    assert member_browser.get("/settings/users").status_code == 200
    audit_before = AuditEntry.objects.create(
        partner=partner,
        actor_type="user",
        actor_id=member.pk,
        actor_label=member.email,
        action="tenant.created",
        object_type="tenant",
        object_id="tnt_x",
        created_at=clock.now,
    )

    response = admin_browser.post(f"/settings/users/{member.pk}/remove")
    assert response["Location"] == "/settings/users"
    member.refresh_from_db()
    assert member.is_active is False
    assert member.removed_at == clock.now

    # Sessions are gone from the database, and the browsers are signed out.
    remaining = [s.get_decoded().get("_auth_user_id") for s in Session.objects.all()]
    assert member.pk not in remaining
    assert admin.pk in remaining
    assert member_browser.get("/settings/users")["Location"].startswith("/login")
    assert second_browser.get("/")["Location"].startswith("/login")

    # They cannot sign in again, and they no longer appear in the list.
    login = type(admin_browser)().post("/login", {"email": member.email, "password": PASSWORD})
    assert login.status_code == 200
    assert b"do not match" in login.content
    assert f'data-user="{member.pk}"' not in admin_browser.get("/settings/users").content.decode()

    # Their audit history stays.
    assert AuditEntry.objects.filter(pk=audit_before.pk).exists()
    assert AuditEntry.objects.filter(action="user.removed", object_id=member.pk).exists()


def test_removed_member_can_be_invited_back(client, admin_browser, partner, clock):
    member = make_user(partner, role=User.Role.PARTNER_ADMIN, email="back@acme.example")
    admin_browser.post(f"/settings/users/{member.pk}/remove")
    assert _invite(admin_browser, email="back@acme.example").status_code == 302
    _accept(client, link_in(mail.outbox[0], "/invite/"))
    member.refresh_from_db()
    assert member.is_active and member.removed_at is None
    assert member.role == User.Role.PARTNER_USER
    assert member.check_password(INVITEE_PASSWORD)


def test_foreign_user_ids_answer_404(admin_browser):
    _, other_admin = make_partner()
    assert admin_browser.post(f"/settings/users/{other_admin.pk}/remove").status_code == 404
    assert (
        admin_browser.post(
            f"/settings/users/{other_admin.pk}/role", {"role": User.Role.PARTNER_USER}
        ).status_code
        == 404
    )
    other_admin.refresh_from_db()
    assert other_admin.is_active and other_admin.role == User.Role.PARTNER_ADMIN
