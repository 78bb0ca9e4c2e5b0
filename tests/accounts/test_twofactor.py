"""TOTP 2FA: enrolment, the second sign-in step, recovery codes, disabling, storage."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client

from tests.accounts.conftest import code_at, sign_in, totp_for
from tests.factories import PASSWORD
from trunkline.accounts.models import RecoveryCode, User
from trunkline.core.crypto import decrypt
from trunkline.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def _enrol(browser, user, clock) -> list[str]:
    """Start set-up, read the key off the page like a phone would, confirm a code."""
    assert browser.post("/settings/account/2fa/start").status_code == 302
    page = browser.get("/settings/account").content.decode()
    assert "<svg" in page  # the QR code, inline
    shown = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page).group(1)
    secret = shown.replace(" ", "")
    user.refresh_from_db()
    assert secret == decrypt(user.totp_secret, context=f"totp:{user.pk}")
    response = browser.post("/settings/account/2fa/confirm", {"code": code_at(user, clock.now)})
    assert response.status_code == 200
    codes = re.findall(r"<li>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})</li>", response.content.decode())
    assert len(codes) == 10
    return codes


def _password_step(browser, user, ip="198.51.100.7"):
    return browser.post("/login", {"email": user.email, "password": PASSWORD}, REMOTE_ADDR=ip)


def _code_step(browser, code, ip="198.51.100.7"):
    return browser.post("/login/2fa", {"code": code}, REMOTE_ADDR=ip)


def test_enrolment_turns_2fa_on_with_ten_hashed_recovery_codes(admin, clock):
    browser = sign_in(admin)
    codes = _enrol(browser, admin, clock)
    admin.refresh_from_db()
    assert admin.has_2fa and admin.totp_enabled_at == clock.now
    stored = list(RecoveryCode.objects.filter(user=admin).values_list("code_hash", flat=True))
    assert len(stored) == 10
    assert not set(codes) & set(stored)
    assert all(code.replace("-", "") not in "".join(stored) for code in codes)
    assert AuditEntry.objects.filter(action="user.2fa_enabled", object_id=admin.pk).exists()
    # The codes were shown once; the page no longer has them.
    assert codes[0] not in browser.get("/settings/account").content.decode()


def test_secret_is_encrypted_at_rest(admin, clock):
    browser = sign_in(admin)
    browser.post("/settings/account/2fa/start")
    admin.refresh_from_db()
    raw = User.objects.filter(pk=admin.pk).values_list("totp_secret", flat=True).get()
    secret = decrypt(raw, context=f"totp:{admin.pk}")
    assert raw.startswith("v1:") and secret not in raw
    assert len(secret) == 32
    # Bound to the user: the ciphertext does not decrypt as someone else's.
    with pytest.raises(Exception):  # noqa: B017
        decrypt(raw, context="totp:usr_someone_else")


def test_a_wrong_code_does_not_enable(admin, clock):
    browser = sign_in(admin)
    browser.post("/settings/account/2fa/start")
    admin.refresh_from_db()
    wrong = str((int(code_at(admin, clock.now)) + 1) % 1_000_000).zfill(6)
    response = browser.post("/settings/account/2fa/confirm", {"code": wrong})
    assert response.status_code == 422
    admin.refresh_from_db()
    assert not admin.has_2fa
    assert not RecoveryCode.objects.filter(user=admin).exists()


def test_cancel_drops_the_pending_secret(admin, clock):
    browser = sign_in(admin)
    browser.post("/settings/account/2fa/start")
    browser.post("/settings/account/2fa/cancel")
    admin.refresh_from_db()
    assert admin.totp_secret == "" and not admin.has_2fa


def test_sign_in_asks_for_the_code_before_creating_a_session(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    clock.advance(minutes=2)
    browser = Client()
    response = _password_step(browser, admin)
    assert response["Location"] == "/login/2fa"
    # Not signed in yet: no authenticated session, portal pages still send to login.
    assert SESSION_KEY not in browser.session
    assert browser.get("/")["Location"].startswith("/login")

    page = browser.get("/login/2fa")
    assert b"Enter your code" in page.content
    response = _code_step(browser, code_at(admin, clock.now))
    assert response["Location"] == "/"
    assert browser.session[SESSION_KEY] == admin.pk
    assert browser.get("/").status_code == 200


def test_wrong_code_is_refused_and_counts_as_a_failure(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    clock.advance(minutes=2)
    browser = Client()
    _password_step(browser, admin)
    wrong = str((int(code_at(admin, clock.now)) + 1) % 1_000_000).zfill(6)
    for _ in range(5):
        response = _code_step(browser, wrong)
        assert b"That code is not right" in response.content
        assert SESSION_KEY not in browser.session
    # Five wrong codes lock the account like five wrong passwords.
    locked = _code_step(browser, code_at(admin, clock.now))
    assert locked.status_code == 429
    assert SESSION_KEY not in browser.session


def test_a_code_cannot_be_replayed(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    clock.advance(minutes=2)
    code = code_at(admin, clock.now)
    first = Client()
    _password_step(first, admin)
    assert _code_step(first, code)["Location"] == "/"
    second = Client()
    _password_step(second, admin)
    assert b"That code is not right" in _code_step(second, code).content
    clock.advance(seconds=30)
    assert _code_step(second, code_at(admin, clock.now))["Location"] == "/"


def test_codes_from_the_neighbouring_time_step_are_accepted(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    clock.advance(minutes=5)
    browser = Client()
    _password_step(browser, admin)
    drifted = totp_for(admin).at(clock.now, counter_offset=-1)
    assert _code_step(browser, drifted)["Location"] == "/"


def test_a_code_two_steps_old_is_refused(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    clock.advance(minutes=5)
    browser = Client()
    _password_step(browser, admin)
    stale = totp_for(admin).at(clock.now, counter_offset=-2)
    assert b"That code is not right" in _code_step(browser, stale).content


def test_recovery_code_signs_in_once(admin, clock):
    codes = _enrol(sign_in(admin), admin, clock)
    browser = Client()
    _password_step(browser, admin)
    assert _code_step(browser, codes[3].lower())["Location"] == "/"
    assert RecoveryCode.objects.filter(user=admin, used_at__isnull=False).count() == 1
    assert AuditEntry.objects.filter(action="user.recovery_code_used").exists()

    again = Client()
    _password_step(again, admin)
    assert b"That code is not right" in _code_step(again, codes[3]).content
    assert SESSION_KEY not in again.session
    assert b"9 recovery codes left" in sign_in(admin).get("/settings/account").content


def test_second_step_without_a_correct_password_goes_back_to_login(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    browser = Client()
    assert browser.get("/login/2fa")["Location"] == "/login"
    assert _code_step(browser, code_at(admin, clock.now))["Location"] == "/login"
    browser.post("/login", {"email": admin.email, "password": "Wrong-pass-123"})
    assert _code_step(browser, code_at(admin, clock.now))["Location"] == "/login"


def test_a_new_password_attempt_abandons_the_pending_second_step(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    browser = Client()
    _password_step(browser, admin)
    browser.post("/login", {"email": admin.email, "password": "Wrong-pass-123"})
    assert browser.get("/login/2fa")["Location"] == "/login"


def test_pending_second_step_times_out(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    browser = Client()
    _password_step(browser, admin)
    clock.advance(minutes=11)
    assert _code_step(browser, code_at(admin, clock.now))["Location"] == "/login"


def test_next_is_kept_through_the_second_step(admin, clock):
    _enrol(sign_in(admin), admin, clock)
    clock.advance(minutes=1)
    browser = Client()
    browser.post("/login", {"email": admin.email, "password": PASSWORD, "next": "/settings/users"})
    assert _code_step(browser, code_at(admin, clock.now))["Location"] == "/settings/users"


def test_disable_needs_the_password(admin, clock):
    browser = sign_in(admin)
    _enrol(browser, admin, clock)
    refused = browser.post("/settings/account/2fa/disable", {"disable-password": "Wrong-pass-1"})
    assert refused.status_code == 422
    admin.refresh_from_db()
    assert admin.has_2fa

    done = browser.post("/settings/account/2fa/disable", {"disable-password": PASSWORD})
    assert done["Location"] == "/settings/account"
    admin.refresh_from_db()
    assert not admin.has_2fa and admin.totp_secret == ""
    assert not RecoveryCode.objects.filter(user=admin).exists()
    assert AuditEntry.objects.filter(action="user.2fa_disabled").exists()
    # Password alone signs in again.
    assert _password_step(Client(), admin)["Location"] == "/"


def test_new_recovery_codes_replace_the_old(admin, clock):
    browser = sign_in(admin)
    old = _enrol(browser, admin, clock)
    response = browser.post(
        "/settings/account/2fa/recovery-codes", {"regenerate-password": PASSWORD}
    )
    new = re.findall(r"<li>([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})</li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    login = Client()
    _password_step(login, admin)
    assert b"That code is not right" in _code_step(login, old[0]).content
    assert _code_step(login, new[0])["Location"] == "/"


def test_read_only_users_can_secure_their_own_account(partner, clock):
    from tests.factories import make_user

    viewer = make_user(partner, role=User.Role.PARTNER_USER)
    _enrol(sign_in(viewer), viewer, clock)
    viewer.refresh_from_db()
    assert viewer.has_2fa
