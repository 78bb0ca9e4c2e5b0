"""Schedules: a tenant's business hours and holidays, and whether one is open at a moment.

Hours are weekly windows ("mon"–"sun", from and to as HH:MM, `to` may be "24:00");
several windows may share a day (a lunch break is two windows). Holidays are whole days.
Everything is read in the schedule's own time zone, so a schedule means the same on a
server in any zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import changed_fields
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.pbx.models import Schedule
from trunkline.pbx.references import delete_guard
from trunkline.pbx.services import clean_name, pbx_audit, phone_system_lock, plain
from trunkline.tenants.models import Tenant
from trunkline.tenants.validation import clean_timezone

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_WINDOWS = 50
MAX_HOLIDAYS = 400
MAX_SCHEDULES = 500
OPEN, CLOSED, HOLIDAY = "open", "closed", "holiday"
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")


def _minutes(value, *, field: str) -> int:
    if not isinstance(value, str) or not _CLOCK.fullmatch(value):
        raise ValidationFailed("a time of day is HH:MM, 00:00 to 24:00", field=field)
    hours, minutes = value.split(":")
    return int(hours) * 60 + int(minutes)


def clean_hours(value) -> list[dict]:
    if not isinstance(value, list) or len(value) > MAX_WINDOWS:
        raise ValidationFailed(f"hours is a list of at most {MAX_WINDOWS} windows", field="hours")
    windows = []
    for index, window in enumerate(value):
        field = f"hours[{index}]"
        if not isinstance(window, dict) or set(window) != {"days", "from", "to"}:
            raise ValidationFailed("a window is {days, from, to}", field=field)
        days = window["days"]
        if (
            not isinstance(days, list)
            or not days
            or any(day not in DAYS for day in days)
            or len(set(days)) != len(days)
        ):
            raise ValidationFailed(f"days are some of {', '.join(DAYS)}", field=f"{field}.days")
        start = _minutes(window["from"], field=f"{field}.from")
        end = _minutes(window["to"], field=f"{field}.to")
        if start >= end:
            raise ValidationFailed("a window ends after it starts", field=f"{field}.to")
        windows.append(
            {
                "days": sorted(days, key=DAYS.index),
                "from": window["from"],
                "to": window["to"],
            }
        )
    return windows


def clean_holidays(value) -> list[dict]:
    if not isinstance(value, list) or len(value) > MAX_HOLIDAYS:
        raise ValidationFailed(
            f"holidays is a list of at most {MAX_HOLIDAYS} days", field="holidays"
        )
    found: dict[str, dict] = {}
    for index, holiday in enumerate(value):
        field = f"holidays[{index}]"
        if not isinstance(holiday, dict) or not set(holiday) <= {"date", "name"}:
            raise ValidationFailed("a holiday is {date, name}", field=field)
        try:
            day = date.fromisoformat(holiday.get("date"))
        except (TypeError, ValueError):
            raise ValidationFailed("a holiday's date is YYYY-MM-DD", field=f"{field}.date")
        name = holiday.get("name", "")
        if not isinstance(name, str) or len(name) > 100:
            raise ValidationFailed("a holiday's name is at most 100 characters", field=field)
        if day.isoformat() in found:
            raise ValidationFailed(f"{day} is listed twice", field=f"{field}.date")
        found[day.isoformat()] = {"date": day.isoformat(), "name": " ".join(name.split())}
    return [found[key] for key in sorted(found)]


def schedule_state(schedule: Schedule, at: datetime) -> str:
    """open, closed or holiday at `at`."""
    local = at.astimezone(ZoneInfo(schedule.timezone))
    if any(h["date"] == local.date().isoformat() for h in schedule.holidays):
        return HOLIDAY
    day = DAYS[local.weekday()]
    now = local.hour * 60 + local.minute
    for window in schedule.hours:
        start, end = _minutes(window["from"], field=""), _minutes(window["to"], field="")
        if day in window["days"] and start <= now < end:
            return OPEN
    return CLOSED


def schedule_json(schedule: Schedule) -> dict:
    return {
        "id": schedule.id,
        "tenant_id": schedule.tenant_id,
        "name": schedule.name,
        "timezone": schedule.timezone,
        "hours": schedule.hours,
        "holidays": schedule.holidays,
        "created_at": schedule.created_at,
        "updated_at": schedule.updated_at,
    }


def tenant_schedule(tenant_id: str, schedule_id, *, field: str = "schedule_id") -> Schedule:
    found = (
        Schedule.objects.filter(tenant_id=tenant_id, pk=schedule_id).first()
        if isinstance(schedule_id, str)
        else None
    )
    if found is None:
        raise NotFound("no such schedule", field=field)
    return found


def _name_free(tenant: Tenant, name: str, keep_id: str = "") -> None:
    if Schedule.objects.filter(tenant=tenant, name__iexact=name).exclude(pk=keep_id).exists():
        raise Conflict(f"the tenant already has a schedule named {name!r}", field="name")


def _apply(schedule: Schedule, fields: dict) -> None:
    if "name" in fields:
        schedule.name = clean_name(fields["name"], what="a schedule's")
    if "timezone" in fields:
        schedule.timezone = clean_timezone(fields["timezone"])
    if "hours" in fields:
        schedule.hours = clean_hours(fields["hours"])
    if "holidays" in fields:
        schedule.holidays = clean_holidays(fields["holidays"])


def schedule_create(*, actor: Actor, tenant: Tenant, fields: dict) -> Schedule:
    """A new schedule ({name, timezone?, hours?, holidays?}); the tenant's zone by default."""
    now = timezone.now()
    schedule = Schedule(tenant=tenant, partner_id=tenant.partner_id, timezone=tenant.timezone)
    _apply(schedule, {"name": fields.get("name"), **fields})
    with transaction.atomic():
        tenant = phone_system_lock(actor, tenant)
        if Schedule.objects.filter(tenant=tenant).count() >= MAX_SCHEDULES:
            raise Conflict(f"a tenant has at most {MAX_SCHEDULES} schedules")
        _name_free(tenant, schedule.name)
        schedule.tenant = tenant
        schedule.created_at = schedule.updated_at = now
        schedule.save(force_insert=True)
        pbx_audit(actor, schedule, "schedule.created", after=plain(schedule_json(schedule)))
    return schedule


def schedule_update(*, actor: Actor, schedule: Schedule, changes: dict) -> Schedule:
    with transaction.atomic():
        phone_system_lock(actor, schedule.tenant)
        schedule = Schedule.objects.select_related("tenant__partner").get(pk=schedule.pk)
        before = plain(schedule_json(schedule))
        _apply(schedule, changes)
        _name_free(schedule.tenant, schedule.name, keep_id=schedule.id)
        after = plain(schedule_json(schedule))
        if not changed_fields(before, after):
            return schedule
        schedule.updated_at = timezone.now()
        schedule.save()
        pbx_audit(actor, schedule, "schedule.updated", before, plain(schedule_json(schedule)))
    return schedule


def schedule_delete(*, actor: Actor, schedule: Schedule) -> None:
    """Delete a schedule no call flow uses."""
    with transaction.atomic():
        tenant = phone_system_lock(actor, schedule.tenant)
        schedule = Schedule.objects.filter(pk=schedule.pk).select_related("tenant").first()
        if schedule is None:
            raise NotFound("no such schedule", field="schedule_id")
        delete_guard(
            tenant_id=tenant.id,
            target_type="schedule",
            target_id=schedule.id,
            what=f"schedule {schedule.name}",
        )
        view = plain(schedule_json(schedule))
        schedule.delete()
        schedule.id = view["id"]  # delete() clears it
        pbx_audit(actor, schedule, "schedule.deleted", before=view)
