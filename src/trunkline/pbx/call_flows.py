"""Call flows: creating, changing and deleting auto attendants, hunt groups, queues and
call centers, with their licences.

Every change runs under the tenant's row lock. What a call flow does (`config`) is
checked whole (pbx/call_flow_config.py); then, for a tenant billed by licence, against
the licences it holds, inside the same transaction, so a refusal leaves nothing behind:
an auto attendant takes AA Basic or AA Standard, AA Basic allows one menu level and no
holiday menu (`000_*.txt`), a voicemail destination needs Voicemail for Call Flows, and
call-center agents need the call-center user licence of the center's tier.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import changed_fields
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.licensing.models import LicenseAssignment
from trunkline.licensing.services import (
    call_flow_license_change,
    call_flow_licenses_take,
    feature_check,
    quota_check,
    target_licenses,
    target_released,
)
from trunkline.pbx.call_flow_config import ConfigContext, config_clean, config_references
from trunkline.pbx.models import CallFlow, Extension
from trunkline.pbx.references import Referrer, delete_guard
from trunkline.pbx.schedules import tenant_schedule
from trunkline.pbx.services import (
    clean_name,
    dial_number_free,
    pbx_audit,
    phone_system_lock,
    plain,
    tenant_site,
)
from trunkline.tenants.models import Tenant

T = LicenseAssignment.Target
FIELDS = ("kind", "name", "number", "site_id", "schedule_id", "config", "license", "addons")
CHANGEABLE = ("name", "number", "schedule_id", "config", "license")
MAX_CALL_FLOWS = 1000
AGENT_STATUSES = ("available", "unavailable", "wrap_up")


def call_flow_json(flow: CallFlow, licenses: dict | None = None) -> dict:
    if licenses is None:
        licenses = target_licenses(T.CALL_FLOW, [flow.id]).get(flow.id, {})
    return {
        "id": flow.id,
        "tenant_id": flow.tenant_id,
        "site_id": flow.site_id,
        "kind": flow.kind,
        "name": flow.name,
        "number": flow.number or None,
        "schedule_id": flow.schedule_id,
        "config": flow.config,
        "license": licenses.get("license"),
        "addons": licenses.get("addons", []),
        "created_at": flow.created_at,
        "updated_at": flow.updated_at,
    }


def _member_exists(tenant_id: str, extension_id: str) -> bool:
    return Extension.objects.filter(tenant_id=tenant_id, pk=extension_id).exists()


def _number(value) -> str:
    from trunkline.pbx.extensions import clean_number

    return "" if value in (None, "") else clean_number(value)


def _name_free(tenant: Tenant, name: str, keep_id: str = "") -> None:
    if CallFlow.objects.filter(tenant=tenant, name__iexact=name).exclude(pk=keep_id).exists():
        raise Conflict(f"the tenant already has a call flow named {name!r}", field="name")


def _fits(needs):
    """Whether a base licence covers what the call flow does (for choosing one)."""

    def fits(sku) -> bool:
        levels = (sku.quotas or {}).get("menu_levels")
        wanted = needs.features & {"holiday_menu", "after_hours_menu", "default_menu"}
        return (levels is None or needs.menu_levels <= int(levels)) and wanted <= set(
            sku.features or []
        )

    return fits


def _licences_check(tenant: Tenant, flow: CallFlow, needs) -> None:
    """Refuse (409 `license_required`) what the call flow's and its members' licences do
    not grant; nothing for tenants not billed by licence."""
    if needs.menu_levels:
        quota_check(
            T.CALL_FLOW,
            flow.id,
            tenant=tenant,
            quota="menu_levels",
            wanted=needs.menu_levels,
            field="config",
            flow_type=flow.kind,
        )
    for feature in sorted(needs.features):
        feature_check(
            T.CALL_FLOW,
            flow.id,
            tenant=tenant,
            feature=feature,
            field="config",
            flow_type=flow.kind,
        )
    for extension_id, features in needs.members.items():
        for feature in sorted(features):
            feature_check(T.EXTENSION, extension_id, tenant=tenant, feature=feature, field="config")


def _configure(tenant: Tenant, flow: CallFlow, config) -> object:
    context = ConfigContext(tenant.id, flow.id, _member_exists)
    flow.config, needs = config_clean(flow.kind, context, config)
    if needs.needs_schedule and flow.schedule_id is None:
        what = (
            "a closed destination"
            if flow.kind == "call_center"
            else "after-hours and holiday menus"
        )
        raise ValidationFailed(f"{what} need a schedule (schedule_id)", field="schedule_id")
    return needs


def call_flow_create(
    *, actor: Actor, tenant: Tenant, fields: dict, now: datetime | None = None
) -> CallFlow:
    """A new call flow ({kind, name, config, number?, site_id?, schedule_id?, license?,
    addons?}) at the named site or the default one."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    kind = fields.get("kind")
    if kind not in CallFlow.Kind.values:
        raise ValidationFailed(f"kind is one of {', '.join(CallFlow.Kind.values)}", field="kind")
    name = clean_name(fields.get("name"), what="a call flow's")
    number = _number(fields.get("number"))
    now = now or timezone.now()
    with transaction.atomic():
        tenant = phone_system_lock(actor, tenant)
        if CallFlow.objects.filter(tenant=tenant).count() >= MAX_CALL_FLOWS:
            raise Conflict(f"a tenant has at most {MAX_CALL_FLOWS} call flows")
        _name_free(tenant, name)
        if number:
            dial_number_free(tenant, number)
        flow = CallFlow(
            partner_id=tenant.partner_id,
            tenant=tenant,
            site=tenant_site(tenant, fields.get("site_id")),
            kind=kind,
            name=name,
            number=number,
            created_at=now,
            updated_at=now,
        )
        if fields.get("schedule_id") is not None:
            flow.schedule = tenant_schedule(tenant.id, fields["schedule_id"])
        needs = _configure(tenant, flow, fields.get("config"))
        flow.save(force_insert=True)
        call_flow_licenses_take(
            tenant=tenant,
            site=flow.site,
            flow=flow,
            sku_code=fields.get("license"),
            addons=fields.get("addons") or [],
            fits=_fits(needs),
            now=now,
        )
        _licences_check(tenant, flow, needs)
        pbx_audit(actor, flow, "call_flow.created", after=plain(call_flow_json(flow)))
    return flow


def call_flow_update(*, actor: Actor, flow: CallFlow, changes: dict) -> CallFlow:
    """Rename, renumber, change the schedule, what it does or its base licence. The kind
    and the site are for good."""
    for fixed in ("kind", "site_id"):
        if fixed in changes:
            raise ValidationFailed(
                f"a call flow's {fixed.replace('_id', '')} does not change; delete it and "
                "create another",
                field=fixed,
            )
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise ValidationFailed(f"unknown field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    with transaction.atomic():
        tenant = phone_system_lock(actor, flow.tenant)
        flow = CallFlow.objects.select_related("site").select_for_update().get(pk=flow.pk)
        flow.tenant = tenant
        before = plain(call_flow_json(flow))
        if "name" in changes:
            flow.name = clean_name(changes["name"], what="a call flow's")
            _name_free(tenant, flow.name, keep_id=flow.id)
        if "number" in changes:
            flow.number = _number(changes["number"])
            if flow.number:
                dial_number_free(tenant, flow.number, keep_id=flow.id)
        if "schedule_id" in changes:
            flow.schedule = (
                None
                if changes["schedule_id"] is None
                else tenant_schedule(tenant.id, changes["schedule_id"])
            )
        needs = _configure(tenant, flow, changes.get("config", flow.config))
        if "license" in changes:
            call_flow_license_change(
                tenant=tenant, flow=flow, sku_code=changes["license"], now=timezone.now()
            )
        _licences_check(tenant, flow, needs)
        after = plain(call_flow_json(flow))
        if not changed_fields(before, after):
            return flow
        flow.updated_at = timezone.now()
        flow.save()
        pbx_audit(actor, flow, "call_flow.updated", before, plain(call_flow_json(flow)))
    return flow


def call_flow_delete(*, actor: Actor, flow: CallFlow) -> None:
    """Delete a call flow nothing routes to; its licences are free again at its site."""
    with transaction.atomic():
        tenant = phone_system_lock(actor, flow.tenant)
        flow = CallFlow.objects.filter(pk=flow.pk).first()
        if flow is None:
            raise NotFound("no such call flow", field="call_flow_id")
        flow.tenant = tenant
        delete_guard(
            tenant_id=tenant.id,
            target_type="call_flow",
            target_id=flow.id,
            what=f"call flow {flow.name}",
        )
        view = plain(call_flow_json(flow))
        target_released(target_type=T.CALL_FLOW, target_id=flow.id)
        flow.delete()
        flow.id = view["id"]  # delete() clears it
        pbx_audit(actor, flow, "call_flow.deleted", before=view)


def agent_status_set(
    *, actor: Actor, flow: CallFlow, extension_id: str, status, now: datetime | None = None
) -> dict:
    """An agent of a queue or call center signs in, out or into wrap-up."""
    if status not in AGENT_STATUSES:
        raise ValidationFailed(f"status is one of {', '.join(AGENT_STATUSES)}", field="status")
    now = now or timezone.now()
    with transaction.atomic():
        tenant = phone_system_lock(actor, flow.tenant)
        flow = CallFlow.objects.select_for_update().get(pk=flow.pk)
        flow.tenant = tenant
        if flow.kind not in (CallFlow.Kind.QUEUE, CallFlow.Kind.CALL_CENTER):
            raise Conflict("only queues and call centers have agents", type="not_a_queue")
        if extension_id not in call_flow_agents(flow):
            raise NotFound("that user is not one of its agents", field="extension_id")
        before = dict(flow.agent_states)
        entry = {"status": status, "since": plain({"at": now})["at"]}
        flow.agent_states = {**flow.agent_states, extension_id: entry}
        flow.save(update_fields=["agent_states"])
        pbx_audit(
            actor,
            flow,
            "call_flow.agent_status",
            {"agent_states": before},
            {"agent_states": flow.agent_states},
        )
    return {"extension_id": extension_id, **entry}


def call_flow_agents(flow: CallFlow) -> list[str]:
    agents = flow.config.get("agents", [])
    return [a if isinstance(a, str) else a["extension_id"] for a in agents]


def agent_states(flow: CallFlow) -> list[dict]:
    """Every agent with its status; one that never signed in is unavailable."""
    return [
        {
            "extension_id": agent,
            **flow.agent_states.get(agent, {"status": "unavailable", "since": None}),
        }
        for agent in call_flow_agents(flow)
    ]


# --- as a destination, and what it points at ---------------------------------------------------


def call_flow_target(tenant_id: str, flow_id: str):
    found = CallFlow.objects.filter(tenant_id=tenant_id, pk=flow_id).first()
    return (found, f"{found.get_kind_display().lower()} {found.name}") if found else None


def call_flow_referrers(tenant_id: str, target_type: str, target_id: str) -> list[Referrer]:
    """The call flows that send calls to (or count as members) the target, and schedules'
    users."""
    found = []
    flows = CallFlow.objects.filter(tenant_id=tenant_id)
    if target_type == "schedule":
        return [
            Referrer("call_flow", flow.id, flow.name, "opening hours")
            for flow in flows.filter(schedule_id=target_id)
        ]
    for flow in flows:
        for kind, object_id, via in config_references(flow.kind, flow.config):
            if kind == target_type and object_id == target_id:
                found.append(Referrer("call_flow", flow.id, flow.name, via))
    return found


def member_features_in_use(target_type: str, target_ids: list[str]) -> dict[str, dict[str, str]]:
    """The features call flows need kept, for the licence engine's removal checks: a
    call-center agent's or supervisor's licence, and a call flow's own (a holiday menu, a
    voicemail destination)."""
    used: dict[str, dict[str, str]] = {}
    if target_type == T.CALL_FLOW:
        for flow in CallFlow.objects.filter(pk__in=target_ids):
            context = ConfigContext(flow.tenant_id, flow.id, lambda *_: True)
            try:
                _, needs = config_clean(flow.kind, context, flow.config)
            except (ValidationFailed, NotFound):
                continue
            words = f"{flow.get_kind_display().lower()} {flow.name}"
            used[flow.id] = {
                feature: f"{words} uses {feature.replace('_', ' ')}" for feature in needs.features
            }
        return used
    if target_type != T.EXTENSION:
        return used
    tenants = Extension.objects.filter(pk__in=target_ids).values_list("tenant_id", flat=True)
    wanted = set(target_ids)
    for flow in CallFlow.objects.filter(tenant_id__in=set(tenants), kind=CallFlow.Kind.CALL_CENTER):
        tier = flow.config.get("tier", "standard")
        for agent in wanted.intersection(call_flow_agents(flow)):
            used.setdefault(agent, {})[f"call_center_{tier}"] = f"agent of call center {flow.name}"
        for supervisor in wanted.intersection(flow.config.get("supervisors", [])):
            used.setdefault(supervisor, {})["call_center_premium"] = (
                f"supervisor of call center {flow.name}"
            )
    return used
