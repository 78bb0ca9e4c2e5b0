"""Billing profiles: how a partner charges its tenants, and which profile each tenant is on.

A tenant is on exactly one profile. Choosing another takes effect at the start of the
tenant's next billing cycle (the partner guide: switching mid-cycle makes the prorated
arithmetic messy), held until then as the tenant's pending profile. A profile that
expires (a free trial) moves its tenants to the profile it converts to as soon as it
runs out, counted from the moment the tenant was put on it.

Billing cycles, in the tenant's time zone: Pay-As-You-Go runs by calendar month; Flat
Rate runs monthly from its anniversary, the day of the month the tenant went on the
flat-rate profile (the 31st falls back to a shorter month's last day). The first cycle
on a profile starts the day the tenant went on it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from trunkline.billing.models import BillingProfile
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from trunkline.core.money import Money, MoneyError
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer

MAX_RATE = Money.parse("100000")  # per unit; far above any real price, below a typo's
MAX_QUANTITY = 1_000_000
MAX_DAYS = 3650
MONEY_FIELDS = (
    "base_fee",
    "extension_monthly",
    "did_monthly",
    "toll_free_did_monthly",
    "per_minute",
    "per_minute_local",
    "per_minute_toll_free",
)
NULLABLE_MONEY = frozenset({"per_minute_local", "per_minute_toll_free"})
QUANTITY_FIELDS = ("included_extensions", "included_dids", "included_minutes")
FIELDS = frozenset(
    {
        "name",
        "description",
        "pricing_model",
        *MONEY_FIELDS,
        *QUANTITY_FIELDS,
        "expires_after_days",
        "converts_to_id",
        "suspension_after_days",
        "is_default",
    }
)

# The two profiles every partner starts with; the figures are the partner guide's
# ("Pricing tiers": PAYG common rates, and the $99 flat rate with 5 extensions, 2 DIDs
# and 500 minutes, $0.025 a minute over).
DEFAULT_PROFILES = (
    {
        "name": "Pay-As-You-Go",
        "description": "Every extension, number and minute at its rate; no monthly minimum.",
        "pricing_model": BillingProfile.PricingModel.PAY_AS_YOU_GO,
        "base_fee": "0",
        "extension_monthly": "15.00",
        "did_monthly": "3.00",
        "toll_free_did_monthly": "5.00",
        "per_minute": "0.025",
        "is_default": True,
    },
    {
        "name": "Flat Rate Starter",
        "description": "$99 a month with 5 extensions, 2 numbers and 500 minutes included.",
        "pricing_model": BillingProfile.PricingModel.FLAT_RATE,
        "base_fee": "99.00",
        "extension_monthly": "15.00",
        "did_monthly": "3.00",
        "toll_free_did_monthly": "5.00",
        "per_minute": "0.025",
        "included_extensions": 5,
        "included_dids": 2,
        "included_minutes": 500,
    },
)


def _writer(actor: Actor):
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.partner is None:
        raise PermissionDenied("billing profiles belong to a partner")
    if actor.tenant_ids is not None:
        raise PermissionDenied("a key limited to some tenants cannot change billing settings")
    return actor.partner


# --- reading ---------------------------------------------------------------------------


def billing_profile_list(*, actor: Actor):
    if actor.partner is None:
        return BillingProfile.objects.none()
    return BillingProfile.objects.filter(partner=actor.partner)


def billing_profile_get(*, actor: Actor, profile_id: str) -> BillingProfile:
    profile = billing_profile_list(actor=actor).filter(id=profile_id).first()
    if profile is None:
        raise NotFound("no such billing profile", field="billing_profile_id")
    return profile


def tenants_on(profile: BillingProfile) -> int:
    """Tenants on the profile now or from their next cycle."""
    return Tenant.objects.filter(
        Q(billing_profile=profile) | Q(pending_billing_profile=profile)
    ).count()


def tenant_counts(*, actor: Actor) -> dict[str, tuple[int, int]]:
    """For each of the partner's profiles: (tenants on it now, tenants moving to it at
    their next cycle). Profiles without tenants are left out."""
    if actor.partner is None:
        return {}
    counts: dict[str, list[int]] = {}
    scoped = Tenant.objects.filter(partner=actor.partner)
    for column, index in (("billing_profile_id", 0), ("pending_billing_profile_id", 1)):
        rows = (
            scoped.filter(**{f"{column}__isnull": False})
            .values(column)
            .annotate(count=Count("id"))
            .values_list(column, "count")
        )
        for profile_id, count in rows:
            counts.setdefault(profile_id, [0, 0])[index] = count
    return {profile_id: (now, pending) for profile_id, (now, pending) in counts.items()}


# --- validation --------------------------------------------------------------------------


def _money(field: str, value) -> int | None:
    if value is None:
        if field in NULLABLE_MONEY:
            return None
        raise ValidationFailed(f"{field} is required", field=field)
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValidationFailed(f"{field} is a decimal string such as '12.50'", field=field)
    try:
        amount = Money.parse(value)
    except MoneyError as error:
        raise ValidationFailed(f"{field}: {error}", field=field) from None
    if amount.micros < 0:
        raise ValidationFailed(f"{field} cannot be negative", field=field)
    if amount > MAX_RATE:
        raise ValidationFailed(f"{field} is at most {MAX_RATE}", field=field)
    return amount.micros


def _whole(field: str, value, *, nullable: bool = False, low: int = 0, high: int = MAX_QUANTITY):
    if value is None:
        if nullable:
            return None
        raise ValidationFailed(f"{field} is required", field=field)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValidationFailed(f"{field} is a whole number from {low} to {high}", field=field)
    return value


def _clean(partner, changes: dict, profile: BillingProfile | None) -> dict:
    unknown = sorted(set(changes) - FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}", field=unknown[0])
    cleaned: dict = {}
    if "name" in changes or profile is None:
        name = changes.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 80:
            raise ValidationFailed("name is 1 to 80 characters", field="name")
        cleaned["name"] = " ".join(name.split())
    if "description" in changes:
        description = changes["description"] or ""
        if not isinstance(description, str) or len(description) > 300:
            raise ValidationFailed("description is at most 300 characters", field="description")
        cleaned["description"] = description.strip()
    if "pricing_model" in changes or profile is None:
        model = changes.get("pricing_model")
        if model not in BillingProfile.PricingModel.values:
            raise ValidationFailed(
                "pricing_model is PAYG, FLAT_RATE or LICENSE", field="pricing_model"
            )
        cleaned["pricing_model"] = model
    for field in MONEY_FIELDS:
        if field in changes:
            cleaned[f"{field}_micros"] = _money(field, changes[field])
    for field in QUANTITY_FIELDS:
        if field in changes:
            cleaned[field] = _whole(field, changes[field], nullable=field == "included_minutes")
    for field in ("expires_after_days", "suspension_after_days"):
        if field in changes:
            cleaned[field] = _whole(field, changes[field], nullable=True, low=1, high=MAX_DAYS)
    if "converts_to_id" in changes:
        target_id = changes["converts_to_id"]
        if target_id is None:
            cleaned["converts_to"] = None
        else:
            target = BillingProfile.objects.filter(partner=partner, id=target_id).first()
            if target is None or not isinstance(target_id, str):
                raise NotFound("no such billing profile", field="converts_to_id")
            if profile is not None and target.id == profile.id:
                raise ValidationFailed("a profile cannot convert to itself", field="converts_to_id")
            cleaned["converts_to"] = target
    if "is_default" in changes:
        if not isinstance(changes["is_default"], bool):
            raise ValidationFailed("is_default is true or false", field="is_default")
        cleaned["is_default"] = changes["is_default"]

    def final(field):
        if field in cleaned:
            return cleaned[field]
        return getattr(profile, field, None) if profile is not None else None

    if final("expires_after_days") is not None and final("converts_to") is None:
        raise ValidationFailed(
            "a profile that expires names the profile its tenants convert to",
            field="converts_to_id",
        )
    if final("pricing_model") != BillingProfile.PricingModel.FLAT_RATE:
        for field in QUANTITY_FIELDS:
            if cleaned.get(field):
                raise ValidationFailed(
                    "included quantities belong to Flat Rate profiles", field=field
                )
    if profile is not None and cleaned.get("is_default") is False and profile.is_default:
        raise ValidationFailed(
            "make another profile the default instead; new tenants need one", field="is_default"
        )
    return cleaned


def snapshot(profile: BillingProfile) -> dict:
    out = {
        "id": profile.id,
        "name": profile.name,
        "pricing_model": profile.pricing_model,
        "is_default": profile.is_default,
    }
    for field in MONEY_FIELDS:
        micros = getattr(profile, f"{field}_micros")
        out[field] = None if micros is None else Money(micros).to_json()
    for field in (*QUANTITY_FIELDS, "expires_after_days", "suspension_after_days"):
        out[field] = getattr(profile, field)
    out["converts_to_id"] = profile.converts_to_id
    return out


# --- changing profiles --------------------------------------------------------------------


def _save(profile: BillingProfile, *, insert: bool) -> None:
    try:
        with transaction.atomic():
            if profile.is_default:
                BillingProfile.objects.filter(
                    partner_id=profile.partner_id, is_default=True
                ).exclude(pk=profile.pk).update(is_default=False)
            profile.save(force_insert=insert)
    except IntegrityError:
        raise Conflict(
            f"a billing profile named {profile.name!r} already exists",
            field="name",
            type="name_taken",
        ) from None


def billing_profile_create(
    *, actor: Actor, now: datetime | None = None, **fields
) -> BillingProfile:
    partner = _writer(actor)
    cleaned = _clean(partner, fields, None)
    now = now or timezone.now()
    profile = BillingProfile(partner=partner, created_at=now, updated_at=now, **cleaned)
    with transaction.atomic():
        _save(profile, insert=True)
        audit_record(
            actor=actor,
            action="billing_profile.created",
            object_type="billing_profile",
            object_id=profile.id,
            after=snapshot(profile),
        )
    return profile


def billing_profile_update(
    *, actor: Actor, profile: BillingProfile, changes: dict, now: datetime | None = None
) -> BillingProfile:
    """Edit a profile. Rates apply to what is billed from now on; invoices already made
    keep the figures they were made with."""
    partner = _writer(actor)
    with transaction.atomic():
        profile = BillingProfile.objects.select_for_update().get(pk=profile.pk, partner=partner)
        cleaned = _clean(partner, changes, profile)
        before = snapshot(profile)
        for field, value in cleaned.items():
            setattr(profile, field, value)
        profile.updated_at = now or timezone.now()
        _save(profile, insert=False)
        audit_record(
            actor=actor,
            action="billing_profile.updated",
            object_type="billing_profile",
            object_id=profile.id,
            before=before,
            after=snapshot(profile),
        )
    return profile


def billing_profile_delete(*, actor: Actor, profile: BillingProfile) -> None:
    partner = _writer(actor)
    with transaction.atomic():
        profile = BillingProfile.objects.select_for_update().get(pk=profile.pk, partner=partner)
        if profile.is_default:
            raise Conflict(
                "the default profile cannot be deleted; make another the default first",
                type="in_use",
            )
        used = tenants_on(profile)
        if used:
            raise Conflict(
                f"{used} tenant(s) are on this profile; move them to another first",
                type="in_use",
            )
        if BillingProfile.objects.filter(converts_to=profile).exists():
            raise Conflict(
                "another profile converts to this one; change that profile first",
                type="in_use",
            )
        audit_record(
            actor=actor,
            action="billing_profile.deleted",
            object_type="billing_profile",
            object_id=profile.id,
            before=snapshot(profile),
        )
        profile.delete()


def billing_profiles_create_defaults(partner, *, now: datetime | None = None) -> list:
    """The partner's first profiles ("Pay-As-You-Go", the default, and "Flat Rate
    Starter"), unless it has profiles already."""
    if BillingProfile.objects.filter(partner=partner).exists():
        return []
    now = now or timezone.now()
    made = []
    for spec in DEFAULT_PROFILES:
        fields = dict(spec)
        cleaned = _clean(partner, fields, None)
        made.append(
            BillingProfile.objects.create(
                partner=partner, created_at=now, updated_at=now, **cleaned
            )
        )
    return made


# --- billing cycles ---------------------------------------------------------------------


@dataclass(frozen=True)
class Cycle:
    start: date  # first day, in the tenant's time zone
    end: date  # the day after the last
    days: int  # the full cycle's length (a first cycle may start later than the full one)


def _month_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def _add_months(day: date, months: int, anchor: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return _month_day(index // 12, index % 12 + 1, anchor)


def local_date(tenant: Tenant, at: datetime) -> date:
    return at.astimezone(ZoneInfo(tenant.timezone)).date()


def billing_cycle(tenant: Tenant, at: datetime, profile: BillingProfile | None = None) -> Cycle:
    """The tenant's billing cycle that contains `at`, on its current (or the given) profile."""
    profile = profile or tenant.billing_profile
    today = local_date(tenant, at)
    since = local_date(tenant, tenant.billing_profile_since or tenant.created_at)
    if profile is not None and profile.is_flat_rate:
        anchor = since.day
        start = _month_day(today.year, today.month, anchor)
        if start > today:
            start = _add_months(today, -1, anchor)
        end = _add_months(start, 1, anchor)
        return Cycle(start=max(start, since), end=end, days=(end - start).days)
    start = today.replace(day=1)
    end = _add_months(start, 1, 1)
    return Cycle(start=max(start, since), end=end, days=(end - start).days)


def billing_profile_on(tenant: Tenant, day: date) -> BillingProfile | None:
    """The profile that bills the tenant's `day` (local date)."""
    if (
        tenant.pending_billing_profile_id
        and tenant.pending_billing_profile_from is not None
        and day >= tenant.pending_billing_profile_from
    ):
        return tenant.pending_billing_profile
    return tenant.billing_profile


# --- a tenant's profile ---------------------------------------------------------------------


def _put_on(tenant: Tenant, profile: BillingProfile, at: datetime) -> None:
    tenant.billing_profile = profile
    tenant.billing_profile_since = at
    tenant.billing_profile_expires_at = (
        at + timedelta(days=profile.expires_after_days) if profile.expires_after_days else None
    )
    tenant.pending_billing_profile = None
    tenant.pending_billing_profile_from = None


TENANT_BILLING_FIELDS = (
    "billing_profile_id",
    "billing_profile_since",
    "billing_profile_expires_at",
    "pending_billing_profile_id",
    "pending_billing_profile_from",
)


def profile_for_new_tenant(partner, profile_id: str | None) -> BillingProfile:
    """The profile a new tenant starts on: the one named, or the partner's default."""
    if profile_id is not None:
        profile = BillingProfile.objects.filter(partner=partner, id=profile_id).first()
        if profile is None or not isinstance(profile_id, str):
            raise NotFound("no such billing profile", field="billing_profile_id")
        return profile
    profile = BillingProfile.objects.filter(partner=partner, is_default=True).first()
    if profile is None:
        billing_profiles_create_defaults(partner)
        profile = BillingProfile.objects.get(partner=partner, is_default=True)
    return profile


def start_new_tenant_on(tenant: Tenant, profile: BillingProfile, at: datetime) -> None:
    """For `tenant_create`: the tenant starts on `profile` at once (not saved here)."""
    _put_on(tenant, profile, at)
    tenant.billed_through = local_date(tenant, at)
    tenant.next_cycle_at = period_end_at(tenant)


def tenant_billing_profile_change(
    *, actor: Actor, tenant: Tenant, profile_id: str, now: datetime | None = None
) -> Tenant:
    """Move the tenant to another profile from the start of its next billing cycle.

    Choosing the profile it is on already withdraws a pending change. A tenant without a
    profile (created before profiles existed) is put on it at once.
    """
    require_tenant_writer(actor, tenant)
    if not isinstance(profile_id, str):
        raise ValidationFailed("billing_profile_id is a profile's id", field="billing_profile_id")
    now = now or timezone.now()
    with transaction.atomic():
        tenant = (
            Tenant.objects.select_for_update(of=("self",))
            .select_related("billing_profile", "pending_billing_profile")
            .get(pk=tenant.pk)
        )
        profile = BillingProfile.objects.filter(partner_id=tenant.partner_id, id=profile_id).first()
        if profile is None:
            raise NotFound("no such billing profile", field="billing_profile_id")
        before = {field: _plain(getattr(tenant, field)) for field in TENANT_BILLING_FIELDS}
        if tenant.billing_profile_id is None:
            start_new_tenant_on(tenant, profile, now)
        elif profile.id == tenant.billing_profile_id:
            tenant.pending_billing_profile = None
            tenant.pending_billing_profile_from = None
        else:
            tenant.pending_billing_profile = profile
            tenant.pending_billing_profile_from = billing_cycle(tenant, now).end
        tenant.updated_at = now
        tenant.save(
            update_fields=[*TENANT_BILLING_FIELDS, "billed_through", "next_cycle_at", "updated_at"]
        )
        after = {field: _plain(getattr(tenant, field)) for field in TENANT_BILLING_FIELDS}
        if after != before:
            audit_record(
                actor=actor,
                action="tenant.billing_profile_changed",
                object_type="tenant",
                object_id=tenant.id,
                tenant_id=tenant.id,
                before=before,
                after=after,
            )
    return tenant


def tenant_billing_set(*, actor: Actor, tenant: Tenant, changes: dict) -> None:
    """A tenant's billing settings, both or neither: `billing_profile_id` (from its next
    cycle, see `tenant_billing_profile_change`) and `tax_jurisdiction_id` (None: none).
    Fields left out stay as they are."""
    from trunkline.billing import tax

    unknown = sorted(set(changes) - {"billing_profile_id", "tax_jurisdiction_id"})
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}", field=unknown[0])
    if "billing_profile_id" in changes and changes["billing_profile_id"] is None:
        raise ValidationFailed("every tenant is on a billing profile", field="billing_profile_id")
    with transaction.atomic():
        if "billing_profile_id" in changes:
            tenant_billing_profile_change(
                actor=actor, tenant=tenant, profile_id=changes["billing_profile_id"]
            )
        if "tax_jurisdiction_id" in changes:
            tax.tenant_tax_jurisdiction_set(
                actor=actor, tenant=tenant, jurisdiction_id=changes["tax_jurisdiction_id"]
            )


def _plain(value):
    return value.isoformat() if isinstance(value, date | datetime) else value


def period_end_at(tenant: Tenant) -> datetime:
    """When the tenant's current billing period ends: the end of the cycle it is in (from
    `billed_through`), or the moment its profile runs out if that is sooner."""
    cycle = billing_cycle(tenant, local_midnight(tenant, tenant.billed_through))
    at = local_midnight(tenant, cycle.end)
    if tenant.billing_profile_expires_at is not None:
        at = min(at, tenant.billing_profile_expires_at)
    return at


def local_midnight(tenant: Tenant, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tenant.timezone))


def apply_cycle_end(tenant: Tenant, ends_at: datetime, end: date) -> None:
    """What happens when a period ends (not saved here): a pending profile takes over,
    or a profile that ran out converts."""
    before = {field: _plain(getattr(tenant, field)) for field in TENANT_BILLING_FIELDS}
    if tenant.pending_billing_profile_id and tenant.pending_billing_profile_from <= end:
        _put_on(tenant, tenant.pending_billing_profile, local_midnight(tenant, end))
    elif tenant.billing_profile_expires_at is not None and (
        tenant.billing_profile_expires_at <= ends_at
    ):
        target = tenant.billing_profile.converts_to
        if target is not None:
            _put_on(tenant, target, tenant.billing_profile_expires_at)
        else:
            tenant.billing_profile_expires_at = None
    else:
        return
    audit_record(
        actor=Actor.system(partner=tenant.partner),
        partner=tenant.partner,
        action="tenant.billing_profile_changed",
        object_type="tenant",
        object_id=tenant.id,
        tenant_id=tenant.id,
        before=before,
        after={field: _plain(getattr(tenant, field)) for field in TENANT_BILLING_FIELDS},
    )


def partner_suspension_after_days_set(*, actor: Actor, days) -> object:
    """Settings → Billing Config → Default Suspension After: days an invoice may be
    overdue before its tenant is suspended, for profiles that do not set their own."""
    partner = _writer(actor)
    days = _whole("suspension_after_days", days, low=1, high=365)
    from trunkline.accounts.models import Partner

    with transaction.atomic():
        partner = Partner.objects.select_for_update(no_key=True).get(pk=partner.pk)
        before = partner.suspension_after_days
        partner.suspension_after_days = days
        partner.save(update_fields=["suspension_after_days"])
        if before != days:
            audit_record(
                actor=actor,
                action="partner.suspension_after_days_updated",
                object_type="partner",
                object_id=partner.id,
                before={"suspension_after_days": before},
                after={"suspension_after_days": days},
            )
    return partner
