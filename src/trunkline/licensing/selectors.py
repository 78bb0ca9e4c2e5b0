"""Reads of the licence engine that the API and the portal share, always within one tenant
(the caller has already resolved the tenant through its partner's scope)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from trunkline.licensing.models import LicenseAssignment
from trunkline.pbx.models import Extension
from trunkline.tenants.models import Tenant

T = LicenseAssignment.Target


def assignment_search(
    tenant: Tenant,
    *,
    sku: str | None = None,
    kinds: Iterable[str] | None = None,
    target_id: str | None = None,
    site_id: str | None = None,
    extension: str | None = None,
    user_name: str | None = None,
) -> QuerySet[LicenseAssignment]:
    """Who has which of the tenant's licences (`001_*.txt`, "Searching": by licence type,
    by user, by extension number). Every filter given narrows the search."""
    found = LicenseAssignment.objects.filter(tenant=tenant).select_related("sku", "site")
    if sku:
        found = found.filter(sku_id=sku)
    if kinds:
        found = found.filter(sku__kind__in=list(kinds))
    if target_id:
        found = found.filter(target_id=target_id)
    if site_id:
        found = found.filter(site_id=site_id)
    users = Extension.objects.filter(tenant=tenant)
    if extension:
        found = found.filter(
            target_type=T.EXTENSION,
            target_id__in=users.filter(number=extension).values("id"),
        )
    if user_name:
        found = found.filter(
            target_type=T.EXTENSION,
            target_id__in=users.filter(name__icontains=user_name).values("id"),
        )
    return found


def assignment_targets(tenant: Tenant, assignments: Iterable[LicenseAssignment]) -> dict:
    """{(target type, target id): the tenant's user, call flow or number it names} for
    showing who holds each licence; trunks are named by their id."""
    from trunkline.pbx.models import CallFlow
    from trunkline.phone_numbers.models import PhoneNumber

    ids: dict[str, set[str]] = {}
    for assignment in assignments:
        ids.setdefault(assignment.target_type, set()).add(assignment.target_id)
    found: dict[tuple[str, str], object] = {}
    for user in Extension.objects.filter(tenant=tenant, pk__in=ids.get(T.EXTENSION, ())):
        found[(T.EXTENSION, user.id)] = user
    for flow in CallFlow.objects.filter(tenant=tenant, pk__in=ids.get(T.CALL_FLOW, ())):
        found[(T.CALL_FLOW, flow.id)] = flow
    for number in PhoneNumber.objects.filter(tenant=tenant, pk__in=ids.get(T.NUMBER, ())):
        found[(T.NUMBER, number.id)] = number
    return found
