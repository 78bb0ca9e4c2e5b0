"""The events of stored call records: `call.completed`, `call.failed`,
`inbound_call.completed` and `inbound_call.abandoned`.

A record newly stored gives one event, in the transaction that stores it; a duplicate or
a rejected record gives none. The stored record keeps no disposition (Asterisk's
ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION): a call with an answer time was answered
(a record with talk time but no answer time gets one when it is checked), and every other
call was not, whatever the reason. Internal calls (extension to extension) give none: the
catalogue's call events are about calls to and from the outside world.

Events are written only for partners with an active webhook endpoint subscribed to the
type. Events are read nowhere but through their webhook deliveries, which are made when
the event is written, so an event no endpoint subscribes to could never be seen; writing
one for each of a million records would cost the import a quarter to a third of its speed
(docs/performance.md, "Call events and following Master.csv").
"""

from __future__ import annotations

from datetime import UTC, datetime

from trunkline.core.audit import events_emit
from trunkline.webhooks.models import WebhookEndpoint

COMPLETED, FAILED = "call.completed", "call.failed"
INBOUND_COMPLETED, ABANDONED = "inbound_call.completed", "inbound_call.abandoned"
CALL_EVENTS = frozenset({COMPLETED, FAILED, INBOUND_COMPLETED, ABANDONED})
# (direction, answered) → event type; internal calls have none
_TYPE = {
    ("outbound", True): COMPLETED,
    ("outbound", False): FAILED,
    ("inbound", True): INBOUND_COMPLETED,
    ("inbound", False): ABANDONED,
}


def call_event_type(direction: str, answered: bool) -> str | None:
    return _TYPE.get((direction, answered))


def subscribed_call_events(partner_id: str) -> frozenset[str]:
    """The call events some active endpoint of the partner subscribes to."""
    wanted: set[str] = set()
    for events in WebhookEndpoint.objects.filter(
        partner_id=partner_id,
        status=WebhookEndpoint.Status.ACTIVE,
        deleted_at__isnull=True,
    ).values_list("events", flat=True):
        wanted.update(events)
    return frozenset(wanted & CALL_EVENTS)


def call_events_emit(partner, calls, cycles: dict) -> int:
    """Emit the events of newly stored calls, in the caller's transaction; how many.

    `calls` are (row, facts) pairs: the stored row as `cdrs._CALL_COLUMNS` (its times and
    cycle adapted for the database) and the record's checked facts, whose times are
    datetimes; `cycles` maps each adapted cycle start back to its date.
    """
    subscribed = subscribed_call_events(partner.id)
    if not subscribed:
        return 0
    events = []
    for row, facts in calls:
        type = _TYPE.get((row[4], facts.answered_at is not None))
        if type in subscribed:
            events.append((partner, type, {"call": _call(row, facts, cycles)}))
    if events:
        events_emit(events)
    return len(events)


def _call(row, facts, cycles) -> dict:
    """The call as `GET /v1/calls` shows it."""
    return {
        "id": row[0],
        "call_id": row[3],
        "tenant_id": row[2],
        "direction": row[4],
        "call_class": row[11],
        "from": row[5],
        "to": row[6],
        "started_at": iso_z(facts.started_at),
        "answered_at": iso_z(facts.answered_at),
        "ended_at": iso_z(facts.ended_at),
        "billsec": row[10],
        "billable_seconds": row[12],
        "cost": dollars(row[13]),
        "cycle_start": cycles[row[18]].isoformat(),
    }


def dollars(micros: int) -> str:
    """`Money(micros).to_json()` for an amount of 0 or more, without Decimal (a quarter of
    the time)."""
    whole, fraction = divmod(micros, 1_000_000)
    digits = f"{fraction:06d}".rstrip("0")
    return f"{whole}.{digits:0<2}"


def iso_z(value: datetime | None) -> str | None:
    """The UTC time as events show times (`2026-11-10T15:00:00Z`)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
