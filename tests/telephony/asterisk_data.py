"""A tenant with one of everything a phone system has, built through the API, for the
Asterisk configuration tests; and the ids in rendered text swapped for stable names."""

from __future__ import annotations

import re

from tests.factories import make_tenant
from trunkline.phone_numbers.models import PhoneNumber

ID = re.compile(r"\b(tnt|ext|dev|cfl|vmb|trk|sch|sit|did|pbn)_[0-9A-Za-z]{20,40}\b")
HA1 = re.compile(r"md5_cred=[0-9a-f]{32}")
HMAC_PIN = re.compile(r"(vmb_\d+ => )\d+,")


def stable(text: str, names: dict[str, str] | None = None) -> str:
    """The text with each id replaced by `<prefix>_<n>` in order of first appearance
    (`names` carries the numbering from one file to the next), digest hashes and derived
    voicemail passwords masked."""
    names = {} if names is None else names

    def name(match):
        found = match.group(0)
        if found not in names:
            prefix = match.group(1)
            count = sum(1 for v in names.values() if v.startswith(prefix + "_"))
            names[found] = f"{prefix}_{count + 1}"
        return names[found]

    text = ID.sub(name, text)
    text = HA1.sub("md5_cred=<ha1>", text)
    return HMAC_PIN.sub(r"\1<derived>,", text)


def ok(response, status=201):
    assert response.status_code == status, response.content
    return response.json()


def did(tenant, e164, **fields):
    return PhoneNumber.objects.create(
        partner_id=tenant.partner_id,
        tenant=tenant,
        e164=e164,
        kind="local",
        status=PhoneNumber.Status.ACTIVE,
        **fields,
    )


def build_phone_system(api, admin, *, name="Acme Plumbing", prefix="acme", area="501"):
    """Three users with devices and call settings, two voicemail boxes, a schedule, an
    auto attendant with a submenu and after-hours and holiday menus, a sequential hunt
    group, a queue, a premium call center, an IP trunk, and routed numbers."""
    tenant = make_tenant(admin, name=name, sip_prefix=prefix)
    base = f"/v1/tenants/{tenant.id}"
    main = did(tenant, f"+1{area}5550100", e911_status="REGISTERED")
    ana_did = did(tenant, f"+1{area}5550101")
    spare = did(tenant, f"+1{area}5550199")
    ana = ok(api.post(f"{base}/extensions", {"number": "2001", "name": "Ana Ruiz"}))
    ben = ok(api.post(f"{base}/extensions", {"number": "2002", "name": "Ben Ode"}))
    cy = ok(api.post(f"{base}/extensions", {"number": "2003", "name": "Cy Lam"}))
    ok(api.patch(f"{base}/extensions/{ana['id']}", {"main_number": ana_did.e164}), 200)
    for user, kind, mac in (
        (ana, "desk_phone", f"0004F2{area}B2C"),
        (ana, "softphone", None),
        (ben, "softphone", None),
        (cy, "web_phone", None),
    ):
        body = {"kind": kind, **({"mac": mac} if mac else {})}
        ok(api.post(f"{base}/extensions/{user['id']}/devices", body))
    own = ok(api.post(f"{base}/voicemail-boxes", {"owner_id": ana["id"], "pin": "4826"}))
    after = ok(api.post(f"{base}/voicemail-boxes", {"name": "After hours", "pin": "7391"}))
    ok(
        api.patch(
            f"{base}/extensions/{ben['id']}/call-settings",
            {
                "forward_busy": {
                    "enabled": True,
                    "destination": {"type": "voicemail", "id": after["id"]},
                },
                "linked_mobiles": ["+15015550177"],
                "simultaneous_ringing": {"enabled": True},
                "reject_anonymous": True,
                "selective_rejection": {
                    "enabled": True,
                    "rules": [{"name": "spam", "callers": ["+1900*"]}],
                },
            },
        ),
        200,
    )
    ok(
        api.patch(
            f"{base}/extensions/{cy['id']}/call-settings",
            {
                "forward_always": {
                    "enabled": True,
                    "destination": {"type": "external", "number": "+15015550188"},
                }
            },
        ),
        200,
    )
    hours = ok(
        api.post(
            f"{base}/schedules",
            {
                "name": "Office hours",
                "timezone": "America/Chicago",
                "hours": [
                    {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "08:00", "to": "17:30"}
                ],
                "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}],
            },
        )
    )
    hunt = ok(
        api.post(
            f"{base}/call-flows",
            {
                "kind": "hunt_group",
                "name": "Front desk",
                "number": "4100",
                "config": {
                    "strategy": "sequential",
                    "members": [ana["id"], ben["id"]],
                    "ring_seconds": 15,
                    "no_answer_destination": {"type": "voicemail", "id": after["id"]},
                },
            },
        )
    )
    queue = ok(
        api.post(
            f"{base}/call-flows",
            {
                "kind": "queue",
                "name": "Support",
                "number": "4200",
                "config": {
                    "agents": [ben["id"], cy["id"]],
                    "ring_strategy": "longest_idle",
                    "max_wait_seconds": 120,
                    "max_callers": 8,
                    "overflow_destination": {"type": "voicemail", "id": after["id"]},
                },
            },
        )
    )
    ok(
        api.put(
            f"{base}/call-flows/{queue['id']}/agents/{ben['id']}/status", {"status": "available"}
        ),
        200,
    )
    center = ok(
        api.post(
            f"{base}/call-flows",
            {
                "kind": "call_center",
                "name": "Billing desk",
                "number": "4300",
                "schedule_id": hours["id"],
                "config": {
                    "tier": "premium",
                    "skills": ["billing", "spanish"],
                    "agents": [{"extension_id": cy["id"], "skills": {"billing": 8}}],
                    "supervisors": [ana["id"]],
                    "closed_destination": {"type": "voicemail", "id": after["id"]},
                },
            },
        )
    )
    ok(
        api.put(
            f"{base}/call-flows/{center['id']}/agents/{cy['id']}/status", {"status": "available"}
        ),
        200,
    )
    attendant = ok(
        api.post(
            f"{base}/call-flows",
            {
                "kind": "auto_attendant",
                "name": "Main line",
                "number": "4000",
                "schedule_id": hours["id"],
                "config": {
                    "menus": {
                        "main": {
                            "greeting": "Thanks for calling Acme. Ana 1, sales 2, support 3.",
                            "options": {
                                "1": {"type": "extension", "id": ana["id"]},
                                "2": {"type": "menu", "menu": "sales"},
                                "3": {"type": "call_flow", "id": queue["id"]},
                                "0": {"type": "call_flow", "id": hunt["id"]},
                                "*": {"type": "repeat"},
                            },
                            "timeout_destination": {"type": "call_flow", "id": hunt["id"]},
                        },
                        "sales": {
                            "greeting": "Sales. Press 1 for billing.",
                            "options": {"1": {"type": "call_flow", "id": center["id"]}},
                        },
                        "closed": {
                            "greeting": "We are closed.",
                            "options": {"1": {"type": "voicemail", "id": after["id"]}},
                            "timeout_destination": {"type": "voicemail", "id": after["id"]},
                        },
                        "holiday": {
                            "greeting": "Happy holidays.",
                            "options": {},
                            "timeout_destination": {"type": "hangup"},
                        },
                    },
                    "business_hours_menu": "main",
                    "after_hours_menu": "closed",
                    "holiday_menu": "holiday",
                    "dial_by_extension": True,
                },
            },
        )
    )
    trunk = ok(
        api.post(
            f"{base}/trunks",
            {
                "name": "Warehouse PBX",
                "auth_mode": "ip",
                "allowed_ips": (
                    ["203.0.113.10", "198.51.100.0/24"] if area == "501" else ["203.0.113.11"]
                ),
                "max_channels": 4,
            },
        )
    )
    ok(
        api.put(
            f"{base}/phone-numbers/{main.id}/route",
            {"destination": {"type": "call_flow", "id": attendant["id"]}},
        ),
        200,
    )
    ok(
        api.put(
            f"{base}/phone-numbers/{spare.id}/route",
            {"destination": {"type": "trunk", "id": trunk["id"]}},
        ),
        200,
    )
    return tenant, {"ana": ana, "ben": ben, "cy": cy, "own_box": own, "after_box": after}
