"""TOTP two-factor authentication with single-use recovery codes.

The TOTP secret is stored only encrypted (core.crypto, bound to the user's id) and is
never logged. Enrolment is two steps: `two_factor_setup_start` keeps a new secret pending
on the user; `two_factor_enable` turns 2FA on once a code from the app matches and returns
the ten recovery codes, the one time they exist in clear. Each accepted code's time step is
remembered, so a code cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno
from django.db import transaction
from django.db.models import Q

from trunkline.accounts import clock
from trunkline.accounts.models import RecoveryCode, User
from trunkline.accounts.permissions import require_signed_in_user
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.crypto import decrypt, encrypt
from trunkline.core.email import brand_name
from trunkline.core.errors import Conflict, ValidationFailed

RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L or U
_RECOVERY_LENGTH = 12
# Codes from the step before and after are accepted, for phones whose clocks drift.
VALID_WINDOW = 1


def _context(user: User) -> str:
    return f"totp:{user.pk}"


def _secret_of(user: User) -> str | None:
    if not user.totp_secret:
        return None
    return decrypt(user.totp_secret, context=_context(user))


def _digits_only(code: str) -> str:
    return "".join(char for char in (code or "") if not char.isspace())


def _normalize_recovery(code: str) -> str:
    return "".join(char for char in (code or "").upper() if char.isalnum())


def _recovery_hash(user: User, code: str) -> str:
    return hashlib.sha256(f"{user.pk}:{_normalize_recovery(code)}".encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return "-".join(raw[index : index + 4] for index in range(0, _RECOVERY_LENGTH, 4))


def pending_secret(user: User) -> str | None:
    """The secret being set up (2FA not yet on), for showing the QR code again."""
    if user.has_2fa:
        return None
    return _secret_of(user)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(
        name=user.email, issuer_name=brand_name(user.partner)
    )


def qr_code_svg(uri: str) -> str:
    """An inline SVG of the QR code; it encodes the URI as modules and contains no text."""
    return segno.make(uri, error="m").svg_inline(scale=4, border=2)


def two_factor_setup_start(*, actor: Actor) -> str:
    """Keep a fresh secret pending on the user; 2FA stays off until a code confirms it."""
    require_signed_in_user(actor)
    secret = pyotp.random_base32()
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.user.pk)
        if user.has_2fa:
            raise Conflict("two-factor authentication is already on", type="already_enabled")
        user.totp_secret = encrypt(secret, context=_context(user))
        user.totp_last_step = None
        user.save(update_fields=["totp_secret", "totp_last_step"])
    actor.user.totp_secret = user.totp_secret
    return secret


def two_factor_setup_cancel(*, actor: Actor) -> None:
    """Drop a pending secret that was never confirmed."""
    require_signed_in_user(actor)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.user.pk)
        if user.has_2fa:
            raise Conflict("two-factor authentication is on; disable it instead", type="enabled")
        user.totp_secret = ""
        user.save(update_fields=["totp_secret"])
    actor.user.totp_secret = ""


def _accept_totp(user: User, secret: str, code: str, now: datetime) -> bool:
    """True if `code` is current and newer than the last one accepted; records its step."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for offset in range(-VALID_WINDOW, VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(current + offset), code):
            step = current + offset
            # A conditional update, so two requests with one code cannot both pass.
            return (
                User.objects.filter(pk=user.pk)
                .filter(Q(totp_last_step__isnull=True) | Q(totp_last_step__lt=step))
                .update(totp_last_step=step)
                == 1
            )
    return False


def _issue_recovery_codes(user: User) -> list[str]:
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_hash=_recovery_hash(user, code)) for code in codes
    )
    return codes


def two_factor_enable(*, actor: Actor, code: str, now: datetime | None = None) -> list[str]:
    """Confirm the pending secret with a code; returns the recovery codes to show once."""
    require_signed_in_user(actor)
    now = now or clock.now()
    code = _digits_only(code)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.user.pk)
        if user.has_2fa:
            raise Conflict("two-factor authentication is already on", type="already_enabled")
        secret = _secret_of(user)
        if secret is None:
            raise Conflict("start the set-up first", type="not_started")
        if not (code.isdigit() and len(code) == 6 and _accept_totp(user, secret, code, now)):
            raise ValidationFailed("that code does not match; try the current one", field="code")
        user.totp_enabled_at = now
        user.save(update_fields=["totp_enabled_at"])
        codes = _issue_recovery_codes(user)
        audit_record(actor=actor, action="user.2fa_enabled", object_type="user", object_id=user.pk)
    actor.user.totp_enabled_at = now
    return codes


def _check_password(user: User, password: str) -> None:
    if not user.check_password(password or ""):
        raise ValidationFailed("that is not your current password", field="password")


def two_factor_disable(*, actor: Actor, password: str) -> None:
    require_signed_in_user(actor)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.user.pk)
        _check_password(user, password)
        if not user.has_2fa and not user.totp_secret:
            raise Conflict("two-factor authentication is off", type="not_enabled")
        was_enabled = user.has_2fa
        user.totp_secret = ""
        user.totp_enabled_at = None
        user.totp_last_step = None
        user.save(update_fields=["totp_secret", "totp_enabled_at", "totp_last_step"])
        RecoveryCode.objects.filter(user=user).delete()
        if was_enabled:
            audit_record(
                actor=actor, action="user.2fa_disabled", object_type="user", object_id=user.pk
            )
    actor.user.totp_secret = ""
    actor.user.totp_enabled_at = None


def recovery_codes_regenerate(*, actor: Actor, password: str) -> list[str]:
    """New codes replace the old ones, which stop working."""
    require_signed_in_user(actor)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.user.pk)
        _check_password(user, password)
        if not user.has_2fa:
            raise Conflict("two-factor authentication is off", type="not_enabled")
        codes = _issue_recovery_codes(user)
        audit_record(
            actor=actor,
            action="user.recovery_codes_regenerated",
            object_type="user",
            object_id=user.pk,
        )
    return codes


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def two_factor_verify(
    *, user: User, code: str, now: datetime | None = None, actor: Actor | None = None
) -> bool:
    """A current TOTP code, or an unused recovery code (which is then spent)."""
    now = now or clock.now()
    if not user.has_2fa:
        return False
    compact = _digits_only(code)
    if compact.isdigit() and len(compact) == 6:
        secret = _secret_of(user)
        return secret is not None and _accept_totp(user, secret, compact, now)
    if len(_normalize_recovery(code)) != _RECOVERY_LENGTH:
        return False
    with transaction.atomic():
        spent = RecoveryCode.objects.filter(
            user=user, code_hash=_recovery_hash(user, code), used_at__isnull=True
        ).update(used_at=now)
        if spent != 1:
            return False
        audit_record(
            actor=actor or Actor(kind="user", partner=user.partner, user=user),
            action="user.recovery_code_used",
            object_type="user",
            object_id=user.pk,
            after={"codes_left": recovery_codes_left(user)},
        )
    return True
