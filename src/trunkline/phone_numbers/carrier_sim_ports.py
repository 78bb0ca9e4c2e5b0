"""Port-ins at the simulated carrier: a losing carrier that answers on a fixed schedule.

Everything is decided at submission and carried in the reference
(`sim-port-<epoch seconds>-<desired date or 0>-<outcome>-<random>`), so every process
that asks gives the same answer and the simulation keeps no state of its own.

The schedule, in business days (Monday to Friday; public holidays are not modelled),
measured from the submission on the platform's clock:

- at once: SUBMITTED (sent to the losing carrier);
- after `REJECT_AFTER_DAYS` (1): REJECTED, when the request trips one of the triggers
  below, with the partner guide's reason text;
- after `FOC_AFTER_DAYS` (2): FOC_RECEIVED, with a Firm Order Commit date: the desired
  date when it is at least `MIN_FOC_DAYS` (5) business days after submission (moved to
  the next business day if it falls on a weekend), otherwise 5 business days after;
- at `CUTOVER` (14:00 UTC) on the FOC date: COMPLETED.

Rejection triggers (the guide's "Common rejection reasons"), checked in this order:

- account number `9990000001`: the account has a pending order with the current carrier;
- account number `9990000002`: a multi-line account that has not been split;
- account number `9990000003`: the LOA was not signed by an authorized party;
- an account in `LOSING_CARRIER_ACCOUNTS` whose holder name differs from the carrier's
  record (exactly: capitalization matters), or whose service street or ZIP differs
  (ignoring case and spacing);
- a current carrier that requires a PIN (AT&T, see `PIN_REQUIRED`) and none was given.

Platform staff can move a port on before its time (`trunkline carrier advance`): the
decision is a `Forced` step kept beside the reference (`SimulatedCarrierStep`), which
`port_status` weighs against the schedule — whichever is further along wins, and a
forced rejection or completion is final.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from trunkline.phone_numbers.carrier import CarrierError, StepStatus, Submitted

REJECT_AFTER_DAYS = 1
FOC_AFTER_DAYS = 2
MIN_FOC_DAYS = 5
CUTOVER = time(14, 0, tzinfo=UTC)

# The guide's reason texts, by the code the reference carries.
REASONS = {
    "name": "Account holder name doesn't match",
    "address": "Service address doesn't match",
    "pending": "Account in pending order with current carrier",
    "multiline": "Account is part of a multi-line account that hasn't been split",
    "loa": "LOA not signed by authorized party",
    "pin": "Account requires PIN we don't have",
}
TEST_ACCOUNTS = {"9990000001": "pending", "9990000002": "multiline", "9990000003": "loa"}

# What the simulated losing carriers have on file for a few accounts: a port naming one
# of these account numbers must match its record.
LOSING_CARRIER_ACCOUNTS = {
    "5550001000": {
        "account_holder": "Acme Plumbing LLC",
        "service_street": "100 Main St",
        "service_postal_code": "72201",
    },
}
# Carriers (letters and digits only, lower case) whose accounts cannot move without a PIN.
PIN_REQUIRED = frozenset({"att", "atandt"})


def _squash(value: str) -> str:
    return " ".join((value or "").casefold().split())


def _outcome(request: dict) -> str:
    account = (request.get("account_number") or "").strip()
    if account in TEST_ACCOUNTS:
        return TEST_ACCOUNTS[account]
    record = LOSING_CARRIER_ACCOUNTS.get(account)
    if record is not None:
        if (request.get("account_holder") or "").strip() != record["account_holder"]:
            return "name"
        address = request.get("service_address") or {}
        if _squash(address.get("street", "")) != _squash(record["service_street"]) or (
            (address.get("postal_code") or "")[:5] != record["service_postal_code"]
        ):
            return "address"
    carrier_key = re.sub(r"[^a-z0-9]", "", (request.get("current_carrier") or "").casefold())
    if carrier_key in PIN_REQUIRED and not request.get("pin"):
        return "pin"
    return "ok"


def add_business_days(start: datetime, days: int) -> datetime:
    """`start` moved forward `days` weekdays, keeping its time of day."""
    moved = start
    while days > 0:
        moved += timedelta(days=1)
        if moved.weekday() < 5:
            days -= 1
    return moved


def _next_business_day(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def foc_date_for(submitted_at: datetime, desired: date | None) -> date:
    earliest = add_business_days(submitted_at, MIN_FOC_DAYS).date()
    if desired is not None and desired >= earliest:
        return _next_business_day(desired)
    return earliest


def port_submit(request: dict, now: datetime) -> Submitted:
    if not request.get("numbers"):
        raise CarrierError("a port request names at least one number")
    desired = request.get("desired_date")
    desired_part = desired.replace("-", "") if isinstance(desired, str) and desired else "0"
    at = int(now.timestamp())
    return Submitted(f"sim-port-{at}-{desired_part}-{_outcome(request)}-{secrets.token_hex(4)}")


def _parse(ref: str) -> tuple[datetime, date | None, str]:
    try:
        prefix, kind, at, desired, outcome, _ = ref.split("-")
        if (prefix, kind) != ("sim", "port") or (outcome != "ok" and outcome not in REASONS):
            raise ValueError(ref)
        submitted_at = datetime.fromtimestamp(int(at), UTC)
        wanted = None if desired == "0" else datetime.strptime(desired, "%Y%m%d").date()  # noqa: DTZ007
    except ValueError:
        raise CarrierError(f"{ref!r} is not a port of the simulated carrier") from None
    return submitted_at, wanted, outcome


def _cutover(foc_date: date) -> datetime:
    return datetime.combine(foc_date, CUTOVER)


@dataclass(frozen=True)
class Forced:
    """A step staff forced: `foc` (the Firm Order Commit now), `done` or `failed`."""

    outcome: str
    at: datetime
    detail: str = ""


def port_status(ref: str, now: datetime, *, forced: Forced | None = None) -> StepStatus:
    scheduled = _scheduled_status(ref, now)
    if forced is None or scheduled.state != "pending":
        return scheduled
    submitted_at, desired, _ = _parse(ref)
    foc_date = foc_date_for(submitted_at, desired)
    if forced.outcome == "failed":
        return StepStatus("failed", detail=forced.detail, port_state="REJECTED")
    if forced.outcome == "done":
        # Completed ahead of the committed date: the cut-over happened on the day it was
        # forced.
        return StepStatus("done", foc_date=min(foc_date, forced.at.date()), port_state="COMPLETED")
    return StepStatus("pending", foc_date=foc_date, port_state="FOC_RECEIVED")


def port_finish(ref: str) -> datetime:
    """When the schedule settles the port: its rejection, or its cut-over."""
    submitted_at, desired, outcome = _parse(ref)
    if outcome != "ok":
        return add_business_days(submitted_at, REJECT_AFTER_DAYS)
    return _cutover(foc_date_for(submitted_at, desired))


def port_next(ref: str, now: datetime, *, forced: Forced | None = None) -> tuple[str, str]:
    """The step `advance` takes from where the port stands now, as (outcome, detail):
    a port the losing carrier will reject is rejected with its reason; otherwise
    SUBMITTED gets its FOC and FOC_RECEIVED completes. ("", "") when it has settled."""
    current = port_status(ref, now, forced=forced)
    if current.state != "pending":
        return "", ""
    _, _, outcome = _parse(ref)
    if outcome != "ok":
        return "failed", REASONS[outcome]
    if current.port_state == "SUBMITTED":
        return "foc", ""
    return "done", ""


def _scheduled_status(ref: str, now: datetime) -> StepStatus:
    submitted_at, desired, outcome = _parse(ref)
    if outcome != "ok":
        if now >= add_business_days(submitted_at, REJECT_AFTER_DAYS):
            return StepStatus("failed", detail=REASONS[outcome], port_state="REJECTED")
        return StepStatus("pending", port_state="SUBMITTED")
    if now < add_business_days(submitted_at, FOC_AFTER_DAYS):
        return StepStatus("pending", port_state="SUBMITTED")
    foc_date = foc_date_for(submitted_at, desired)
    if now < _cutover(foc_date):
        return StepStatus("pending", foc_date=foc_date, port_state="FOC_RECEIVED")
    return StepStatus("done", foc_date=foc_date, port_state="COMPLETED")


def port_cancel(ref: str, now: datetime, *, forced: Forced | None = None) -> None:
    if port_status(ref, now, forced=forced).state == "done":
        raise CarrierError("the port has already completed at the carrier")
