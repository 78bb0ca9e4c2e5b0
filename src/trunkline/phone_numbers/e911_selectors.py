"""Where the partner stands on E911: every number by status with the dangerous ones
first, the counts per status, and the one cheap count behind the portal's warning.
Shared by the partner E911 page and `GET /v1/e911/summary`."""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, QuerySet, Value, When

from trunkline.core.actors import Actor
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.phone_numbers.selectors import numbers_visible_to

E911 = PhoneNumber.E911Status
# Not Set first (911 calls fail), then Failed (needs correcting), Pending, Registered.
STATUS_ORDER = (E911.NOT_SET, E911.FAILED, E911.PENDING, E911.REGISTERED)
UNREACHABLE = (E911.NOT_SET, E911.FAILED)
# A number that can place calls for a tenant; quarantined ones are being given up.
CALLING_STATUSES = (PhoneNumber.Status.PENDING, PhoneNumber.Status.ACTIVE)


def _numbers(actor: Actor) -> QuerySet[PhoneNumber]:
    return numbers_visible_to(actor).exclude(status=PhoneNumber.Status.QUARANTINED)


def e911_number_list(
    *, actor: Actor, tenant_id: str | None = None, e911_status: str | None = None
) -> QuerySet[PhoneNumber]:
    """The partner's numbers ordered Not Set, Failed, Pending, Registered, then by number."""
    numbers = _numbers(actor).select_related("tenant")
    if tenant_id == "unassigned":
        numbers = numbers.filter(tenant__isnull=True)
    elif tenant_id:
        numbers = numbers.filter(tenant_id=tenant_id)
    if e911_status:
        numbers = numbers.filter(e911_status=e911_status)
    rank = Case(
        *(When(e911_status=status, then=Value(index)) for index, status in enumerate(STATUS_ORDER)),
        output_field=IntegerField(),
    )
    return numbers.annotate(e911_rank=rank).order_by("e911_rank", "e164")


def e911_counts(*, actor: Actor, tenant_id: str | None = None) -> dict[str, int]:
    """How many numbers are in each E911 status (every status present, zeros too)."""
    numbers = e911_number_list(actor=actor, tenant_id=tenant_id).order_by()
    found = dict(numbers.values_list("e911_status").annotate(count=Count("id")))
    return {status.value: found.get(status.value, 0) for status in STATUS_ORDER}


def e911_unreachable_count(*, partner) -> int:
    """Numbers assigned to the partner's tenants that cannot reach 911 with a dispatchable
    address (Not Set or Failed): one COUNT on the (partner, e911_status) index."""
    return PhoneNumber.objects.filter(
        partner=partner,
        e911_status__in=UNREACHABLE,
        tenant__isnull=False,
        status__in=CALLING_STATUSES,
    ).count()
