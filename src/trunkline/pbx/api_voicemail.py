"""`/v1/tenants/{id}/voicemail-boxes`: users' and call flows' voicemail boxes (see
pbx/voicemail.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.pbx import voicemail
from trunkline.pbx.api import _changes, _owned, _tenant
from trunkline.pbx.models import VoicemailBox

router = Router(tags=["Voicemail"])

Greeting = Literal["default", "name", "custom"]


class VoicemailBoxOut(Schema):
    id: str
    tenant_id: str
    site_id: str
    owner_id: str | None = Field(description="the user whose own box it is; null: standalone")
    name: str
    emails: list[str] = Field(description="where new messages are sent")
    attach_audio: bool = Field(description="the recording is attached to the email")
    greeting: Greeting
    max_message_seconds: int
    pin_set_at: datetime = Field(description="when the PIN was last set; the PIN is never shown")
    created_at: datetime
    updated_at: datetime


class VoicemailBoxCreated(VoicemailBoxOut):
    pin: str | None = Field(
        description="the PIN, when this call made it up (shown this once); null when the "
        "request gave one"
    )


class VoicemailBoxPin(VoicemailBoxOut):
    pin: str = Field(description="the new PIN, shown this once")


class VoicemailBoxIn(InSchema):
    name: str | None = Field(
        default=None, max_length=200, description="default for a user's box: the user's"
    )
    site_id: str | None = Field(
        default=None, max_length=64, description="default: the user's site, else the default"
    )
    owner_id: str | None = Field(
        default=None, max_length=64, description="the user (ext_…) whose own box this is"
    )
    pin: str | None = Field(
        default=None, max_length=20, description="4 to 10 digits; default: one is made up"
    )
    emails: list[str] | None = Field(default=None, max_length=voicemail.MAX_EMAILS)
    attach_audio: bool | None = None
    greeting: Greeting | None = None
    max_message_seconds: int | None = None


class VoicemailBoxPatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    site_id: str | None = Field(default=None, max_length=64, description="cannot change")
    owner_id: str | None = Field(default=None, max_length=64, description="cannot change")
    pin: str | None = Field(default=None, max_length=20, description="a new PIN, 4 to 10 digits")
    emails: list[str] | None = Field(default=None, max_length=voicemail.MAX_EMAILS)
    attach_audio: bool | None = None
    greeting: Greeting | None = None
    max_message_seconds: int | None = None


class VoicemailBoxQuery(Schema):
    site_id: str | None = Field(default=None, max_length=64)
    owner_id: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


def _box(request, tenant_id: str, box_id: str) -> VoicemailBox:
    return _owned(request, VoicemailBox, tenant_id, box_id, "voicemail_box")


def _fields(payload) -> dict:
    return {k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None}


@router.get(
    "/tenants/{tenant_id}/voicemail-boxes",
    response=ListOut[VoicemailBoxOut],
    auth=scope("voicemail:read"),
)
def list_voicemail_boxes(request, tenant_id: str, query: Query[VoicemailBoxQuery]):
    """The tenant's voicemail boxes by name, optionally at one site or one user's."""
    found = VoicemailBox.objects.filter(tenant=_tenant(request, tenant_id))
    if query.site_id:
        found = found.filter(site_id=query.site_id)
    if query.owner_id:
        found = found.filter(owner_id=query.owner_id)
    page = paginate(found, limit=query.limit, cursor=query.cursor, sort_field="name")
    return {
        "data": [voicemail.voicemail_box_json(box) for box in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post(
    "/tenants/{tenant_id}/voicemail-boxes",
    response={201: VoicemailBoxCreated},
    auth=scope("voicemail:write"),
)
def create_voicemail_box(request, tenant_id: str, payload: VoicemailBoxIn):
    """A new box: a user's own (`owner_id`; one per user, and on a licence-billed tenant
    only with the `voicemail` feature: 409 `license_required`), or standalone for call
    flows. Without a `pin` one is made up and returned in this response only."""
    box, pin = voicemail.voicemail_box_create(
        actor=request.actor, tenant=_tenant(request, tenant_id), fields=_fields(payload)
    )
    return Status(201, {**voicemail.voicemail_box_json(box), "pin": pin})


@router.get(
    "/tenants/{tenant_id}/voicemail-boxes/{box_id}",
    response=VoicemailBoxOut,
    auth=scope("voicemail:read"),
)
def get_voicemail_box(request, tenant_id: str, box_id: str):
    return voicemail.voicemail_box_json(_box(request, tenant_id, box_id))


@router.patch(
    "/tenants/{tenant_id}/voicemail-boxes/{box_id}",
    response=VoicemailBoxOut,
    auth=scope("voicemail:write"),
)
def update_voicemail_box(request, tenant_id: str, box_id: str, payload: VoicemailBoxPatch):
    """Change the box's settings or set its PIN (`pin`, not shown back); `emails: []`
    stops the emails. The site and the owner cannot change."""
    box = voicemail.voicemail_box_update(
        actor=request.actor,
        box=_box(request, tenant_id, box_id),
        changes=_changes(payload, nullable=("site_id", "owner_id")),
    )
    return voicemail.voicemail_box_json(box)


@router.post(
    "/tenants/{tenant_id}/voicemail-boxes/{box_id}/reset-pin",
    response=VoicemailBoxPin,
    auth=scope("voicemail:write"),
)
def reset_voicemail_pin(request, tenant_id: str, box_id: str):
    """A new, made-up PIN, shown in this response only."""
    box, pin = voicemail.voicemail_box_pin_reset(
        actor=request.actor, box=_box(request, tenant_id, box_id)
    )
    return {**voicemail.voicemail_box_json(box), "pin": pin}


@router.delete(
    "/tenants/{tenant_id}/voicemail-boxes/{box_id}",
    response={204: None},
    auth=scope("voicemail:write"),
)
def delete_voicemail_box(request, tenant_id: str, box_id: str):
    """Delete a box; refused (409 `in_use`, with `error.referrers`) while anything routes
    to it."""
    voicemail.voicemail_box_delete(actor=request.actor, box=_box(request, tenant_id, box_id))
    return Status(204, None)
