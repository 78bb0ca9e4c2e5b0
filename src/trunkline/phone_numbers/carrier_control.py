"""Platform staff's view of the requests in flight at the carrier, and moving the
simulated carrier's on before their time (`trunkline carrier status` and `advance`).

`carrier_advance` records the decision with the simulated carrier and then applies it
at once through `carrier_requests.request_check` — the code path of the
`phone_numbers.carrier_sync` job — so the number's status, its events and the emails
follow exactly as when the schedule settles a request.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.phone_numbers.carrier import CarrierError, carrier
from trunkline.phone_numbers.carrier_requests import request_check
from trunkline.phone_numbers.models import (
    CarrierRequest,
    PhoneNumber,
    PortRequest,
    SimulatedCarrierStep,
)

Pending = CarrierRequest.Status.PENDING
MAX_REASON = 300


def clean_number(value: str) -> str:
    """E.164 from `+15015550123`, `15015550123`, `5015550123` or `(501) 555-0123`."""
    digits = re.sub(r"\D", "", value or "")
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        raise ValidationFailed(f"{value!r} is not a US number", field="number")
    return "+1" + digits


def _numbers_of(request: CarrierRequest, orders: dict[str, str]) -> list[str]:
    if request.phone_number_id:
        return [request.phone_number.e164]
    if request.kind == CarrierRequest.Kind.ORDER:
        return sorted(orders[i] for i in request.payload.get("numbers", []) if i in orders)
    if request.port_request_id:
        return list(request.port_request.numbers)
    return []


def _selected(*, number: str = "", ref: str = "", kinds: list[str] | None = None):
    """The PENDING requests for `number` (its CNAM, E911, order or port) or with `ref`,
    oldest first, each with the numbers it concerns."""
    requests = CarrierRequest.objects.filter(status=Pending).select_related(
        "phone_number", "port_request", "partner"
    )
    if ref:
        requests = requests.filter(carrier_ref=ref)
    if kinds:
        requests = requests.filter(kind__in=kinds)
    requests = list(requests.order_by("created_at", "id"))
    order_ids = [
        number_id
        for request in requests
        if request.kind == CarrierRequest.Kind.ORDER
        for number_id in request.payload.get("numbers", [])
    ]
    orders = dict(PhoneNumber.objects.filter(id__in=order_ids).values_list("id", "e164"))
    found = [(request, _numbers_of(request, orders)) for request in requests]
    if number:
        wanted = clean_number(number)
        found = [(request, numbers) for request, numbers in found if wanted in numbers]
    return found


def _finishes_at(request: CarrierRequest) -> str | None:
    from trunkline.phone_numbers import carrier_sim

    if carrier().name != "simulated":
        return None
    try:
        return carrier_sim.scheduled_finish(request.kind, request.carrier_ref).isoformat()
    except CarrierError:
        return None


def _row(request: CarrierRequest, numbers: list[str], forced: dict[str, str]) -> dict:
    return {
        "id": request.id,
        "kind": request.kind,
        "numbers": numbers,
        "ref": request.carrier_ref,
        "partner_id": request.partner_id,
        "port_request_id": request.port_request_id,
        "port_state": request.payload.get("_port_state")
        or ("SUBMITTED" if request.kind == CarrierRequest.Kind.PORT else None),
        "submitted_at": request.created_at.isoformat(),
        "finishes_at": _finishes_at(request),
        "forced": forced.get(request.carrier_ref),
    }


def carrier_requests_pending(
    *, number: str = "", ref: str = "", kinds: list[str] | None = None
) -> list[dict]:
    """What the carrier has still to answer (platform staff's tool: every partner)."""
    found = _selected(number=number, ref=ref, kinds=kinds)
    forced = dict(
        SimulatedCarrierStep.objects.filter(
            carrier_ref__in=[request.carrier_ref for request, _ in found]
        ).values_list("carrier_ref", "outcome")
    )
    return [_row(request, numbers, forced) for request, numbers in found]


def carrier_advance(
    *,
    actor: Actor,
    number: str = "",
    ref: str = "",
    every: bool = False,
    kinds: list[str] | None = None,
    fail: str = "",
    now: datetime | None = None,
) -> list[dict]:
    """Move the selected requests of the simulated carrier on now (or fail them with
    the reason `fail`) and apply each answer at once. One request at a time, each in its
    own transaction, as the sync job does."""
    if not actor.is_staff:
        raise NotFound("no such page")
    if sum(bool(choice) for choice in (number, ref, every)) != 1:
        raise ValidationFailed("name one of a number, a reference, or all", field="number")
    fail = (fail or "").strip()
    if len(fail) > MAX_REASON:
        raise ValidationFailed(f"a reason is at most {MAX_REASON} characters", field="fail")
    adapter = carrier()
    if not hasattr(adapter, "advance"):
        raise Conflict(
            f"the {adapter.name} carrier answers on its own; only the simulated carrier "
            "can be advanced",
            type="carrier_not_simulated",
        )
    now = now or timezone.now()
    selected = _selected(number=number, ref=ref, kinds=kinds)
    if not selected and (number or ref):
        raise NotFound(
            f"no pending carrier request for {number or ref}", field="number" if number else "ref"
        )
    results = []
    for request, numbers in selected:
        with transaction.atomic():
            # Locked first, as the sync job locks it: a request the job settled meanwhile
            # is left as the job left it.
            still_pending = (
                CarrierRequest.objects.select_for_update()
                .filter(pk=request.pk, status=Pending)
                .only("id")
                .first()
                is not None
            )
            outcome = ""
            if still_pending:
                outcome = adapter.advance(
                    request.kind, request.carrier_ref, fail=fail, actor_label=actor.label, now=now
                )
            if outcome:
                step = SimulatedCarrierStep.objects.get(carrier_ref=request.carrier_ref)
                audit_record(
                    actor=actor,
                    partner=request.partner,
                    action="carrier_request.advanced",
                    object_type="carrier_request",
                    object_id=request.id,
                    after={
                        "kind": request.kind,
                        "ref": request.carrier_ref,
                        "numbers": numbers,
                        "outcome": outcome,
                        "detail": step.detail,
                    },
                )
            request_check(request.id, now=now)
        request.refresh_from_db()
        results.append(
            {
                "id": request.id,
                "kind": request.kind,
                "numbers": numbers,
                "ref": request.carrier_ref,
                "outcome": outcome or "already settled",
                "status": request.status,
                "port_state": _port_state(request),
                "detail": request.detail,
            }
        )
    return results


def _port_state(request: CarrierRequest) -> str | None:
    if request.kind != CarrierRequest.Kind.PORT:
        return None
    port = PortRequest.objects.filter(pk=request.port_request_id).only("status").first()
    return port.status if port else None
