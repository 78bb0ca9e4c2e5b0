"""Settings → Users: invitations, roles and removal of a partner's team members.

Invitations expire after 7 days; a resend issues a new link (the old one stops working)
and a new expiry. Only a hash of each link's token is stored. Accepting creates the user
with a verified email. A removed user is deactivated rather than deleted, so their audit
entries keep pointing at them, and their sessions end at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from trunkline.accounts import clock
from trunkline.accounts.auth_flows import acting_as, link
from trunkline.accounts.models import Invitation, User
from trunkline.accounts.permissions import require_partner_admin
from trunkline.accounts.selectors import TEAM_ROLES
from trunkline.accounts.services import validate_password_for
from trunkline.accounts.sessions import sessions_end_for_user
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.email import brand_name, send_branded_email
from trunkline.core.errors import Conflict, PermissionDenied, ValidationFailed
from trunkline.tenants import validation

INVITATION_VALID_FOR = timedelta(days=7)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean_role(role: str) -> str:
    if role not in TEAM_ROLES:
        raise ValidationFailed("the role is Partner Admin or Partner User", field="role")
    return role


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if len(name) > 150:
        raise ValidationFailed("the name is at most 150 characters", field="name")
    return name


def invitation_is_expired(invitation: Invitation, now: datetime | None = None) -> bool:
    return invitation.expires_at <= (now or clock.now())


def _same_partner(actor: Actor, obj) -> None:
    # Views look objects up through the partner-scoped selectors; this is the backstop.
    if actor.kind != "system" and obj.partner_id != actor.partner.pk:
        raise PermissionDenied("not part of this account")


def _send_invitation(*, invitation: Invitation, token: str, base_url: str, inviter: str) -> None:
    partner = invitation.partner
    send_branded_email(
        partner=partner,
        to=invitation.email,
        subject=f"You're invited to {brand_name(partner)}",
        body=render_to_string(
            "accounts/emails/invitation.txt",
            {
                "invitation": invitation,
                "brand": brand_name(partner),
                "inviter": inviter,
                "role": User.Role(invitation.role).label,
                "link": link(base_url, f"/invite/{token}"),
                "valid_days": INVITATION_VALID_FOR.days,
            },
        ),
    )


def _inviter_label(actor: Actor) -> str:
    if actor.user is not None:
        return actor.user.name or actor.user.email
    return brand_name(actor.partner)


def invitation_create(
    *,
    actor: Actor,
    email: str,
    name: str,
    role: str,
    base_url: str,
    now: datetime | None = None,
) -> Invitation:
    require_partner_admin(actor)
    now = now or clock.now()
    email = validation.clean_email(email, field="email")
    name = _clean_name(name)
    role = _clean_role(role)
    partner = actor.partner
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        existing = User.objects.filter(email=email).first()
        # A removed member of this partner may be invited back; anyone else with an
        # account elsewhere cannot, because one email signs in to one account.
        if existing is not None and not (existing.partner_id == partner.pk and existing.removed_at):
            raise Conflict("this email already has an account", field="email", type="email_taken")
        if (
            Invitation.objects.select_for_update()
            .filter(
                partner=partner,
                email=email,
                accepted_at__isnull=True,
                revoked_at__isnull=True,
                expires_at__gt=now,
            )
            .exists()
        ):
            raise Conflict(
                "this email already has a pending invitation; resend it from the list",
                field="email",
                type="already_invited",
            )
        invitation = Invitation.objects.create(
            partner=partner,
            email=email,
            name=name,
            role=role,
            token_hash=_token_hash(token),
            invited_by=actor.user,
            created_at=now,
            sent_at=now,
            expires_at=now + INVITATION_VALID_FOR,
        )
        audit_record(
            actor=actor,
            action="invitation.created",
            object_type="invitation",
            object_id=invitation.pk,
            after={"email": email, "name": name, "role": role},
        )
        _send_invitation(
            invitation=invitation, token=token, base_url=base_url, inviter=_inviter_label(actor)
        )
    return invitation


def _locked_open(invitation: Invitation) -> Invitation:
    invitation = (
        Invitation.objects.select_for_update().select_related("partner").get(pk=invitation.pk)
    )
    if invitation.accepted_at is not None:
        raise Conflict("this invitation was already accepted", type="invalid_state_transition")
    if invitation.revoked_at is not None:
        raise Conflict("this invitation was revoked", type="invalid_state_transition")
    return invitation


def invitation_resend(
    *, actor: Actor, invitation: Invitation, base_url: str, now: datetime | None = None
) -> Invitation:
    """A new link and a fresh 7 days; the previous link stops working."""
    require_partner_admin(actor)
    _same_partner(actor, invitation)
    now = now or clock.now()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        invitation = _locked_open(invitation)
        invitation.token_hash = _token_hash(token)
        invitation.sent_at = now
        invitation.expires_at = now + INVITATION_VALID_FOR
        invitation.save(update_fields=["token_hash", "sent_at", "expires_at"])
        audit_record(
            actor=actor,
            action="invitation.resent",
            object_type="invitation",
            object_id=invitation.pk,
            after={"email": invitation.email, "expires_at": invitation.expires_at.isoformat()},
        )
        _send_invitation(
            invitation=invitation, token=token, base_url=base_url, inviter=_inviter_label(actor)
        )
    return invitation


def invitation_revoke(
    *, actor: Actor, invitation: Invitation, now: datetime | None = None
) -> Invitation:
    require_partner_admin(actor)
    _same_partner(actor, invitation)
    with transaction.atomic():
        invitation = _locked_open(invitation)
        invitation.revoked_at = now or clock.now()
        invitation.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="invitation.revoked",
            object_type="invitation",
            object_id=invitation.pk,
            before={"email": invitation.email},
        )
    return invitation


def invitation_for_token(token: str, now: datetime | None = None) -> Invitation | None:
    """The invitation a link opens, while it can still be accepted; else None."""
    if not token:
        return None
    invitation = (
        Invitation.objects.select_related("partner")
        .filter(token_hash=_token_hash(token), accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )
    if invitation is None or invitation_is_expired(invitation, now):
        return None
    if invitation.partner.deleted_at is not None:
        return None
    return invitation


def invitation_accept(
    *,
    actor: Actor,
    token: str,
    name: str,
    password: str,
    password_again: str,
    now: datetime | None = None,
) -> User:
    """Set a password on the invitation's link: the user exists from now, email verified."""
    now = now or clock.now()
    invitation = invitation_for_token(token, now)
    if invitation is None:
        raise ValidationFailed(
            "this invitation has expired or was withdrawn; ask for a new one",
            type="token_invalid",
        )
    name = _clean_name(name) or invitation.name
    if password != password_again:
        raise ValidationFailed("the two passwords differ", field="password_again")
    validate_password_for(password, User(email=invitation.email, name=name))
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if (
            invitation.accepted_at
            or invitation.revoked_at
            or invitation_is_expired(invitation, now)
        ):
            raise ValidationFailed(
                "this invitation has expired or was withdrawn; ask for a new one",
                type="token_invalid",
            )
        user = User.objects.select_for_update().filter(email=invitation.email).first()
        if user is not None and not (
            user.partner_id == invitation.partner_id and user.removed_at is not None
        ):
            raise Conflict("this email already has an account", type="email_taken")
        try:
            with transaction.atomic():
                if user is None:
                    user = User.objects.create_user(
                        invitation.email,
                        password,
                        name=name,
                        partner=invitation.partner,
                        role=invitation.role,
                        email_verified_at=now,
                        created_at=now,
                    )
                else:
                    # A removed member invited back: the same user, audit history intact.
                    user.set_password(password)
                    user.name = name
                    user.role = invitation.role
                    user.is_active = True
                    user.removed_at = None
                    user.email_verified_at = user.email_verified_at or now
                    user.totp_secret = ""
                    user.totp_enabled_at = None
                    user.totp_last_step = None
                    user.save()
        except IntegrityError:
            raise Conflict("this email already has an account", type="email_taken") from None
        invitation.accepted_at = now
        invitation.save(update_fields=["accepted_at"])
        audit_record(
            actor=acting_as(actor, user),
            action="invitation.accepted",
            object_type="user",
            object_id=user.pk,
            after={"email": user.email, "role": user.role, "invitation_id": invitation.pk},
        )
    return user


def _active_admins_locked(partner_id: str) -> list[str]:
    # Locking every admin row serialises concurrent demotions and removals, so two admins
    # cannot demote each other at the same moment and leave none.
    return list(
        User.objects.select_for_update()
        .filter(partner_id=partner_id, role=User.Role.PARTNER_ADMIN, is_active=True)
        .values_list("pk", flat=True)
    )


def team_member_role_change(*, actor: Actor, member: User, role: str) -> User:
    require_partner_admin(actor)
    _same_partner(actor, member)
    role = _clean_role(role)
    with transaction.atomic():
        admins = _active_admins_locked(member.partner_id)
        member = User.objects.select_for_update().get(pk=member.pk)
        if not member.is_active:
            raise Conflict("this user was removed", type="invalid_state_transition")
        if member.role == role:
            return member
        if member.role == User.Role.PARTNER_ADMIN and admins == [member.pk]:
            raise Conflict(
                "the account needs at least one Partner Admin; promote someone else first",
                field="role",
                type="last_admin",
            )
        before = member.role
        member.role = role
        member.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action="user.role_changed",
            object_type="user",
            object_id=member.pk,
            before={"role": before},
            after={"role": role},
        )
    return member


def team_member_remove(*, actor: Actor, member: User, now: datetime | None = None) -> User:
    """The user can no longer sign in; their sessions end now; their audit entries stay."""
    require_partner_admin(actor)
    _same_partner(actor, member)
    if actor.user is not None and actor.user.pk == member.pk:
        raise Conflict("you cannot remove yourself", type="cannot_remove_self")
    with transaction.atomic():
        admins = _active_admins_locked(member.partner_id)
        member = User.objects.select_for_update().get(pk=member.pk)
        if not member.is_active:
            raise Conflict("this user was already removed", type="invalid_state_transition")
        if member.role == User.Role.PARTNER_ADMIN and admins == [member.pk]:
            raise Conflict("the last Partner Admin cannot be removed", type="last_admin")
        member.is_active = False
        member.removed_at = now or clock.now()
        member.save(update_fields=["is_active", "removed_at"])
        ended = sessions_end_for_user(member)
        audit_record(
            actor=actor,
            action="user.removed",
            object_type="user",
            object_id=member.pk,
            before={"email": member.email, "role": member.role},
            after={"sessions_ended": ended},
        )
    return member
