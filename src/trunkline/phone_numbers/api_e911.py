"""`/v1/e911/summary`: where the partner stands on E911, from the same selector as the
portal's E911 page."""

from __future__ import annotations

from typing import Literal

from ninja import Query, Router, Schema
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.phone_numbers.e911_selectors import UNREACHABLE, e911_counts, e911_number_list
from trunkline.tenants.schemas import E911AddressOut
from trunkline.tenants.selectors import tenant_get

router = Router(tags=["E911"])


class E911Counts(Schema):
    NOT_SET: int
    FAILED: int
    PENDING: int
    REGISTERED: int


class AttentionNumber(Schema):
    id: str
    number: str = Field(description="E.164")
    tenant_id: str | None
    tenant_name: str | None
    e911_status: Literal["NOT_SET", "FAILED"]
    e911_address: E911AddressOut | None
    e911_error: str | None


class E911SummaryOut(Schema):
    counts: E911Counts = Field(description="Numbers in each E911 status")
    needs_attention: list[AttentionNumber] = Field(
        description="Not Set first, then Failed; at most `limit`"
    )
    needs_attention_total: int


class SummaryQuery(Schema):
    tenant_id: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=50, ge=1, le=500)


@router.get("/e911/summary", response=E911SummaryOut, auth=scope("phone_numbers:read"))
def e911_summary(request, query: Query[SummaryQuery]):
    if query.tenant_id:
        tenant_get(actor=request.actor, tenant_id=query.tenant_id)  # a foreign id is a 404
    counts = e911_counts(actor=request.actor, tenant_id=query.tenant_id)
    attention = e911_number_list(actor=request.actor, tenant_id=query.tenant_id).filter(
        e911_status__in=UNREACHABLE
    )[: query.limit]
    return {
        "counts": counts,
        "needs_attention": [
            {
                "id": number.id,
                "number": number.e164,
                "tenant_id": number.tenant_id,
                "tenant_name": number.tenant.name if number.tenant_id else None,
                "e911_status": number.e911_status,
                "e911_address": number.e911_address,
                "e911_error": number.e911_error or None,
            }
            for number in attention
        ],
        "needs_attention_total": sum(counts[status] for status in UNREACHABLE),
    }
