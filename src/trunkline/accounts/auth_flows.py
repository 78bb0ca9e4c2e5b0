"""Self-service sign-up, email verification and password reset.

Every email here is transactional (always sent) and leaves only after the change commits.
Links are built on `base_url`, which the view derives from a trusted host, never from an
arbitrary Host header.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import transaction
from django.template.loader import render_to_string
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from trunkline.accounts import clock, tokens
from trunkline.accounts.models import LoginFailure, Partner, User
from trunkline.accounts.permissions import require_signed_in_user
from trunkline.accounts.services import partner_create, validate_password_for
from trunkline.accounts.sessions import sessions_end_for_user
from trunkline.core import ratelimit
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.email import brand_name, send_branded_email
from trunkline.core.errors import Conflict, RateLimited, ValidationFailed

VERIFICATION_RESENDS_PER_MINUTE = 3
RESET_REQUESTS_PER_MINUTE = 3


def link(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def acting_as(actor: Actor, user: User) -> Actor:
    """The request's actor once the user behind an emailed link is known."""
    return dataclasses.replace(actor, kind="user", user=user, partner=user.partner)


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name or len(name) > 150:
        raise ValidationFailed("your name is 1 to 150 characters", field="name")
    return name


def partner_sign_up(
    *,
    actor: Actor,
    company_name: str,
    name: str,
    email: str,
    password: str,
    base_url: str,
    now: datetime | None = None,
) -> tuple[Partner, User]:
    """Self-service sign-up: a partner in its 14-day trial, its admin still unverified."""
    now = now or clock.now()
    name = _clean_name(name)
    with transaction.atomic():
        partner, user = partner_create(
            # Nobody is signed in yet: the platform acts for the visitor (request id and
            # address are kept for the audit entry).
            actor=dataclasses.replace(actor, kind="system", user=None, partner=None),
            company_name=company_name,
            email=email,
            password=password,
            name=name,
            email_verified=False,
            now=now,
        )
        _send_verification(user=user, base_url=base_url, now=now)
    return partner, user


def _send_verification(*, user: User, base_url: str, now: datetime) -> None:
    token = tokens.email_verification_token(user, now=now)
    send_branded_email(
        partner=user.partner,
        to=user.email,
        subject=f"Verify your email for {brand_name(user.partner)}",
        body=render_to_string(
            "accounts/emails/verify_email.txt",
            {
                "user": user,
                "brand": brand_name(user.partner),
                "link": link(base_url, f"/verify-email/{token}"),
                "valid_days": tokens.EMAIL_VERIFICATION_VALID_FOR.days,
            },
        ),
    )


def email_verification_resend(*, actor: Actor, base_url: str, now: datetime | None = None) -> None:
    require_signed_in_user(actor)
    user = actor.user
    if user.email_verified_at is not None:
        raise Conflict("your email is already verified", type="already_verified")
    retry_after = ratelimit.hit("verify-email", user.pk, VERIFICATION_RESENDS_PER_MINUTE)
    if retry_after is not None:
        raise RateLimited("we just sent one; wait a minute and try again", retry_after=retry_after)
    with transaction.atomic():
        _send_verification(user=user, base_url=base_url, now=now or clock.now())


def user_email_verify(*, actor: Actor, token: str, now: datetime | None = None) -> User:
    """Mark the address verified. Clicking the link again later changes nothing."""
    now = now or clock.now()
    try:
        user_id, fingerprint = tokens.email_verification_read(token, now=now)
    except tokens.TokenExpired:
        raise ValidationFailed(
            "this verification link has expired; sign in and send a new one",
            type="token_expired",
        ) from None
    except tokens.TokenInvalid:
        raise ValidationFailed("this verification link is not valid", type="token_invalid")
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
        if user is None or not tokens.email_matches(user, fingerprint):
            raise ValidationFailed("this verification link is not valid", type="token_invalid")
        if user.email_verified_at is None:
            user.email_verified_at = now
            user.save(update_fields=["email_verified_at"])
            audit_record(
                actor=acting_as(actor, user),
                action="user.email_verified",
                object_type="user",
                object_id=user.pk,
                after={"email": user.email},
            )
    return user


def password_reset_request(
    *, actor: Actor, email: str, base_url: str, now: datetime | None = None
) -> None:
    """Email a reset link if the address belongs to an active user.

    The caller answers the same way whether or not it does, so the form cannot be used to
    find out who has an account.
    """
    email = (email or "").strip().lower()
    if not email:
        return
    # Limits mail to one inbox and from one address; over the limit, quietly send nothing.
    if ratelimit.hit("password-reset", email, RESET_REQUESTS_PER_MINUTE) is not None:
        return
    if actor.ip_address and ratelimit.hit("password-reset-ip", actor.ip_address, 20) is not None:
        return
    user = User.objects.select_related("partner").filter(email=email, is_active=True).first()
    if user is None or not user.has_usable_password():
        return
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    with transaction.atomic():
        token = tokens.password_reset_tokens.make_token(user)
        audit_record(
            actor=acting_as(actor, user),
            action="user.password_reset_requested",
            object_type="user",
            object_id=user.pk,
        )
        send_branded_email(
            partner=user.partner,
            to=user.email,
            subject=f"Reset your {brand_name(user.partner)} password",
            body=render_to_string(
                "accounts/emails/password_reset.txt",
                {
                    "user": user,
                    "brand": brand_name(user.partner),
                    "link": link(base_url, f"/reset-password/{uidb64}/{token}"),
                    "valid_hours": int(tokens.PASSWORD_RESET_VALID_FOR.total_seconds() // 3600),
                },
            ),
        )


def password_reset_user(uidb64: str, token: str) -> User | None:
    """The user a reset link is for, while the link is still good; else None."""
    try:
        user_id = force_str(urlsafe_base64_decode(uidb64))
    except (TypeError, ValueError, OverflowError):
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not tokens.password_reset_tokens.check_token(user, token):
        return None
    return user


def password_reset_complete(
    *,
    actor: Actor,
    uidb64: str,
    token: str,
    new_password: str,
    new_password_again: str,
    now: datetime | None = None,
) -> User:
    """Set the new password. The link then stops working, and every session ends."""
    now = now or clock.now()
    user = password_reset_user(uidb64, token)
    if user is None:
        raise ValidationFailed("this reset link is not valid any more", type="token_invalid")
    if new_password != new_password_again:
        raise ValidationFailed("the two passwords differ", field="new_password_again")
    validate_password_for(new_password, user, field="new_password")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        # Re-check under the lock: two tabs submitting one link must not both succeed.
        if not tokens.password_reset_tokens.check_token(user, token):
            raise ValidationFailed("this reset link is not valid any more", type="token_invalid")
        user.set_password(new_password)
        fields = ["password"]
        if user.email_verified_at is None:
            # Following a link sent to the address proves it is theirs.
            user.email_verified_at = now
            fields.append("email_verified_at")
        user.save(update_fields=fields)
        sessions_end_for_user(user)
        LoginFailure.objects.filter(email=user.email).delete()
        audit_record(
            actor=acting_as(actor, user),
            action="user.password_reset",
            object_type="user",
            object_id=user.pk,
        )
    return user
