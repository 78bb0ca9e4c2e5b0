"""Sign-in: redirects, throttling of repeated failures per email and per IP address."""

import pytest
from django.test import Client

from tests.factories import PASSWORD, make_partner
from trunkline.accounts.models import LoginFailure

pytestmark = pytest.mark.django_db


def _login(client, email, password, ip="198.51.100.7", **extra):
    return client.post("/login", {"email": email, "password": password, **extra}, REMOTE_ADDR=ip)


def test_right_password_signs_in_and_wrong_one_does_not(client, admin):
    wrong = _login(client, admin.email, "Nope-nope-123")
    assert wrong.status_code == 200
    assert b"do not match" in wrong.content
    assert client.get("/")["Location"].startswith("/login")

    right = _login(client, admin.email.upper(), PASSWORD)
    assert right["Location"] == "/"
    assert client.get("/").status_code == 200
    admin.refresh_from_db()
    assert admin.last_login is not None


def test_sixth_attempt_is_refused_even_with_the_right_password(client, admin, clock):
    for _ in range(5):
        assert b"do not match" in _login(client, admin.email, "Wrong-guess-1").content
    response = _login(client, admin.email, PASSWORD)
    assert response.status_code == 429
    assert b"Too many sign-in attempts. Try again in 15 minutes." in response.content
    assert client.get("/")["Location"].startswith("/login")

    clock.advance(minutes=5)
    assert b"Try again in 10 minutes." in _login(client, admin.email, PASSWORD).content
    clock.advance(minutes=10)
    assert _login(client, admin.email, PASSWORD)["Location"] == "/"


def test_lockout_is_per_email_whatever_the_address(client, admin, clock):
    for n in range(5):
        _login(client, admin.email, "Wrong-guess-1", ip=f"203.0.113.{n}")
    assert _login(Client(), admin.email, PASSWORD, ip="192.0.2.99").status_code == 429
    # Another account is not affected.
    _, other = make_partner()
    assert _login(Client(), other.email, PASSWORD, ip="192.0.2.99")["Location"] == "/"


def test_success_clears_the_emails_failures(client, admin, clock):
    for _ in range(4):
        _login(client, admin.email, "Wrong-guess-1")
    assert _login(client, admin.email, PASSWORD)["Location"] == "/"
    assert not LoginFailure.objects.filter(email=admin.email).exists()
    client.post("/logout")
    for _ in range(4):
        _login(client, admin.email, "Wrong-guess-1")
    assert _login(client, admin.email, PASSWORD)["Location"] == "/"


def test_one_address_guessing_many_accounts_is_locked_out(client, clock):
    _, victim = make_partner()
    for n in range(20):
        _login(client, f"guess{n}@example.com", "Wrong-guess-1", ip="198.51.100.66")
    refused = _login(Client(), victim.email, PASSWORD, ip="198.51.100.66")
    assert refused.status_code == 429
    assert b"Too many sign-in attempts" in refused.content
    # The same account from another address still signs in.
    assert _login(Client(), victim.email, PASSWORD, ip="198.51.100.67")["Location"] == "/"


def test_unknown_and_removed_accounts_get_the_same_answer(client, partner, admin):
    unknown = _login(client, "ghost@example.com", PASSWORD)
    admin.is_active = False
    admin.save()
    removed = _login(client, admin.email, PASSWORD)
    assert unknown.status_code == removed.status_code == 200
    assert b"do not match" in unknown.content and b"do not match" in removed.content


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_next_never_leaves_the_site(client, admin, target):
    response = _login(client, admin.email, PASSWORD, next=target)
    assert response["Location"] == "/"


def test_next_within_the_site_is_followed(client, admin):
    response = _login(client, admin.email, PASSWORD, next="/settings/users?x=1")
    assert response["Location"] == "/settings/users?x=1"


def test_protected_page_sends_back_after_sign_in(client, admin):
    assert client.get("/settings/users")["Location"] == "/login?next=/settings/users"
    page = client.get("/login?next=/settings/users")
    assert b'value="/settings/users"' in page.content


def test_sign_out_needs_post(client, admin):
    client.force_login(admin)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout")["Location"] == "/login"
    assert client.get("/")["Location"].startswith("/login")
