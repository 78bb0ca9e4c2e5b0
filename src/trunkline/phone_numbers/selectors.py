"""Reading numbers, always within what the caller may see: its partner's numbers, and
with a tenant-scoped key only those of its tenants."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound, PermissionDenied
from trunkline.phone_numbers.models import PhoneNumber


def numbers_visible_to(actor: Actor) -> QuerySet[PhoneNumber]:
    if actor.partner is None:
        raise PermissionDenied("numbers belong to a partner")
    numbers = PhoneNumber.objects.filter(partner=actor.partner).exclude(
        status=PhoneNumber.Status.DISCONNECTED
    )
    if actor.tenant_ids is not None:
        numbers = numbers.filter(tenant_id__in=actor.tenant_ids)
    return numbers


def phone_number_get(*, actor: Actor, number_id: str) -> PhoneNumber:
    number = (
        numbers_visible_to(actor).select_related("tenant").filter(id=number_id).first()
        if isinstance(number_id, str)
        else None
    )
    if number is None:
        raise NotFound("no such phone number", field="id")
    return number


def phone_number_list(
    *,
    actor: Actor,
    tenant_id: str | None = None,
    unassigned: bool | None = None,
    status: str | None = None,
    kind: str | None = None,
    e911_status: str | None = None,
    reserved: bool | None = None,
    search: str | None = None,
) -> QuerySet[PhoneNumber]:
    numbers = numbers_visible_to(actor).select_related("tenant")
    if tenant_id:
        numbers = numbers.filter(tenant_id=tenant_id)
    if unassigned is not None:
        numbers = numbers.filter(tenant__isnull=unassigned)
    if status:
        numbers = numbers.filter(status=status)
    if kind:
        numbers = numbers.filter(kind=kind)
    if e911_status:
        numbers = numbers.filter(e911_status=e911_status)
    if reserved is not None:
        numbers = numbers.filter(reserved=reserved)
    if search:
        digits = "".join(char for char in search if char.isdigit())
        match = Q(tenant__name__icontains=search)
        if digits:
            match |= Q(e164__contains=digits)
        numbers = numbers.filter(match)
    return numbers


def port_requests_visible_to(actor: Actor):
    from trunkline.phone_numbers.models import PortRequest

    if actor.partner is None:
        raise PermissionDenied("port requests belong to a partner")
    ports = PortRequest.objects.filter(partner=actor.partner).select_related("tenant", "partner")
    if actor.tenant_ids is not None:
        ports = ports.filter(tenant_id__in=actor.tenant_ids)
    return ports


def port_request_get(*, actor: Actor, port_id: str):
    port = (
        port_requests_visible_to(actor).filter(id=port_id).first()
        if isinstance(port_id, str)
        else None
    )
    if port is None:
        raise NotFound("no such port request", field="id")
    return port


def port_request_list(*, actor: Actor, status: str | None = None, tenant_id: str | None = None):
    ports = port_requests_visible_to(actor)
    if status:
        ports = ports.filter(status=status)
    if tenant_id:
        ports = ports.filter(tenant_id=tenant_id)
    return ports


def port_document_get(*, actor: Actor, port_id: str, document_id: str):
    port = port_request_get(actor=actor, port_id=port_id)
    document = (
        port.documents.filter(id=document_id).first() if isinstance(document_id, str) else None
    )
    if document is None:
        raise NotFound("no such document", field="document_id")
    return document
