"""Helpers for the accounts tests: a clock to set instead of sleeping, mail and 2FA helpers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from django.core import mail
from django.test import Client

from trunkline.accounts import clock as accounts_clock
from trunkline.core.crypto import decrypt

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime):
        self.now = start
        accounts_clock.set_frozen(start)

    def advance(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        accounts_clock.set_frozen(self.now)
        return self.now


@pytest.fixture
def clock():
    frozen = Clock(START)
    yield frozen
    accounts_clock.set_frozen(None)


@pytest.fixture(autouse=True)
def _clear_outbox():
    mail.outbox = []
    yield


def sign_in(user) -> Client:
    """A separate browser with `user` signed in (a real database session)."""
    browser = Client()
    browser.force_login(user)
    return browser


def link_in(message, path_prefix: str) -> str:
    """The path of the first link in an email that starts with `path_prefix`."""
    match = re.search(r"https?://[^/\s]+(" + re.escape(path_prefix) + r"[^\s]*)", message.body)
    assert match, f"no {path_prefix} link in: {message.body}"
    return match.group(1)


def totp_for(user) -> pyotp.TOTP:
    user.refresh_from_db()
    return pyotp.TOTP(decrypt(user.totp_secret, context=f"totp:{user.pk}"))


def code_at(user, moment: datetime) -> str:
    return totp_for(user).at(moment)
