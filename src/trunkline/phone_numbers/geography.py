"""US number geography from data that ships with `phonenumbers`: every NPA-NXX (area
code and exchange) the library can place, with its city and state.

The library's geocoding table maps prefixes such as `1501221` to "Little Rock, AR". The
simulated carrier builds its inventory from these exchanges, so a search by state, area
code, exchange, city or rate center finds numbers where they really are. A rate center
here is the exchange's city in capitals, the way carriers write them ("LITTLE ROCK").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from trunkline.tenants.validation import US_STATES


@dataclass(frozen=True)
class Exchange:
    npa: str
    nxx: str
    state: str
    city: str

    @property
    def rate_center(self) -> str:
        return rate_center_of(self.city)


def rate_center_of(city: str) -> str:
    return city.upper()[:40]


@cache
def exchanges() -> tuple[Exchange, ...]:
    """Every US NPA-NXX with a known city, in number order. N11 and 555 exchanges are
    left out: they are service codes and fiction, never assignable numbers."""
    from phonenumbers.geodata import GEOCODE_DATA

    found = []
    for prefix, names in GEOCODE_DATA.items():
        if len(prefix) != 7 or not prefix.startswith("1"):
            continue
        place = names.get("en", "")
        city, _, state = place.rpartition(", ")
        if not city or state not in US_STATES:
            continue
        npa, nxx = prefix[1:4], prefix[4:7]
        if nxx[1:] == "11" or nxx == "555" or nxx[0] in "01":
            continue
        found.append(Exchange(npa, nxx, state, city))
    found.sort(key=lambda exchange: (exchange.npa, exchange.nxx))
    return tuple(found)


@cache
def _by_exchange() -> dict[tuple[str, str], Exchange]:
    return {(exchange.npa, exchange.nxx): exchange for exchange in exchanges()}


def exchange_of(npa: str, nxx: str) -> Exchange | None:
    """The exchange of a number's first six digits, or None when its place is unknown."""
    return _by_exchange().get((npa, nxx))


@cache
def _by_state() -> dict[str, tuple[Exchange, ...]]:
    grouped: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in exchanges():
        grouped[exchange.state].append(exchange)
    return {state: tuple(found) for state, found in grouped.items()}


def states() -> list[str]:
    """States (and territories) that have numbers."""
    return sorted(_by_state())


def exchanges_in(state: str) -> tuple[Exchange, ...]:
    return _by_state().get(state, ())


@cache
def area_codes(state: str) -> tuple[str, ...]:
    return tuple(sorted({exchange.npa for exchange in exchanges_in(state)}))


@cache
def _cities(state: str) -> dict[str, str]:
    """Case-folded city → the city as written, for one state."""
    return {exchange.city.casefold(): exchange.city for exchange in exchanges_in(state)}


def city_name(state: str, typed: str) -> str | None:
    """The state's city `typed` names (any case), or None."""
    return _cities(state).get(typed.strip().casefold())


def cities(state: str, starting: str = "", limit: int = 20) -> list[str]:
    """Cities of a state whose name starts with `starting` (any case), for autocomplete."""
    start = starting.strip().casefold()
    names = sorted(name for key, name in _cities(state).items() if key.startswith(start))
    return names[:limit]


def rate_centers(state: str) -> list[str]:
    return sorted({exchange.rate_center for exchange in exchanges_in(state)})
