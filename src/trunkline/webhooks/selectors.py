"""Webhook reads, always through the caller's partner."""

from __future__ import annotations

from django.db.models import QuerySet

from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound
from trunkline.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from trunkline.webhooks.services import require_webhook_access

DEBUGGER_LIMIT = 100


def endpoint_list(*, actor: Actor) -> QuerySet[WebhookEndpoint]:
    """The partner's endpoints, newest first; deleted ones are gone from view."""
    require_webhook_access(actor)
    return WebhookEndpoint.objects.filter(partner=actor.partner, deleted_at__isnull=True)


def endpoint_get(*, actor: Actor, endpoint_id: str) -> WebhookEndpoint:
    endpoint = (
        endpoint_list(actor=actor).filter(id=endpoint_id).first()
        if isinstance(endpoint_id, str)
        else None
    )
    if endpoint is None:
        # Foreign, deleted and unknown ids answer alike, so ids cannot be probed.
        raise NotFound("no such webhook endpoint", field="endpoint_id")
    return endpoint


def deliveries_of(
    *, actor: Actor, endpoint_id: str, status: str | None = None
) -> QuerySet[WebhookDelivery]:
    """An endpoint's deliveries (event loaded), for paging through them newest first."""
    endpoint = endpoint_get(actor=actor, endpoint_id=endpoint_id)
    queryset = WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event")
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def delivery_list(
    *, actor: Actor, endpoint_id: str, limit: int = DEBUGGER_LIMIT
) -> list[WebhookDelivery]:
    """The deliveries debugger: the endpoint's most recent deliveries, newest first."""
    return list(
        deliveries_of(actor=actor, endpoint_id=endpoint_id).order_by("-created_at", "-id")[:limit]
    )


def delivery_get(*, actor: Actor, delivery_id: str) -> WebhookDelivery:
    """A delivery of the partner's, also when its endpoint has since been deleted."""
    require_webhook_access(actor)
    delivery = (
        WebhookDelivery.objects.select_related("event", "endpoint")
        .filter(partner=actor.partner, id=delivery_id)
        .first()
        if isinstance(delivery_id, str)
        else None
    )
    if delivery is None:
        raise NotFound("no such webhook delivery", field="delivery_id")
    return delivery


def attempt_list(*, delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    """Every attempt of a delivery, newest first (the caller already holds the delivery)."""
    return WebhookAttempt.objects.filter(delivery=delivery).order_by(
        "-started_at", "-number", "-id"
    )
