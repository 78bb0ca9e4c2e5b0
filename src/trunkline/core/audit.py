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


def audit_record(
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
    _require_transaction()
    partner = partner if partner is not None else actor.partner
    return AuditEntry.objects.create(
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


def event_emit(*, partner, type: str, data: dict[str, Any]) -> Event:
    """Write the event to the outbox and, in the same transaction, one webhook delivery per
    active endpoint of the partner subscribed to it: a rolled-back change sends nothing,
    and a committed one is delivered even if the process dies right after."""
    from trunkline.webhooks.fanout import fan_out

    _require_transaction()
    if type not in EVENT_TYPES:
        raise ValueError(f"{type!r} is not in the event catalogue (trunkline.core.events)")
    event = Event.objects.create(
        partner=partner, type=type, payload=data, created_at=timezone.now()
    )
    fan_out(event)
    return event


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {key: after[key] for key in after if before.get(key) != after[key]}
