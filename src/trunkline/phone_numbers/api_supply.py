"""`/v1/phone-numbers/available`: searching the carrier's numbers before buying."""

from __future__ import annotations

from typing import Literal

from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.errors import ValidationFailed
from trunkline.phone_numbers import geography, vanity
from trunkline.phone_numbers.carrier import SearchCriteria, carrier
from trunkline.phone_numbers.pricing import number_price

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


def _state(value: str | None) -> str:
    state = (value or "").strip().upper()
    if not state:
        raise ValidationFailed("state is required for local numbers", field="state")
    if state not in geography.states():
        raise ValidationFailed(f"{state!r} is not a US state with numbers", field="state")
    return state


@router.get("/phone-numbers/available", response=AvailableOut, auth=scope("phone_numbers:read"))
def available_numbers(request, query: Query[AvailableQuery]):
    partner = request.actor.partner
    if query.type == "local":
        if query.pattern:
            raise ValidationFailed("pattern is for toll-free searches", field="pattern")
        criteria = SearchCriteria(
            kind="local",
            state=_state(query.state),
            area_code=query.area_code or "",
            nxx=query.nxx or "",
            city=query.city or "",
            rate_center=query.rate_center or "",
            limit=query.limit or 50,
        )
    else:
        criteria = SearchCriteria(
            kind="toll_free",
            area_code=query.area_code or "",
            pattern=vanity.vanity_pattern(query.pattern) if query.pattern else "",
            limit=query.limit or 10,
        )
    now = timezone.now()
    prices = {}
    data = []
    for offer in carrier().search(criteria):
        key = (offer.kind, offer.monthly_micros, offer.setup_micros)
        if key not in prices:
            prices[key] = number_price(partner=partner, kind=offer.kind, at=now, offer=offer)
        price = prices[key]
        data.append(
            {
                "number": offer.e164,
                "kind": offer.kind,
                "state": offer.state or None,
                "city": offer.city or None,
                "region": f"{offer.city}, {offer.state}" if offer.state else "Toll-free",
                "rate_center": offer.rate_center or None,
                "monthly": price.monthly.to_json(),
                "setup_fee": price.setup.to_json(),
                "per_minute": price.per_minute.to_json(),
            }
        )
    return {"data": data}


@router.get("/phone-numbers/cities", response=CitiesOut, auth=scope("phone_numbers:read"))
def cities(
    request,
    state: str = Query(..., max_length=2),
    q: str = Query("", max_length=64),
):
    """Cities of a state with numbers, for the search form's autocomplete."""
    return {"data": geography.cities(_state(state), q)}
