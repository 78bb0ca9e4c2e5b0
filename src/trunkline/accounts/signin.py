"""Signing in: password, throttling of repeated failures, and the second factor.

Failures are rows (LoginFailure), so every web process sees the same count. Five failures
for one email within 15 minutes, or twenty from one IP address, lock further attempts out
until the oldest of them ages past the window, even with the right password. A full
success clears the email's failures. With 2FA on, a correct password only opens the
second step; the session is created when the code passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import authenticate

from trunkline.accounts import clock, twofactor
from trunkline.accounts.models import LoginFailure, User
from trunkline.core.actors import Actor

THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_IP = 20
SECOND_FACTOR_TIMEOUT = timedelta(minutes=10)

_PENDING_USER = "signin_pending_user"
_PENDING_SINCE = "signin_pending_since"
_PENDING_NEXT = "signin_pending_next"

WRONG_PASSWORD = "That email and password do not match an account."
WRONG_CODE = "That code is not right. Try again, or use a recovery code."


@dataclass(frozen=True)
class SignInResult:
    user: User | None = None
    needs_second_factor: bool = False
    error: str = ""
    retry_in_minutes: int | None = None

    @property
    def ok(self) -> bool:
        return self.user is not None and not self.error


def _normalize(email: str) -> str:
    return (email or "").strip().lower()


def _wait_for(times: list[datetime], limit: int, now: datetime) -> timedelta | None:
    """With `limit` or more failures in the window, how long until one fewer remains."""
    if len(times) < limit:
        return None
    times = sorted(times)
    return times[len(times) - limit] + THROTTLE_WINDOW - now


def sign_in_wait(*, email: str, ip_address: str | None, now: datetime) -> int | None:
    """Minutes until this email and address may try again, or None if they may now."""
    since = now - THROTTLE_WINDOW
    recent = LoginFailure.objects.filter(created_at__gt=since)
    waits = [
        _wait_for(
            list(recent.filter(email=_normalize(email)).values_list("created_at", flat=True)),
            MAX_FAILURES_PER_EMAIL,
            now,
        )
    ]
    if ip_address:
        waits.append(
            _wait_for(
                list(recent.filter(ip_address=ip_address).values_list("created_at", flat=True)),
                MAX_FAILURES_PER_IP,
                now,
            )
        )
    longest = max((wait for wait in waits if wait is not None), default=None)
    if longest is None:
        return None
    return max(1, math.ceil(longest.total_seconds() / 60))


def _throttled(minutes: int) -> SignInResult:
    unit = "minute" if minutes == 1 else "minutes"
    return SignInResult(
        error=f"Too many sign-in attempts. Try again in {minutes} {unit}.",
        retry_in_minutes=minutes,
    )


def sign_in_failure_record(*, email: str, ip_address: str | None, now: datetime) -> None:
    LoginFailure.objects.create(email=_normalize(email), ip_address=ip_address, created_at=now)


def sign_in_failures_clear(*, email: str) -> None:
    LoginFailure.objects.filter(email=_normalize(email)).delete()


def sign_in_failures_purge(*, now: datetime) -> int:
    """Delete failures older than a day, long past any throttle window. Returns how many."""
    deleted, _ = LoginFailure.objects.filter(created_at__lte=now - timedelta(days=1)).delete()
    return deleted


def user_sign_in(
    *, email: str, password: str, ip_address: str | None, now: datetime | None = None
) -> SignInResult:
    """Check email and password. The caller creates the session only when `ok`."""
    now = now or clock.now()
    email = _normalize(email)
    minutes = sign_in_wait(email=email, ip_address=ip_address, now=now)
    if minutes is not None:
        return _throttled(minutes)
    user = authenticate(None, email=email, password=password)
    if user is None:
        sign_in_failure_record(email=email, ip_address=ip_address, now=now)
        return SignInResult(error=WRONG_PASSWORD)
    if user.has_2fa:
        # Failures stay until the second factor passes: a stolen password alone must not
        # reset the count of wrong codes.
        return SignInResult(user=user, needs_second_factor=True)
    sign_in_failures_clear(email=email)
    return SignInResult(user=user)


def user_sign_in_second_factor(
    *, user: User, code: str, ip_address: str | None, now: datetime | None = None
) -> SignInResult:
    now = now or clock.now()
    minutes = sign_in_wait(email=user.email, ip_address=ip_address, now=now)
    if minutes is not None:
        return _throttled(minutes)
    actor = Actor(kind="user", partner=user.partner, user=user, ip_address=ip_address)
    if not twofactor.two_factor_verify(user=user, code=code, now=now, actor=actor):
        sign_in_failure_record(email=user.email, ip_address=ip_address, now=now)
        return SignInResult(user=user, needs_second_factor=True, error=WRONG_CODE)
    sign_in_failures_clear(email=user.email)
    return SignInResult(user=user)


def pending_second_factor_start(session, *, user: User, next_url: str, now: datetime) -> None:
    """Remember, in the anonymous session, whose password was right."""
    session[_PENDING_USER] = user.pk
    session[_PENDING_SINCE] = now.timestamp()
    session[_PENDING_NEXT] = next_url


def pending_second_factor_user(session, *, now: datetime) -> User | None:
    user_id = session.get(_PENDING_USER)
    since = session.get(_PENDING_SINCE)
    if not user_id or since is None:
        return None
    if now.timestamp() - float(since) > SECOND_FACTOR_TIMEOUT.total_seconds():
        pending_second_factor_clear(session)
        return None
    return (
        User.objects.filter(pk=user_id, is_active=True, totp_enabled_at__isnull=False)
        .select_related("partner")
        .first()
    )


def pending_second_factor_next(session) -> str:
    return session.get(_PENDING_NEXT) or "/"


def pending_second_factor_clear(session) -> None:
    for key in (_PENDING_USER, _PENDING_SINCE, _PENDING_NEXT):
        session.pop(key, None)
