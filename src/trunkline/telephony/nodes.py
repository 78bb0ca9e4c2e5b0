"""The PBX nodes (Asterisk servers) and which one runs each tenant's phone system.

Platform staff register the nodes (`002_*.txt`, "PBX nodes"). A new tenant is placed on
the least loaded node that takes new tenants: the one with the fewest extensions for its
capacity, ties to the earliest name. A tenant made while no node takes tenants waits,
and is placed as soon as one does (a node registered or set back to active). Moving a
tenant to another node is an explicit staff action; nothing moves tenants on its own.

A node that still runs tenants cannot be taken offline or removed: drain it (it keeps
its tenants, takes no new ones), move its tenants, then take it out.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, F, FloatField, OuterRef, Subquery, Value
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from trunkline.pbx.models import Extension
from trunkline.telephony.models import PbxNode, TenantPlacement
from trunkline.tenants.models import Tenant

NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST = re.compile(rf"{_HOST_LABEL}(?:\.{_HOST_LABEL})*")
MAX_CAPACITY = 1_000_000
FIELDS = ("name", "address", "capacity", "status")
Status = PbxNode.Status


def require_platform(actor: Actor) -> None:
    """Platform staff or a platform key; anyone else finds nothing here (404)."""
    if not actor.is_platform:
        raise NotFound("no such page")


# --- what a node looks like -------------------------------------------------------------------


def _extensions_on(node_ref) -> Subquery:
    return Coalesce(
        Subquery(
            Extension.objects.filter(tenant__placement__node=node_ref)
            .order_by()
            .values("tenant__placement__node")
            .annotate(n=Count("id"))
            .values("n")[:1]
        ),
        Value(0),
    )


def nodes_with_load():
    """Nodes with how many tenants and extensions they run (`tenant_count`,
    `extension_count`)."""
    tenants = Coalesce(
        Subquery(
            TenantPlacement.objects.filter(node=OuterRef("pk"))
            .order_by()
            .values("node")
            .annotate(n=Count("tenant"))
            .values("n")[:1]
        ),
        Value(0),
    )
    return PbxNode.objects.annotate(
        tenant_count=tenants, extension_count=_extensions_on(OuterRef("pk"))
    )


def pbx_node_json(node: PbxNode) -> dict:
    extensions = getattr(node, "extension_count", None)
    tenants = getattr(node, "tenant_count", None)
    if extensions is None or tenants is None:
        node = nodes_with_load().get(pk=node.pk)
        extensions, tenants = node.extension_count, node.tenant_count
    return {
        "id": node.id,
        "name": node.name,
        "address": node.address,
        "capacity": node.capacity,
        "status": node.status,
        "tenants": tenants,
        "extensions": extensions,
        "load_percent": round(100 * extensions / node.capacity, 1),
        "created_at": node.created_at,
        "updated_at": node.updated_at,
    }


def node_of(tenant: Tenant) -> PbxNode | None:
    placement = TenantPlacement.objects.select_related("node").filter(tenant=tenant).first()
    return placement.node if placement else None


# --- checking what staff send -----------------------------------------------------------------


def _clean(fields: dict, *, partial: bool) -> dict:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    cleaned: dict = {}
    if "name" in fields or not partial:
        name = fields.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ValidationFailed(
                "a node's name is 1 to 63 lower-case letters, digits and '-' (it names the "
                "node's configuration folder)",
                field="name",
            )
        cleaned["name"] = name
    if "address" in fields or not partial:
        cleaned["address"] = _address(fields.get("address"))
    if "capacity" in fields or not partial:
        capacity = fields.get("capacity")
        if (
            isinstance(capacity, bool)
            or not isinstance(capacity, int)
            or not 1 <= capacity <= MAX_CAPACITY
        ):
            raise ValidationFailed(
                f"capacity is the number of extensions the node is sized for, 1 to "
                f"{MAX_CAPACITY:,}",
                field="capacity",
            )
        cleaned["capacity"] = capacity
    if "status" in fields:
        if fields["status"] not in Status.values:
            raise ValidationFailed(f"status is one of {', '.join(Status.values)}", field="status")
        cleaned["status"] = fields["status"]
    return cleaned


def _address(value) -> str:
    if not isinstance(value, str) or not value or len(value) > 253:
        raise ValidationFailed("address is the node's host name or IP address", field="address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not HOST.fullmatch(value) or value.replace(".", "").isdigit():
        raise ValidationFailed("address is the node's host name or IP address", field="address")
    return value.lower()


def _tenants_on(node: PbxNode) -> int:
    return TenantPlacement.objects.filter(node=node).count()


def _audit(actor: Actor, node: PbxNode, action: str, before=None, after=None) -> None:
    audit_record(
        actor=actor,
        partner=None,
        action=action,
        object_type="pbx_node",
        object_id=node.id,
        before=before,
        after=after,
    )


def _snapshot(node: PbxNode) -> dict:
    return {field: getattr(node, field) for field in FIELDS}


def _save(node: PbxNode, *, create: bool) -> None:
    try:
        with transaction.atomic():
            node.save(force_insert=create)
    except IntegrityError:
        raise Conflict(
            f"a node named {node.name!r} exists already", field="name", type="name_taken"
        ) from None


# --- services ---------------------------------------------------------------------------------


def pbx_node_create(*, actor: Actor, fields: dict, now: datetime | None = None) -> PbxNode:
    require_platform(actor)
    now = now or timezone.now()
    node = PbxNode(**_clean(fields, partial=False), created_at=now, updated_at=now)
    with transaction.atomic():
        _save(node, create=True)
        _audit(actor, node, "pbx_node.created", after=_snapshot(node))
        if node.status == Status.ACTIVE:
            tenants_place_waiting(now=now)
    return node


def pbx_node_update(
    *, actor: Actor, node: PbxNode, changes: dict, now: datetime | None = None
) -> PbxNode:
    require_platform(actor)
    now = now or timezone.now()
    cleaned = _clean(changes, partial=True)
    with transaction.atomic():
        node = PbxNode.objects.select_for_update().get(pk=node.pk)
        before = _snapshot(node)
        if cleaned.get("status") == Status.OFFLINE and node.status != Status.OFFLINE:
            held = _tenants_on(node)
            if held:
                raise InvalidTransition(
                    f"the node still runs {held} tenant{'s' if held != 1 else ''}: drain it "
                    "and move them to another node first",
                    field="status",
                )
        for field, value in cleaned.items():
            setattr(node, field, value)
        if _snapshot(node) == before:
            return node
        node.updated_at = now
        _save(node, create=False)
        _audit(actor, node, "pbx_node.updated", before=before, after=_snapshot(node))
        if node.status == Status.ACTIVE and before["status"] != Status.ACTIVE:
            tenants_place_waiting(now=now)
    return node


def pbx_node_delete(*, actor: Actor, node: PbxNode) -> None:
    require_platform(actor)
    with transaction.atomic():
        node = PbxNode.objects.select_for_update().get(pk=node.pk)
        held = _tenants_on(node)
        if held:
            raise Conflict(
                f"the node still runs {held} tenant{'s' if held != 1 else ''}: move them to "
                "another node first",
                type="in_use",
            )
        _audit(actor, node, "pbx_node.deleted", before=_snapshot(node))
        node.delete()


def least_loaded_node() -> PbxNode | None:
    """The active node with the most room for its size: the lowest extensions ÷ capacity,
    then the fewest tenants, then the name."""
    load = Cast(F("extension_count"), FloatField()) / Cast(F("capacity"), FloatField())
    return (
        nodes_with_load()
        .filter(status=Status.ACTIVE)
        .annotate(load=load)
        .order_by("load", "tenant_count", "name")
        .first()
    )


def tenant_place(tenant: Tenant, now: datetime) -> TenantPlacement | None:
    """Put a new tenant on the least loaded node (inside the creating transaction); None
    when no node takes tenants (the tenant waits)."""
    node = least_loaded_node()
    if node is None:
        return None
    placement = TenantPlacement.objects.create(tenant=tenant, node=node, placed_at=now)
    # The new row's foreign key holds the node against a change (staff's FOR UPDATE
    # waits for this transaction), and this read sees any change made before it: a node
    # taken out of service meanwhile is not kept, without making tenant creations queue
    # on the node.
    if not PbxNode.objects.filter(pk=node.pk, status=Status.ACTIVE).exists():
        placement.delete()
        return None
    return placement


def tenants_place_waiting(*, now: datetime) -> int:
    """Place every tenant still waiting for a node (cancelled ones stay off), each on the
    least loaded node at the time."""
    waiting = (
        Tenant.objects.filter(placement__isnull=True)
        .exclude(status=Tenant.Status.CANCELLED)
        .order_by("created_at", "id")
    )
    placed = 0
    for tenant in waiting:
        if tenant_place(tenant, now) is None:
            break
        placed += 1
    return placed


def tenant_move(
    *, actor: Actor, tenant: Tenant, node: PbxNode, now: datetime | None = None
) -> TenantPlacement:
    """Staff move a tenant's phone system to another node. The new node must take tenants;
    its configuration picks the tenant up on the next render, the old one drops it."""
    require_platform(actor)
    now = now or timezone.now()
    with transaction.atomic():
        node = PbxNode.objects.select_for_update().get(pk=node.pk)
        if node.status != Status.ACTIVE:
            raise InvalidTransition(
                f"node {node.name} is {node.status} and takes no tenants", field="node_id"
            )
        placement = TenantPlacement.objects.select_for_update().filter(tenant=tenant).first()
        before = {"node_id": placement.node_id if placement else None}
        if placement is None:
            placement = TenantPlacement(tenant=tenant, node=node, placed_at=now)
            placement.save(force_insert=True)
        elif placement.node_id != node.id:
            placement.node, placement.placed_at = node, now
            placement.save(update_fields=["node", "placed_at"])
        else:
            return placement
        audit_record(
            actor=actor,
            partner=tenant.partner,
            action="tenant.moved",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            before=before,
            after={"node_id": node.id},
        )
    return placement


def placement_follow_tenant(tenant: Tenant, now: datetime | None = None) -> None:
    """A cancelled tenant leaves its node (it is no longer rendered nor counted in the
    node's load); a tenant back in service without a node is placed again."""
    if tenant.status == Tenant.Status.CANCELLED:
        TenantPlacement.objects.filter(tenant=tenant).delete()
    elif not TenantPlacement.objects.filter(tenant=tenant).exists():
        tenant_place(tenant, now or timezone.now())
