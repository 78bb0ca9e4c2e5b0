"""Rating call records: classification, longest-prefix match, billing increments.

This module is pure: it takes rate rows and call facts and returns numbers, with no
database access, so a million records rate in seconds and every rule is testable on its
own. `billing.cdrs` feeds it from the database and stores what it returns.

Units: money in micro-dollars (int), times as POSIX seconds (int), durations in seconds.
Rounding: a call's cost is `connection fee + per-minute rate × billable seconds / 60`,
rounded half-up to the micro-dollar; invoices later round their lines to cents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

LOCAL = "local"
TOLL_FREE = "toll_free"
INTERNATIONAL = "international"
INTERNAL = "internal"

INBOUND = "inbound"
OUTBOUND = "outbound"
DIRECTIONS = (INBOUND, OUTBOUND, INTERNAL)

TOLL_FREE_NPAS = frozenset({"800", "833", "844", "855", "866", "877", "888"})
# NANP regions billed as domestic: the United States and its territories.
DOMESTIC_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})
FOREVER = 2**62  # an open-ended rate's end time


class RatingError(ValueError):
    """A record that cannot be rated; the message is stored as the rejection reason and
    `field` names the record's field at fault ("to" is the dialled number or our DID)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


@cache
def nanp_regions() -> dict[str, str]:
    """Area code → ISO region for every assigned NANP area code, from `phonenumbers`.

    A number is asked for each area code (with a few subscriber numbers, since some
    ranges are not valid everywhere); the result is computed once per process (~0.3 s).
    """
    import phonenumbers

    regions: dict[str, str] = {}
    for npa in range(200, 1000):
        for subscriber in ("2345678", "5550123", "3120000", "4561234", "7771234", "9871234"):
            number = phonenumbers.parse(f"+1{npa}{subscriber}")
            region = phonenumbers.region_code_for_number(number)
            if region:
                regions[str(npa)] = region
                break
    return regions


def classify(direction: str, number: str) -> str:
    """The traffic class of a call: `number` is the far end for outbound calls and our
    own DID for inbound ones (a toll-free DID makes an inbound call toll-free)."""
    if direction == INTERNAL:
        return INTERNAL
    if len(number) < 4 or number[0] != "+" or not number[1:].isdigit():
        raise RatingError(f"{number!r} is not an E.164 number")
    if number[1] != "1":
        if len(number) > 16:
            raise RatingError(f"{number!r} is longer than E.164 allows")
        return INTERNATIONAL
    if len(number) != 12:
        raise RatingError(f"{number!r} is not a 10-digit North American number")
    npa = number[2:5]
    if npa in TOLL_FREE_NPAS:
        return TOLL_FREE
    region = nanp_regions().get(npa)
    if region is None:
        raise RatingError(f"area code {npa} is not assigned")
    return LOCAL if region in DOMESTIC_REGIONS else INTERNATIONAL


def billable_seconds(seconds: int, first: int, step: int) -> int:
    """Seconds charged under a `first/step` increment (60/60, 30/6, 6/6 …).

    An unanswered call (0 s) bills nothing; otherwise the first block is charged whole
    and every started step after it is charged whole.
    """
    if seconds <= 0:
        return 0
    if seconds <= first:
        return first
    return first + -(-(seconds - first) // step) * step


def cost_micros(per_minute: int, connection: int, billable: int) -> int:
    """Connection fee plus the per-minute rate for `billable` seconds, half-up."""
    if billable == 0:
        return 0
    return connection + (per_minute * billable * 2 + 60) // 120


@dataclass(frozen=True, slots=True)
class Rate:
    """One row of a rate table: what a prefix costs from `starts` until `ends`."""

    prefix: str  # digits without "+", e.g. "1501", "44", "" for a catch-all
    per_minute: int  # micro-dollars per minute
    connection: int = 0  # micro-dollars per answered call
    first: int = 60  # first billing increment, seconds
    step: int = 60  # following increments, seconds
    starts: int = 0  # POSIX seconds, inclusive
    ends: int = FOREVER  # POSIX seconds, exclusive
    id: str = ""

    def price(self, seconds: int) -> tuple[int, int]:
        """(billable seconds, cost in micro-dollars) of a call of `seconds`."""
        billable = billable_seconds(seconds, self.first, self.step)
        return billable, cost_micros(self.per_minute, self.connection, billable)


class PrefixTable:
    """Longest-prefix match over destination digits, with effective-dated rows.

    Rows for one prefix are kept newest first. When the longest matching prefix has no
    row in force at the call's start, the next shorter prefix is tried, so an expired
    special rate falls back to the general one.

    The first `HEAD` digits of a number narrow the prefix lengths worth trying: a table of
    20,000 prefixes has lengths 1 to 9, but a US number (`1501…`) can only match the few
    lengths that prefixes beginning `1501` (or a shorter prefix of it) have.
    """

    HEAD = 4
    __slots__ = ("_rows", "_lengths", "_heads", "_short")

    def __init__(self, rates: Iterable[Rate]):
        rows: dict[str, list[Rate]] = {}
        for rate in rates:
            rows.setdefault(rate.prefix, []).append(rate)
        self._rows = {
            prefix: tuple(sorted(group, key=lambda rate: rate.starts, reverse=True))
            for prefix, group in rows.items()
        }
        self._lengths = tuple(sorted({len(prefix) for prefix in self._rows}, reverse=True))
        head_size = self.HEAD
        # Lengths of the prefixes shorter than a head: all a number can match when its
        # head begins no longer prefix.
        self._short = tuple(length for length in self._lengths if length < head_size)
        longer: dict[str, set[int]] = {}
        for prefix in self._rows:
            if len(prefix) >= head_size:
                longer.setdefault(prefix[:head_size], set()).add(len(prefix))
        self._heads = {
            head: tuple(
                sorted(
                    lengths | {length for length in self._short if head[:length] in self._rows},
                    reverse=True,
                )
            )
            for head, lengths in longer.items()
        }

    def __len__(self) -> int:
        return sum(len(group) for group in self._rows.values())

    def match(self, digits: str, at: int) -> Rate | None:
        rows = self._rows
        size = len(digits)
        for length in self._heads.get(digits[: self.HEAD], self._short):
            group = rows.get(digits[:length]) if length <= size else None
            if group:
                for rate in group:
                    if rate.starts <= at < rate.ends:
                        return rate
        return None


@dataclass(frozen=True, slots=True)
class PlanRates:
    """A partner's wholesale prices in force at one moment (its platform tier, or the
    custom rates of an Enterprise partner)."""

    local_per_minute: int
    toll_free_per_minute: int
    first: int = 6
    step: int = 6


class Rated(NamedTuple):
    call_class: str
    billable_seconds: int  # under the increments of the price that applied
    wholesale_micros: int  # what the partner owes the platform
    provider_cost_micros: int  # what the carrier charges the platform
    rate_id: str  # the international sell row used, else ""
    provider_rate_id: str


_INTERNAL = Rated(INTERNAL, 0, 0, 0, "", "")


class Rater:
    """Rates one call at a time against fixed tables: build once, call `rate` a lot.

    `rate` is the hot loop of call-record import, so it takes positional arguments,
    looks up the common case (a 10-digit US number) without calling out, and returns a
    named tuple.
    """

    def __init__(
        self,
        *,
        plan_rates,  # callable: (partner_id, at) -> PlanRates
        international: PrefixTable,  # the platform's sell prices for international calls
        provider_outbound: PrefixTable,  # the carrier's cost by destination
        provider_inbound,  # callable: (DID class, at) -> the carrier's Rate, or None
    ):
        self.plan_rates = plan_rates
        self.international = international
        self.provider_outbound = provider_outbound
        self.provider_inbound = provider_inbound
        self._match_outbound = provider_outbound.match
        self._match_international = international.match
        self._domestic = (
            frozenset(npa for npa, region in nanp_regions().items() if region in DOMESTIC_REGIONS)
            - TOLL_FREE_NPAS
        )

    def rate(
        self, partner_id: str, direction: str, far_end: str, did: str, at: int, seconds: int
    ) -> Rated:
        if direction == INTERNAL:
            return _INTERNAL
        if seconds < 0:
            raise RatingError("billsec is negative")
        if direction == OUTBOUND:
            number = far_end
        elif direction == INBOUND:
            number = did
        else:
            raise RatingError(f"direction {direction!r} is not inbound, outbound or internal")
        if len(number) == 12 and number[2:5] in self._domestic and number[:2] == "+1":
            if not number[2:].isdigit():
                raise RatingError(f"{number!r} is not an E.164 number", "to")
            call_class = LOCAL
        else:
            try:
                call_class = classify(direction, number)
            except RatingError as error:
                raise RatingError(str(error), "to") from None
        if direction == OUTBOUND:
            provider = self._match_outbound(number[1:], at)
        else:
            if call_class == INTERNATIONAL:
                raise RatingError(f"{did} is not a number the platform sells", "to")
            provider = self.provider_inbound(call_class, at)
        if provider is None:
            provider_cost, provider_id = 0, ""
        else:
            provider_cost = cost_micros(
                provider.per_minute,
                provider.connection,
                billable_seconds(seconds, provider.first, provider.step),
            )
            provider_id = provider.id
        if call_class == INTERNATIONAL:
            sell = self._match_international(number[1:], at)
            if sell is None:
                raise RatingError(f"no international rate covers {number}", "to")
            billable = billable_seconds(seconds, sell.first, sell.step)
            wholesale = cost_micros(sell.per_minute, sell.connection, billable)
            return Rated(call_class, billable, wholesale, provider_cost, sell.id, provider_id)
        plan = self.plan_rates(partner_id, at)
        billable = billable_seconds(seconds, plan.first, plan.step)
        per_minute = plan.toll_free_per_minute if call_class == TOLL_FREE else plan.local_per_minute
        return Rated(
            call_class,
            billable,
            (per_minute * billable * 2 + 60) // 120,  # cost_micros without a connection fee
            provider_cost,
            "",
            provider_id,
        )
