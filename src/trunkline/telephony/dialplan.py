"""A tenant's Asterisk dialplan (`extensions.conf`), queues (`queues.conf`) and voicemail
boxes (`voicemail.conf`), generated from its phone system: users and their call
settings, call flows, schedules, DID routes and voicemail boxes.

Every context of a tenant is named `t-<sip prefix>-…`, and a tenant's phones start in
`t-<prefix>-phones`, which includes only the tenant's own contexts: a phone cannot
reach another tenant's users, flows or mailboxes by any number. Emergency numbers come
first in every context a phone dials from (Kari's Law: 911 needs no prefix), and are
sent with the caller's emergency caller ID. A suspended tenant's phones and numbers
reach only the "service interrupted" announcement, and 911.

Calls that leave the platform (outside numbers, forwarding to a mobile) go through the
shared `trunkline-outbound` subroutine (see `asterisk.py`), which asks Trunkline's
authorization endpoint first; the dialplan itself holds no secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from django.conf import settings

from trunkline.pbx.call_flow_config import ENTRY_MENUS, KEYS
from trunkline.pbx.models import CallFlow, Device, Extension, Schedule, SipTrunk, VoicemailBox
from trunkline.pbx.schedules import DAYS
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.tenants.models import Tenant

EMERGENCY = ("911", "933")  # 933 is the carriers' test of the 911 path
SOUNDS = "trunkline"
QUEUE_STRATEGIES = {
    "ring_all": "ringall",
    "round_robin": "rrmemory",
    "longest_idle": "leastrecent",
    "fewest_calls": "fewestcalls",
    "random": "random",
}
IN_SERVICE = (Tenant.Status.TRIAL, Tenant.Status.ACTIVE)


def context(tenant: Tenant, *parts: str) -> str:
    return "-".join(("t", tenant.sip_prefix, *parts))


def _comment(text: str) -> str:
    return " ".join(str(text).split()).replace(";", ",")


def _quote(text: str) -> str:
    """Text inside a dialplan argument: no quotes, commas, parentheses or newlines."""
    return "".join(ch for ch in " ".join(str(text).split()) if ch not in '",()[]{};\\$')


@dataclass
class PhoneSystem:
    """Everything of one tenant the configuration is made from, read once."""

    tenant: Tenant
    extensions: list[Extension]
    devices: dict[str, list[Device]]  # extension id -> devices
    flows: list[CallFlow]
    boxes: list[VoicemailBox]
    trunks: list[SipTrunk]
    numbers: list[PhoneNumber]
    schedules: dict[str, Schedule]
    settings: dict[str, dict]  # extension id -> call settings document
    unassigned: dict | None
    by_id: dict[str, object] = field(default_factory=dict)

    @property
    def in_service(self) -> bool:
        return self.tenant.status in IN_SERVICE

    def number_of(self, number_id: str | None) -> str | None:
        for number in self.numbers:
            if number.id == number_id:
                return number.e164
        return None


def phone_system(tenant: Tenant) -> PhoneSystem:
    from trunkline.pbx.call_settings import _doc
    from trunkline.pbx.models import CallSettings, UnassignedDidRoute
    from trunkline.pbx.routing import ROUTABLE

    extensions = list(Extension.objects.filter(tenant=tenant).order_by("number"))
    devices: dict[str, list[Device]] = {}
    for device in Device.objects.filter(tenant=tenant).order_by("sip_username"):
        devices.setdefault(device.extension_id, []).append(device)
    rows = {row.extension_id: row for row in CallSettings.objects.filter(tenant=tenant)}
    documents = {}
    for extension in extensions:
        row = rows.get(extension.id)
        document = _doc(row)
        document["outgoing_caller_id"] = (
            row.outgoing_number.e164 if row is not None and row.outgoing_number_id else None
        )
        documents[extension.id] = document
    unassigned = UnassignedDidRoute.objects.filter(tenant=tenant).first()
    system = PhoneSystem(
        tenant=tenant,
        extensions=extensions,
        devices=devices,
        flows=list(CallFlow.objects.filter(tenant=tenant).order_by("created_at", "id")),
        boxes=list(VoicemailBox.objects.filter(tenant=tenant).order_by("created_at", "id")),
        trunks=list(SipTrunk.objects.filter(tenant=tenant).order_by("created_at", "id")),
        numbers=list(
            PhoneNumber.objects.filter(tenant=tenant, status__in=ROUTABLE).order_by("e164")
        ),
        schedules={s.id: s for s in Schedule.objects.filter(tenant=tenant)},
        settings=documents,
        unassigned=unassigned.destination if unassigned else None,
    )
    for group in (system.extensions, system.flows, system.boxes, system.trunks):
        for obj in group:
            system.by_id[obj.id] = obj
    return system


# --- caller IDs ---------------------------------------------------------------------------------


def outbound_caller_id(system: PhoneSystem, extension: Extension) -> str:
    """The number a user's outgoing calls show: the flexible caller ID, else the main
    number, else the tenant's first number; '' when the tenant has none."""
    chosen = system.settings.get(extension.id, {}).get("outgoing_caller_id")
    return chosen or system.number_of(extension.main_number_id) or _first_number(system)


def registered_number(system: PhoneSystem) -> str:
    """The tenant's first number with a registered E911 address ('' when none)."""
    for number in system.numbers:
        if number.e911_status == PhoneNumber.E911Status.REGISTERED:
            return number.e164
    return ""


def emergency_caller_id(system: PhoneSystem, extension: Extension) -> str:
    """The number 911 sees, whose registered E911 address is the dispatchable location:
    the user's main number, else the caller ID its calls show, else a number routed to
    the user, when one of them has a registered address; else any of the tenant's
    numbers that has one; else the number the user's calls show (the authorization then
    flags the call)."""
    registered = {
        n.e164 for n in system.numbers if n.e911_status == PhoneNumber.E911Status.REGISTERED
    }
    routed = [
        n.e164
        for n in system.numbers
        if (n.route or {}).get("type") == "extension" and n.route.get("id") == extension.id
    ]
    own = [system.number_of(extension.main_number_id), outbound_caller_id(system, extension)]
    for candidate in [*own, *routed]:
        if candidate and candidate in registered:
            return candidate
    return registered_number(system) or outbound_caller_id(system, extension)


def _first_number(system: PhoneSystem) -> str:
    return system.numbers[0].e164 if system.numbers else ""


# --- where calls go -----------------------------------------------------------------------------


def destination(system: PhoneSystem, target: dict | None, *, fallback: str) -> list[str]:
    """The dialplan steps that send the call to `target` (`pbx.references` shape). A
    destination whose object is gone (it cannot be, the delete guard refuses) is the
    fallback rather than a broken Goto."""
    tenant = system.tenant
    if not target:
        return [fallback]
    kind = target.get("type")
    if kind == "hangup":
        return ["Hangup()"]
    if kind == "external":
        return [f"Gosub(trunkline-outbound,s,1({target['number']}))", "Hangup()"]
    found = system.by_id.get(target.get("id", ""))
    if found is None:
        return [fallback]
    if kind == "extension":
        return [f"Goto({context(tenant, 'u' + found.number)},s,1)"]
    if kind == "call_flow":
        return [f"Goto({context(tenant, 'cf', found.id)},s,1)"]
    if kind == "voicemail":
        return [f"Goto({context(tenant, 'vm', found.id)},s,1)"]
    if kind == "trunk":
        return [f"Goto({context(tenant, 'trunk', found.id)},s,1)"]
    return [fallback]


def _steps(label: str, steps: list[str]) -> list[str]:
    first, *rest = steps
    return [f" same => n({label}),{first}", *(f" same => n,{s}" for s in rest)]


def _exten(name: str, steps: list[str]) -> list[str]:
    first, *rest = steps
    return [f"exten => {name},1,{first}", *(f" same => n,{s}" for s in rest)]


# --- schedules ----------------------------------------------------------------------------------


def _minus_a_minute(clock: str) -> str:
    hours, minutes = map(int, clock.split(":"))
    total = hours * 60 + minutes - 1  # Asterisk's time ranges include their last minute
    return f"{total // 60:02d}:{total % 60:02d}"


def _days(days: list[str]) -> str:
    return "&".join(days) if len(days) < len(DAYS) else "*"


def schedule_jumps(schedule: Schedule, *, open_label: str, holiday_label: str | None) -> list[str]:
    """Steps that jump to `holiday_label` on one of the schedule's holidays (when given)
    and to `open_label` inside its weekly hours; falling through means closed."""
    zone = schedule.timezone
    steps = [f"NoOp(schedule {_comment(schedule.name)}, {zone})"]
    if holiday_label and schedule.holidays:
        dates = " | ".join(f'"${{TL_TODAY}}" = "{h["date"]}"' for h in schedule.holidays)
        steps.append(f"Set(TL_TODAY=${{STRFTIME(${{EPOCH}},{zone},%F)}})")
        steps.append(f"GotoIf($[{dates}]?{holiday_label})")
    for window in schedule.hours:
        times = f"{window['from']}-{_minus_a_minute(window['to'])}"
        steps.append(f"GotoIfTime({times},{_days(window['days'])},*,*,{zone}?{open_label})")
    return steps


# --- users ----------------------------------------------------------------------------------------


def _dial_string(devices: list[Device]) -> str:
    return "&".join(f"PJSIP/{d.sip_username}" for d in devices)


def _mobile(system: PhoneSystem, number: str) -> str:
    return f"Local/{number}@{context(system.tenant, 'mobile')}"


def _rule_test(rule: dict, zone: str) -> str:
    """An expression true when the call matches the rule (one of its time windows, if it
    has any, and one of its callers, if it lists any)."""
    parts = []
    if rule.get("times"):
        windows = [
            f"${{IFTIME({w['start']}-{_minus_a_minute(w['end'])},{_days(w['days'])},*,*,{zone}?1:0)}}"
            for w in rule["times"]
        ]
        parts.append("(" + " | ".join(f"{w} = 1" for w in windows) + ")")
    if rule.get("callers"):
        callers = []
        for caller in rule["callers"]:
            if caller.endswith("*"):
                callers.append(f'${{REGEX("^\\{caller[:-1]}" ${{CALLERID(num)}})}} = 1')
            else:
                callers.append(f'"${{CALLERID(num)}}" = "{caller}"')
        parts.append("(" + " | ".join(callers) + ")")
    return " & ".join(parts) if parts else "1"


def user_context(system: PhoneSystem, extension: Extension) -> list[str]:
    tenant = system.tenant
    doc = system.settings.get(extension.id, {})
    devices = system.devices.get(extension.id, [])
    zone = next((s.timezone for s in [extension.site] if s), tenant.timezone)
    box = next((b for b in system.boxes if b.owner_id == extension.id), None)
    own_box = [f"Goto({context(tenant, 'vm', box.id)},s,1)"] if box else None

    def forward(key: str, otherwise: list[str]) -> list[str]:
        setting = doc.get(key) or {}
        if setting.get("enabled") and setting.get("destination"):
            return destination(system, setting["destination"], fallback="Hangup()")
        return otherwise

    lines = [
        f"[{context(tenant, 'u' + extension.number)}]",
        f"; user {extension.number} {_comment(extension.name)} ({extension.id})",
        f"exten => s,1,Set(__TL_CALLED_USER={extension.id})",
    ]
    add = lines.append
    if doc.get("reject_anonymous"):
        add(
            ' same => n,GotoIf($["${CALLERID(num)}" = "" | "${CALLERID(num)}" = "anonymous"'
            ' | "${CALLERID(num-pres):0:6}" = "prohib"]?reject)'
        )
    rejection = doc.get("selective_rejection") or {}
    if rejection.get("enabled"):
        for rule in rejection.get("rules", []):
            add(f" same => n,GotoIf($[{_rule_test(rule, zone)}]?reject)")
    acceptance = doc.get("selective_acceptance") or {}
    if acceptance.get("enabled"):
        for rule in acceptance.get("rules", []):
            add(f" same => n,GotoIf($[{_rule_test(rule, zone)}]?accepted)")
        add(" same => n,Goto(reject)")
        add(" same => n(accepted),NoOp(accepted by a rule)")
    if doc.get("do_not_disturb"):
        add(" same => n,Goto(busy)")
    always = doc.get("forward_always") or {}
    if always.get("enabled") and always.get("destination"):
        add(" same => n,Goto(always)")
    selective = doc.get("forward_selective") or {}
    selective_rules = selective.get("rules", []) if selective.get("enabled") else []
    for index, rule in enumerate(selective_rules):
        add(f" same => n,GotoIf($[{_rule_test(rule, zone)}]?selective{index + 1})")
    no_reply = doc.get("forward_no_reply") or {}
    ring = no_reply.get("ring_seconds", 20) if no_reply.get("enabled") else 20
    mobiles = doc.get("linked_mobiles", [])
    targets = _dial_string(devices)
    simultaneous = (doc.get("simultaneous_ringing") or {}).get("enabled")
    if simultaneous and mobiles:
        targets = "&".join(t for t in [targets, *(_mobile(system, m) for m in mobiles)] if t)
    if not targets:
        add(" same => n,Goto(unreachable)")
    else:
        if devices and (doc.get("forward_unreachable") or {}).get("enabled"):
            states = " & ".join(
                f'"${{DEVICE_STATE(PJSIP/{d.sip_username})}}" = "UNAVAILABLE"' for d in devices
            )
            add(f" same => n,GotoIf($[{states}]?unreachable)")
        add(f" same => n,Dial({targets},{ring})")
        add(' same => n,GotoIf($["${DIALSTATUS}" = "BUSY"]?busy)')
        sequential = doc.get("sequential_ringing") or {}
        if sequential.get("enabled"):
            for mobile in mobiles:
                seconds = sequential.get("ring_seconds", 15)
                add(f" same => n,Dial({_mobile(system, mobile)},{seconds})")
                add(' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?done)')
        add(' same => n,GotoIf($["${DIALSTATUS}" = "CHANUNAVAIL"]?unreachable)')
        add(" same => n,Goto(noanswer)")
    voicemail_busy = (
        [own_box[0].replace(",s,1)", ",busy,1)")] if own_box else ["Busy(10)", "Hangup(17)"]
    )
    lines += _steps("noanswer", forward("forward_no_reply", own_box or ["Hangup(19)"]))
    lines += _steps("busy", forward("forward_busy", voicemail_busy))
    lines += _steps("unreachable", forward("forward_unreachable", own_box or ["Hangup(20)"]))
    if always.get("enabled") and always.get("destination"):
        lines += _steps("always", destination(system, always["destination"], fallback="Hangup()"))
    for index, rule in enumerate(selective_rules):
        lines += _steps(
            f"selective{index + 1}",
            destination(system, rule["destination"], fallback="Hangup()"),
        )
    lines += _steps("reject", ["Playback(ss-noservice,noanswer)", "Hangup(21)"])
    lines += _steps("done", ["Hangup()"])
    return lines


# --- call flows -------------------------------------------------------------------------------


def _greeting(flow: CallFlow, menu_key: str, text: str) -> list[str]:
    # The recording is the flow's own sound file; the text is what it should say.
    note = f"NoOp(greeting: {_quote(text)[:200]})" if text else "NoOp(no greeting text)"
    return [note, f"Background({SOUNDS}/{flow.id}/{menu_key})"]


def _auto_attendant(system: PhoneSystem, flow: CallFlow) -> list[str]:
    tenant = system.tenant
    config = flow.config
    base = context(tenant, "cf", flow.id)
    menu_ctx = {key: context(tenant, "cf", flow.id, key) for key in config.get("menus", {})}
    lines = [f"[{base}]", f"; auto attendant {_comment(flow.name)}", "exten => s,1,Answer()"]
    schedule = system.schedules.get(flow.schedule_id) if flow.schedule_id else None
    business = f"{menu_ctx[config['business_hours_menu']]},s,1"
    after, holiday = config.get("after_hours_menu"), config.get("holiday_menu")
    if schedule is not None and (after or holiday):
        # A holiday without a holiday menu is closed: the after-hours menu answers.
        closed_menu = holiday or after
        holiday_target = f"{menu_ctx[closed_menu]},s,1"
        for step in schedule_jumps(schedule, open_label=business, holiday_label=holiday_target):
            lines.append(f" same => n,{step}")
        lines.append(
            f" same => n,Goto({menu_ctx[after]},s,1)" if after else f" same => n,Goto({business})"
        )
    else:
        lines.append(f" same => n,Goto({business})")
    # PostgreSQL's jsonb keeps object keys in its own order: render in a fixed one (the
    # entry menus, then the others by key; keys as on a keypad) so the text is the same
    # on either database.
    entries = [config.get(e) for e in ENTRY_MENUS if config.get(e)]
    order = list(dict.fromkeys([*entries, *sorted(config.get("menus", {}))]))
    for key in order:
        menu = config["menus"][key]
        lines += ["", f"[{menu_ctx[key]}]", f"; menu {_comment(menu.get('name') or key)}"]
        if config.get("dial_by_extension"):
            lines.append(f"include => {context(tenant, 'dialable')}")
        greeting = _greeting(flow, key, menu.get("greeting", ""))
        lines += [
            "exten => s,1,Set(TIMEOUT(digit)=3)",
            f" same => n(greeting),{greeting[0]}",
            f" same => n,{greeting[1]}",
            f" same => n,WaitExten({menu.get('timeout_seconds', 5)})",
        ]
        options = menu.get("options", {})
        for digit in sorted(options, key=KEYS.index):
            option = options[digit]
            if option["type"] == "menu":
                steps = [f"Goto({menu_ctx[option['menu']]},s,1)"]
            elif option["type"] == "repeat":
                steps = ["Goto(s,greeting)"]
            else:
                steps = destination(system, option, fallback="Goto(s,greeting)")
            lines += _exten(digit, steps)
        lines += _exten(
            "i",
            ["Playback(option-is-invalid)"]
            + destination(system, menu.get("invalid_destination"), fallback="Goto(s,greeting)"),
        )
        lines += _exten(
            "t", destination(system, menu.get("timeout_destination"), fallback="Hangup()")
        )
    return lines


def _member_dial(system: PhoneSystem, extension_id: str) -> str:
    return _dial_string(system.devices.get(extension_id, []))


def _hunt_group(system: PhoneSystem, flow: CallFlow) -> list[str]:
    config = flow.config
    lines = [
        f"[{context(system.tenant, 'cf', flow.id)}]",
        f"; hunt group {_comment(flow.name)}, {config.get('strategy')}",
        "exten => s,1,NoOp(hunt group)",
    ]
    ring = config.get("ring_seconds", 20)
    members = [d for d in (_member_dial(system, m) for m in config.get("members", [])) if d]
    if config.get("strategy") == "sequential":
        for dial in members:
            lines.append(f" same => n,Dial({dial},{ring})")
            lines.append(' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?done)')
    elif members:
        lines.append(f" same => n,Dial({'&'.join(members)},{ring})")
        lines.append(' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?done)')
    lines += _steps(
        "noanswer",
        destination(system, config.get("no_answer_destination"), fallback="Hangup(19)"),
    )
    lines += _steps("done", ["Hangup()"])
    return lines


def queue_name(tenant: Tenant, flow: CallFlow) -> str:
    return context(tenant, "q", flow.id)


def _queue_like(system: PhoneSystem, flow: CallFlow) -> list[str]:
    tenant = system.tenant
    config = flow.config
    kind = "call center" if flow.kind == CallFlow.Kind.CALL_CENTER else "queue"
    lines = [
        f"[{context(tenant, 'cf', flow.id)}]",
        f"; {kind} {_comment(flow.name)}",
        "exten => s,1,Answer()",
    ]
    schedule = system.schedules.get(flow.schedule_id) if flow.schedule_id else None
    if flow.kind == CallFlow.Kind.CALL_CENTER and schedule and config.get("closed_destination"):
        for step in schedule_jumps(schedule, open_label="open", holiday_label="closed"):
            lines.append(f" same => n,{step}")
        lines.append(" same => n,Goto(closed)")
        lines.append(" same => n(open),NoOp(open)")
    wait = config.get("max_wait_seconds", 300)
    lines.append(f" same => n,Queue({queue_name(tenant, flow)},t,,,{wait})")
    lines += _steps(
        "overflow",
        destination(system, config.get("overflow_destination"), fallback="Hangup()"),
    )
    if flow.kind == CallFlow.Kind.CALL_CENTER and schedule and config.get("closed_destination"):
        lines += _steps(
            "closed", destination(system, config["closed_destination"], fallback="Hangup()")
        )
    return lines


def queues_conf(system: PhoneSystem) -> list[str]:
    """queues.conf sections of the tenant's queues and call centers; agents signed in
    (available) are members, a call-center agent's best skill ranks it first."""
    lines: list[str] = []
    for flow in system.flows:
        if flow.kind not in (CallFlow.Kind.QUEUE, CallFlow.Kind.CALL_CENTER):
            continue
        config = flow.config
        lines += [
            f"[{queue_name(system.tenant, flow)}]",
            f"; {_comment(flow.name)} ({flow.id})",
            f"strategy={QUEUE_STRATEGIES.get(config.get('ring_strategy'), 'ringall')}",
            f"musicclass={config.get('hold_music', 'default')}",
            f"maxlen={config.get('max_callers', 20)}",
            f"announce-position={'yes' if config.get('announce_position', True) else 'no'}",
            "joinempty=yes",
            "leavewhenempty=no",
            "ringinuse=no",
        ]
        for agent in config.get("agents", []):
            extension_id = agent if isinstance(agent, str) else agent["extension_id"]
            skills = {} if isinstance(agent, str) else agent.get("skills", {})
            state = flow.agent_states.get(extension_id, {}).get("status")
            if state != "available":
                continue
            penalty = 10 - max(skills.values()) if skills else 0
            member = system.by_id.get(extension_id)
            for device in system.devices.get(extension_id, []):
                name = _quote(member.name if member else extension_id)
                lines.append(f"member => PJSIP/{device.sip_username},{penalty},{name}")
        lines.append("")
    return lines


FLOW_RENDERERS = {
    CallFlow.Kind.AUTO_ATTENDANT: _auto_attendant,
    CallFlow.Kind.HUNT_GROUP: _hunt_group,
    CallFlow.Kind.QUEUE: _queue_like,
    CallFlow.Kind.CALL_CENTER: _queue_like,
}


# --- voicemail -------------------------------------------------------------------------------


def _unusable_password(box: VoicemailBox) -> str:
    """voicemail.conf wants a password; the PIN itself is only a hash here, so boxes are
    opened through `trunkline-voicemail-main` (which asks Trunkline to check the PIN)
    and this value, derived from the platform key, is never asked for."""
    mac = hmac.new(
        settings.SECRET_KEY.encode(), f"vm:{box.id}:{box.pin_set_at}".encode(), hashlib.sha256
    )
    return str(int(mac.hexdigest()[:15], 16))[:12]


def voicemail_conf(system: PhoneSystem, *, secrets: bool = True) -> list[str]:
    lines = [f"[{context(system.tenant)}]"]
    for box in system.boxes:
        options = [
            f"attach={'yes' if box.attach_audio else 'no'}",
            f"maxsecs={box.max_message_seconds}",
        ]
        emails = ",".join(box.emails) if box.emails else ""
        # mailbox => password,name,email,pager,options (emails joined with commas by
        # Asterisk's parser are not allowed: the first goes here, the rest are sent by
        # Trunkline's notification).
        first_email = box.emails[0] if box.emails else ""
        password = _unusable_password(box) if secrets else "(hidden)"
        lines.append(
            f"{box.id} => {password},{_quote(box.name)},{first_email},,{'|'.join(options)}"
        )
        if emails and len(box.emails) > 1:
            lines.append(f"; also to {emails.replace(',', ' ')}")
    return lines


def _voicemail_contexts(system: PhoneSystem) -> list[str]:
    lines: list[str] = []
    mailbox_context = context(system.tenant)
    for box in system.boxes:
        lines += [
            "",
            f"[{context(system.tenant, 'vm', box.id)}]",
            f"; voicemail box {_comment(box.name)}",
            f"exten => s,1,VoiceMail({box.id}@{mailbox_context},u)",
            " same => n,Hangup()",
            f"exten => busy,1,VoiceMail({box.id}@{mailbox_context},b)",
            " same => n,Hangup()",
        ]
    return lines


# --- DIDs, trunks, the dialable numbers, the phones' context ------------------------------


def _trunk_contexts(system: PhoneSystem) -> list[str]:
    """Calls to a customer's PBX: the number called (a DID routed there, `TL_DID`) is
    handed on, digits and + only; at most `max_channels` at once."""
    lines: list[str] = []
    for trunk in system.trunks:
        endpoint = trunk_endpoint(system.tenant, trunk)
        lines += [
            "",
            f"[{context(system.tenant, 'trunk', trunk.id)}]",
            f"; SIP trunk {_comment(trunk.name)}, at most {trunk.max_channels} calls",
            "exten => s,1,Set(TL_NUMBER=${FILTER(0-9+,${TL_DID})})",
            ' same => n,GotoIf($["${TL_NUMBER}" = ""]?full)',
            f" same => n,Set(GROUP(trunk)={trunk.id})",
            f" same => n,GotoIf($[${{GROUP_COUNT({trunk.id}@trunk)}} > {trunk.max_channels}]?full)",
            f" same => n,Dial(PJSIP/${{TL_NUMBER}}@{endpoint})",
            " same => n,Hangup()",
            " same => n(full),Congestion(5)",
        ]
    return lines


def trunk_endpoint(tenant: Tenant, trunk: SipTrunk) -> str:
    return trunk.sip_username or f"{tenant.sip_prefix}-trunk-{trunk.id}"


def _inbound(system: PhoneSystem) -> list[str]:
    """Calls from the carriers to the tenant's numbers, each to its route (or the user
    whose main number it is, or the tenant's unassigned-DID route)."""
    from trunkline.pbx.routing import effective_destination

    tenant = system.tenant
    lines = [f"[{context(tenant, 'in')}]", "; calls to the tenant's numbers"]
    for number in system.numbers:
        if not system.in_service:
            steps = ["Goto(trunkline-service-interrupted,s,1)"]
        else:
            target = effective_destination(number)
            steps = destination(system, target, fallback="Goto(trunkline-not-configured,s,1)")
        lines += _exten(
            number.e164,
            [f"Gosub(trunkline-inbound,s,1({tenant.id},{number.e164}))", *steps],
        )
    return lines


def _dialable(system: PhoneSystem) -> list[str]:
    """The tenant's own numbers: users and call flows with an extension number."""
    tenant = system.tenant
    lines = [f"[{context(tenant, 'dialable')}]"]
    for extension in system.extensions:
        lines += _exten(extension.number, [f"Goto({context(tenant, 'u' + extension.number)},s,1)"])
    for flow in system.flows:
        if flow.number:
            lines += _exten(flow.number, [f"Goto({context(tenant, 'cf', flow.id)},s,1)"])
    return lines


def _emergency(system: PhoneSystem) -> list[str]:
    taken = {e.number for e in system.extensions} | {f.number for f in system.flows if f.number}
    lines = [
        f"[{context(system.tenant, 'emergency')}]",
        "; direct 911 with no prefix (Kari's Law), with the caller's emergency caller ID",
    ]
    for number in EMERGENCY:
        lines += _exten(number, ["Gosub(trunkline-emergency,s,1(${EXTEN}))", "Hangup()"])
    # 9 + 911 also reaches 911 for callers used to an outside-line prefix, unless the
    # tenant gave the number to one of its own users or flows.
    if "9911" not in taken:
        lines += _exten("9911", ["Goto(911,1)"])
    return lines


OUTSIDE_PATTERNS = ("_NXXNXXXXXX", "_1NXXNXXXXXX", "_011X.", "_+X.")


def _phones(system: PhoneSystem) -> list[str]:
    tenant = system.tenant
    lines = [
        f"[{context(tenant, 'phones')}]",
        "; what the tenant's phones dial",
        f"include => {context(tenant, 'emergency')}",
    ]
    if not system.in_service:
        # In a context of their own, included after the emergency numbers: a context's
        # own extensions are matched before its includes, so `_X.` here would take 911.
        lines += [
            f"include => {context(tenant, 'interrupted')}",
            "",
            f"[{context(tenant, 'interrupted')}]",
            *_exten("_X.", ["Goto(trunkline-service-interrupted,s,1)"]),
            *_exten("_*X.", ["Goto(trunkline-service-interrupted,s,1)"]),
            *_exten("_+X.", ["Goto(trunkline-service-interrupted,s,1)"]),
        ]
        return lines
    lines.append(f"include => {context(tenant, 'dialable')}")
    lines += _exten("*97", ["Gosub(trunkline-voicemail-main,s,1(${TL_TENANT}))", "Hangup()"])
    for pattern in OUTSIDE_PATTERNS:
        lines += _exten(pattern, ["Gosub(trunkline-outbound,s,1(${EXTEN}))", "Hangup()"])
    lines += [
        "",
        f"[{context(tenant, 'mobile')}]",
        "; a user's linked mobiles, rung by simultaneous and sequential ringing",
        *_exten("_+X.", ["Gosub(trunkline-outbound,s,1(${EXTEN}))", "Hangup()"]),
    ]
    return lines


def extensions_conf(system: PhoneSystem) -> list[str]:
    tenant = system.tenant
    lines = [
        f"; tenant {_comment(tenant.name)} ({tenant.id}), SIP prefix {tenant.sip_prefix}, "
        f"status {tenant.status}",
        "",
        *_phones(system),
        "",
        *_emergency(system),
        "",
        *_inbound(system),
    ]
    if not system.in_service:
        return lines
    lines += ["", *_dialable(system)]
    for extension in system.extensions:
        lines += ["", *user_context(system, extension)]
    for flow in system.flows:
        lines += ["", *FLOW_RENDERERS[flow.kind](system, flow)]
    lines += _voicemail_contexts(system)
    lines += _trunk_contexts(system)
    return lines
