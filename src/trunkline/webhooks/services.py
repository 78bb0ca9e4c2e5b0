"""Every change to a webhook endpoint or delivery: validated, audited, in one transaction."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, changed_fields
from trunkline.core.errors import InvalidTransition, PermissionDenied, ValidationFailed
from trunkline.core.events import EVENT_TYPES
from trunkline.webhooks import signing
from trunkline.webhooks.addresses import clean_endpoint_url
from trunkline.webhooks.models import WebhookDelivery, WebhookEndpoint

MAX_DESCRIPTION_LENGTH = 500
_CATALOGUE_ORDER = {name: position for position, name in enumerate(EVENT_TYPES)}


def require_webhook_access(actor: Actor) -> None:
    """Webhooks are the partner's: every tenant's events go through them, so a key limited
    to some tenants may neither read nor change them."""
    if actor.partner is None:
        raise PermissionDenied("webhook endpoints belong to a partner")
    if actor.tenant_ids is not None:
        raise PermissionDenied("a key limited to some tenants cannot use webhooks")


def _require_writer(actor: Actor) -> None:
    require_webhook_access(actor)
    if not actor.can_write:
        raise PermissionDenied("this account is read-only")


def clean_events(events) -> list[str]:
    """Names from the guide's catalogue, each once, in the catalogue's order."""
    if not isinstance(events, list | tuple) or not events:
        raise ValidationFailed("choose at least one event", field="events")
    for name in events:
        if not isinstance(name, str) or name not in EVENT_TYPES:
            raise ValidationFailed(f"unknown event type {name!r}", field="events")
    return sorted(set(events), key=_CATALOGUE_ORDER.__getitem__)


def clean_description(description) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise ValidationFailed("description must be text", field="description")
    description = description.strip()
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise ValidationFailed(
            f"description is at most {MAX_DESCRIPTION_LENGTH} characters", field="description"
        )
    return description


def endpoint_snapshot(endpoint: WebhookEndpoint) -> dict:
    """What the audit log keeps of an endpoint; never the secret."""
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": list(endpoint.events),
        "status": endpoint.status,
    }


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    locked = (
        WebhookEndpoint.objects.select_for_update()
        .filter(pk=endpoint.pk, deleted_at__isnull=True)
        .first()
    )
    if locked is None:
        raise InvalidTransition("the endpoint was deleted", field="id")
    return locked


def _audit(actor: Actor, action: str, endpoint: WebhookEndpoint, before=None, after=None) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type="webhook_endpoint",
        object_id=endpoint.id,
        partner=endpoint.partner,
        before=before,
        after=after,
    )


def endpoint_create(
    *, actor: Actor, url: str, events: list[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """A new active endpoint and its signing secret, which is returned here only."""
    _require_writer(actor)
    url = clean_endpoint_url(url)
    events = clean_events(events)
    description = clean_description(description)
    now = timezone.now()
    endpoint = WebhookEndpoint(
        partner=actor.partner,
        url=url,
        description=description,
        events=events,
        created_at=now,
        updated_at=now,
    )
    secret = signing.secret_generate()
    endpoint.secret_encrypted = signing.secret_seal(secret, endpoint_id=endpoint.id)
    with transaction.atomic():
        endpoint.save(force_insert=True)
        _audit(actor, "webhook_endpoint.created", endpoint, after=endpoint_snapshot(endpoint))
    return endpoint, secret


def endpoint_update(
    *,
    actor: Actor,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    description: str | None = None,
    events: list[str] | None = None,
) -> WebhookEndpoint:
    """Change the URL, description or events; None leaves a field as it is."""
    _require_writer(actor)
    cleaned: dict = {}
    if url is not None:
        cleaned["url"] = clean_endpoint_url(url)
    if description is not None:
        cleaned["description"] = clean_description(description)
    if events is not None:
        cleaned["events"] = clean_events(events)
    with transaction.atomic():
        endpoint = _locked(endpoint)
        before = endpoint_snapshot(endpoint)
        for field, value in cleaned.items():
            setattr(endpoint, field, value)
        after = endpoint_snapshot(endpoint)
        diff = changed_fields(before, after)
        if not diff:
            return endpoint
        endpoint.updated_at = timezone.now()
        endpoint.save(update_fields=[*diff, "updated_at"])
        _audit(
            actor,
            "webhook_endpoint.updated",
            endpoint,
            before={key: before[key] for key in diff},
            after=diff,
        )
    return endpoint


def _park_outstanding(endpoint: WebhookEndpoint) -> None:
    # A disabled endpoint is sent nothing; its outstanding deliveries wait, off the
    # workers' due list, until it is enabled again.
    WebhookDelivery.objects.filter(
        endpoint=endpoint, status__in=WebhookDelivery.OUTSTANDING
    ).update(next_attempt_at=None)


def _resume_outstanding(endpoint: WebhookEndpoint, now: datetime) -> None:
    WebhookDelivery.objects.filter(
        endpoint=endpoint, status__in=WebhookDelivery.OUTSTANDING
    ).update(next_attempt_at=now)


def endpoint_set_status(*, actor: Actor, endpoint: WebhookEndpoint, status: str) -> WebhookEndpoint:
    """Toggle Status. Enabling starts the failure count again and resumes what was waiting."""
    _require_writer(actor)
    if status not in WebhookEndpoint.Status.values:
        raise ValidationFailed("status is ACTIVE or DISABLED", field="status")
    with transaction.atomic():
        endpoint = _locked(endpoint)
        if endpoint.status == status:
            return endpoint
        before = {"status": endpoint.status, "disabled_reason": endpoint.disabled_reason}
        now = timezone.now()
        endpoint.status = status
        if status == WebhookEndpoint.Status.ACTIVE:
            endpoint.disabled_reason = WebhookEndpoint.DisabledReason.NONE
            endpoint.consecutive_failures = 0
            _resume_outstanding(endpoint, now)
            action = "webhook_endpoint.enabled"
        else:
            endpoint.disabled_reason = WebhookEndpoint.DisabledReason.MANUAL
            _park_outstanding(endpoint)
            action = "webhook_endpoint.disabled"
        endpoint.updated_at = now
        endpoint.save(
            update_fields=["status", "disabled_reason", "consecutive_failures", "updated_at"]
        )
        _audit(
            actor,
            action,
            endpoint,
            before=before,
            after={"status": endpoint.status, "disabled_reason": endpoint.disabled_reason},
        )
    return endpoint


def endpoint_delete(*, actor: Actor, endpoint: WebhookEndpoint) -> None:
    """Remove the endpoint: nothing more is sent to it, its delivery history stays."""
    _require_writer(actor)
    with transaction.atomic():
        endpoint = _locked(endpoint)
        now = timezone.now()
        endpoint.deleted_at = now
        endpoint.updated_at = now
        endpoint.save(update_fields=["deleted_at", "updated_at"])
        # Outstanding deliveries end here; an attempt already in flight is still recorded,
        # but its claim is gone, so it cannot bring the delivery back.
        WebhookDelivery.objects.filter(
            endpoint=endpoint, status__in=WebhookDelivery.OUTSTANDING
        ).update(
            status=WebhookDelivery.Status.DEAD,
            next_attempt_at=None,
            claimed_by="",
            claimed_until=None,
            last_error="endpoint deleted",
        )
        _audit(actor, "webhook_endpoint.deleted", endpoint, before=endpoint_snapshot(endpoint))


def endpoint_rotate_secret(*, actor: Actor, endpoint: WebhookEndpoint) -> str:
    """A new secret, returned here only; the old one signs nothing from now on."""
    _require_writer(actor)
    secret = signing.secret_generate()
    with transaction.atomic():
        endpoint = _locked(endpoint)
        now = timezone.now()
        endpoint.secret_encrypted = signing.secret_seal(secret, endpoint_id=endpoint.id)
        endpoint.secret_rotated_at = now
        endpoint.updated_at = now
        endpoint.save(update_fields=["secret_encrypted", "secret_rotated_at", "updated_at"])
        _audit(actor, "webhook_endpoint.secret_rotated", endpoint, after={"rotated_at": str(now)})
    return secret


def delivery_redeliver(*, actor: Actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send the delivery again: same event, same id, same body, on a fresh retry plan."""
    _require_writer(actor)
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .select_related("endpoint", "event")
            .get(pk=delivery.pk)
        )
        endpoint = delivery.endpoint
        if endpoint.deleted_at is not None:
            raise InvalidTransition("the endpoint was deleted", field="endpoint_id")
        if endpoint.status != WebhookEndpoint.Status.ACTIVE:
            raise InvalidTransition(
                "the endpoint is disabled; enable it first", field="endpoint_id"
            )
        now = timezone.now()
        before = {"status": delivery.status, "attempts": delivery.attempts}
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = now
        delivery.claimed_by = ""
        delivery.claimed_until = None
        delivery.delivered_at = None
        delivery.redelivered_at = now
        delivery.save(
            update_fields=[
                "status",
                "attempts",
                "next_attempt_at",
                "claimed_by",
                "claimed_until",
                "delivered_at",
                "redelivered_at",
            ]
        )
        audit_record(
            actor=actor,
            action="webhook_delivery.redelivered",
            object_type="webhook_delivery",
            object_id=delivery.id,
            partner=delivery.partner,
            before=before,
            after={"status": delivery.status, "event_id": delivery.event_id},
        )
    return delivery


def endpoint_disable_automatically(*, endpoint_id: str, reason: str) -> bool:
    """Disable an endpoint the platform gave up on (100 failures in a row, or 410 Gone) and
    tell the partner's admins. Returns False when it was not active any more."""
    from trunkline.webhooks.notifications import notify_endpoint_disabled

    with transaction.atomic():
        endpoint = (
            WebhookEndpoint.objects.select_for_update()
            .select_related("partner")
            .filter(pk=endpoint_id, status=WebhookEndpoint.Status.ACTIVE, deleted_at__isnull=True)
            .first()
        )
        if endpoint is None:
            return False
        endpoint.status = WebhookEndpoint.Status.DISABLED
        endpoint.disabled_reason = reason
        endpoint.updated_at = timezone.now()
        endpoint.save(update_fields=["status", "disabled_reason", "updated_at"])
        _park_outstanding(endpoint)
        _audit(
            Actor.system(partner=endpoint.partner),
            "webhook_endpoint.disabled",
            endpoint,
            before={"status": WebhookEndpoint.Status.ACTIVE},
            after={
                "status": endpoint.status,
                "disabled_reason": reason,
                "consecutive_failures": endpoint.consecutive_failures,
            },
        )
        notify_endpoint_disabled(endpoint)
    return True
