"""Requests in flight at the carrier, and what happens when they settle.

A service that hands the carrier work which completes later records it with
`request_track` in its own transaction. The sync job (`requests_sync`, run every minute
and by `trunkline carrier advance`) asks the carrier about each PENDING request and, for
each answer that moved, calls the handler the owning module registered for the request's
kind with `@on_settled(kind)` — inside one transaction with the request row locked, so
a request is applied once however many workers run the job.

Handlers are called when the request settles (`done` or `failed`) and, for ports, also
whenever the carrier reports a new `port_state` (SUBMITTED → FOC_RECEIVED → …).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.phone_numbers.carrier import StepStatus, Submitted, carrier
from trunkline.phone_numbers.models import CarrierRequest

Handler = Callable[[CarrierRequest, StepStatus], None]
_HANDLERS: dict[str, Handler] = {}


def on_settled(kind: str) -> Callable[[Handler], Handler]:
    """Register `fn(request, status)` for requests of `kind` (one handler a kind)."""
    if kind not in CarrierRequest.Kind.values:
        raise ValueError(f"{kind!r} is not a carrier request kind")

    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def request_track(
    *,
    partner,
    kind: str,
    submitted: Submitted,
    phone_number=None,
    port_request=None,
    payload: dict | None = None,
    now: datetime | None = None,
) -> CarrierRequest:
    """Record a request the carrier accepted. An earlier PENDING request of the same kind
    for the same number (or port) is marked SUPERSEDED: only the newest one counts."""
    now = now or timezone.now()
    adapter = carrier()
    earlier = CarrierRequest.objects.filter(kind=kind, status=CarrierRequest.Status.PENDING)
    if phone_number is not None:
        earlier.filter(phone_number=phone_number).update(
            status=CarrierRequest.Status.SUPERSEDED, settled_at=now
        )
    elif port_request is not None:
        earlier.filter(port_request=port_request).update(
            status=CarrierRequest.Status.SUPERSEDED, settled_at=now
        )
    return CarrierRequest.objects.create(
        partner=partner,
        kind=kind,
        carrier=adapter.name,
        carrier_ref=submitted.ref,
        phone_number=phone_number,
        port_request=port_request,
        payload=payload or {},
        created_at=now,
    )


def request_check(request_id: str, *, now: datetime | None = None) -> bool:
    """Ask the carrier about one request and apply the answer; True if anything moved."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            CarrierRequest.objects.select_for_update()
            .filter(pk=request_id, status=CarrierRequest.Status.PENDING)
            .first()
        )
        if request is None:
            return False
        status = carrier().status(request.kind, request.carrier_ref, now=now)
        request.checked_at = now
        moved = False
        if status.state in ("done", "failed"):
            request.status = (
                CarrierRequest.Status.DONE
                if status.state == "done"
                else CarrierRequest.Status.FAILED
            )
            request.detail = status.detail[:300]
            request.settled_at = now
            moved = True
        elif status.port_state and status.port_state != request.payload.get("_port_state"):
            request.payload = {**request.payload, "_port_state": status.port_state}
            moved = True
        request.save()
        if moved:
            handler = _HANDLERS.get(request.kind)
            if handler is not None:
                handler(request, status)
        return moved


def requests_sync(*, now: datetime | None = None, kinds: list[str] | None = None) -> int:
    """Check every PENDING request (oldest first); return how many moved."""
    pending = CarrierRequest.objects.filter(status=CarrierRequest.Status.PENDING)
    if kinds:
        pending = pending.filter(kind__in=kinds)
    moved = 0
    for request_id in pending.order_by("created_at", "id").values_list("id", flat=True):
        if request_check(request_id, now=now):
            moved += 1
    return moved
