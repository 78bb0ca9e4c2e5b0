"""The simulated carrier: the embedded default `CarrierAdapter`.

Its inventory is `SupplyNumber` (see `supply`). Work it completes later finishes on a
fixed schedule measured from when it was submitted, on the platform's clock: an order is
provisioned after `ORDER_SECONDS` (the partner guide: "usually clears within 60
seconds"), a CNAM update after `CNAM_SECONDS`, an E911 registration after
`E911_SECONDS`. The schedule is carried in the reference itself (`sim-<kind>-<epoch
seconds>-<random>`), so the simulation needs no state of its own and gives the same
answer to every process that asks.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from django.utils import timezone

from trunkline.phone_numbers import carrier_sim_ports, supply
from trunkline.phone_numbers.carrier import (
    CarrierError,
    Offer,
    SearchCriteria,
    StepStatus,
    Submitted,
)

ORDER_SECONDS = 30
CNAM_SECONDS = 15 * 60  # real carriers: 24-48 hours to propagate nationally
E911_SECONDS = 10 * 60  # the guide: "usually < 1 hour"
_DELAYS = {"order": ORDER_SECONDS, "cnam": CNAM_SECONDS, "e911": E911_SECONDS, "release": 0}


def _ref(kind: str, now: datetime | None = None) -> str:
    at = int((now or timezone.now()).timestamp())
    return f"sim-{kind}-{at}-{secrets.token_hex(4)}"


def _submitted_at(ref: str) -> datetime:
    try:
        _, _, at, _ = ref.split("-")
        return datetime.fromtimestamp(int(at), UTC)
    except ValueError:
        raise CarrierError(f"{ref!r} is not a reference of the simulated carrier") from None


class SimulatedCarrier:
    name = "simulated"

    def search(self, criteria: SearchCriteria) -> list[Offer]:
        return supply.supply_search(criteria)

    def offers(self, numbers: list[str]) -> dict[str, Offer]:
        return supply.supply_offers(numbers)

    def order(self, numbers: list[str], *, now: datetime | None = None) -> Submitted:
        supply.supply_take(numbers)
        return Submitted(_ref("order", now))

    def release(self, numbers: list[str]) -> None:
        supply.supply_return(numbers)

    def cnam_update(self, number: str, name: str, *, now: datetime | None = None) -> Submitted:
        return Submitted(_ref("cnam", now))

    def e911_register(self, number: str, address: dict, *, now=None) -> Submitted:
        return Submitted(_ref("e911", now))

    def port_submit(self, request: dict, *, now: datetime | None = None) -> Submitted:
        return carrier_sim_ports.port_submit(request, now or timezone.now())

    def port_cancel(self, ref: str, *, now: datetime | None = None) -> None:
        carrier_sim_ports.port_cancel(ref, now or timezone.now())

    def status(self, kind: str, ref: str, *, now: datetime | None = None) -> StepStatus:
        if kind == "port":
            return carrier_sim_ports.port_status(ref, now or timezone.now())
        if kind not in _DELAYS:
            raise CarrierError(f"the simulated carrier has no {kind!r} requests")
        now = now or timezone.now()
        elapsed = (now - _submitted_at(ref)).total_seconds()
        return StepStatus("done" if elapsed >= _DELAYS[kind] else "pending")
