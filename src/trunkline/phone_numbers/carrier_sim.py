"""The simulated carrier: the embedded default `CarrierAdapter`.

Its inventory is `SupplyNumber` (see `supply`). Work it completes later finishes on a
fixed schedule measured from when it was submitted, on the platform's clock: an order is
provisioned after `ORDER_SECONDS` (the partner guide: "usually clears within 60
seconds"), a CNAM update after `CNAM_SECONDS`, an E911 registration after
`E911_SECONDS`.

Whether it then succeeds is decided at submission from documented test values (see
`TRIGGERS`), so every failure path can be seen on purpose and never by chance:

- an order fails when one of its numbers has the line number `0199` (lines 0100-0199
  are never in the generated inventory, so only a staff-loaded block holds one);
- a CNAM update fails when the name has the word `FAIL` in it (any case);
- an E911 registration fails for building number 9999 or 9998 on a street named
  `Failure` (`9999 Failure Ave`): addresses that pass our own validation but that the
  carrier's 911 database does not know.

Schedule and outcome are carried in the reference itself
(`sim-<kind>-<epoch seconds>-<outcome>-<random>`; references written before outcomes
existed, `sim-<kind>-<epoch seconds>-<random>`, still read as succeeding), so the
simulation gives the same answer to every process that asks. The one thing it keeps is a
staff decision to move a request on before its time (`SimulatedCarrierStep`, written by
`advance`), which `status` reads first.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta

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

# What each failure code in a reference means, in the carrier's words.
REASONS = {
    "switch": "Order could not be provisioned: the number is not available on the switch",
    "cnamdb": "The CNAM database refused the listing name",
    "msag": "Address not found in the MSAG (Master Street Address Guide)",
    "psap": "No PSAP serves this address: the 911 authority has no answering point for it",
}
# The test values that trip them (documented in docs/numbers.md).
TRIGGERS = {
    "order": "a number whose line (last four digits) is 0199",
    "cnam": "a name with the word FAIL in it",
    "e911": "building number 9999 (MSAG) or 9998 (PSAP) on a street named Failure",
}
FAILING_LINE = "0199"
_CNAM_FAIL = re.compile(r"\bFAIL\b", re.IGNORECASE)
_E911_FAIL = re.compile(r"\s*(9999|9998)\s+Failure\b", re.IGNORECASE)


def order_outcome(numbers: list[str]) -> str:
    return "switch" if any(number.endswith(FAILING_LINE) for number in numbers) else "ok"


def cnam_outcome(name: str) -> str:
    return "cnamdb" if _CNAM_FAIL.search(name or "") else "ok"


def e911_outcome(address: dict) -> str:
    match = _E911_FAIL.match((address or {}).get("street") or "")
    if match is None:
        return "ok"
    return "msag" if match.group(1) == "9999" else "psap"


def _ref(kind: str, now: datetime | None = None, outcome: str = "ok") -> str:
    at = int((now or timezone.now()).timestamp())
    return f"sim-{kind}-{at}-{outcome}-{secrets.token_hex(4)}"


def parse_ref(ref: str) -> tuple[str, datetime, str]:
    """(kind, submitted at, outcome code) of a reference other than a port's."""
    parts = ref.split("-")
    try:
        if len(parts) == 4:  # written before outcomes were carried: it succeeds
            prefix, kind, at, _ = parts
            outcome = "ok"
        else:
            prefix, kind, at, outcome, _ = parts
        if prefix != "sim" or kind not in _DELAYS or (outcome != "ok" and outcome not in REASONS):
            raise ValueError(ref)
        return kind, datetime.fromtimestamp(int(at), UTC), outcome
    except ValueError:
        raise CarrierError(f"{ref!r} is not a reference of the simulated carrier") from None


def scheduled_finish(kind: str, ref: str) -> datetime | None:
    """When the schedule settles the request (a port: its cut-over, or its rejection)."""
    if kind == "port":
        return carrier_sim_ports.port_finish(ref)
    _, submitted_at, _ = parse_ref(ref)
    return submitted_at + timedelta(seconds=_DELAYS[kind])


def _forced(ref: str) -> carrier_sim_ports.Forced | None:
    from trunkline.phone_numbers.models import SimulatedCarrierStep

    step = SimulatedCarrierStep.objects.filter(carrier_ref=ref).first()
    if step is None:
        return None
    return carrier_sim_ports.Forced(step.outcome, step.decided_at, step.detail)


def _settled(outcome: str) -> StepStatus:
    if outcome == "ok":
        return StepStatus("done")
    return StepStatus("failed", detail=REASONS[outcome])


class SimulatedCarrier:
    name = "simulated"

    def search(self, criteria: SearchCriteria) -> list[Offer]:
        return supply.supply_search(criteria)

    def offers(self, numbers: list[str]) -> dict[str, Offer]:
        return supply.supply_offers(numbers)

    def order(self, numbers: list[str], *, now: datetime | None = None) -> Submitted:
        supply.supply_take(numbers)
        return Submitted(_ref("order", now, order_outcome(numbers)))

    def release(self, numbers: list[str]) -> None:
        supply.supply_return(numbers)

    def cnam_update(self, number: str, name: str, *, now: datetime | None = None) -> Submitted:
        return Submitted(_ref("cnam", now, cnam_outcome(name)))

    def e911_register(self, number: str, address: dict, *, now=None) -> Submitted:
        return Submitted(_ref("e911", now, e911_outcome(address)))

    def port_submit(self, request: dict, *, now: datetime | None = None) -> Submitted:
        return carrier_sim_ports.port_submit(request, now or timezone.now())

    def port_cancel(self, ref: str, *, now: datetime | None = None) -> None:
        carrier_sim_ports.port_cancel(ref, now or timezone.now(), forced=_forced(ref))

    def status(self, kind: str, ref: str, *, now: datetime | None = None) -> StepStatus:
        now = now or timezone.now()
        if kind == "port":
            return carrier_sim_ports.port_status(ref, now, forced=_forced(ref))
        if kind not in _DELAYS:
            raise CarrierError(f"the simulated carrier has no {kind!r} requests")
        _, submitted_at, outcome = parse_ref(ref)
        forced = _forced(ref)
        if forced is not None and forced.outcome == "failed":
            return StepStatus("failed", detail=forced.detail)
        if forced is not None or (now - submitted_at).total_seconds() >= _DELAYS[kind]:
            return _settled(outcome)
        return StepStatus("pending")

    def advance(
        self, kind: str, ref: str, *, fail: str = "", actor_label: str = "", now=None
    ) -> str:
        """Move a request on now, before its schedule would: to the outcome it was always
        going to have (a port: its next state), or, with `fail`, to a failure giving that
        reason. Returns the outcome recorded, or "" when the request had already settled."""
        from trunkline.phone_numbers.models import SimulatedCarrierStep

        now = now or timezone.now()
        forced = _forced(ref)
        if self.status(kind, ref, now=now).state != "pending":
            return ""
        if fail:
            outcome, detail = "failed", fail
        elif kind == "port":
            outcome, detail = carrier_sim_ports.port_next(ref, now, forced=forced)
        else:
            settled = _settled(parse_ref(ref)[2])
            outcome, detail = settled.state, settled.detail
        SimulatedCarrierStep.objects.update_or_create(
            carrier_ref=ref,
            defaults={
                "kind": kind,
                "outcome": outcome,
                "detail": detail[:300],
                "decided_at": now,
                "decided_by": actor_label[:254],
            },
        )
        return outcome
