"""DID routing: `PUT /v1/tenants/{id}/phone-numbers/{number_id}/route` and
`GET|PUT /v1/tenants/{id}/unassigned-did-route` (see pbx/routing.py)."""

from __future__ import annotations

from ninja import Router, Schema
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.schemas import InSchema
from trunkline.pbx import routing
from trunkline.pbx.api import _tenant

router = Router(tags=["DID routing"])


class DestinationIn(InSchema):
    """Where calls go: `{type: extension|call_flow|voicemail|trunk, id}`,
    `{type: external, number}` (E.164) or `{type: hangup}`."""

    type: str = Field(max_length=20, examples=["voicemail"])
    id: str | None = Field(default=None, max_length=64, examples=["vmb_01jd3…"])
    number: str | None = Field(default=None, max_length=20, examples=["+15015550123"])


class RouteIn(InSchema):
    destination: DestinationIn | None = Field(
        description="null: follow the tenant's unassigned-DID route"
    )


class RouteOut(Schema):
    number_id: str
    number: str = Field(description="E.164")
    destination: dict | None = Field(description="the number's own route; null: none")
    effective_destination: dict | None = Field(
        description="where calls go now: the route, else the user whose main number it is, "
        "else the tenant's unassigned-DID route; null: the not-configured message"
    )
    effective_label: str


class UnassignedRouteOut(Schema):
    tenant_id: str
    destination: dict | None = Field(
        description="null: the platform's \"this number isn't configured\" message"
    )
    label: str


def _destination(payload: RouteIn) -> dict | None:
    if payload.destination is None:
        return None
    return payload.destination.model_dump(exclude_none=True)


@router.get(
    "/tenants/{tenant_id}/phone-numbers/{number_id}/route",
    response=RouteOut,
    auth=scope("phone_numbers:read"),
)
def get_number_route(request, tenant_id: str, number_id: str):
    tenant = _tenant(request, tenant_id)
    return routing.route_json(routing.tenant_number(tenant, number_id[:64]))


@router.put(
    "/tenants/{tenant_id}/phone-numbers/{number_id}/route",
    response=RouteOut,
    auth=scope("phone_numbers:write"),
)
def set_number_route(request, tenant_id: str, number_id: str, payload: RouteIn):
    """Route one of the tenant's ACTIVE or PENDING numbers. A user, call flow, voicemail
    box or trunk must be the tenant's (404 otherwise). A number routed to a user other
    than as its main number is one of the user's additional numbers: past what the
    user's licences allow it is 409 `license_required`."""
    tenant = _tenant(request, tenant_id)
    number = routing.number_route_set(
        actor=request.actor,
        tenant=tenant,
        number=routing.tenant_number(tenant, number_id[:64]),
        destination=_destination(payload),
    )
    return routing.route_json(number)


@router.get(
    "/tenants/{tenant_id}/unassigned-did-route",
    response=UnassignedRouteOut,
    auth=scope("phone_numbers:read"),
)
def get_unassigned_route(request, tenant_id: str):
    """Where calls to the tenant's numbers that are routed nowhere go."""
    return routing.unassigned_route_json(_tenant(request, tenant_id))


@router.put(
    "/tenants/{tenant_id}/unassigned-did-route",
    response=UnassignedRouteOut,
    auth=scope("phone_numbers:write"),
)
def set_unassigned_route(request, tenant_id: str, payload: RouteIn):
    """Set it (`destination: null`: back to the not-configured message)."""
    tenant = _tenant(request, tenant_id)
    routing.unassigned_route_set(
        actor=request.actor, tenant=tenant, destination=_destination(payload)
    )
    return routing.unassigned_route_json(tenant)
