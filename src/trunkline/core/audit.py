"""Writing audit entries and outbox events inside a service's transaction."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.bulk import rows_insert
from trunkline.core.events import EVENT_TYPES
from trunkline.core.ids import new_ids
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
    from trunkline.webhooks.fanout import fan_out

    _check_types([type])
    row = Event(partner=partner, type=type, payload=data, created_at=timezone.now())
    row.save(force_insert=True)
    fan_out([(row.id, row.partner_id, row.type)], row.created_at)
    return row


def events_emit(events: list[tuple[Any, str, dict[str, Any]]]) -> list[str]:
    """`event_emit` for many (partner, type, data) at once; the events' ids. The events
    go in one insert and their deliveries in another, after one read of the partners'
    endpoints. The rows are written without a model instance each (`core.bulk`): for a
    batch of call records, instances cost more than the rest of the events' work."""
    from trunkline.webhooks.fanout import fan_out

    _check_types([type for _, type, _ in events])
    if not events:
        return []
    now = timezone.now()
    connection = transaction.get_connection()
    payload = Event._meta.get_field("payload")
    written = [
        (event_id, partner if isinstance(partner, str) else partner.id, type)
        for event_id, (partner, type, _) in zip(new_ids("evt", len(events)), events, strict=True)
    ]
    rows_insert(
        Event,
        ("id", "partner_id", "type", "payload"),
        [
            (*row, payload.get_db_prep_save(data, connection))
            for row, (_, _, data) in zip(written, events, strict=True)
        ],
        created_at=now,
    )
    fan_out(written, now)
    return [event_id for event_id, _, _ in written]


def _check_types(types: list[str]) -> None:
    # The whole point of event rows is that they commit or roll back with the change.
    _require_transaction()
    for type in types:
        if type not in EVENT_TYPES:
            raise ValueError(f"{type!r} is not in the event catalogue (trunkline.core.events)")


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: after[key] for key in after if before.get(key) != after[key]}
