"""Searching the carrier's numbers before buying, priced for the partner asking: the one
read behind `GET /v1/phone-numbers/available` and the portal's Buy DIDs page."""

from __future__ import annotations

import re
from datetime import datetime

from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.errors import PermissionDenied, ValidationFailed
from trunkline.phone_numbers import geography, vanity
from trunkline.phone_numbers.carrier import SearchCriteria, carrier
from trunkline.phone_numbers.models import TOLL_FREE_NPAS
from trunkline.phone_numbers.pricing import number_price

_THREE_DIGITS = re.compile(r"^[2-9]\d\d$")
MAX_RESULTS = 500


def search_state(value: str | None) -> str:
    state = (value or "").strip().upper()
    if not state:
        raise ValidationFailed("state is required for local numbers", field="state")
    if state not in geography.states():
        raise ValidationFailed(f"{state!r} is not a US state with numbers", field="state")
    return state


def _code(value: str | None, field: str, label: str) -> str:
    value = (value or "").strip()
    if value and not _THREE_DIGITS.match(value):
        raise ValidationFailed(f"{label} is three digits, not starting with 0 or 1", field=field)
    return value


def _limit(value: int | None, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or not 1 <= value <= MAX_RESULTS:
        raise ValidationFailed(f"limit is between 1 and {MAX_RESULTS}", field="limit")
    return value


def available_numbers(
    *,
    actor: Actor,
    kind: str,
    state: str | None = None,
    area_code: str | None = None,
    nxx: str | None = None,
    city: str | None = None,
    rate_center: str | None = None,
    pattern: str | None = None,
    limit: int | None = None,
    now: datetime | None = None,
) -> list[dict]:
    """Numbers the carrier can sell now, each with the partner's monthly, setup and
    per-minute price. 422 with the offending `field` for bad criteria."""
    partner = actor.partner
    if partner is None:
        raise PermissionDenied("numbers belong to a partner")
    if kind == "local":
        if pattern:
            raise ValidationFailed("pattern is for toll-free searches", field="pattern")
        criteria = SearchCriteria(
            kind="local",
            state=search_state(state),
            area_code=_code(area_code, "area_code", "an area code"),
            nxx=_code(nxx, "nxx", "an NXX"),
            city=(city or "").strip()[:64],
            rate_center=(rate_center or "").strip()[:40],
            limit=_limit(limit, 50),
        )
    elif kind == "toll_free":
        code = _code(area_code, "area_code", "a toll-free code")
        if code and code not in TOLL_FREE_NPAS:
            raise ValidationFailed(
                f"toll-free codes are {', '.join(TOLL_FREE_NPAS)}", field="area_code"
            )
        criteria = SearchCriteria(
            kind="toll_free",
            area_code=code,
            pattern=vanity.vanity_pattern(pattern) if pattern else "",
            limit=_limit(limit, 10),
        )
    else:
        raise ValidationFailed("type is local or toll_free", field="type")
    now = now or timezone.now()
    prices = {}
    found = []
    for offer in carrier().search(criteria):
        key = (offer.kind, offer.monthly_micros, offer.setup_micros)
        if key not in prices:
            prices[key] = number_price(partner=partner, kind=offer.kind, at=now, offer=offer)
        price = prices[key]
        found.append(
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
    return found
