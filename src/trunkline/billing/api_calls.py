"""`/v1/cdrs` and `/v1/calls`: call records in, rated calls out, rejections listed."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Query, Router, Schema
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.billing import cdrs
from trunkline.billing.models import CallRecord, RejectedCallRecord
from trunkline.core.money import Money
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.tenants.selectors import tenant_get

router = Router(tags=["Calls"])


class CdrBatchIn(InSchema):
    # Records are checked one by one in the service, so one bad record is listed with
    # its reason instead of refusing the other 999.
    records: list = Field(min_length=1, max_length=cdrs.MAX_BATCH)


class RejectionOut(Schema):
    index: int
    call_id: str
    reason: str
    field: str | None


class CdrBatchOut(Schema):
    accepted: int
    duplicates: int
    rejected: list[RejectionOut]


class CallOut(Schema):
    id: str
    call_id: str
    tenant_id: str
    direction: str
    call_class: str
    from_number: str = Field(serialization_alias="from")
    to_number: str = Field(serialization_alias="to")
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    billsec: int
    billable_seconds: int
    cost: str
    cycle_start: date


class RejectedOut(Schema):
    id: str
    call_id: str
    reason: str
    field: str
    record: dict
    source: str
    received_at: datetime


class CallsQuery(Schema):
    tenant_id: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


class PageQuery(Schema):
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


@router.post("/cdrs", response={200: CdrBatchOut}, auth=scope("calls:write"))
def ingest_cdrs(request, payload: CdrBatchIn):
    """Rate and store up to 1,000 call records. Records already stored (same `call_id`)
    count as duplicates; records that fail a check are listed with their reason and kept
    for `GET /v1/cdrs/rejected`."""
    result = cdrs.cdrs_ingest(actor=request.actor, records=payload.records)
    return {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
    }


@router.get("/cdrs/rejected", response=ListOut[RejectedOut], auth=scope("calls:read"))
def list_rejected(request, query: Query[PageQuery]):
    queryset = RejectedCallRecord.objects.filter(partner=request.actor.partner)
    page = paginate(queryset, limit=query.limit, cursor=query.cursor, descending=True)
    return {"data": page.items, "next_cursor": page.next_cursor}


def _call(row: CallRecord) -> dict:
    return {
        "id": row.id,
        "call_id": row.call_id,
        "tenant_id": row.tenant_id,
        "direction": row.direction,
        "call_class": row.call_class,
        "from_number": row.from_number,
        "to_number": row.to_number,
        "started_at": row.started_at,
        "answered_at": row.answered_at,
        "ended_at": row.ended_at,
        "billsec": row.billsec,
        "billable_seconds": row.billable_seconds,
        "cost": Money(row.wholesale_micros).to_json(),
        "cycle_start": row.cycle_start,
    }


@router.get("/calls", response=ListOut[CallOut], auth=scope("calls:read"), by_alias=True)
def list_calls(request, query: Query[CallsQuery]):
    """Rated calls, newest first; `cost` is the partner's wholesale cost of the call."""
    queryset = CallRecord.objects.filter(partner=request.actor.partner)
    if request.actor.tenant_ids is not None:
        queryset = queryset.filter(tenant_id__in=request.actor.tenant_ids)
    if query.tenant_id:
        queryset = queryset.filter(
            tenant=tenant_get(actor=request.actor, tenant_id=query.tenant_id)
        )
    page = paginate(queryset, limit=query.limit, cursor=query.cursor, descending=True)
    return {"data": [_call(row) for row in page.items], "next_cursor": page.next_cursor}
