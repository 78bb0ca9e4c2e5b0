"""The outbox's fan-out: one delivery row per subscribed active endpoint, per event."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from trunkline.core.bulk import rows_insert
from trunkline.core.ids import new_ids
from trunkline.webhooks.models import WebhookDelivery, WebhookEndpoint


def fan_out(events: list[tuple[str, str, str]], created_at: datetime) -> int:
    """Write the deliveries of the events, (id, partner id, type) written at `created_at`,
    in the caller's transaction (the one that wrote the events), due at once: one read of
    the active endpoints of the events' partners, one insert. How many were written."""
    partner_ids = {partner_id for _, partner_id, _ in events}
    endpoints: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    rows = WebhookEndpoint.objects.filter(
        partner_id__in=partner_ids,
        status=WebhookEndpoint.Status.ACTIVE,
        deleted_at__isnull=True,
    ).values_list("partner_id", "id", "events")
    for partner_id, endpoint_id, subscribed in rows:
        endpoints[partner_id].append((endpoint_id, set(subscribed)))
    deliveries = [
        (partner_id, endpoint_id, event_id)
        for event_id, partner_id, type in events
        for endpoint_id, subscribed in endpoints.get(partner_id, ())
        if type in subscribed
    ]
    rows_insert(
        WebhookDelivery,
        ("id", "partner_id", "endpoint_id", "event_id"),
        [
            (delivery_id, *delivery)
            for delivery_id, delivery in zip(
                new_ids("whd", len(deliveries)), deliveries, strict=True
            )
        ],
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=created_at,
        created_at=created_at,
    )
    return len(deliveries)
