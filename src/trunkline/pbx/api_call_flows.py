"""`/v1/tenants/{id}/call-flows` and `/v1/tenants/{id}/schedules`: auto attendants, hunt
groups, queues and call centers, and the opening hours they follow (see
pbx/call_flows.py, pbx/call_flow_config.py and pbx/schedules.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from trunkline.accounts.api_auth import scope
from trunkline.core.pagination import paginate
from trunkline.core.schemas import InSchema, ListOut
from trunkline.licensing.models import LicenseAssignment
from trunkline.licensing.services import target_licenses
from trunkline.pbx import call_flows, schedules
from trunkline.pbx.api import _changes, _owned, _tenant
from trunkline.pbx.models import CallFlow, Schedule

router = Router(tags=["Call flows"])

Kind = Literal["auto_attendant", "hunt_group", "queue", "call_center"]


class CallFlowOut(Schema):
    id: str
    tenant_id: str
    site_id: str
    kind: Kind
    name: str
    number: str | None = Field(description="its extension in the tenant's dial plan")
    schedule_id: str | None = Field(description="the opening hours it follows")
    config: dict[str, Any] = Field(description="what it does; its shape depends on `kind`")
    license: str | None = Field(
        description="its base licence (licence-billed tenants; auto attendants)",
        examples=["aa_standard"],
    )
    addons: list[str] = Field(description="its add-on licences", examples=[["cf_voicemail"]])
    created_at: datetime
    updated_at: datetime


class CallFlowIn(InSchema):
    kind: Kind
    name: str = Field(max_length=200)
    number: str | None = Field(default=None, max_length=20, examples=["4000"])
    site_id: str | None = Field(default=None, max_length=64, description="default: default site")
    schedule_id: str | None = Field(default=None, max_length=64)
    config: dict[str, Any] = Field(
        description=(
            "auto_attendant: {menus: {key: {name, greeting, options: {digit: destination | "
            '{"type": "menu", "menu": key} | {"type": "repeat"}}, timeout_seconds, '
            "timeout_destination, invalid_destination}}, business_hours_menu, "
            "after_hours_menu, holiday_menu, dial_by_extension}; hunt_group: {strategy, "
            "members, ring_seconds, no_answer_destination}; queue: {agents, ring_strategy, "
            "hold_music, max_wait_seconds, max_callers, announce_position, "
            "overflow_destination}; call_center: the queue's fields plus {tier, skills, "
            "agents: [{extension_id, skills}], supervisors, closed_destination}"
        )
    )
    license: str | None = Field(
        default=None, max_length=64, description="base licence; default: the cheapest that fits"
    )
    addons: list[str] = Field(default_factory=list, max_length=20)


class CallFlowPatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    number: str | None = Field(default=None, max_length=20, description="null removes it")
    schedule_id: str | None = Field(default=None, max_length=64, description="null removes it")
    config: dict[str, Any] | None = Field(default=None, description="replaces the whole config")
    license: str | None = Field(default=None, max_length=64, description="change base licence")
    kind: str | None = Field(default=None, max_length=20, description="cannot change")
    site_id: str | None = Field(default=None, max_length=64, description="cannot change")


class CallFlowQuery(Schema):
    kind: Kind | None = None
    site_id: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=500)


class AgentStatusIn(InSchema):
    status: Literal["available", "unavailable", "wrap_up"]


class AgentStatusOut(Schema):
    extension_id: str
    status: str
    since: str | None


class ScheduleOut(Schema):
    id: str
    tenant_id: str
    name: str
    timezone: str
    hours: list[dict[str, Any]] = Field(description="weekly windows {days, from, to}")
    holidays: list[dict[str, Any]] = Field(description="whole days {date, name}")
    created_at: datetime
    updated_at: datetime


class ScheduleIn(InSchema):
    name: str = Field(max_length=200)
    timezone: str | None = Field(default=None, max_length=64, description="default: tenant's")
    hours: list[dict[str, Any]] = Field(default_factory=list, max_length=50)
    holidays: list[dict[str, Any]] = Field(default_factory=list, max_length=400)


class SchedulePatch(InSchema):
    name: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    hours: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    holidays: list[dict[str, Any]] | None = Field(default=None, max_length=400)


class ScheduleStateQuery(Schema):
    at: datetime | None = Field(default=None, description="default: now")


class ScheduleStateOut(Schema):
    schedule_id: str
    at: datetime
    state: Literal["open", "closed", "holiday"]


def _flow(request, tenant_id: str, flow_id: str) -> CallFlow:
    return _owned(request, CallFlow, tenant_id, flow_id, "call flow")


def _schedule(request, tenant_id: str, schedule_id: str) -> Schedule:
    return _owned(request, Schedule, tenant_id, schedule_id, "schedule")


@router.get(
    "/tenants/{tenant_id}/call-flows",
    response=ListOut[CallFlowOut],
    auth=scope("call_flows:read"),
)
def list_call_flows(request, tenant_id: str, query: Query[CallFlowQuery]):
    """The tenant's call flows by name, optionally of one kind or at one site."""
    found = CallFlow.objects.filter(tenant=_tenant(request, tenant_id))
    if query.kind:
        found = found.filter(kind=query.kind)
    if query.site_id:
        found = found.filter(site_id=query.site_id)
    page = paginate(found, limit=query.limit, cursor=query.cursor, sort_field="name")
    licenses = target_licenses(LicenseAssignment.Target.CALL_FLOW, [f.id for f in page.items])
    return {
        "data": [call_flows.call_flow_json(f, licenses.get(f.id, {})) for f in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post(
    "/tenants/{tenant_id}/call-flows",
    response={201: CallFlowOut},
    auth=scope("call_flows:write"),
)
def create_call_flow(request, tenant_id: str, payload: CallFlowIn):
    """A new call flow. Destinations that name another tenant's user or call flow are 404;
    on a licence-billed tenant, an auto attendant without a free AA licence, a second menu
    level or a holiday menu on AA Basic, and a voicemail destination without Voicemail
    for Call Flows are 409 `license_required`."""
    flow = call_flows.call_flow_create(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        fields=payload.model_dump(exclude_unset=True),
    )
    return Status(201, call_flows.call_flow_json(flow))


@router.get(
    "/tenants/{tenant_id}/call-flows/{call_flow_id}",
    response=CallFlowOut,
    auth=scope("call_flows:read"),
)
def get_call_flow(request, tenant_id: str, call_flow_id: str):
    return call_flows.call_flow_json(_flow(request, tenant_id, call_flow_id))


@router.patch(
    "/tenants/{tenant_id}/call-flows/{call_flow_id}",
    response=CallFlowOut,
    auth=scope("call_flows:write"),
)
def update_call_flow(request, tenant_id: str, call_flow_id: str, payload: CallFlowPatch):
    """Rename, renumber, change the schedule, the config (whole) or the base licence."""
    flow = call_flows.call_flow_update(
        actor=request.actor,
        flow=_flow(request, tenant_id, call_flow_id),
        changes=_changes(payload, nullable=("number", "schedule_id", "kind", "site_id")),
    )
    return call_flows.call_flow_json(flow)


@router.delete(
    "/tenants/{tenant_id}/call-flows/{call_flow_id}",
    response={204: None},
    auth=scope("call_flows:write"),
)
def delete_call_flow(request, tenant_id: str, call_flow_id: str):
    """Delete a call flow; refused (409 `in_use`, with `error.referrers`) while a menu,
    another call flow or a number still sends calls to it."""
    call_flows.call_flow_delete(actor=request.actor, flow=_flow(request, tenant_id, call_flow_id))
    return Status(204, None)


@router.get(
    "/tenants/{tenant_id}/call-flows/{call_flow_id}/agents",
    response=ListOut[AgentStatusOut],
    auth=scope("queues:read"),
)
def list_agents(request, tenant_id: str, call_flow_id: str):
    """A queue's or call center's agents and whether each is taking calls."""
    flow = _flow(request, tenant_id, call_flow_id)
    return {"data": call_flows.agent_states(flow), "next_cursor": None}


@router.put(
    "/tenants/{tenant_id}/call-flows/{call_flow_id}/agents/{extension_id}/status",
    response=AgentStatusOut,
    auth=scope("queues:write"),
)
def set_agent_status(
    request, tenant_id: str, call_flow_id: str, extension_id: str, payload: AgentStatusIn
):
    """Sign an agent in (available), out (unavailable) or into wrap-up."""
    return call_flows.agent_status_set(
        actor=request.actor,
        flow=_flow(request, tenant_id, call_flow_id),
        extension_id=extension_id[:64],
        status=payload.status,
    )


# --- schedules ----------------------------------------------------------------------------------


@router.get(
    "/tenants/{tenant_id}/schedules", response=ListOut[ScheduleOut], auth=scope("call_flows:read")
)
def list_schedules(request, tenant_id: str):
    found = Schedule.objects.filter(tenant=_tenant(request, tenant_id))
    return {"data": [schedules.schedule_json(s) for s in found], "next_cursor": None}


@router.post(
    "/tenants/{tenant_id}/schedules",
    response={201: ScheduleOut},
    auth=scope("call_flows:write"),
)
def create_schedule(request, tenant_id: str, payload: ScheduleIn):
    """Business hours as weekly windows and holidays as whole days, in the schedule's
    time zone (the tenant's by default)."""
    schedule = schedules.schedule_create(
        actor=request.actor,
        tenant=_tenant(request, tenant_id),
        fields=_changes(payload, nullable=()),
    )
    return Status(201, schedules.schedule_json(schedule))


@router.get(
    "/tenants/{tenant_id}/schedules/{schedule_id}",
    response=ScheduleOut,
    auth=scope("call_flows:read"),
)
def get_schedule(request, tenant_id: str, schedule_id: str):
    return schedules.schedule_json(_schedule(request, tenant_id, schedule_id))


@router.patch(
    "/tenants/{tenant_id}/schedules/{schedule_id}",
    response=ScheduleOut,
    auth=scope("call_flows:write"),
)
def update_schedule(request, tenant_id: str, schedule_id: str, payload: SchedulePatch):
    schedule = schedules.schedule_update(
        actor=request.actor,
        schedule=_schedule(request, tenant_id, schedule_id),
        changes=_changes(payload, nullable=()),
    )
    return schedules.schedule_json(schedule)


@router.delete(
    "/tenants/{tenant_id}/schedules/{schedule_id}",
    response={204: None},
    auth=scope("call_flows:write"),
)
def delete_schedule(request, tenant_id: str, schedule_id: str):
    """Delete a schedule; refused (409 `in_use`) while a call flow follows it."""
    schedules.schedule_delete(
        actor=request.actor, schedule=_schedule(request, tenant_id, schedule_id)
    )
    return Status(204, None)


@router.get(
    "/tenants/{tenant_id}/schedules/{schedule_id}/state",
    response=ScheduleStateOut,
    auth=scope("call_flows:read"),
)
def schedule_state(request, tenant_id: str, schedule_id: str, query: Query[ScheduleStateQuery]):
    """Whether the schedule is open, closed or on a holiday at `at` (now by default)."""
    schedule = _schedule(request, tenant_id, schedule_id)
    at = query.at or timezone.now()
    if timezone.is_naive(at):
        at = at.replace(tzinfo=UTC)
    return {"schedule_id": schedule.id, "at": at, "state": schedules.schedule_state(schedule, at)}
