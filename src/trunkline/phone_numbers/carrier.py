"""The boundary with the carriers that supply numbers.

Everything the platform asks of a carrier goes through `CarrierAdapter`. Methods that
take `now` get the platform's clock (a simulation may use it; a real carrier ignores it).
Calls that the carrier completes later (an order being provisioned, a CNAM update, an
E911 registration, a port) answer with a `Submitted` holding the carrier's reference; the
platform records a `CarrierRequest` and the sync job asks `status(kind, ref)` until it
settles.

The embedded default is the simulated carrier (`carrier_sim.SimulatedCarrier`): a
deterministic inventory of real US geography that completes each step on a fixed
schedule after it was submitted. Another adapter is chosen with the
`TRUNKLINE_CARRIER` setting (a dotted path to a class taking no arguments).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

DEFAULT_ADAPTER = "trunkline.phone_numbers.carrier_sim.SimulatedCarrier"

Kind = Literal["local", "toll_free"]
StepKind = Literal["order", "cnam", "e911", "port", "release"]
StepState = Literal["pending", "done", "failed"]


@dataclass(frozen=True)
class SearchCriteria:
    """What the Buy DIDs page and `GET /v1/phone-numbers/available` ask for. Local
    searches need `state`; toll-free ones take an optional vanity `pattern` already
    reduced to 10 characters of digits and `X` (letters mapped to keypad digits)."""

    kind: Kind
    state: str = ""
    area_code: str = ""
    nxx: str = ""
    rate_center: str = ""
    city: str = ""
    pattern: str = ""  # 10 characters of 0-9 and X, toll-free only
    limit: int = 50


@dataclass(frozen=True)
class Offer:
    """One number the carrier can sell now."""

    e164: str
    kind: Kind
    state: str
    rate_center: str
    city: str
    # Prices the carrier attaches to this number (a loaded block may carry its own);
    # None means the partner's tier price applies.
    monthly_micros: int | None = None
    setup_micros: int | None = None


@dataclass(frozen=True)
class Submitted:
    """The carrier took the request; it completes later under `ref`."""

    ref: str


@dataclass(frozen=True)
class StepStatus:
    state: StepState
    detail: str = ""  # the carrier's reason when failed
    foc_date: date | None = None  # ports: the Firm Order Commit date once known
    port_state: str = ""  # ports: SUBMITTED, FOC_RECEIVED, COMPLETED, REJECTED
    data: dict = field(default_factory=dict)


class CarrierError(Exception):
    """The carrier refused a request outright (not a later failure)."""


class NumbersUnavailable(CarrierError):
    def __init__(self, numbers: list[str]):
        super().__init__(f"no longer available: {', '.join(numbers)}")
        self.numbers = numbers


class CarrierAdapter(Protocol):
    name: str

    def search(self, criteria: SearchCriteria) -> list[Offer]:
        """Numbers available now, at most `criteria.limit`, in number order."""

    def offers(self, numbers: list[str]) -> dict[str, Offer]:
        """The offers for these exact E.164 numbers that are still available."""

    def order(self, numbers: list[str], *, now: datetime | None = None) -> Submitted:
        """Take these numbers from the carrier's inventory, all or none (raises
        NumbersUnavailable naming the ones gone); provisioning completes later."""

    def release(self, numbers: list[str]) -> None:
        """Give numbers back to the carrier for good (disconnect)."""

    def cnam_update(self, number: str, name: str, *, now: datetime | None = None) -> Submitted:
        """Publish the caller ID name for a number ('' removes it)."""

    def e911_register(
        self, number: str, address: dict, *, now: datetime | None = None
    ) -> Submitted:
        """Register a dispatchable address for a number."""

    def port_submit(self, request: dict, *, now: datetime | None = None) -> Submitted:
        """Send a port-in to the losing carrier: numbers, account details, address."""

    def port_cancel(self, ref: str, *, now: datetime | None = None) -> None:
        """Withdraw a port-in that has not completed (CarrierError if it has)."""

    def status(self, kind: StepKind, ref: str, *, now: datetime | None = None) -> StepStatus:
        """Where a submitted request stands now (`now`: the platform's clock, which a
        simulation may use; a real carrier ignores it)."""


_adapter: CarrierAdapter | None = None


def carrier() -> CarrierAdapter:
    """The configured adapter (one instance per process)."""
    global _adapter
    if _adapter is None:
        path = getattr(settings, "TRUNKLINE_CARRIER", "") or DEFAULT_ADAPTER
        _adapter = import_string(path)()
    return _adapter


def carrier_reset() -> None:
    """Forget the adapter (tests that change the setting)."""
    global _adapter
    _adapter = None
