"""The catalogue of domain events a partner can subscribe to.

The names and categories are those of the partner guide's "Webhooks" chapter
(`004_*.txt`). A service emits an event with one call to `event_emit`; an unknown name
there is a programming error, and an unknown name in an endpoint's subscription is a 422.
An event's `data_schema` (from `core.event_schemas`) is what `/v1/openapi.json` publishes
under `webhooks`; events whose features are not built yet have none.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from trunkline.core import event_schemas

PENDING_SCHEMA_NOTE = "The shape of `data` is published when the feature that sends it ships."


@dataclass(frozen=True)
class EventType:
    name: str
    category: str
    description: str
    # The pydantic model of the event's `data`; None while the feature is not built.
    data_schema: type[BaseModel] | None = None


_CATALOGUE: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Tenants",
        (
            ("tenant.created", "A tenant was created, through the portal, the API or sign-up."),
            (
                "tenant.updated",
                "A tenant's details changed; `previous_attributes` holds old values.",
            ),
            ("tenant.suspended", "A tenant was suspended, by hand or by a spending control."),
            ("tenant.unsuspended", "A suspended tenant was restored."),
            ("tenant.deleted", "A tenant was cancelled; it is purged after 90 days."),
        ),
    ),
    (
        "Phone Numbers",
        (
            ("phone_number.purchased", "A number was bought and debited from the wallet."),
            ("phone_number.assigned", "A number was assigned to a tenant (or unassigned)."),
            (
                "phone_number.released",
                "A number was taken back from its tenant; it stays in the inventory.",
            ),
            ("phone_number.updated", "A number's CNAM, E911 address or routing changed."),
        ),
    ),
    (
        # Not in the guide's table (its porting chapter promises an email on every status
        # change); the same changes are events too, named after the port request's status.
        "Porting",
        (
            ("port_request.created", "A port-in request was created (PENDING)."),
            ("port_request.updated", "A port request's details or documents changed."),
            ("port_request.submitted", "A port request was sent (or resent) to the carrier."),
            ("port_request.foc_received", "The carrier confirmed a Firm Order Commit date."),
            ("port_request.completed", "The ported numbers are live on the platform."),
            (
                "port_request.rejected",
                "The carrier rejected the port; `rejection_reason` says why.",
            ),
            ("port_request.cancelled", "The port request was cancelled before completion."),
        ),
    ),
    (
        "Extensions",
        (
            ("extension.created", "An extension was created in a tenant's phone system."),
            ("extension.updated", "An extension's settings changed."),
            ("extension.deleted", "An extension was deleted."),
        ),
    ),
    (
        "Billing",
        (
            ("subscription.updated", "The partner's platform plan changed."),
            ("subscription.activated", "The partner's trial became a paid subscription."),
            ("invoice.created", "An invoice was issued."),
            ("invoice.paid", "An invoice was paid in full."),
            ("invoice.failed", "Collecting an invoice failed."),
            ("payment_method.attached", "A payment method was added."),
            ("payment.failed", "A card or bank payment was declined."),
            ("check-out.session.completed", "A hosted checkout session finished."),
        ),
    ),
    (
        "Calls",
        (
            ("call.initiated", "An outbound call was authorized and started."),
            ("call.answered", "An outbound call was answered."),
            ("call.completed", "An outbound call ended; `data.call` is the rated record."),
            ("call.failed", "An outbound call failed or was refused."),
        ),
    ),
    (
        "Inbound Calls",
        (
            ("inbound_call.ringing", "An inbound call reached a tenant's number."),
            ("inbound_call.answered", "An inbound call was answered."),
            ("inbound_call.completed", "An inbound call ended; `data.call` is the rated record."),
            ("inbound_call.abandoned", "The caller hung up before anyone answered."),
        ),
    ),
)

_DATA_SCHEMAS: dict[str, type[BaseModel]] = {
    "tenant.created": event_schemas.TenantEventData,
    "tenant.updated": event_schemas.TenantUpdatedData,
    "tenant.suspended": event_schemas.TenantSuspendedData,
    "tenant.unsuspended": event_schemas.TenantEventData,
    "tenant.deleted": event_schemas.TenantDeletedData,
    "extension.created": event_schemas.ExtensionEventData,
    "extension.updated": event_schemas.ExtensionUpdatedData,
    "extension.deleted": event_schemas.ExtensionEventData,
    "subscription.activated": event_schemas.SubscriptionActivatedData,
    "subscription.updated": event_schemas.SubscriptionUpdatedData,
    "payment_method.attached": event_schemas.PaymentMethodAttachedData,
    "payment.failed": event_schemas.PaymentFailedData,
    "invoice.created": event_schemas.InvoiceEventData,
    "invoice.paid": event_schemas.InvoiceEventData,
    "invoice.failed": event_schemas.InvoiceFailedData,
    "check-out.session.completed": event_schemas.CheckoutSessionCompletedData,
    "phone_number.purchased": event_schemas.PhoneNumberPurchasedData,
    "phone_number.assigned": event_schemas.PhoneNumberAssignedData,
    "phone_number.released": event_schemas.PhoneNumberAssignedData,
    "phone_number.updated": event_schemas.PhoneNumberUpdatedData,
    "call.completed": event_schemas.CallEventData,
    "call.failed": event_schemas.CallEventData,
    "inbound_call.completed": event_schemas.CallEventData,
    "inbound_call.abandoned": event_schemas.CallEventData,
    **{
        f"port_request.{name}": event_schemas.PortRequestEventData
        for name in (
            "created",
            "updated",
            "submitted",
            "foc_received",
            "completed",
            "rejected",
            "cancelled",
        )
    },
}

EVENT_TYPES: dict[str, EventType] = {
    name: EventType(
        name=name,
        category=category,
        description=description,
        data_schema=_DATA_SCHEMAS.get(name),
    )
    for category, events in _CATALOGUE
    for name, description in events
}

CATEGORIES: tuple[str, ...] = tuple(category for category, _ in _CATALOGUE)


def events_in(category: str) -> list[EventType]:
    return [event for event in EVENT_TYPES.values() if event.category == category]
