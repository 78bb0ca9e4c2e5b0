"""The outbox's fan-out: one delivery row per subscribed active endpoint, per event."""

from __future__ import annotations

from trunkline.webhooks.models import WebhookDelivery, WebhookEndpoint


def fan_out(event) -> list[WebhookDelivery]:
    """Write the event's deliveries in the caller's transaction (the one that wrote the
    event), due at once. One read of the partner's active endpoints, one insert."""
    endpoints = WebhookEndpoint.objects.filter(
        partner_id=event.partner_id,
        status=WebhookEndpoint.Status.ACTIVE,
        deleted_at__isnull=True,
    ).values_list("id", "events")
    deliveries = [
        WebhookDelivery(
            partner_id=event.partner_id,
            endpoint_id=endpoint_id,
            event=event,
            next_attempt_at=event.created_at,
            created_at=event.created_at,
        )
        for endpoint_id, events in endpoints
        if event.type in events
    ]
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries)
    return deliveries
