"""The outbox's fan-out: one delivery row per subscribed active endpoint, per event."""

from __future__ import annotations

from collections import defaultdict

from trunkline.webhooks.models import WebhookDelivery, WebhookEndpoint


def fan_out(events) -> list[WebhookDelivery]:
    """Write the events' deliveries in the caller's transaction (the one that wrote the
    events), due at once: one read of the active endpoints of the events' partners, one
    insert."""
    partner_ids = {event.partner_id for event in events}
    endpoints: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    rows = WebhookEndpoint.objects.filter(
        partner_id__in=partner_ids,
        status=WebhookEndpoint.Status.ACTIVE,
        deleted_at__isnull=True,
    ).values_list("partner_id", "id", "events")
    for partner_id, endpoint_id, subscribed in rows:
        endpoints[partner_id].append((endpoint_id, subscribed))
    deliveries = [
        WebhookDelivery(
            partner_id=event.partner_id,
            endpoint_id=endpoint_id,
            event=event,
            next_attempt_at=event.created_at,
            created_at=event.created_at,
        )
        for event in events
        for endpoint_id, subscribed in endpoints[event.partner_id]
        if event.type in subscribed
    ]
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries, batch_size=500)
    return deliveries
