"""`/v1/webhook-endpoints`, `/v1/webhook-deliveries` and `/v1/webhook-event-types`."""

from __future__ import annotations

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.errors import ValidationFailed
from trunkline.core.events import EVENT_TYPES
from trunkline.core.pagination import paginate
from trunkline.core.schemas import ListOut
from trunkline.webhooks import selectors, services
from trunkline.webhooks.schemas import (
    DeliveryDetailOut,
    DeliveryOut,
    DeliveryStatus,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecretOut,
    EventTypeOut,
)

router = Router(tags=["Webhooks"])

# A response carrying a signing secret must not be kept by any cache on the way.
_NO_STORE = {"Cache-Control": "no-store"}


class PageQuery(Schema):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


class DeliveryQuery(PageQuery):
    status: DeliveryStatus | None = None


def _with_secret(response: HttpResponse, endpoint, secret: str):
    for name, value in _NO_STORE.items():
        response[name] = value
    endpoint.secret = secret  # on this instance only, for this one response
    return endpoint


@router.get("/webhook-event-types", response=ListOut[EventTypeOut], auth=scope("webhooks:read"))
def list_event_types(request):
    """The events an endpoint can subscribe to, grouped by category."""
    return {"data": list(EVENT_TYPES.values()), "next_cursor": None}


@router.post(
    "/webhook-endpoints", response={201: EndpointWithSecretOut}, auth=scope("webhooks:write")
)
def create_endpoint(request, response: HttpResponse, payload: EndpointIn):
    """Create an endpoint. Its signing `secret` is in this response and nowhere else."""
    endpoint, secret = services.endpoint_create(
        actor=request.actor,
        url=payload.url,
        events=payload.events,
        description=payload.description or "",
    )
    return Status(201, _with_secret(response, endpoint, secret))


@router.get("/webhook-endpoints", response=ListOut[EndpointOut], auth=scope("webhooks:read"))
def list_endpoints(request, query: Query[PageQuery]):
    page = paginate(
        selectors.endpoint_list(actor=request.actor),
        limit=query.limit,
        cursor=query.cursor,
        sort_field="created_at",
        descending=True,
    )
    return {"data": page.items, "next_cursor": page.next_cursor}


@router.get("/webhook-endpoints/{endpoint_id}", response=EndpointOut, auth=scope("webhooks:read"))
def get_endpoint(request, endpoint_id: str):
    return selectors.endpoint_get(actor=request.actor, endpoint_id=endpoint_id)


@router.patch(
    "/webhook-endpoints/{endpoint_id}", response=EndpointOut, auth=scope("webhooks:write")
)
def update_endpoint(request, endpoint_id: str, payload: EndpointPatch):
    """Change the URL, description or events; `status` toggles the endpoint."""
    endpoint = selectors.endpoint_get(actor=request.actor, endpoint_id=endpoint_id)
    changes = payload.model_dump(exclude_unset=True)
    for required in ("url", "events", "status"):
        if required in changes and changes[required] is None:
            raise ValidationFailed(f"{required} cannot be null", field=required)
    if {"url", "description", "events"} & changes.keys():
        endpoint = services.endpoint_update(
            actor=request.actor,
            endpoint=endpoint,
            url=changes.get("url"),
            description=(changes["description"] or "") if "description" in changes else None,
            events=changes.get("events"),
        )
    if changes.get("status") is not None:
        endpoint = services.endpoint_set_status(
            actor=request.actor, endpoint=endpoint, status=changes["status"]
        )
    return selectors.endpoint_get(actor=request.actor, endpoint_id=endpoint_id)


@router.delete(
    "/webhook-endpoints/{endpoint_id}", response={204: None}, auth=scope("webhooks:write")
)
def delete_endpoint(request, endpoint_id: str):
    """Delete the endpoint. Nothing more is sent to it; its delivery history is kept."""
    endpoint = selectors.endpoint_get(actor=request.actor, endpoint_id=endpoint_id)
    services.endpoint_delete(actor=request.actor, endpoint=endpoint)
    return Status(204, None)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret",
    response=EndpointWithSecretOut,
    auth=scope("webhooks:write"),
)
def rotate_secret(request, response: HttpResponse, endpoint_id: str):
    """A new signing secret, shown this once; the old one stops signing at once."""
    endpoint = selectors.endpoint_get(actor=request.actor, endpoint_id=endpoint_id)
    secret = services.endpoint_rotate_secret(actor=request.actor, endpoint=endpoint)
    endpoint = selectors.endpoint_get(actor=request.actor, endpoint_id=endpoint_id)
    return _with_secret(response, endpoint, secret)


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries",
    response=ListOut[DeliveryOut],
    auth=scope("webhooks:read"),
)
def list_deliveries(request, endpoint_id: str, query: Query[DeliveryQuery]):
    """The deliveries debugger: the endpoint's deliveries, newest first."""
    page = paginate(
        selectors.deliveries_of(actor=request.actor, endpoint_id=endpoint_id, status=query.status),
        limit=query.limit,
        cursor=query.cursor,
        sort_field="created_at",
        descending=True,
    )
    return {"data": page.items, "next_cursor": page.next_cursor}


def _detail(delivery):
    delivery.attempt_log_rows = list(selectors.attempt_list(delivery=delivery))
    return delivery


@router.get(
    "/webhook-deliveries/{delivery_id}", response=DeliveryDetailOut, auth=scope("webhooks:read")
)
def get_delivery(request, delivery_id: str):
    """One delivery with every attempt made: request headers and body, and the response."""
    return _detail(selectors.delivery_get(actor=request.actor, delivery_id=delivery_id))


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver",
    response=DeliveryOut,
    auth=scope("webhooks:write"),
)
def redeliver(request, delivery_id: str):
    """Send the same event again (same id, same body), on a fresh retry plan."""
    delivery = selectors.delivery_get(actor=request.actor, delivery_id=delivery_id)
    services.delivery_redeliver(actor=request.actor, delivery=delivery)
    return selectors.delivery_get(actor=request.actor, delivery_id=delivery_id)
