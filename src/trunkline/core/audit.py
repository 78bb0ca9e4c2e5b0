"""Writing audit entries and outbox events inside a service's transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.events import EVENT_TYPES
from trunkline.core.models import AuditEntry, Event


def _require_transaction() -> None:
    # The whole point of both rows is that they commit or roll back with the change.
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit and event rows are written inside the service's transaction")


def audit_entry(
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str,
    partner=None,
    tenant_id: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """An audit row not yet written: `audit_record` writes one, `audit_records` many."""
    partner = partner if partner is not None else actor.partner
    return AuditEntry(
        partner=partner,
        actor_type=actor.kind,
        actor_id=actor.actor_id,
        actor_label=actor.label,
        acting_as_tenant=bool(actor.acting_as_tenant),
        tenant_id=tenant_id or (actor.acting_as_tenant or ""),
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        request_id=actor.request_id,
        ip_address=actor.ip_address,
        created_at=timezone.now(),
    )


def audit_record(**fields: Any) -> AuditEntry:
    """Write one audit row (the arguments of `audit_entry`) in the caller's transaction."""
    return audit_records([audit_entry(**fields)])[0]


def audit_records(entries: list[AuditEntry]) -> list[AuditEntry]:
    """Write many audit rows in one insert, in the caller's transaction."""
    _require_transaction()
    if len(entries) == 1:
        entries[0].save(force_insert=True)
        return entries
    return AuditEntry.objects.bulk_create(entries, batch_size=500)


def event_emit(*, partner, type: str, data: dict[str, Any]) -> Event:
    """Write the event to the outbox and, in the same transaction, one webhook delivery per
    active endpoint of the partner subscribed to it: a rolled-back change sends nothing,
    and a committed one is delivered even if the process dies right after."""
    return events_emit([(partner, type, data)])[0]


def events_emit(events: list[tuple[Any, str, dict[str, Any]]]) -> list[Event]:
    """`event_emit` for many (partner, type, data) at once: the events in one insert, and
    their deliveries with one read of each partner's endpoints."""
    from trunkline.webhooks.fanout import fan_out

    _require_transaction()
    for _, type, _ in events:
        if type not in EVENT_TYPES:
            raise ValueError(f"{type!r} is not in the event catalogue (trunkline.core.events)")
    now = timezone.now()
    rows = [
        Event(partner=partner, type=type, payload=data, created_at=now)
        for partner, type, data in events
    ]
    if len(rows) == 1:
        rows[0].save(force_insert=True)
    else:
        Event.objects.bulk_create(rows, batch_size=500)
    fan_out(rows)
    return rows


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: after[key] for key in after if before.get(key) != after[key]}
