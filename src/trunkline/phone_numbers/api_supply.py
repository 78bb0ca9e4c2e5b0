"""`/v1/phone-numbers/available`: searching the carrier's numbers before buying."""

from __future__ import annotations

from typing import Literal

from ninja import Query, Router, Schema
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.phone_numbers import availability, geography

router = Router(tags=["Phone numbers"])


class AvailableQuery(Schema):
    type: Literal["local", "toll_free"]
    state: str | None = Field(default=None, max_length=2)
    area_code: str | None = Field(default=None, pattern=r"^[2-9]\d\d$")
    nxx: str | None = Field(default=None, pattern=r"^[2-9]\d\d$")
    city: str | None = Field(default=None, max_length=64)
    rate_center: str | None = Field(default=None, max_length=40)
    pattern: str | None = Field(default=None, max_length=40)
    limit: int | None = Field(default=None, ge=1, le=500)


class AvailableNumber(Schema):
    number: str = Field(description="E.164")
    kind: Literal["local", "toll_free"]
    state: str | None
    city: str | None
    region: str = Field(description="City and state, or Toll-free")
    rate_center: str | None
    monthly: str = Field(description="Your monthly price, dollars")
    setup_fee: str
    per_minute: str


class AvailableOut(Schema):
    data: list[AvailableNumber]


class CitiesOut(Schema):
    data: list[str]


@router.get("/phone-numbers/available", response=AvailableOut, auth=scope("phone_numbers:read"))
def available_numbers(request, query: Query[AvailableQuery]):
    criteria = query.dict()
    kind = criteria.pop("type")
    return {"data": availability.available_numbers(actor=request.actor, kind=kind, **criteria)}


@router.get("/phone-numbers/cities", response=CitiesOut, auth=scope("phone_numbers:read"))
def cities(
    request,
    state: str = Query(..., max_length=2),
    q: str = Query("", max_length=64),
):
    """Cities of a state with numbers, for the search form's autocomplete."""
    return {"data": geography.cities(availability.search_state(state), q)}
