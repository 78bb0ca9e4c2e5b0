"""The default licence catalog, from the seeds: `000_*.txt` (Basic and Premium seats and
their table, the optional user licences, Auto Attendant Basic and Standard, the call-flow
add-ons, trunking and bursting licences, number entitlements) and `001_*.txt` (the Phone
System base licence and the add-on codes of its mass configuration).

Prices are list prices per month (or year) that platform staff are expected to change in
the admin; the seeds give none. Quotas are per licence and add up: a Basic seat with one
`license_number` add-on may carry one additional number.
"""

from __future__ import annotations

# Features every seat has (both columns of the seed's table say Yes).
SEAT_FEATURES = [
    "call_logs",
    "call_waiting",
    "call_hold_transfer",
    "do_not_disturb",
    "network_speed_dials",
    "network_phonebook",
    "softclient",
    "use_colleague_device",
    "simultaneous_ringing",
    "sequential_ringing",
    "off_net_mobility",
    "reject_anonymous",
    "selective_call_rejection",
    "call_forwarding_always",
    "call_forwarding_busy",
    "call_forwarding_no_reply",
    "call_forwarding_unreachable",
    "voicemail",
    "hide_number",
    "flexible_outgoing_cli",
    "basic_call_queues",
]
# Only the Premium column says Yes.
PREMIUM_FEATURES = [
    "automatic_hold_retrieve",
    "directed_call_pickup",
    "push_to_talk",
    "executive",
    "executive_assistant",
    "share_device",
    "busy_lamp_field",
    "selective_call_acceptance",
    "call_forwarding_selective",
]

USER_BASE, USER_ADDON = "user_base", "user_addon"
CALL_FLOW_BASE, CALL_FLOW_ADDON = "call_flow_base", "call_flow_addon"
TRUNK, NUMBER = "trunk", "number"


def _sku(code, name, kind, price, order, **more) -> dict:
    return {
        "code": code,
        "name": name,
        "kind": kind,
        "price_micros": int(price * 1_000_000),
        "sort_order": order,
        **more,
    }


DEFAULT_CATALOG: list[dict] = [
    _sku(
        "seat_basic",
        "Basic seat",
        USER_BASE,
        15,
        1,
        description="A hosted user: main number, extension and up to 3 devices",
        features=SEAT_FEATURES,
        quotas={"devices": 3, "additional_numbers": 0, "conference_participants": 3},
    ),
    _sku(
        "seat_premium",
        "Premium seat",
        USER_BASE,
        25,
        2,
        description="Everything in Basic, 8 devices, 10 more numbers and executive features",
        features=SEAT_FEATURES + PREMIUM_FEATURES,
        quotas={"devices": 8, "additional_numbers": 10, "conference_participants": 15},
    ),
    _sku(
        "phone_system",
        "Phone System",
        USER_BASE,
        12,
        3,
        description="A user whose devices and extras are add-ons (the mass-configuration seat)",
        features=SEAT_FEATURES,
        quotas={"devices": 0, "additional_numbers": 0, "conference_participants": 3},
    ),
    _sku("on_net_mobility", "On-net mobility", USER_ADDON, 3, 10, features=["on_net_mobility"]),
    _sku(
        "call_center_agent",
        "Call center agent",
        USER_ADDON,
        10,
        11,
        features=["call_center_standard"],
    ),
    _sku(
        "premium_call_center_agent",
        "Premium call center agent",
        USER_ADDON,
        20,
        12,
        features=["call_center_standard", "call_center_premium"],
    ),
    _sku("webex", "Webex", USER_ADDON, 8, 13, features=["unified_communications"]),
    _sku("call_recording", "Call Recording", USER_ADDON, 5, 20, features=["call_recording"]),
    _sku(
        "device_desktop_app",
        "Desktop",
        USER_ADDON,
        2,
        21,
        features=["device_softphone"],
        quotas={"devices": 1},
    ),
    _sku(
        "license_dnc_checking_enabled",
        "DNC",
        USER_ADDON,
        1,
        22,
        features=["dnc_checking"],
    ),
    _sku(
        "device_ip_phone",
        "IP Phone",
        USER_ADDON,
        3,
        23,
        features=["device_desk_phone", "device_dect"],
        quotas={"devices": 1},
    ),
    _sku(
        "device_mobile_app",
        "Mobile",
        USER_ADDON,
        2,
        24,
        features=["device_softphone"],
        quotas={"devices": 1},
    ),
    _sku(
        "device_web_rtc",
        "Web Phone",
        USER_ADDON,
        2,
        25,
        features=["device_web_phone"],
        quotas={"devices": 1},
    ),
    _sku(
        "license_number",
        "Number",
        USER_ADDON,
        1,
        26,
        quotas={"additional_numbers": 1},
    ),
    _sku("team_chat", "Team Chat", USER_ADDON, 2, 27, features=["team_chat"]),
    _sku(
        "license_call_recording_unlimited_enabled",
        "Unlimited Call Recording Storage",
        USER_ADDON,
        4,
        28,
        features=["call_recording_unlimited"],
    ),
    _sku(
        "aa_basic",
        "Auto Attendant - Basic",
        CALL_FLOW_BASE,
        5,
        30,
        call_flow_type="auto_attendant",
        description="One menu level; default and after-hours menus, no holiday menu",
        features=["default_menu", "after_hours_menu"],
        quotas={"menu_levels": 1},
    ),
    _sku(
        "aa_standard",
        "Auto Attendant - Standard",
        CALL_FLOW_BASE,
        10,
        31,
        call_flow_type="auto_attendant",
        description="Unlimited menu levels; default, after-hours and holiday menus",
        features=["default_menu", "after_hours_menu", "holiday_menu"],
    ),
    _sku(
        "cf_power_pack",
        "Power Pack for Call Flows",
        CALL_FLOW_ADDON,
        4,
        40,
        features=[
            "call_forwarding_always",
            "call_forwarding_busy",
            "call_forwarding_no_reply",
            "call_forwarding_selective",
            "pre_alerting_announcement",
            "mail_notification",
            "call_blocking",
        ],
        quotas={"additional_numbers": 10},
    ),
    _sku(
        "cf_voicemail",
        "Voicemail for Call Flows",
        CALL_FLOW_ADDON,
        2,
        41,
        features=["voicemail", "call_forwarding_voicemail"],
    ),
    _sku(
        "trunk",
        "SIP trunk licence",
        TRUNK,
        12,
        50,
        description="One concurrent trunk call",
    ),
    _sku(
        "trunk_burst",
        "SIP trunk bursting licence",
        TRUNK,
        6,
        51,
        is_burst=True,
        description="One more concurrent trunk call, used only when the trunk licences are busy",
    ),
    _sku(
        "number_local",
        "Local number entitlement",
        NUMBER,
        1,
        60,
        scope={"type": "local", "country": "US"},
        description="Lets the tenant take one local (geographic) number from the inventory",
    ),
    _sku(
        "number_toll_free",
        "Toll-free number entitlement",
        NUMBER,
        2,
        61,
        scope={"type": "toll_free", "country": "US"},
        description="Lets the tenant take one toll-free number from the inventory",
    ),
]


def catalog_load(sku_model) -> int:
    """Create the default SKUs that are missing (an edited one is left as staff set it);
    returns how many were created."""
    created = 0
    for row in DEFAULT_CATALOG:
        fields = {key: value for key, value in row.items() if key != "code"}
        _, made = sku_model.objects.get_or_create(code=row["code"], defaults=fields)
        created += made
    return created
