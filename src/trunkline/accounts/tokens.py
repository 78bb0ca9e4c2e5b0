"""Signed links sent by email: email verification and password reset.

Both read the time from `accounts.clock`, so expiry is tested by setting the clock.
Neither token is stored; neither is ever logged.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.utils.http import base36_to_int

from trunkline.accounts import clock

EMAIL_VERIFICATION_VALID_FOR = timedelta(days=3)
PASSWORD_RESET_VALID_FOR = timedelta(hours=2)
_VERIFY_SALT = "trunkline.accounts.verify-email"


def _email_fingerprint(email: str) -> str:
    # The link carries a digest of the address, not the address, and stops working if the
    # account's email ever changes.
    return hashlib.sha256(email.lower().encode()).hexdigest()[:20]


def email_verification_token(user, *, now: datetime) -> str:
    payload = {"u": user.pk, "e": _email_fingerprint(user.email), "t": int(now.timestamp())}
    return signing.dumps(payload, salt=_VERIFY_SALT, compress=True)


class TokenInvalid(Exception):
    pass


class TokenExpired(Exception):
    pass


def email_verification_read(token: str, *, now: datetime) -> tuple[str, str]:
    """The user id and email fingerprint in a verification token; raises if bad or old."""
    try:
        payload = signing.loads(token, salt=_VERIFY_SALT)
        user_id, fingerprint, issued = payload["u"], payload["e"], int(payload["t"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise TokenInvalid from None
    if now - datetime.fromtimestamp(issued, tz=UTC) > EMAIL_VERIFICATION_VALID_FOR:
        raise TokenExpired
    return user_id, fingerprint


def email_matches(user, fingerprint: str) -> bool:
    return _email_fingerprint(user.email) == fingerprint


class PasswordResetTokens(PasswordResetTokenGenerator):
    """Django's reset tokens (single use: they hash the password), on our clock and expiry."""

    key_salt = "trunkline.accounts.PasswordResetTokens"

    def _now(self) -> datetime:
        # Django counts naive seconds since 2001-01-01; UTC keeps that consistent.
        return clock.now().astimezone(UTC).replace(tzinfo=None)

    def check_token(self, user, token) -> bool:
        if not super().check_token(user, token):
            return False
        issued = base36_to_int(token.split("-")[0])
        age = self._num_seconds(self._now()) - issued
        return age <= PASSWORD_RESET_VALID_FOR.total_seconds()


password_reset_tokens = PasswordResetTokens()
