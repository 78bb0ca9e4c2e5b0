"""`/v1/port-requests`: porting numbers in; `/v1/phone-numbers/{id}/port-out` and
`/v1/tenants/{id}/port-out-pin`: porting out. PINs are accepted, never returned (the
tenant's port-out PIN is shown once, in the answer that sets it)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.http import HttpResponse
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.phone_numbers import porting, porting_out, selectors
from trunkline.phone_numbers.api import PhoneNumberOut, _out
from trunkline.phone_numbers.loa import loa_pdf
from trunkline.phone_numbers.models import PhoneNumber, PortRequest
from trunkline.tenants.schemas import E911AddressIn, E911AddressOut
from trunkline.tenants.selectors import tenant_get

router = Router(tags=["Porting"])
PortStatus = Literal["PENDING", "SUBMITTED", "FOC_RECEIVED", "COMPLETED", "REJECTED", "CANCELLED"]


class PortDocumentOut(Schema):
    id: str
    kind: Literal["loa", "bill"]
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: datetime


class PortHistoryOut(Schema):
    status: str
    at: str
    detail: str


class PortRequestOut(Schema):
    id: str
    tenant_id: str
    tenant_name: str
    status: PortStatus
    numbers: list[str]
    current_carrier: str
    account_holder: str
    business_name: str | None
    account_number: str
    pin_set: bool = Field(description="Whether a PIN is on file; the PIN itself is never shown")
    service_address: E911AddressOut
    desired_date: str | None
    foc_date: str | None
    rejection_reason: str | None
    notes: str | None
    documents: list[PortDocumentOut]
    history: list[PortHistoryOut]
    submitted_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime


class PortRequestIn(InSchema):
    tenant_id: str = Field(max_length=40)
    numbers: list[str] = Field(min_length=1, max_length=100)
    current_carrier: str = Field(max_length=100)
    account_holder: str = Field(max_length=200)
    business_name: str | None = Field(default=None, max_length=200)
    account_number: str = Field(max_length=64)
    pin: str | None = Field(default=None, max_length=20)
    service_address: E911AddressIn
    desired_date: date | None = None
    notes: str | None = Field(default=None, max_length=2000)


class PortRequestPatch(InSchema):
    numbers: list[str] | None = Field(default=None, min_length=1, max_length=100)
    current_carrier: str | None = Field(default=None, max_length=100)
    account_holder: str | None = Field(default=None, max_length=200)
    business_name: str | None = Field(default=None, max_length=200)
    account_number: str | None = Field(default=None, max_length=64)
    pin: str | None = Field(default=None, max_length=20)
    service_address: E911AddressIn | None = None
    desired_date: date | None = None
    notes: str | None = Field(default=None, max_length=2000)


class PortListQuery(Schema):
    status: PortStatus | None = None
    tenant_id: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


class PortOutIn(InSchema):
    gaining_carrier: str = Field(max_length=100)
    pin: str | None = Field(default=None, max_length=20)
    account_number: str | None = Field(default=None, max_length=64)


class PinIn(InSchema):
    pin: str | None = Field(default=None, max_length=12, description="Omit to generate one")


class PinOut(Schema):
    tenant_id: str
    pin: str = Field(description="Shown this once; only a hash is kept")
    set_at: datetime


def port_out(port: PortRequest) -> dict:
    snapshot = porting.port_snapshot(port)
    return {
        **snapshot,
        "tenant_name": port.tenant.name,
        "documents": [
            {
                "id": d.id,
                "kind": d.kind,
                "filename": d.filename,
                "content_type": d.content_type,
                "size": d.size,
                "sha256": d.sha256,
                "uploaded_at": d.uploaded_at,
            }
            for d in port.documents.defer("content")
        ],
        "history": port.history,
        "submitted_at": port.submitted_at,
        "completed_at": port.completed_at,
        "cancelled_at": port.cancelled_at,
        "created_at": port.created_at,
    }


def _fields(payload) -> dict:
    fields = payload.model_dump(exclude_unset=True)
    if fields.get("desired_date") is not None:
        fields["desired_date"] = fields["desired_date"].isoformat()
    return fields


def _get(request, port_id: str) -> PortRequest:
    return selectors.port_request_get(actor=request.actor, port_id=port_id)


@router.post("/port-requests", response={201: PortRequestOut}, auth=scope("phone_numbers:write"))
def create_port(request, payload: PortRequestIn):
    tenant = tenant_get(actor=request.actor, tenant_id=payload.tenant_id)
    fields = _fields(payload)
    fields.pop("tenant_id")
    port = porting.port_request_create(actor=request.actor, tenant=tenant, fields=fields)
    return Status(201, port_out(_get(request, port.id)))


@router.get("/port-requests", response=ListOut[PortRequestOut], auth=scope("phone_numbers:read"))
def list_ports(request, query: Query[PortListQuery]):
    ports = selectors.port_request_list(
        actor=request.actor, status=query.status, tenant_id=query.tenant_id
    )
    page = paginate(
        ports, limit=query.limit, cursor=query.cursor, sort_field="created_at", descending=True
    )
    return {"data": [port_out(port) for port in page.items], "next_cursor": page.next_cursor}


@router.get("/port-requests/{port_id}", response=PortRequestOut, auth=scope("phone_numbers:read"))
def get_port(request, port_id: str):
    return port_out(_get(request, port_id))


@router.patch(
    "/port-requests/{port_id}", response=PortRequestOut, auth=scope("phone_numbers:write")
)
def update_port(request, port_id: str, payload: PortRequestPatch):
    port = _get(request, port_id)
    porting.port_request_update(actor=request.actor, port=port, fields=_fields(payload))
    return port_out(_get(request, port_id))


@router.post(
    "/port-requests/{port_id}/documents",
    response={201: PortDocumentOut},
    auth=scope("phone_numbers:write"),
)
def upload_document(
    request,
    port_id: str,
    kind: Form[Literal["loa", "bill"]],
    file: File[UploadedFile],
):
    port = _get(request, port_id)
    content = file.read(porting.MAX_DOCUMENT_BYTES + 1)
    document = porting.port_document_upload(
        actor=request.actor, port=port, kind=kind, filename=file.name or "", content=content
    )
    return Status(
        201,
        {
            "id": document.id,
            "kind": document.kind,
            "filename": document.filename,
            "content_type": document.content_type,
            "size": document.size,
            "sha256": document.sha256,
            "uploaded_at": document.uploaded_at,
        },
    )


@router.get("/port-requests/{port_id}/documents/{document_id}", auth=scope("phone_numbers:read"))
def download_document(request, port_id: str, document_id: str):
    document = selectors.port_document_get(
        actor=request.actor, port_id=port_id, document_id=document_id
    )
    response = HttpResponse(
        porting.port_document_content(document), content_type=document.content_type
    )
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response


@router.get("/port-requests/{port_id}/loa.pdf", auth=scope("phone_numbers:read"))
def download_loa(request, port_id: str):
    port = _get(request, port_id)
    response = HttpResponse(loa_pdf(port), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="LOA-{port.id}.pdf"'
    return response


@router.post(
    "/port-requests/{port_id}/submit", response=PortRequestOut, auth=scope("phone_numbers:write")
)
def submit_port(request, port_id: str):
    porting.port_request_submit(actor=request.actor, port=_get(request, port_id))
    return port_out(_get(request, port_id))


@router.post(
    "/port-requests/{port_id}/resubmit", response=PortRequestOut, auth=scope("phone_numbers:write")
)
def resubmit_port(request, port_id: str):
    porting.port_request_resubmit(actor=request.actor, port=_get(request, port_id))
    return port_out(_get(request, port_id))


@router.post(
    "/port-requests/{port_id}/cancel", response=PortRequestOut, auth=scope("phone_numbers:write")
)
def cancel_port(request, port_id: str):
    porting.port_request_cancel(actor=request.actor, port=_get(request, port_id))
    return port_out(_get(request, port_id))


# --- porting out ----------------------------------------------------------------------------


@router.post(
    "/tenants/{tenant_id}/port-out-pin", response={201: PinOut}, auth=scope("phone_numbers:write")
)
def set_port_out_pin(request, tenant_id: str, payload: PinIn):
    tenant = tenant_get(actor=request.actor, tenant_id=tenant_id)
    pin = porting_out.tenant_port_out_pin_set(actor=request.actor, tenant=tenant, pin=payload.pin)
    tenant.refresh_from_db()
    return Status(201, {"tenant_id": tenant.id, "pin": pin, "set_at": tenant.port_out_pin_set_at})


class PortOutNumberOut(PhoneNumberOut):
    port_out_pending: bool
    port_out_carrier: str | None


def _number_out(number: PhoneNumber) -> dict:
    number = PhoneNumber.objects.select_related("tenant").get(pk=number.pk)
    return {
        **_out(number),
        "port_out_pending": number.port_out_pending,
        "port_out_carrier": number.port_out_carrier or None,
    }


@router.post(
    "/phone-numbers/{number_id}/port-out",
    response=PortOutNumberOut,
    auth=scope("phone_numbers:write"),
)
def port_out_number(request, number_id: str, payload: PortOutIn):
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    porting_out.number_port_out_request(
        actor=request.actor,
        number=number,
        gaining_carrier=payload.gaining_carrier,
        pin=payload.pin or "",
        account_number=payload.account_number or "",
    )
    return _number_out(number)


@router.post(
    "/phone-numbers/{number_id}/port-out/cancel",
    response=PortOutNumberOut,
    auth=scope("phone_numbers:write"),
)
def cancel_port_out(request, number_id: str):
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    porting_out.number_port_out_cancel(actor=request.actor, number=number)
    return _number_out(number)


@router.post(
    "/phone-numbers/{number_id}/port-out/complete",
    response=PortOutNumberOut,
    auth=scope("phone_numbers:write"),
)
def complete_port_out(request, number_id: str):
    number = selectors.phone_number_get(actor=request.actor, number_id=number_id)
    porting_out.number_port_out_complete(actor=request.actor, number=number)
    return _number_out(number)
