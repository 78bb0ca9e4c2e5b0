"""Settings → Account and Settings → Notifications.

A user's own profile, password and 2FA (twofactor.py) are theirs to change whatever their
role; notification toggles and deleting the partner account are a Partner Admin's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction

from trunkline.accounts import clock
from trunkline.accounts.api_auth import cache_key_for
from trunkline.accounts.models import ApiKey, Invitation, Partner, User
from trunkline.accounts.permissions import require_partner_admin, require_signed_in_user
from trunkline.accounts.services import validate_password_for
from trunkline.accounts.sessions import sessions_end_for_user, sessions_end_for_users
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.email import CATEGORY_TOGGLES
from trunkline.core.errors import Conflict, ValidationFailed

DELETE_CONFIRMATION = "DELETE"
# The guide promises a deleted account is purged within 24 hours; the hourly purge takes
# accounts deleted at least 23 hours ago, so none waits longer.
PURGE_DELETED_AFTER = timedelta(hours=23)
NOTIFICATION_FIELDS = tuple(CATEGORY_TOGGLES.values())


def user_profile_update(*, actor: Actor, name: str) -> User:
    require_signed_in_user(actor)
    name = " ".join((name or "").split())
    if not name or len(name) > 150:
        raise ValidationFailed("your name is 1 to 150 characters", field="name")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.user.pk)
        before = user.name
        if before == name:
            return user
        user.name = name
        user.save(update_fields=["name"])
        audit_record(
            actor=actor,
            action="user.profile_updated",
            object_type="user",
            object_id=user.pk,
            before={"name": before},
            after={"name": name},
        )
    actor.user.name = name
    return user


def user_password_change(
    *,
    actor: Actor,
    current_password: str,
    new_password: str,
    new_password_again: str,
    keep_session_key: str | None,
) -> User:
    """Change the password; every other session of the user ends, the current one stays.

    The caller refreshes its own session's password hash (`update_session_auth_hash`).
    """
    require_signed_in_user(actor)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.user.pk)
        if not user.check_password(current_password or ""):
            raise ValidationFailed("that is not your current password", field="current_password")
        if new_password != new_password_again:
            raise ValidationFailed("the two new passwords differ", field="new_password_again")
        validate_password_for(new_password, user, field="new_password")
        user.set_password(new_password)
        user.save(update_fields=["password"])
        ended = sessions_end_for_user(user, keep_session_key=keep_session_key)
        audit_record(
            actor=actor,
            action="user.password_changed",
            object_type="user",
            object_id=user.pk,
            after={"other_sessions_ended": ended},
        )
    actor.user.password = user.password
    return user


def partner_notifications_update(*, actor: Actor, changes: dict[str, bool]) -> Partner:
    """Settings → Notifications: the four toggles, saved as they are clicked."""
    require_partner_admin(actor)
    unknown = set(changes) - set(NOTIFICATION_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown setting {sorted(unknown)[0]}", field=sorted(unknown)[0])
    with transaction.atomic():
        partner = Partner.objects.select_for_update(no_key=True).get(pk=actor.partner.pk)
        before = {field: getattr(partner, field) for field in changes}
        after = {field: bool(value) for field, value in changes.items()}
        if before == after:
            return partner
        for field, value in after.items():
            setattr(partner, field, value)
        partner.save(update_fields=list(after))
        audit_record(
            actor=actor,
            action="partner.notifications_updated",
            object_type="partner",
            object_id=partner.pk,
            before=before,
            after=after,
        )
    return partner


# --- Deleting the partner account -------------------------------------------------------

DeletionCheck = Callable[[Partner], list[str]]


def _tenant_blockers(partner: Partner) -> list[str]:
    from trunkline.tenants.models import Tenant

    # Cancelled tenants still hold data (and can be reactivated) until they are purged,
    # 90 days after cancellation, so they block too.
    tenants = Tenant.objects.filter(partner=partner)
    cancelled = tenants.filter(status=Tenant.Status.CANCELLED).count()
    live = tenants.count() - cancelled
    blockers = []
    if live:
        blockers.append(
            f"You have {live} tenant{'s' if live != 1 else ''}. Delete every tenant first."
        )
    if cancelled:
        blockers.append(
            f"{cancelled} cancelled tenant{'s are' if cancelled != 1 else ' is'} waiting to be "
            "purged (90 days after cancellation)."
        )
    return blockers


# The extension point for the other rules of the guide: zero outstanding invoices and no
# positive wallet balance (billing), no DIDs in the inventory (phone numbers). Each of
# those apps registers its check from its AppConfig.ready() with
# `partner_deletion_check_register(check)`; a check returns one sentence per blocker.
_deletion_checks: list[DeletionCheck] = [_tenant_blockers]


def partner_deletion_check_register(check: DeletionCheck) -> DeletionCheck:
    if check not in _deletion_checks:
        _deletion_checks.append(check)
    return check


def partner_deletion_blockers(partner: Partner) -> list[str]:
    """Why the account cannot be deleted yet; empty when it can."""
    blockers: list[str] = []
    for check in _deletion_checks:
        blockers.extend(check(partner))
    return blockers


def partner_delete(*, actor: Actor, confirmation: str, now: datetime | None = None) -> Partner:
    """Close the account: every user deactivated and signed out, every API key revoked."""
    require_partner_admin(actor)
    if (confirmation or "").strip() != DELETE_CONFIRMATION:
        raise ValidationFailed('type "DELETE" to confirm', field="confirmation")
    now = now or clock.now()
    with transaction.atomic():
        partner = Partner.objects.select_for_update(no_key=True).get(pk=actor.partner.pk)
        if partner.deleted_at is not None:
            raise Conflict("this account is already deleted", type="invalid_state_transition")
        blockers = partner_deletion_blockers(partner)
        if blockers:
            raise Conflict(" ".join(blockers), type="deletion_blocked")
        user_ids = list(User.objects.filter(partner=partner).values_list("pk", flat=True))
        deactivated = User.objects.filter(partner=partner, is_active=True).update(
            is_active=False, removed_at=now
        )
        sessions_end_for_users(user_ids)
        key_hashes = list(
            ApiKey.objects.filter(partner=partner, revoked_at__isnull=True).values_list(
                "key_hash", flat=True
            )
        )
        ApiKey.objects.filter(partner=partner, revoked_at__isnull=True).update(revoked_at=now)
        Invitation.objects.filter(
            partner=partner, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        partner.deleted_at = now
        partner.status = Partner.Status.CANCELLED
        partner.save(update_fields=["deleted_at", "status"])
        audit_record(
            actor=actor,
            partner=partner,
            action="partner.deleted",
            object_type="partner",
            object_id=partner.pk,
            after={
                "users_deactivated": deactivated,
                "api_keys_revoked": len(key_hashes),
            },
        )
        transaction.on_commit(lambda: cache.delete_many([cache_key_for(h) for h in key_hashes]))
    return partner


def partners_purge_deleted(*, now: datetime) -> int:
    """Permanently remove accounts deleted PURGE_DELETED_AFTER before `now`, with everything
    they own (users, keys, invitations, events, audit log). Returns how many.

    A platform-level audit entry records each purge, since the account's own log goes with it.
    """
    candidates = Partner.objects.filter(
        deleted_at__isnull=False, deleted_at__lte=now - PURGE_DELETED_AFTER
    ).values_list("pk", flat=True)
    purged = 0
    for pk in list(candidates):
        with transaction.atomic():
            partner = (
                Partner.objects.select_for_update()
                .filter(pk=pk, deleted_at__isnull=False, deleted_at__lte=now - PURGE_DELETED_AFTER)
                .first()
            )
            if partner is None:
                continue  # purged by another worker meanwhile
            audit_record(
                actor=Actor.system(),
                action="partner.purged",
                object_type="partner",
                object_id=partner.pk,
                before={
                    "company_name": partner.company_name,
                    "deleted_at": partner.deleted_at.isoformat(),
                },
            )
            partner.delete()
            purged += 1
    return purged
