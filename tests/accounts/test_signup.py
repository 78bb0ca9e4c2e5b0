"""Self-service sign-up, email verification, and landing on "Please verify your email"."""

import pytest
from django.core import mail

from tests.accounts.conftest import link_in
from trunkline.accounts.models import Partner, User
from trunkline.core.models import AuditEntry

pytestmark = pytest.mark.django_db(transaction=True)

SIGNUP = {
    "company_name": "Ozark Voice",
    "name": "Dana Reyes",
    "email": "Dana@OzarkVoice.example",
    "password": "Str0ngEnoughPass",
}


def test_signup_creates_a_trial_partner_and_sends_a_verification_link(client, clock):
    response = client.post("/signup", SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == "/verify-email"

    user = User.objects.get(email="dana@ozarkvoice.example")
    partner = user.partner
    assert partner.company_name == "Ozark Voice"
    assert partner.status == Partner.Status.TRIAL
    assert (partner.trial_ends_at - clock.now).days == 14
    assert user.role == User.Role.PARTNER_ADMIN
    assert user.name == "Dana Reyes"
    assert user.email_verified_at is None
    entry = AuditEntry.objects.get(partner=partner, action="partner.created")
    assert entry.actor_type == "system" and entry.ip_address == "127.0.0.1"

    [message] = mail.outbox
    assert message.to == ["dana@ozarkvoice.example"]
    assert message.from_email == '"Ozark Voice" <no-reply@trunkline.localhost>'
    link_in(message, "/verify-email/")


def test_unverified_user_lands_on_verify_page_until_the_link_is_followed(client, clock):
    client.post("/signup", SIGNUP)
    # Every portal page sends an unverified user to the verify page.
    assert client.get("/")["Location"] == "/verify-email"
    assert client.get("/settings/users")["Location"] == "/verify-email"
    page = client.get("/verify-email")
    assert page.status_code == 200
    assert b"Please verify your email" in page.content

    response = client.get(link_in(mail.outbox[0], "/verify-email/"))
    assert response.status_code == 302
    assert response["Location"] == "/"
    user = User.objects.get(email="dana@ozarkvoice.example")
    assert user.email_verified_at == clock.now
    assert AuditEntry.objects.filter(action="user.email_verified", object_id=user.pk).exists()
    assert client.get("/").status_code == 200
    assert client.get("/verify-email")["Location"] == "/"


def test_signup_then_sign_out_verify_from_the_inbox_and_sign_in(client, clock):
    client.post("/signup", SIGNUP)
    client.post("/logout")
    link = link_in(mail.outbox[0], "/verify-email/")

    # After login an unverified user lands on the verify page …
    response = client.post("/login", {"email": SIGNUP["email"], "password": SIGNUP["password"]})
    assert response["Location"] == "/"
    assert client.get("/")["Location"] == "/verify-email"
    client.post("/logout")

    # … and once the link is followed (signed out is fine) the dashboard opens.
    assert client.get(link)["Location"] == "/login"
    client.post("/login", {"email": SIGNUP["email"], "password": SIGNUP["password"]})
    assert client.get("/").status_code == 200


def test_verification_link_expires_after_three_days(client, clock):
    client.post("/signup", SIGNUP)
    link = link_in(mail.outbox[0], "/verify-email/")
    clock.advance(days=3, seconds=1)
    response = client.get(link)
    assert response.status_code == 200
    assert b"expired" in response.content
    assert User.objects.get(email="dana@ozarkvoice.example").email_verified_at is None


def test_tampered_verification_link_is_refused(client, clock):
    client.post("/signup", SIGNUP)
    link = link_in(mail.outbox[0], "/verify-email/")
    response = client.get(link[:-3] + "xyz")
    assert b"not valid" in response.content
    assert User.objects.get(email="dana@ozarkvoice.example").email_verified_at is None


def test_resend_sends_a_new_working_link(client, clock):
    client.post("/signup", SIGNUP)
    clock.advance(days=4)  # the first link is now too old
    response = client.post("/verify-email/resend")
    assert response["Location"] == "/verify-email"
    assert len(mail.outbox) == 2
    assert client.get(link_in(mail.outbox[1], "/verify-email/"))["Location"] == "/"


def test_resend_is_limited(client, clock):
    client.post("/signup", SIGNUP)
    for _ in range(3):
        client.post("/verify-email/resend")
    client.post("/verify-email/resend", follow=True)
    assert len(mail.outbox) == 1 + 3


@pytest.mark.parametrize(
    "password", ["Short1A", "alllowercase123", "NoDigitsHereAtAll", "UPPER1234", ""]
)
def test_signup_enforces_the_password_rule(client, password):
    response = client.post("/signup", {**SIGNUP, "password": password})
    assert response.status_code == 422
    assert not User.objects.filter(email="dana@ozarkvoice.example").exists()
    assert mail.outbox == []


def test_signup_with_a_taken_email_is_refused(client, admin):
    response = client.post("/signup", {**SIGNUP, "email": admin.email.upper()})
    assert response.status_code == 409
    assert b"already exists" in response.content
    assert Partner.objects.count() == 1


def test_signup_needs_every_field(client):
    response = client.post("/signup", {**SIGNUP, "company_name": ""})
    assert response.status_code == 422
    assert not User.objects.filter(email="dana@ozarkvoice.example").exists()


def test_signed_in_user_visiting_signup_goes_home(client, admin):
    client.force_login(admin)
    assert client.get("/signup")["Location"] == "/"


def test_email_links_never_follow_a_forged_host_header(client):
    client.post("/signup", {**SIGNUP}, HTTP_HOST="evil.example")
    assert "evil.example" not in mail.outbox[0].body
    assert "https://trunkline.localhost/verify-email/" in mail.outbox[0].body


def test_email_links_use_the_platform_host_the_user_came_in_on(client):
    client.post("/signup", {**SIGNUP}, HTTP_HOST="ozark.trunkline.localhost:8000")
    assert "http://ozark.trunkline.localhost:8000/verify-email/" in mail.outbox[0].body


def test_cli_created_partners_are_verified(admin):
    # Platform staff create partners through the CLI (partner_create defaults to verified).
    assert admin.email_verified_at is not None


def test_email_links_use_the_configured_public_url(client, settings):
    settings.TRUNKLINE_PUBLIC_URL = "https://portal.ozarkvoice.example/"
    client.post("/signup", {**SIGNUP}, HTTP_HOST="ozark.trunkline.localhost:8000")
    assert "https://portal.ozarkvoice.example/verify-email/" in mail.outbox[0].body
