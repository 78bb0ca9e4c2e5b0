"""Who held what, when: the periods invoices prorate by.

A billable thing (a phone number; extensions when they exist) has at most one open
period, for the tenant holding it. When it changes hands the open period is closed and,
if a tenant now holds it, a new one opened, in the transaction that moved it. Invoices
count, for each period, the tenant's days in the billing period it overlaps.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q

from trunkline.billing.models import ServicePeriod


def service_period_move(
    *,
    object_id: str,
    kind: str,
    label: str,
    partner_id: str,
    tenant_id: str | None,
    at: datetime,
) -> None:
    """`tenant_id` (None: nobody) holds the thing from `at`. Idempotent."""
    with transaction.atomic():
        current = (
            ServicePeriod.objects.select_for_update()
            .filter(object_id=object_id, ended_at__isnull=True)
            .first()
        )
        if current is not None:
            if current.tenant_id == tenant_id and current.kind == kind:
                return
            current.ended_at = max(at, current.started_at)
            current.save(update_fields=["ended_at"])
        if tenant_id is not None:
            ServicePeriod.objects.create(
                partner_id=partner_id,
                tenant_id=tenant_id,
                kind=kind,
                object_id=object_id,
                label=label,
                started_at=at,
            )


def periods_overlapping(
    *, tenant_ids: list[str], start_at: datetime, end_at: datetime
) -> dict[str, list[tuple]]:
    """Every period of these tenants that overlaps [start_at, end_at), by tenant, as
    (kind, object_id, started_at, ended_at): one query for many tenants' `days_held`."""
    periods: dict[str, list[tuple]] = {}
    rows = ServicePeriod.objects.filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start_at),
        tenant_id__in=tenant_ids,
        started_at__lt=end_at,
    ).values_list("tenant_id", "kind", "object_id", "started_at", "ended_at")
    for tenant_id, *period in rows:
        periods.setdefault(tenant_id, []).append(tuple(period))
    return periods


def days_held(
    *, tenant, kind: str, start: date, end: date, periods: list[tuple] | None = None
) -> tuple[int, int]:
    """(days, distinct things): the sum over the tenant's periods of `kind` of the days in
    [start, end) it held each one, in the tenant's time zone. A day counts when the thing
    was held at any moment of it (a number assigned at 3 pm is billed for that day).

    `periods`: the tenant's periods as `periods_overlapping` read them for a window that
    contains this one (else they are read here)."""
    zone = ZoneInfo(tenant.timezone)
    start_at = datetime(start.year, start.month, start.day, tzinfo=zone)
    end_at = datetime(end.year, end.month, end.day, tzinfo=zone)
    if periods is None:
        held_periods = ServicePeriod.objects.filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=start_at),
            tenant=tenant,
            kind=kind,
            started_at__lt=end_at,
        ).values_list("object_id", "started_at", "ended_at")
    else:
        held_periods = [
            (object_id, started_at, ended_at)
            for period_kind, object_id, started_at, ended_at in periods
            if period_kind == kind
            and started_at < end_at
            and (ended_at is None or ended_at > start_at)
        ]
    days_by_thing: dict[str, set[date]] = {}
    for object_id, started_at, ended_at in held_periods:
        first = max(started_at.astimezone(zone).date(), start)
        until = (ended_at or end_at).astimezone(zone)
        # The day it was given up counts unless that was at local midnight.
        last = until.date() + (timedelta(days=1) if until.time() != time(0) else timedelta(0))
        last = min(last, end)
        held = days_by_thing.setdefault(object_id, set())
        for ordinal in range(first.toordinal(), last.toordinal()):
            held.add(date.fromordinal(ordinal))
    return sum(len(days) for days in days_by_thing.values()), len(days_by_thing)
