"""`GET /v1/tenants/{id}/telephony/config`: the Asterisk configuration Trunkline renders
for one tenant; `POST /v1/telephony/voicemail/pin-check`: the call engine asking whether
a caller typed a voicemail box's PIN (see telephony/asterisk.py)."""

from __future__ import annotations

from ninja import Router, Schema
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core import ratelimit
from trunkline.core.errors import NotFound, RateLimited
from trunkline.core.schemas import InSchema
from trunkline.pbx.models import Extension, VoicemailBox
from trunkline.pbx.voicemail import voicemail_pin_matches
from trunkline.telephony.asterisk import files_version, tenant_files
from trunkline.telephony.dialplan import context
from trunkline.telephony.nodes import node_of
from trunkline.tenants import selectors as tenant_selectors

router = Router(tags=["Telephony"])

PIN_TRIES = 5  # wrong PINs a box takes in PIN_WINDOW before it refuses to be tried
PIN_WINDOW = 15 * 60


class NodeRef(Schema):
    id: str
    name: str
    address: str


class TenantConfigOut(Schema):
    tenant_id: str
    node: NodeRef | None = Field(description="the PBX node that runs the tenant; null: waiting")
    version: str = Field(description="a hash of the files below; it changes when they do")
    files: dict[str, str] = Field(
        description="pjsip.conf, extensions.conf, queues.conf and voicemail.conf of the "
        "tenant, as the node includes them; SIP digest hashes are hidden"
    )


@router.get(
    "/tenants/{tenant_id}/telephony/config",
    response=TenantConfigOut,
    auth=scope("provisioning:read"),
)
def get_telephony_config(request, tenant_id: str):
    """What the call engine runs for this tenant: its endpoints, dialplan, queues and
    voicemail boxes, generated from its phone system."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=tenant_id[:64])
    files = tenant_files(tenant, secrets=False)
    node = node_of(tenant)
    return {
        "tenant_id": tenant.id,
        "node": {"id": node.id, "name": node.name, "address": node.address} if node else None,
        "version": files_version(files),
        "files": files,
    }


class PinCheckIn(InSchema):
    tenant_id: str = Field(max_length=64)
    extension_id: str | None = Field(
        default=None, max_length=64, description="the user calling for their own box"
    )
    box_id: str | None = Field(default=None, max_length=64, description="or a box by its id")
    pin: str = Field(max_length=20)


class PinCheckOut(Schema):
    valid: bool
    mailbox: str | None = Field(description="the box to open, when valid")
    context: str | None = Field(description="its voicemail context, when valid")


@router.post("/telephony/voicemail/pin-check", response=PinCheckOut, auth=scope("voicemail:write"))
def check_voicemail_pin(request, payload: PinCheckIn):
    """Whether `pin` opens the box (the user's own, or the one named). After 5 wrong PINs
    in 15 minutes the box answers 429 until the window passes."""
    tenant = tenant_selectors.tenant_get(actor=request.actor, tenant_id=payload.tenant_id)
    boxes = VoicemailBox.objects.filter(tenant=tenant)
    if payload.box_id:
        box = boxes.filter(pk=payload.box_id).first()
    elif payload.extension_id:
        owner = Extension.objects.filter(tenant=tenant, pk=payload.extension_id).first()
        box = boxes.filter(owner=owner).first() if owner else None
    else:
        box = None
    if box is None:
        raise NotFound("no such voicemail box", field="box_id")
    # Each try counts before the PIN is looked at, so guesses sent in parallel cannot
    # get past the limit; the right PIN starts the count over. The counters are the
    # request-rate limiter's (shared between processes with REDIS_URL).
    limit = {"amount": PIN_TRIES, "minutes": PIN_WINDOW // 60}
    wait = ratelimit.attempt("vm-pin", box.id, **limit)
    if wait is not None:
        raise RateLimited("too many wrong PINs for this box; try later", retry_after=wait)
    if not voicemail_pin_matches(box, payload.pin):
        return {"valid": False, "mailbox": None, "context": None}
    ratelimit.attempts_forget("vm-pin", box.id, **limit)
    return {"valid": True, "mailbox": box.id, "context": context(tenant)}
