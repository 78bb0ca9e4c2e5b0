"""A partner's licence policy (`003_*.txt`): buy a number entitlement automatically when a
tenant has none free for a number it is given, and cap the numbers a user may have by
seat (the seed's "Max numbers per user" per plan, mapped onto Trunkline's seats). It is
the whole partner's: a key scoped to some tenants may read it but not change it."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.accounts.models import Partner
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import PermissionDenied, ValidationFailed
from trunkline.licensing.models import LicensePolicy, LicenseSku

MAX_NUMBERS_PER_USER = 1000


def policy_json(policy: LicensePolicy | None) -> dict:
    if policy is None:
        return {"auto_purchase_numbers": False, "numbers_per_user": {}, "updated_at": None}
    return {
        "auto_purchase_numbers": policy.auto_purchase_numbers,
        "numbers_per_user": dict(sorted((policy.numbers_per_user or {}).items())),
        "updated_at": policy.updated_at,
    }


def _rules(view: dict) -> dict:
    return {key: value for key, value in view.items() if key != "updated_at"}


def _partner(actor: Actor) -> Partner:
    if actor.partner is None:
        raise PermissionDenied("the licence policy belongs to a partner")
    return actor.partner


def license_policy_get(*, actor: Actor) -> dict:
    """The caller's partner's policy (the defaults when it never set one)."""
    partner = _partner(actor)
    return policy_json(LicensePolicy.objects.filter(partner=partner).first())


def clean_numbers_per_user(value) -> dict[str, int]:
    """{seat SKU code: cap}; only active seats, whole numbers from 0."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(
            "numbers_per_user maps seat codes to numbers", field="numbers_per_user"
        )
    seats = set(
        LicenseSku.objects.filter(kind=LicenseSku.Kind.USER_BASE, active=True).values_list(
            "code", flat=True
        )
    )
    cleaned: dict[str, int] = {}
    for code, cap in value.items():
        field = f"numbers_per_user.{str(code)[:64]}"
        if code not in seats:
            raise ValidationFailed(
                f"{str(code)[:64]!r} is not a seat licence (one of {', '.join(sorted(seats))})",
                field=field,
            )
        if (
            isinstance(cap, bool)
            or not isinstance(cap, int)
            or not 0 <= cap <= MAX_NUMBERS_PER_USER
        ):
            raise ValidationFailed(
                f"the cap is a whole number from 0 to {MAX_NUMBERS_PER_USER}", field=field
            )
        cleaned[code] = cap
    return cleaned


def license_policy_set(*, actor: Actor, changes: dict, now: datetime | None = None) -> dict:
    """Change the policy: the fields given replace theirs, the others keep their value."""
    partner = _partner(actor)
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.tenant_ids is not None:
        raise PermissionDenied("the licence policy belongs to the whole partner")
    if actor.user is not None and not actor.user.is_partner_admin and not actor.is_staff:
        raise PermissionDenied("only a Partner Admin can change the licence policy")
    now = now or timezone.now()
    cleaned: dict = {}
    if "auto_purchase_numbers" in changes:
        value = changes["auto_purchase_numbers"]
        if not isinstance(value, bool):
            raise ValidationFailed(
                "auto_purchase_numbers is true or false", field="auto_purchase_numbers"
            )
        cleaned["auto_purchase_numbers"] = value
    if "numbers_per_user" in changes:
        cleaned["numbers_per_user"] = clean_numbers_per_user(changes["numbers_per_user"])
    with transaction.atomic():
        Partner.objects.select_for_update().filter(pk=partner.pk).first()
        policy = LicensePolicy.objects.filter(partner=partner).first()
        before = policy_json(policy)
        if policy is None:
            policy = LicensePolicy(partner=partner)
        for name, value in cleaned.items():
            setattr(policy, name, value)
        policy.updated_at = now
        policy.save()
        after = policy_json(policy)
        audit_record(
            actor=actor,
            partner=partner,
            action="license.policy_updated",
            object_type="license_policy",
            object_id=partner.id,
            before=_rules(before),
            after=_rules(after),
        )
    return after
