"""The simulated carrier's inventory: generating it, and searching it.

`supply_seed` fills `SupplyNumber` with numbers in real US exchanges (from `geography`)
and in the toll-free codes, chosen by a seeded random generator so the same arguments
always give the same numbers. `supply_search` answers the Buy DIDs searches from it with
index range scans only, whatever the filter, so it stays fast at millions of rows.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator

from django.db.models import Q

from trunkline.core.errors import ValidationFailed
from trunkline.phone_numbers import geography, vanity
from trunkline.phone_numbers.carrier import Offer, SearchCriteria
from trunkline.phone_numbers.models import TOLL_FREE_NPAS, NumberKind, PhoneNumber, SupplyNumber

MAX_RESULTS = 500
# A vanity search reads at most this many candidate rows after the index narrowed them
# (a pattern fixing only middle digits of a rare combination can find fewer results).
VANITY_SCAN_LIMIT = 200_000
_CHUNK = 2_000


def _row(digits: str, kind: str, state="", city="", source="simulated") -> SupplyNumber:
    return SupplyNumber(
        e164="+1" + digits,
        digits=digits,
        reversed_digits=digits[::-1],
        kind=kind,
        state=state,
        npa=digits[:3],
        nxx=digits[3:6],
        rate_center=geography.rate_center_of(city) if city else "",
        city=city,
        source=source,
    )


def _lines(rng: random.Random, count: int) -> list[str]:
    # 0100-0199 of any exchange is kept for tests and directory services by convention;
    # leave it out so every generated number is one a customer could be given.
    picks = rng.sample(range(200, 10_000), min(count, 9_800))
    return sorted(f"{line:04d}" for line in picks)


def seed_rows(
    *, states: Iterable[str] | None = None, per_exchange: int = 3, toll_free: int = 2_000, seed=0
) -> Iterator[SupplyNumber]:
    """The rows `supply_seed` inserts, in number order (local first)."""
    wanted = set(states) if states is not None else None
    for exchange in geography.exchanges():
        if wanted is not None and exchange.state not in wanted:
            continue
        rng = random.Random(f"{seed}:{exchange.npa}{exchange.nxx}")  # noqa: S311 - a simulation
        for line in _lines(rng, per_exchange):
            yield _row(
                exchange.npa + exchange.nxx + line,
                NumberKind.LOCAL,
                state=exchange.state,
                city=exchange.city,
            )
    per_code = toll_free // len(TOLL_FREE_NPAS)
    for npa in TOLL_FREE_NPAS:
        rng = random.Random(f"{seed}:tf:{npa}")  # noqa: S311 - a simulation
        numbers = rng.sample(range(2_000_000, 10_000_000), per_code)
        for number in sorted(numbers):
            yield _row(f"{npa}{number:07d}", NumberKind.TOLL_FREE)


def supply_seed(
    *,
    states: Iterable[str] | None = None,
    per_exchange: int = 3,
    toll_free: int = 2_000,
    seed=0,
    batch_size: int = 5_000,
) -> int:
    """Add the generated inventory (numbers already in supply or owned by a partner are
    skipped); return how many rows were written."""
    owned = set(
        PhoneNumber.objects.exclude(status=PhoneNumber.Status.DISCONNECTED).values_list(
            "e164", flat=True
        )
    )
    written = 0
    batch: list[SupplyNumber] = []
    for row in seed_rows(states=states, per_exchange=per_exchange, toll_free=toll_free, seed=seed):
        if row.e164 in owned:
            continue
        batch.append(row)
        if len(batch) >= batch_size:
            written += len(SupplyNumber.objects.bulk_create(batch, ignore_conflicts=True))
            batch = []
    if batch:
        written += len(SupplyNumber.objects.bulk_create(batch, ignore_conflicts=True))
    return written


def _offer(row) -> Offer:
    e164, kind, state, rate_center, city, monthly, setup = row
    return Offer(e164, kind, state, rate_center, city, monthly, setup)


_OFFER_FIELDS = ("e164", "kind", "state", "rate_center", "city", "monthly_micros", "setup_micros")


def _range(field: str, prefix: str) -> Q:
    """`field` starts with the digits `prefix`, as an index range (not LIKE, which an
    index in a non-C collation cannot serve on PostgreSQL)."""
    if not prefix:
        return Q()
    upper = str(int(prefix) + 1).zfill(len(prefix))
    if len(upper) > len(prefix):  # all nines: no upper bound within the width
        return Q(**{f"{field}__gte": prefix})
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": upper})


def supply_search(criteria: SearchCriteria) -> list[Offer]:
    limit = max(1, min(criteria.limit, MAX_RESULTS))
    if criteria.kind == NumberKind.LOCAL:
        return _search_local(criteria, limit)
    if criteria.kind == NumberKind.TOLL_FREE:
        if criteria.pattern:
            return _search_vanity(criteria.pattern, limit)
        rows = SupplyNumber.objects.filter(kind=NumberKind.TOLL_FREE)
        if criteria.area_code:
            rows = rows.filter(npa=criteria.area_code)
        return [_offer(row) for row in rows.order_by("digits").values_list(*_OFFER_FIELDS)[:limit]]
    raise ValidationFailed("type is local or toll_free", field="type")


def _search_local(criteria: SearchCriteria, limit: int) -> list[Offer]:
    state = criteria.state
    rows = SupplyNumber.objects.filter(kind=NumberKind.LOCAL, state=state)
    if criteria.area_code:
        rows = rows.filter(npa=criteria.area_code)
    if criteria.nxx:
        rows = rows.filter(nxx=criteria.nxx)
    if criteria.city:
        city = geography.city_name(state, criteria.city)
        if city is None:
            return []
        rows = rows.filter(city=city)
    if criteria.rate_center:
        rows = rows.filter(rate_center=criteria.rate_center.strip().upper())
    # Number order. Digits begin with the area code and exchange, so (npa, nxx, digits)
    # is the same order, and the one the state's index (kind, state, npa, nxx, digits)
    # yields without sorting; a city or rate center has an index ending in digits.
    order = ("digits",) if criteria.city or criteria.rate_center else ("npa", "nxx", "digits")
    return [_offer(row) for row in rows.order_by(*order).values_list(*_OFFER_FIELDS)[:limit]]


def _search_vanity(pattern: str, limit: int) -> list[Offer]:
    head, tail = vanity.fixed_ends(pattern)
    rows = SupplyNumber.objects.filter(kind=NumberKind.TOLL_FREE)
    # Let the index take the longer fixed end; the other end and the middle are checked
    # on the rows it yields.
    if len(tail) > len(head):
        rows = rows.filter(_range("reversed_digits", tail[::-1])).order_by("reversed_digits")
    else:
        rows = rows.filter(_range("digits", head)).order_by("digits")
    found: list[Offer] = []
    scanned = 0
    last = None
    while scanned < VANITY_SCAN_LIMIT and len(found) < limit:
        page = rows
        if last is not None:
            key = "reversed_digits" if len(tail) > len(head) else "digits"
            page = page.filter(**{f"{key}__gt": last})
        chunk = list(page.values_list("digits", "reversed_digits", *_OFFER_FIELDS)[:_CHUNK])
        if not chunk:
            break
        scanned += len(chunk)
        for digits, _reversed, *offer in chunk:
            if vanity.matches(pattern, digits):
                found.append(_offer(offer))
        last = chunk[-1][1] if len(tail) > len(head) else chunk[-1][0]
    found.sort(key=lambda offer: offer.e164)
    return found[:limit]


def supply_offers(numbers: list[str]) -> dict[str, Offer]:
    rows = SupplyNumber.objects.filter(e164__in=numbers).values_list(*_OFFER_FIELDS)
    return {row[0]: _offer(row) for row in rows}


def supply_take(numbers: list[str]) -> None:
    """Remove these numbers from supply, all or none: NumbersUnavailable names the ones
    already gone. The delete's row count decides, so of two orders racing for a number
    exactly one gets it (on PostgreSQL the second waits for the first to commit)."""
    from django.db import transaction

    from trunkline.phone_numbers.carrier import NumbersUnavailable

    wanted = sorted(set(numbers))
    try:
        with transaction.atomic():
            deleted, _ = SupplyNumber.objects.filter(e164__in=wanted).delete()
            if deleted != len(wanted):
                raise NumbersUnavailable([])
    except NumbersUnavailable:
        still = set(SupplyNumber.objects.filter(e164__in=wanted).values_list("e164", flat=True))
        missing = [number for number in wanted if number not in still]
        raise NumbersUnavailable(missing or wanted) from None


def supply_return(numbers: list[str]) -> None:
    """Put numbers back on sale (a disconnected number, released to the carrier)."""
    rows = []
    for e164 in numbers:
        digits = e164.removeprefix("+1")
        if digits[:3] in TOLL_FREE_NPAS:
            rows.append(_row(digits, NumberKind.TOLL_FREE))
            continue
        exchange = geography.exchange_of(digits[:3], digits[3:6])
        rows.append(
            _row(
                digits,
                NumberKind.LOCAL,
                state=exchange.state if exchange else "",
                city=exchange.city if exchange else "",
            )
        )
    SupplyNumber.objects.bulk_create(rows, ignore_conflicts=True)
