"""Tenant reads, always through the caller's scope."""

from __future__ import annotations

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound
from trunkline.tenants.models import Tenant

SORTABLE = {"name", "created_at", "status", "sip_prefix", "users_count"}


def tenants_visible_to(actor: Actor) -> QuerySet[Tenant]:
    if actor.partner is None:
        if actor.is_staff:
            return Tenant.objects.all()
        return Tenant.objects.none()
    queryset = Tenant.objects.filter(partner=actor.partner)
    if actor.tenant_ids is not None:
        queryset = queryset.filter(id__in=actor.tenant_ids)
    return queryset


def tenant_get(*, actor: Actor, tenant_id: str, for_update: bool = False) -> Tenant:
    queryset = tenants_visible_to(actor)
    if for_update:
        queryset = queryset.select_for_update()
    tenant = queryset.filter(id=tenant_id).first() if isinstance(tenant_id, str) else None
    if tenant is None:
        # Foreign and unknown ids answer the same, so ids cannot be probed.
        raise NotFound("no such tenant", field="tenant_id")
    return tenant


def tenant_list(
    *, actor: Actor, search: str | None = None, status: str | None = None
) -> QuerySet[Tenant]:
    # A correlated count per returned row, rather than GROUP BY over every tenant of the
    # partner before the page is cut: the first page stays cheap with thousands of tenants.
    from trunkline.accounts.models import User

    users = (
        User.objects.filter(tenant=OuterRef("pk"))
        .order_by()
        .values("tenant")
        .annotate(total=Count("id"))
        .values("total")
    )
    queryset = tenants_visible_to(actor).annotate(
        users_count=Coalesce(Subquery(users, output_field=IntegerField()), 0)
    )
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search) | Q(billing_email__icontains=search) | Q(sip_prefix=search)
        )
    if status:
        queryset = queryset.filter(status=status)
    return queryset
