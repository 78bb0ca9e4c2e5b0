"""Usage limits: per-tenant caps that protect a partner from runaway spend.

Max DIDs and Max Extensions refuse the (N+1)th assignment or creation (409
`limit_exceeded`, where numbers and extensions are given out). Monthly spend and monthly
minutes are checked as call records are stored, in the import's own transaction, against
the tenant's counters for its current usage cycle (the calendar month in its time zone):

- spend is what the tenant's calls cost the partner this cycle at its wholesale rates
  (the runaway the cap is for: toll fraud, an auto-dialer); numbers and extensions are
  capped by count instead;
- minutes are the billable inbound and outbound minutes (internal calls are free).

At the alert threshold (default 80 %) the partner's admins get one email per limit per
cycle; at the cap they get one more, and with Auto-Suspend on the tenant is suspended
(reason `usage_cap`). The tenant itself is never told. A cap lowered below what the tenant
has used already is not applied backwards: it trips on the tenant's next calls.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from trunkline.accounts.selectors import partner_admin_emails
from trunkline.billing.cdrs import usage_cycle_start
from trunkline.billing.models import TenantUsage
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.email import USAGE_ALERT, send_branded_email
from trunkline.core.errors import PermissionDenied, ValidationFailed
from trunkline.core.money import Money, MoneyError
from trunkline.limits.models import LimitAlert
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer

FIELDS = (
    "monthly_spend_limit",
    "max_extensions",
    "max_dids",
    "max_monthly_minutes",
    "alert_threshold_percent",
    "auto_suspend",
)
COUNT_FIELDS = ("max_extensions", "max_dids", "max_monthly_minutes")
MAX_COUNT = 10_000_000
MAX_SPEND = Money.parse("10000000")
LABELS = {
    "monthly_spend_limit": "monthly spend cap",
    "max_monthly_minutes": "monthly minute cap",
}


def limits_of(tenant: Tenant) -> dict:
    spend = tenant.monthly_spend_limit_micros
    return {
        "monthly_spend_limit": None if spend is None else Money(spend).to_json(),
        "max_extensions": tenant.max_extensions,
        "max_dids": tenant.max_dids,
        "max_monthly_minutes": tenant.max_monthly_minutes,
        "alert_threshold_percent": tenant.alert_threshold_percent,
        "auto_suspend": tenant.auto_suspend,
    }


def defaults_of(partner) -> dict:
    """The limits a new tenant of the partner starts with (Tenant Defaults)."""
    spend = partner.default_monthly_spend_limit_micros
    return {
        "monthly_spend_limit": None if spend is None else Money(spend).to_json(),
        "max_extensions": partner.default_max_extensions,
        "max_dids": partner.default_max_dids,
        "max_monthly_minutes": partner.default_max_monthly_minutes,
        "alert_threshold_percent": partner.default_alert_threshold_percent,
        "auto_suspend": partner.default_suspension_behavior == "suspend",
    }


def clean_limits(changes: dict) -> dict:
    """The model's values for `changes` (API names); raises on anything wrong."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}", field=unknown[0])
    cleaned: dict = {}
    if "monthly_spend_limit" in changes:
        value = changes["monthly_spend_limit"]
        if value is None or value == "":
            cleaned["monthly_spend_limit_micros"] = None
        else:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ValidationFailed(
                    "monthly_spend_limit is a decimal string such as '500.00' or null",
                    field="monthly_spend_limit",
                )
            try:
                amount = Money.parse(value)
            except MoneyError as error:
                raise ValidationFailed(
                    f"monthly_spend_limit: {error}", field="monthly_spend_limit"
                ) from None
            if amount.micros <= 0 or amount > MAX_SPEND or amount != amount.rounded_to_cents():
                raise ValidationFailed(
                    f"monthly_spend_limit is whole cents from 0.01 to {MAX_SPEND}, or null",
                    field="monthly_spend_limit",
                )
            cleaned["monthly_spend_limit_micros"] = amount.micros
    for field in COUNT_FIELDS:
        if field in changes:
            value = changes[field]
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT
            ):
                raise ValidationFailed(
                    f"{field} is a whole number from 0 to {MAX_COUNT}, or null", field=field
                )
            cleaned[field] = value
    if "alert_threshold_percent" in changes:
        value = changes["alert_threshold_percent"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
            raise ValidationFailed(
                "alert_threshold_percent is a whole number from 1 to 100",
                field="alert_threshold_percent",
            )
        cleaned["alert_threshold_percent"] = value
    if "auto_suspend" in changes:
        if not isinstance(changes["auto_suspend"], bool):
            raise ValidationFailed("auto_suspend is true or false", field="auto_suspend")
        cleaned["auto_suspend"] = changes["auto_suspend"]
    return cleaned


def apply_defaults(tenant: Tenant, partner) -> None:
    """For `tenant_create`: the partner's default limits (not saved here)."""
    for field, value in clean_limits(defaults_of(partner)).items():
        setattr(tenant, field, value)


def tenant_limits_set(*, actor: Actor, tenant: Tenant, changes: dict) -> Tenant:
    """Set the given limits (null: no limit); the others stay. Takes effect at once and
    is not applied backwards."""
    require_tenant_writer(actor, tenant)
    cleaned = clean_limits(changes)
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = limits_of(tenant)
        for field, value in cleaned.items():
            setattr(tenant, field, value)
        tenant.updated_at = timezone.now()
        tenant.save(update_fields=[*cleaned, "updated_at"])
        after = limits_of(tenant)
        if after != before:
            audit_record(
                actor=actor,
                action="tenant.limits_updated",
                object_type="tenant",
                object_id=tenant.id,
                tenant_id=tenant.id,
                before=before,
                after=after,
            )
    return tenant


def tenant_limits_reset(*, actor: Actor, tenant: Tenant) -> Tenant:
    """Reset to Defaults: the partner's Tenant Defaults limits."""
    require_tenant_writer(actor, tenant)
    return tenant_limits_set(actor=actor, tenant=tenant, changes=defaults_of(tenant.partner))


def partner_default_limits_set(*, actor: Actor, changes: dict):
    """Tenant Defaults' limits: what tenants created from now on start with."""
    from trunkline.accounts.models import Partner

    if not actor.can_write:
        raise PermissionDenied("this account is read-only")
    if actor.partner is None or actor.tenant_ids is not None:
        raise PermissionDenied("tenant defaults belong to the whole partner")
    cleaned = clean_limits(changes)
    names = {
        "monthly_spend_limit_micros": "default_monthly_spend_limit_micros",
        "max_extensions": "default_max_extensions",
        "max_dids": "default_max_dids",
        "max_monthly_minutes": "default_max_monthly_minutes",
        "alert_threshold_percent": "default_alert_threshold_percent",
    }
    with transaction.atomic():
        partner = Partner.objects.select_for_update(no_key=True).get(pk=actor.partner.pk)
        before = defaults_of(partner)
        for field, value in cleaned.items():
            if field == "auto_suspend":
                partner.default_suspension_behavior = "suspend" if value else "alert_only"
            else:
                setattr(partner, names[field], value)
        partner.save()
        audit_record(
            actor=actor,
            action="partner.default_limits_updated",
            object_type="partner",
            object_id=partner.id,
            before=before,
            after=defaults_of(partner),
        )
    return partner


# --- usage ----------------------------------------------------------------------------------


def tenant_usage(tenant: Tenant, now: datetime | None = None) -> dict:
    """The tenant's current usage cycle, as `GET /v1/tenants/{id}/usage` shows it."""
    from trunkline.phone_numbers.services import tenant_numbers_held

    now = now or timezone.now()
    start = usage_cycle_start(tenant.timezone, now)
    end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    usage = TenantUsage.objects.filter(tenant=tenant, cycle_start=start).first()
    seconds = {
        "local": usage.local_seconds if usage else 0,
        "toll_free": usage.toll_free_seconds if usage else 0,
        "international": usage.international_seconds if usage else 0,
    }
    minutes = {name: _minutes(value) for name, value in seconds.items()}
    minutes["total"] = _minutes(sum(seconds.values()))
    return {
        "cycle_start": start,
        "cycle_end": end,
        "minutes": minutes,
        "spend": Money(usage.wholesale_micros if usage else 0).to_json(),
        "calls": usage.calls if usage else 0,
        "extensions": tenant.extensions.count(),
        "dids": tenant_numbers_held(tenant),
    }


def tenants_cycle_usage(tenants, now: datetime | None = None) -> dict[str, dict]:
    """This cycle's spend and billable seconds of each of `tenants` (a page of them), by
    tenant id, from one read of the usage counters: what Settings → Usage Limits shows
    beside the spend and minute caps. A tenant without calls this cycle has zeros."""
    now = now or timezone.now()
    zones: dict[str, object] = {}
    cycles: dict[str, object] = {}
    for tenant in tenants:
        if tenant.timezone not in zones:
            zones[tenant.timezone] = usage_cycle_start(tenant.timezone, now)
        cycles[tenant.id] = zones[tenant.timezone]
    usage = {tenant_id: {"spend_micros": 0, "seconds": 0} for tenant_id in cycles}
    if not cycles:
        return usage
    for row in TenantUsage.objects.filter(
        tenant_id__in=list(cycles), cycle_start__in=set(cycles.values())
    ):
        if cycles[row.tenant_id] != row.cycle_start:
            continue  # another zone's cycle start, a different month for this tenant
        usage[row.tenant_id] = {
            "spend_micros": row.wholesale_micros,
            "seconds": row.local_seconds + row.toll_free_seconds + row.international_seconds,
        }
    return usage


def _minutes(seconds: int) -> float:
    value = Decimal(seconds) / 60
    return float(value.quantize(Decimal("0.01")))


def usage_review(*, partner, tenant_ids, now: datetime) -> int:
    """Check the spend and minute caps of `tenant_ids` after their calls were counted,
    inside the transaction that counted them. Returns tenants suspended."""
    from trunkline.tenants.services import tenant_suspend_automatically

    capped = Tenant.objects.filter(
        Q(monthly_spend_limit_micros__isnull=False) | Q(max_monthly_minutes__isnull=False),
        partner=partner,
        id__in=list(tenant_ids),
        status__in=(Tenant.Status.TRIAL, Tenant.Status.ACTIVE),
    )
    suspended = 0
    cycles: dict[str, object] = {}
    zones: dict[str, object] = {}
    tenants = list(capped)
    for tenant in tenants:
        if tenant.timezone not in zones:
            zones[tenant.timezone] = usage_cycle_start(tenant.timezone, now)
        cycles[tenant.id] = zones[tenant.timezone]
    counters = {
        (usage.tenant_id, usage.cycle_start): usage
        for usage in TenantUsage.objects.filter(
            tenant_id__in=list(cycles), cycle_start__in=set(cycles.values())
        )
    }
    for tenant in tenants:
        cycle = cycles[tenant.id]
        usage = counters.get((tenant.id, cycle))
        if usage is None:
            continue
        seconds = usage.local_seconds + usage.toll_free_seconds + usage.international_seconds
        hit = False
        for limit, used, cap, shown in (
            (
                "monthly_spend_limit",
                usage.wholesale_micros,
                tenant.monthly_spend_limit_micros,
                lambda value: "$" + Money(value).rounded_to_cents().to_json(),
            ),
            (
                "max_monthly_minutes",
                seconds,
                None if tenant.max_monthly_minutes is None else tenant.max_monthly_minutes * 60,
                lambda value: f"{_minutes(value):g} minutes",
            ),
        ):
            if cap is None:
                continue
            if used >= cap:
                hit = True
                _alert(
                    tenant, cycle, limit, LimitAlert.Level.THRESHOLD, shown(used), now, quiet=True
                )
                if not tenant.auto_suspend:
                    _alert(
                        tenant, cycle, limit, LimitAlert.Level.CAP, shown(used), now, cap=shown(cap)
                    )
                else:
                    _alert(tenant, cycle, limit, LimitAlert.Level.CAP, shown(used), now, quiet=True)
            elif used * 100 >= cap * tenant.alert_threshold_percent:
                _alert(
                    tenant,
                    cycle,
                    limit,
                    LimitAlert.Level.THRESHOLD,
                    shown(used),
                    now,
                    cap=shown(cap),
                )
        if (
            hit
            and tenant.auto_suspend
            and tenant_suspend_automatically(tenant=tenant, cause="usage_cap")
        ):
            suspended += 1
    return suspended


def _alert(tenant, cycle, limit, level, used, now, *, quiet=False, cap="") -> None:
    """Record the alert once; email the partner's admins the first time (unless quiet)."""
    try:
        with transaction.atomic():
            LimitAlert.objects.create(
                tenant=tenant,
                cycle_start=cycle,
                limit=limit,
                level=level,
                used=used,
                created_at=now,
            )
    except IntegrityError:
        return  # said already this cycle
    if quiet:
        return
    partner = tenant.partner
    what = LABELS[limit]
    if level == LimitAlert.Level.THRESHOLD:
        subject = f"{tenant.name} has used {tenant.alert_threshold_percent}% of its {what}"
        body = (
            f"{tenant.name} ({tenant.sip_prefix}) has used {used} of its {what} of {cap} "
            f"this cycle, past your alert threshold of {tenant.alert_threshold_percent}%."
        )
    else:
        subject = f"{tenant.name} reached its {what}"
        body = (
            f"{tenant.name} ({tenant.sip_prefix}) has used {used} this cycle, reaching its "
            f"{what} of {cap}. Auto-Suspend is off, so its calls continue."
        )
    send_branded_email(
        partner=partner,
        to=partner_admin_emails(partner),
        subject=subject,
        body=body,
        category=USAGE_ALERT,
    )
