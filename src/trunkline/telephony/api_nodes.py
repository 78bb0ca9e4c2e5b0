"""`/v1/platform/pbx-nodes` and `/v1/platform/tenants/{id}/move`: platform staff keeping
the Asterisk servers and placing tenants on them (see telephony/nodes.py).

Only platform staff and the operator's own key open these; a partner's key gets the 404
any unknown path gets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.errors import NotFound
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.telephony import nodes
from trunkline.telephony.models import PbxNode
from trunkline.tenants.models import Tenant

router = Router(tags=["Platform"])

NodeStatus = Literal["active", "draining", "offline"]


class PbxNodeOut(Schema):
    id: str
    name: str = Field(description="a DNS label; names the node's configuration folder")
    address: str = Field(description="host name or IP address the SIP proxies send calls to")
    capacity: int = Field(description="extensions the node is sized for")
    status: NodeStatus = Field(
        description="active takes new tenants; draining keeps its tenants and takes none; "
        "offline runs none"
    )
    tenants: int = Field(description="tenants whose phone systems run on the node")
    extensions: int = Field(description="their extensions")
    load_percent: float = Field(description="extensions as a percentage of capacity")
    created_at: datetime
    updated_at: datetime


class PbxNodeIn(InSchema):
    name: str = Field(max_length=63, examples=["pbx-dal-1"])
    address: str = Field(max_length=253, examples=["10.0.4.11"])
    capacity: int = Field(strict=True, description="extensions it is sized for, 1 to 1,000,000")
    status: NodeStatus | None = Field(default=None, description="default: active")


class PbxNodePatch(InSchema):
    name: str | None = Field(default=None, max_length=63)
    address: str | None = Field(default=None, max_length=253)
    capacity: int | None = Field(default=None, strict=True)
    status: NodeStatus | None = None


class NodeQuery(Schema):
    limit: int | None = None
    cursor: str | None = Field(default=None, max_length=200)


class MoveIn(InSchema):
    node_id: str = Field(max_length=64)


class PlacementOut(Schema):
    tenant_id: str
    node: PbxNodeOut
    placed_at: datetime


def _node(request, node_id: str) -> PbxNode:
    nodes.require_platform(request.actor)
    found = nodes.nodes_with_load().filter(pk=node_id[:64]).first()
    if found is None:
        raise NotFound("no such PBX node", field="node_id")
    return found


def _sent(payload) -> dict:
    return {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}


@router.get("/platform/pbx-nodes", response=ListOut[PbxNodeOut], auth=scope("provisioning:read"))
def list_pbx_nodes(request, query: Query[NodeQuery]):
    """Every PBX node with its load."""
    nodes.require_platform(request.actor)
    page = paginate(nodes.nodes_with_load(), limit=query.limit, cursor=query.cursor)
    return {"data": [nodes.pbx_node_json(n) for n in page.items], "next_cursor": page.next_cursor}


@router.post("/platform/pbx-nodes", response={201: PbxNodeOut}, auth=scope("provisioning:write"))
def create_pbx_node(request, payload: PbxNodeIn):
    """Register an Asterisk server. An active node at once takes the tenants waiting for
    one."""
    node = nodes.pbx_node_create(actor=request.actor, fields=_sent(payload))
    return Status(201, nodes.pbx_node_json(node))


@router.get("/platform/pbx-nodes/{node_id}", response=PbxNodeOut, auth=scope("provisioning:read"))
def get_pbx_node(request, node_id: str):
    return nodes.pbx_node_json(_node(request, node_id))


@router.patch(
    "/platform/pbx-nodes/{node_id}", response=PbxNodeOut, auth=scope("provisioning:write")
)
def update_pbx_node(request, node_id: str, payload: PbxNodePatch):
    """Rename, re-address, resize, drain or take offline (refused while it runs tenants)."""
    node = nodes.pbx_node_update(
        actor=request.actor, node=_node(request, node_id), changes=_sent(payload)
    )
    return nodes.pbx_node_json(node)


@router.delete(
    "/platform/pbx-nodes/{node_id}", response={204: None}, auth=scope("provisioning:write")
)
def delete_pbx_node(request, node_id: str):
    """Remove a node that runs no tenants (409 `in_use` otherwise)."""
    nodes.pbx_node_delete(actor=request.actor, node=_node(request, node_id))
    return Status(204, None)


@router.post(
    "/platform/tenants/{tenant_id}/move",
    response=PlacementOut,
    auth=scope("provisioning:write"),
)
def move_tenant(request, tenant_id: str, payload: MoveIn):
    """Run the tenant's phone system on another active node from the next render on."""
    nodes.require_platform(request.actor)
    tenant = Tenant.objects.filter(pk=tenant_id[:64]).first()
    if tenant is None:
        raise NotFound("no such tenant", field="tenant_id")
    node = _node(request, payload.node_id)
    placement = nodes.tenant_move(actor=request.actor, tenant=tenant, node=node)
    return {
        "tenant_id": tenant.id,
        "node": nodes.pbx_node_json(placement.node),
        "placed_at": placement.placed_at,
    }
