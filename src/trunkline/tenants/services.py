"""Every change to a tenant: validated, audited and announced in one transaction."""

from __future__ import annotations

import re
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from trunkline.accounts.models import Partner
from trunkline.accounts.notifications import (
    notify_tenant_created,
    notify_tenant_suspended_automatically,
)
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, changed_fields, event_emit
from trunkline.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from trunkline.tenants import validation
from trunkline.tenants.models import PURGE_AFTER, Tenant

EDITABLE_FIELDS = {"name", "billing_email", "default_cnam", "timezone", "status", "e911_address"}
REQUIRED_FIELDS = ("name", "billing_email", "timezone", "status", "sip_prefix")
IMMUTABLE_FIELDS = {"sip_prefix", "id", "created_at", "partner_id", "partner"}
# Status changes reachable through an edit; CANCELLED goes through deletion.
_TRANSITIONS = {
    Tenant.Status.TRIAL: {Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED, Tenant.Status.CANCELLED},
    Tenant.Status.ACTIVE: {Tenant.Status.SUSPENDED, Tenant.Status.CANCELLED},
    Tenant.Status.SUSPENDED: {Tenant.Status.ACTIVE, Tenant.Status.TRIAL, Tenant.Status.CANCELLED},
    Tenant.Status.CANCELLED: {Tenant.Status.ACTIVE, Tenant.Status.TRIAL},
}


def _require_writer(actor: Actor) -> None:
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")


def tenant_lock(tenant: Tenant) -> Tenant:
    """The tenant's row, locked for the rest of the transaction: changes to what a tenant
    holds (extensions, devices, licences, charges) take it first, so they queue. The lock
    (FOR NO KEY UPDATE) leaves rows that merely refer to the tenant free to be written by
    others, as partner locks do, so a lock on one and an insert under the other never
    wait on each other in a circle."""
    return Tenant.objects.select_for_update(of=("self",), no_key=True).get(pk=tenant.pk)


def require_tenant_writer(actor: Actor, tenant: Tenant) -> None:
    """The actor may change this tenant's settings: it can write, and the tenant is its
    partner's and within its tenant scope (404 otherwise, so ids cannot be probed)."""
    _require_writer(actor)
    if actor.partner is None or tenant.partner_id != actor.partner.id:
        raise NotFound("no such tenant", field="tenant_id")
    if not actor.sees_tenant(tenant.id):
        raise NotFound("no such tenant", field="tenant_id")


SUGGESTION_ATTEMPTS = 10  # enough for that many creates of one name at one moment


def sip_prefix_suggest(name: str) -> str:
    """Lowercase letters and digits of the name, made unique with a number if needed."""
    base = re.sub(r"[^a-z0-9]", "", (name or "").lower())[:10] or "tenant"
    if len(base) < 3:
        base = (base + "pbx")[:3]
    candidate = base
    counter = 1
    while Tenant.objects.filter(sip_prefix=candidate).exists():
        counter += 1
        suffix = str(counter)
        candidate = base[: 12 - len(suffix)] + suffix
    return candidate


def tenant_create(
    *,
    actor: Actor,
    name: str,
    billing_email: str,
    timezone_name: str | None = None,
    sip_prefix: str | None = None,
    default_cnam: str | None = None,
    status: str = Tenant.Status.TRIAL,
    e911_address: dict | None = None,
    billing_profile_id: str | None = None,
) -> Tenant:
    from trunkline.billing import profiles

    _require_writer(actor)
    partner: Partner | None = actor.partner
    if partner is None:
        raise PermissionDenied("tenants belong to a partner")
    if actor.tenant_ids is not None:
        raise PermissionDenied("a key limited to some tenants cannot create tenants")
    name = validation.clean_name(name)
    billing_email = validation.clean_email(billing_email)
    timezone_name = validation.clean_timezone(
        partner.default_timezone if timezone_name is None else timezone_name
    )
    default_cnam = validation.clean_cnam(
        default_cnam if default_cnam is not None else partner.default_cnam
    )
    if status not in (Tenant.Status.TRIAL, Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED):
        raise ValidationFailed("a new tenant is TRIAL, ACTIVE or SUSPENDED", field="status")
    address = validation.clean_e911_address(e911_address)
    suggested = not sip_prefix
    prefix = sip_prefix_suggest(name) if suggested else validation.clean_sip_prefix(sip_prefix)

    now = timezone.now()
    tenant = Tenant(
        partner=partner,
        name=name,
        sip_prefix=prefix,
        billing_email=billing_email,
        default_cnam=default_cnam,
        timezone=timezone_name,
        status=status,
        created_at=now,
        updated_at=now,
    )
    if status == Tenant.Status.SUSPENDED:
        tenant.status_before_suspension = Tenant.Status.TRIAL
    from trunkline.limits.services import apply_defaults

    apply_defaults(tenant, partner)
    tenant.set_e911_address(address)
    with transaction.atomic():
        profiles.start_new_tenant_on(
            tenant, profiles.profile_for_new_tenant(partner, billing_profile_id), now
        )
        for attempt in range(SUGGESTION_ATTEMPTS):
            tenant.sip_prefix = prefix
            try:
                with transaction.atomic():
                    tenant.save(force_insert=True)
                break
            except IntegrityError:
                # A prefix the caller chose is theirs to change; one we suggested was taken
                # by a concurrent create since we looked, so suggest again.
                if not suggested or attempt == SUGGESTION_ATTEMPTS - 1:
                    raise Conflict(
                        f"SIP prefix {prefix!r} is already in use",
                        field="sip_prefix",
                        type="sip_prefix_taken",
                    ) from None
                prefix = sip_prefix_suggest(name)
        from trunkline.pbx.services import default_site_create
        from trunkline.telephony.nodes import tenant_place

        default_site_create(tenant, now)
        tenant_place(tenant, now)
        snapshot = tenant.snapshot()
        audit_record(
            actor=actor,
            action="tenant.created",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            after=snapshot,
        )
        event_emit(partner=partner, type="tenant.created", data={"tenant": snapshot})
        notify_tenant_created(tenant)
        if status == Tenant.Status.SUSPENDED:
            event_emit(
                partner=partner, type="tenant.suspended", data={"tenant": snapshot, "reason": ""}
            )
    return tenant


def _locked(tenant: Tenant) -> Tenant:
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def tenant_update(*, actor: Actor, tenant: Tenant, changes: dict) -> Tenant:
    """Edit a tenant. The SIP prefix, creation date and owning partner never change.

    One call announces one `tenant.updated` for its edits (a plain status move such as
    TRIAL → ACTIVE or a reactivation included); a suspension, unsuspension or deletion
    made through an edit also emits its own event, as the dedicated calls do.
    """
    _require_writer(actor)
    for field in REQUIRED_FIELDS:
        if field in changes and changes[field] is None:
            # Silently skipping it would tell the caller a value was cleared when it was not.
            raise ValidationFailed(f"{field} cannot be null", field=field)
    for field in changes:
        if field in IMMUTABLE_FIELDS:
            if field == "sip_prefix" and changes[field] == tenant.sip_prefix:
                continue
            raise ValidationFailed(f"{field} cannot be changed after creation", field=field)
        if field not in EDITABLE_FIELDS:
            raise ValidationFailed(f"unknown field {field}", field=field)
    cleaned: dict = {}
    if "name" in changes:
        cleaned["name"] = validation.clean_name(changes["name"])
    if "billing_email" in changes:
        cleaned["billing_email"] = validation.clean_email(changes["billing_email"])
    if "default_cnam" in changes:
        cleaned["default_cnam"] = validation.clean_cnam(changes["default_cnam"])
    if "timezone" in changes:
        cleaned["timezone"] = validation.clean_timezone(changes["timezone"])
    if "e911_address" in changes:
        cleaned["e911_address"] = validation.clean_e911_address(changes["e911_address"])
    new_status = changes.get("status")
    if new_status is not None and new_status not in Tenant.Status.values:
        raise ValidationFailed(f"unknown status {new_status}", field="status")

    with transaction.atomic():
        tenant = _locked(tenant)
        now = timezone.now()
        before = tenant.snapshot()
        status_action = None
        if new_status is not None and new_status != tenant.status:
            status_action = _apply_status(tenant, new_status, reason="", now=now)
        for field, value in cleaned.items():
            if field == "e911_address":
                tenant.set_e911_address(value)
            else:
                setattr(tenant, field, value)
        after = tenant.snapshot()
        if after == before:
            return tenant
        if before["status"] == Tenant.Status.CANCELLED and after["status"] == before["status"]:
            # The guide: a cancelled tenant is read-only until it is reactivated.
            field = next(key for key in changed_fields(before, after))
            raise InvalidTransition(
                "a cancelled tenant is read-only; reactivate it first", field=field
            )
        tenant.updated_at = now
        tenant.save()
        if status_action is not None:
            _status_reaches_sip(tenant)
        merged = status_action in (None, *_PLAIN_STATUS_ACTIONS)
        diff = changed_fields(before, after)
        if not merged:
            diff.pop("status", None)
        if diff:
            previous = {key: before[key] for key in diff}
            audit_record(
                actor=actor,
                action=status_action if merged and status_action else "tenant.updated",
                object_type="tenant",
                object_id=tenant.id,
                tenant_id=tenant.id,
                before=previous,
                after=diff,
            )
            event_emit(
                partner=tenant.partner,
                type="tenant.updated",
                data={"tenant": after, "previous_attributes": previous},
            )
        if not merged:
            _record_status(
                actor=actor, tenant=tenant, action=status_action, previous=before["status"]
            )
    return tenant


# Status moves announced as a plain `tenant.updated`; the others have events of their own.
_PLAIN_STATUS_ACTIONS = ("tenant.status_changed", "tenant.reactivated")


def _apply_status(
    tenant: Tenant, status: str, *, reason: str, now: datetime, cause: str = "manual"
) -> str:
    """Move a locked tenant to `status` in memory; returns the audit action for the move."""
    current = tenant.status
    if status not in _TRANSITIONS[current]:
        raise InvalidTransition(f"a {current} tenant cannot become {status}", field="status")
    if status == Tenant.Status.CANCELLED:
        tenant.cancelled_at = now
        tenant.purge_after = now + PURGE_AFTER
        action = "tenant.deleted"
    elif current == Tenant.Status.CANCELLED:
        if tenant.purge_after is not None and tenant.purge_after <= now:
            raise InvalidTransition("the 90-day window to reactivate has passed", field="status")
        tenant.cancelled_at = None
        tenant.purge_after = None
        action = "tenant.reactivated"
    elif status == Tenant.Status.SUSPENDED:
        tenant.status_before_suspension = current
        tenant.suspension_reason = reason[:200]
        tenant.suspension_cause = cause
        action = "tenant.suspended"
    elif current == Tenant.Status.SUSPENDED:
        tenant.suspension_reason = ""
        tenant.suspension_cause = ""
        action = "tenant.unsuspended"
    else:
        action = "tenant.status_changed"
    tenant.status = status
    return action


def _record_status(
    *, actor: Actor, tenant: Tenant, action: str, previous: str, reason: str = ""
) -> None:
    """The audit entry and the event the guide names for a status move."""
    after = tenant.snapshot()
    audit_record(
        actor=actor,
        action=action,
        object_type="tenant",
        object_id=tenant.id,
        tenant_id=tenant.id,
        before={"status": previous},
        after={"status": tenant.status, **({"reason": reason} if reason else {})},
    )
    data: dict = {"tenant": after}
    if action == "tenant.suspended":
        event_emit(partner=tenant.partner, type="tenant.suspended", data={**data, "reason": reason})
    elif action == "tenant.unsuspended":
        event_emit(partner=tenant.partner, type="tenant.unsuspended", data=data)
    elif action == "tenant.deleted":
        data["purge_after"] = tenant.purge_after.isoformat().replace("+00:00", "Z")
        event_emit(partner=tenant.partner, type="tenant.deleted", data=data)
    else:
        event_emit(
            partner=tenant.partner,
            type="tenant.updated",
            data={**data, "previous_attributes": {"status": previous}},
        )


def _status_reaches_sip(tenant: Tenant) -> None:
    """A suspended or cancelled tenant's phones stop registering in the same commit."""
    from trunkline.telephony.nodes import placement_follow_tenant
    from trunkline.telephony.subscribers import subscribers_follow_tenant

    subscribers_follow_tenant(tenant=tenant)
    placement_follow_tenant(tenant)


def _change_status(
    *, actor: Actor, tenant: Tenant, status: str, reason: str, cause: str = "manual"
) -> Tenant:
    """Move a locked tenant to `status`, save it, and record the move."""
    previous = tenant.status
    if status == previous:
        return tenant
    now = timezone.now()
    action = _apply_status(tenant, status, reason=reason, now=now, cause=cause)
    tenant.updated_at = now
    tenant.save()
    _status_reaches_sip(tenant)
    _record_status(actor=actor, tenant=tenant, action=action, previous=previous, reason=reason)
    return tenant


def tenant_suspend(*, actor: Actor, tenant: Tenant, reason: str = "") -> Tenant:
    _require_writer(actor)
    with transaction.atomic():
        tenant = _locked(tenant)
        if tenant.status == Tenant.Status.SUSPENDED:
            raise InvalidTransition("the tenant is already suspended", field="status")
        if tenant.status == Tenant.Status.CANCELLED:
            raise InvalidTransition("a cancelled tenant cannot be suspended", field="status")
        return _change_status(
            actor=actor, tenant=tenant, status=Tenant.Status.SUSPENDED, reason=reason
        )


def tenant_unsuspend(*, actor: Actor, tenant: Tenant) -> Tenant:
    _require_writer(actor)
    with transaction.atomic():
        tenant = _locked(tenant)
        if tenant.status != Tenant.Status.SUSPENDED:
            raise InvalidTransition("only a suspended tenant can be unsuspended", field="status")
        target = tenant.status_before_suspension or Tenant.Status.ACTIVE
        return _change_status(actor=actor, tenant=tenant, status=target, reason="")


AUTOMATIC_CAUSES = ("non_payment", "usage_cap")


def tenant_suspend_automatically(*, tenant: Tenant, cause: str) -> bool:
    """The platform suspends the tenant for `cause` (non_payment, usage_cap), which is also
    the reason its event gives. The partner is emailed; the tenant is not. False when the
    tenant is suspended already or cancelled. Call inside the caller's transaction."""
    if cause not in AUTOMATIC_CAUSES:
        raise ValueError(cause)
    with transaction.atomic():
        tenant = _locked(tenant)
        if tenant.status in (Tenant.Status.SUSPENDED, Tenant.Status.CANCELLED):
            return False
        _change_status(
            actor=Actor.system(partner=tenant.partner),
            tenant=tenant,
            status=Tenant.Status.SUSPENDED,
            reason=cause,
            cause=cause,
        )
        notify_tenant_suspended_automatically(tenant, cause)
    return True


def tenant_unsuspend_automatically(*, tenant: Tenant, cause: str) -> bool:
    """Lift a suspension the platform made for `cause` (never a partner's own)."""
    with transaction.atomic():
        tenant = _locked(tenant)
        if tenant.status != Tenant.Status.SUSPENDED or tenant.suspension_cause != cause:
            return False
        _change_status(
            actor=Actor.system(partner=tenant.partner),
            tenant=tenant,
            status=tenant.status_before_suspension or Tenant.Status.ACTIVE,
            reason="",
        )
    return True


def tenant_delete(*, actor: Actor, tenant: Tenant) -> Tenant:
    """Cancel the tenant; its data is kept for 90 days, then purged by a periodic job."""
    _require_writer(actor)
    with transaction.atomic():
        tenant = _locked(tenant)
        if tenant.status == Tenant.Status.CANCELLED:
            raise InvalidTransition("the tenant is already cancelled", field="status")
        tenant = _change_status(
            actor=actor, tenant=tenant, status=Tenant.Status.CANCELLED, reason=""
        )
        # Its numbers go back to the partner's inventory (RELEASED, no longer billed).
        from trunkline.phone_numbers.services import numbers_release_for_tenant

        numbers_release_for_tenant(tenant=tenant, now=timezone.now())
        return tenant


def tenant_reactivate(*, actor: Actor, tenant: Tenant) -> Tenant:
    _require_writer(actor)
    with transaction.atomic():
        tenant = _locked(tenant)
        if tenant.status != Tenant.Status.CANCELLED:
            raise InvalidTransition("only a cancelled tenant can be reactivated", field="status")
        return _change_status(actor=actor, tenant=tenant, status=Tenant.Status.ACTIVE, reason="")


def tenants_purge_expired(*, now: datetime | None = None) -> int:
    """Permanently delete tenants cancelled more than 90 days ago. Returns how many."""
    now = now or timezone.now()
    purged = 0
    candidates = Tenant.objects.filter(
        status=Tenant.Status.CANCELLED, purge_after__lte=now
    ).values_list("pk", flat=True)
    for pk in list(candidates):
        with transaction.atomic():
            tenant = (
                Tenant.objects.select_for_update()
                .filter(pk=pk, status=Tenant.Status.CANCELLED, purge_after__lte=now)
                .select_related("partner")
                .first()
            )
            if tenant is None:
                continue  # reactivated or purged by another worker meanwhile
            _revoke_keys_left_without_tenants(tenant)
            audit_record(
                actor=Actor.system(partner=tenant.partner),
                action="tenant.purged",
                object_type="tenant",
                object_id=tenant.id,
                tenant_id=tenant.id,
                before=tenant.snapshot(),
            )
            tenant.delete()
            purged += 1
    return purged


def _revoke_keys_left_without_tenants(tenant: Tenant) -> None:
    """A key limited to this tenant alone would, with the tenant gone, have an empty tenant
    list, which means "every tenant of the partner". Such keys are revoked instead."""
    from trunkline.accounts.models import ApiKey
    from trunkline.accounts.services import api_key_revoke

    key_ids = ApiKey.objects.filter(tenants=tenant, revoked_at__isnull=True).values("id")
    orphaned = (
        ApiKey.objects.filter(id__in=key_ids)
        .annotate(tenant_count=Count("tenants"))
        .filter(tenant_count=1)
    )
    for api_key in orphaned:
        api_key_revoke(actor=Actor.system(partner=tenant.partner), api_key=api_key)


TENANT_DEFAULT_FIELDS = {"default_timezone", "default_cnam", "default_suspension_behavior"}
SUSPENSION_BEHAVIORS = {"suspend", "alert_only"}


def tenant_defaults_update(*, actor: Actor, changes: dict) -> Partner:
    """Tenants → Tenant Defaults. Only tenants created afterwards are affected."""
    _require_writer(actor)
    if actor.tenant_ids is not None:
        # The defaults are the partner's; a key limited to some tenants must not set them.
        raise PermissionDenied("a key limited to some tenants cannot change tenant defaults")
    cleaned = {}
    for field, value in changes.items():
        if field not in TENANT_DEFAULT_FIELDS:
            raise ValidationFailed(f"unknown field {field}", field=field)
        if field == "default_timezone":
            cleaned[field] = validation.clean_timezone(value)
        elif field == "default_cnam":
            cleaned[field] = validation.clean_cnam(value)
        elif value not in SUSPENSION_BEHAVIORS:
            raise ValidationFailed("suspension behaviour is suspend or alert_only", field=field)
        else:
            cleaned[field] = value
    with transaction.atomic():
        partner = Partner.objects.select_for_update(no_key=True).get(pk=actor.partner.pk)
        before = {field: getattr(partner, field) for field in cleaned}
        for field, value in cleaned.items():
            setattr(partner, field, value)
        partner.save(update_fields=list(cleaned) or None)
        audit_record(
            actor=actor,
            action="partner.tenant_defaults_updated",
            object_type="partner",
            object_id=partner.id,
            before=before,
            after=cleaned,
        )
    return partner
