"""The "Docs Demo" partner that `make run` loads once, so a newcomer sees a working platform."""

from __future__ import annotations

from django.db import transaction

from trunkline.accounts.models import Partner, User
from trunkline.accounts.services import api_key_create, partner_create
from trunkline.core.actors import Actor
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_create, tenant_suspend

DEMO_COMPANY = "Docs Demo"
DEMO_EMAIL = "demo@docsdemo.example"
DEMO_PASSWORD = "DocsDemo2026"
DEMO_READONLY_EMAIL = "viewer@docsdemo.example"

DEMO_TENANTS = [
    (
        "Acme Plumbing",
        "acme",
        "billing@acmeplumbing.example",
        "ACME PLUMBING",
        "America/Chicago",
        "ACTIVE",
        {
            "street": "400 President Clinton Ave",
            "city": "Little Rock",
            "state": "AR",
            "postal_code": "72201",
        },
    ),
    (
        "Riverside Dental",
        "riverside",
        "office@riversidedental.example",
        "RIVERSIDE DENTL",  # caller ID names are at most 15 characters
        "America/Chicago",
        "ACTIVE",
        {"street": "1 Main St", "city": "Conway", "state": "AR", "postal_code": "72032"},
    ),
    (
        "Ozark Outfitters",
        "ozark",
        "accounts@ozark.example",
        "OZARK OUTFITTER",
        "America/Chicago",
        "TRIAL",
        None,
    ),
    (
        "Delta Freight",
        "deltafrt",
        "ap@deltafreight.example",
        "DELTA FREIGHT",
        "America/New_York",
        "ACTIVE",
        None,
    ),
]


def load_demo(*, only_once: bool = True) -> list[str] | None:
    if only_once and Partner.objects.filter(company_name=DEMO_COMPANY).exists():
        return None
    with transaction.atomic():
        partner, admin = partner_create(
            actor=Actor.system(),
            company_name=DEMO_COMPANY,
            email=DEMO_EMAIL,
            password=DEMO_PASSWORD,
            name="Dana Demo",
        )
        partner.brand_name = "Docs Demo Phones"
        partner.brand_support_email = "support@docsdemo.example"
        partner.save()
        User.objects.create_user(
            DEMO_READONLY_EMAIL,
            DEMO_PASSWORD,
            name="Vic Viewer",
            partner=partner,
            role=User.Role.PARTNER_USER,
            email_verified_at=admin.email_verified_at,
        )
        actor = Actor(kind="user", partner=partner, user=admin)
        _demo_pbx_node()
        extensions = 0
        seats = _demo_licence_profile(actor)
        for name, prefix, email, cnam, zone, status, address in DEMO_TENANTS:
            tenant = tenant_create(
                billing_profile_id=seats.id if prefix == "riverside" else None,
                actor=actor,
                name=name,
                sip_prefix=prefix,
                billing_email=email,
                default_cnam=cnam,
                timezone_name=zone,
                status=status,
                e911_address=address,
            )
            if prefix == "acme":
                extensions += _demo_phone_system(actor, tenant)
            if prefix == "riverside":
                extensions += _demo_licences(actor, tenant)
            if prefix == "deltafrt":
                tenant_suspend(actor=actor, tenant=tenant, reason="Past due invoice")
        api_key, plaintext = api_key_create(actor=actor, name="Demo integration", scopes="all")
        calls = _demo_money(partner)
        numbers = _demo_numbers(partner, actor)
        invoices = _demo_invoices(partner, actor)
    plan = _demo_subscription(partner, admin)
    return [
        "Loaded the Docs Demo partner:",
        f"  sign in at the portal as {DEMO_EMAIL} / {DEMO_PASSWORD}",
        f"  (read-only Partner User: {DEMO_READONLY_EMAIL} / {DEMO_PASSWORD})",
        f"  API key (shown once): {plaintext}",
        f"  {Tenant.objects.filter(partner=partner).count()} tenants, {numbers} phone numbers, "
        f"{calls} rated calls, {invoices} tenant invoices, {extensions} extensions",
        f"  plan: {plan}",
    ]


def _demo_pbx_node() -> None:
    """A PBX node for the demo tenants, unless the platform has nodes already (they are
    reused rather than another one registered)."""
    from trunkline.telephony.models import PbxNode
    from trunkline.telephony.nodes import pbx_node_create

    if not PbxNode.objects.exists():
        pbx_node_create(
            actor=Actor.system(),
            fields={"name": "docs-demo-pbx-1", "address": "127.0.0.1", "capacity": 1000},
        )


def _demo_phone_system(actor, tenant) -> int:
    """Acme's office: a second site, two departments and a few extensions."""
    from trunkline.pbx.extensions import extension_create
    from trunkline.pbx.services import department_create, site_create

    branch = site_create(actor=actor, tenant=tenant, name="North Little Rock yard")
    office = department_create(actor=actor, tenant=tenant, name="Office")
    dispatch = department_create(actor=actor, tenant=tenant, name="Dispatch", parent_id=office.id)
    people = [
        ("100", "Front desk", None, office),
        ("101", "Maria Alvarez", "maria@acmeplumbing.example", office),
        ("102", "Dev Patel", "dev@acmeplumbing.example", dispatch),
        ("200", "Yard phone", None, None),
    ]
    for number, name, email, department in people:
        fields = {"number": number, "name": name, "email": email}
        if department is not None:
            fields["department_id"] = department.id
        if number.startswith("2"):
            fields["site_id"] = branch.id
        extension_create(actor=actor, tenant=tenant, fields=fields)
    return len(people)


def _demo_licence_profile(actor):
    from trunkline.billing.profiles import billing_profile_create

    return billing_profile_create(
        actor=actor,
        name="Seats",
        description="Billed by the licences held (Basic and Premium seats, add-ons)",
        pricing_model="LICENSE",
        per_minute="0.02",
    )


def _demo_licences(actor, tenant) -> int:
    """Riverside Dental runs on licences: seats, add-ons, an auto attendant licence and
    trunk capacity, four users and their phones."""
    from trunkline.licensing import services as licences
    from trunkline.pbx.devices import device_create
    from trunkline.pbx.extensions import extension_create

    for sku, quantity in (
        ("seat_basic", 8),
        ("seat_premium", 2),
        ("webex", 2),
        ("device_ip_phone", 2),
        ("aa_standard", 1),
        ("cf_voicemail", 1),
        ("trunk", 4),
        ("number_local", 5),
    ):
        licences.subscription_add(actor=actor, tenant=tenant, sku_code=sku, quantity=quantity)
    people = [
        ("100", "Reception", "seat_premium", "desk_phone", "0004F2A1B2C3"),
        ("101", "Dr. Grace Kim", "seat_premium", "softphone", ""),
        ("102", "Hygiene room", "seat_basic", "desk_phone", "0004F2A1B2C4"),
        ("103", "Billing office", "seat_basic", "web_phone", ""),
    ]
    for number, name, seat, kind, mac in people:
        user = extension_create(
            actor=actor,
            tenant=tenant,
            fields={"number": number, "name": name, "license": seat},
        )
        device_create(actor=actor, extension=user, fields={"kind": kind, "mac": mac})
        if number == "101":
            licences.assignment_create(
                actor=actor,
                tenant=tenant,
                sku_code="webex",
                target_type="extension",
                target_id=user.id,
            )
    _demo_call_flows(actor, tenant)
    return len(people)


def _demo_call_flows(actor, tenant) -> None:
    """Riverside's front door: office hours, a hunt group of the front desk, a voicemail
    box for after hours and an auto attendant that ties them together."""
    from trunkline.pbx.call_flows import call_flow_create
    from trunkline.pbx.models import Extension
    from trunkline.pbx.schedules import schedule_create
    from trunkline.pbx.voicemail import voicemail_box_create

    users = {e.number: e for e in Extension.objects.filter(tenant=tenant)}
    hours = schedule_create(
        actor=actor,
        tenant=tenant,
        fields={
            "name": "Office hours",
            "hours": [
                {"days": ["mon", "tue", "wed", "thu"], "from": "08:00", "to": "17:00"},
                {"days": ["fri"], "from": "08:00", "to": "13:00"},
            ],
            "holidays": [
                {"date": "2026-12-25", "name": "Christmas Day"},
                {"date": "2027-01-01", "name": "New Year's Day"},
            ],
        },
    )
    box, _ = voicemail_box_create(
        actor=actor, tenant=tenant, fields={"name": "After hours", "pin": "482916"}
    )
    desk = call_flow_create(
        actor=actor,
        tenant=tenant,
        fields={
            "kind": "hunt_group",
            "name": "Front desk",
            "number": "600",
            "config": {
                "strategy": "simultaneous",
                "members": [users["100"].id, users["103"].id],
                "no_answer_destination": {"type": "extension", "id": users["101"].id},
            },
        },
    )
    voicemail = {"type": "voicemail", "id": box.id}
    call_flow_create(
        actor=actor,
        tenant=tenant,
        fields={
            "kind": "auto_attendant",
            "name": "Main line",
            "number": "500",
            "schedule_id": hours.id,
            "addons": ["cf_voicemail"],
            "config": {
                "menus": {
                    "main": {
                        "greeting": "Thank you for calling Riverside Dental.",
                        "options": {
                            "1": {"type": "call_flow", "id": desk.id},
                            "2": {"type": "extension", "id": users["103"].id},
                        },
                        "timeout_destination": {"type": "call_flow", "id": desk.id},
                    },
                    "closed": {
                        "greeting": "We are closed. Leave a message after the tone.",
                        "options": {"1": voicemail},
                        "timeout_destination": voicemail,
                    },
                },
                "business_hours_menu": "main",
                "after_hours_menu": "closed",
                "holiday_menu": "closed",
            },
        },
    )


def _demo_subscription(partner, admin) -> str:
    """With the simulated processor, put a test card on file and activate Professional,
    so the demo partner is not suspended when its trial would end. Cards are charged
    outside any transaction, so this runs after the rest of the demo has committed."""
    from trunkline.billing.payment_services import payment_method_add
    from trunkline.billing.payments import processor
    from trunkline.billing.subscriptions import subscription_activate

    if processor().name != "simulated":
        return "trial (add a card and activate it under Settings → Billing)"
    actor = Actor(kind="user", partner=partner, user=admin)
    payment_method_add(partner=partner, actor=actor, token="4242424242424242")
    subscription_activate(actor=actor, plan="professional")
    return "Professional, paid with the simulated test card •••• 4242"


def _demo_numbers(partner, actor) -> int:
    """The simulated carrier's inventory (one block of numbers in every US exchange, and
    toll-free), and a few numbers bought for the demo partner: Acme's main line with its
    911 address registered, Riverside's with none yet (the portal's E911 warning), a
    toll-free line and one number left unassigned."""
    from datetime import timedelta

    from django.utils import timezone

    from trunkline.phone_numbers import caller_id, services
    from trunkline.phone_numbers.carrier import SearchCriteria, carrier
    from trunkline.phone_numbers.carrier_requests import requests_sync
    from trunkline.phone_numbers.supply import supply_seed

    supply_seed(per_exchange=1, toll_free=700)
    little_rock = carrier().search(SearchCriteria(kind="local", state="AR", city="Little Rock"))
    toll_free = carrier().search(SearchCriteria(kind="toll_free", area_code="877", limit=1))
    wanted = [offer.e164 for offer in little_rock[:3]] + [offer.e164 for offer in toll_free]
    acme_main, riverside_main, spare, acme_toll_free = services.numbers_purchase(
        actor=actor, numbers=wanted
    )
    tenants = {tenant.sip_prefix: tenant for tenant in Tenant.objects.filter(partner=partner)}
    for number, prefix in [
        (acme_main, "acme"),
        (acme_toll_free, "acme"),
        (riverside_main, "riverside"),
    ]:
        services.number_assign(actor=actor, number=number, tenant=tenants[prefix])
    caller_id.number_e911_set(
        actor=actor,
        number=acme_main,
        address=tenants["acme"].e911_address,
        apply_to_tenant=True,
    )
    # The simulated carrier provisions orders in 30 s and registers 911 addresses in 10
    # minutes; the demo shows them done (the spare number's order too).
    requests_sync(now=timezone.now() + timedelta(hours=1))
    _demo_routes(actor, tenants["riverside"], riverside_main)
    return len(wanted)


def _demo_routes(actor, tenant, main_line) -> None:
    """Riverside's number rings its auto attendant."""
    from trunkline.pbx.models import CallFlow
    from trunkline.pbx.routing import number_route_set

    attendant = CallFlow.objects.get(tenant=tenant, kind=CallFlow.Kind.AUTO_ATTENDANT)
    main_line.refresh_from_db()
    number_route_set(
        actor=actor,
        tenant=tenant,
        number=main_line,
        destination={"type": "call_flow", "id": attendant.id},
    )


def _demo_invoices(partner, actor) -> int:
    """Two months of tenant billing history: Acme Plumbing on Flat Rate Starter in Pulaski
    County's sales tax since two months ago, with its first invoice paid and the second
    open, and a draft off-cycle invoice for a desk phone."""
    from datetime import timedelta

    from django.utils import timezone

    from trunkline.billing import tax, tenant_invoices
    from trunkline.billing.models import BillingProfile, Invoice

    acme = Tenant.objects.get(partner=partner, sip_prefix="acme")
    pulaski = tax.tax_jurisdiction_create(
        actor=actor, name="Pulaski County sales tax", code="US-AR-Pulaski", rate="0.085"
    )
    tax.tenant_tax_jurisdiction_set(actor=actor, tenant=acme, jurisdiction_id=pulaski.id)
    flat = BillingProfile.objects.get(partner=partner, name="Flat Rate Starter")
    now = timezone.now()
    began = now - timedelta(days=62)
    Tenant.objects.filter(pk=acme.pk).update(
        created_at=began,
        billing_profile=flat,
        billing_profile_since=began,
        billed_through=None,
        next_cycle_at=None,
    )
    tenant_invoices.tenant_cycles_run(now=now)
    first = Invoice.objects.filter(tenant=acme).order_by("number").first()
    if first is not None:
        tenant_invoices.invoice_record_payment(actor=actor, invoice=first, note="ACH")
    tenant_invoices.invoice_create_off_cycle(
        actor=actor,
        tenant=acme,
        lines=[{"description": "Desk phone (Yealink T54W)", "quantity": 2, "unit_price": "189"}],
        memo="Hardware for the new front desk",
    )
    return Invoice.objects.filter(partner=partner).count()


DEMO_CARRIER = "Docs Demo Carrier"
# The platform's international prices to partners (per minute, 60/60) for a few places.
DEMO_INTERNATIONAL = [
    ("44", "United Kingdom", "0.045"),
    ("52", "Mexico", "0.060"),
    ("1204", "Canada (Manitoba)", "0.012"),
    ("1416", "Canada (Toronto)", "0.012"),
    ("1876", "Jamaica", "0.210"),
]


def _demo_money(partner) -> int:
    """A carrier with a cost table, some international prices, a starting wallet credit and
    a week of calls through the real intake, so the billing pages have something to show."""
    import random
    from datetime import UTC, datetime, timedelta

    from django.utils import timezone

    from trunkline.billing.cdrs import cdrs_ingest
    from trunkline.billing.ledger import wallet_credit
    from trunkline.billing.models import InboundRate, OutboundRate, Posting, Provider
    from trunkline.core.money import Money

    since = datetime(2020, 1, 1, tzinfo=UTC)
    if not Provider.objects.exists():
        carrier = Provider.objects.create(
            name=DEMO_CARRIER, trunk_name="demo-carrier", is_default=True
        )
        OutboundRate.objects.create(
            provider=carrier,
            prefix="1",
            description="North America",
            per_minute_micros=4_000,
            first_increment=6,
            step_increment=6,
            effective_from=since,
        )
        for did_class, micros in (("local", 2_500), ("toll_free", 9_000)):
            InboundRate.objects.create(
                provider=carrier,
                did_class=did_class,
                per_minute_micros=micros,
                first_increment=6,
                step_increment=6,
                effective_from=since,
            )
        for prefix, name, price in DEMO_INTERNATIONAL:
            OutboundRate.objects.create(
                provider=carrier,
                prefix=prefix,
                description=name,
                per_minute_micros=Money.parse(price).micros // 2,
                effective_from=since,
            )
            OutboundRate.objects.create(
                provider=None,
                prefix=prefix,
                description=name,
                per_minute_micros=Money.parse(price).micros,
                effective_from=since,
            )
    system = Actor.system(partner=partner)
    wallet_credit(
        partner=partner,
        amount=Money.parse("250.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=system,
        idempotency_key=f"demo-credit:{partner.id}",
        memo="Demo starting credit",
    )
    rng = random.Random(2026)  # noqa: S311 - sample traffic, not a secret
    tenants = list(Tenant.objects.filter(partner=partner, sip_prefix__in=["acme", "riverside"]))
    now = timezone.now().replace(microsecond=0)
    records = []
    for number in range(80):
        tenant = tenants[number % len(tenants)]
        started = now - timedelta(hours=rng.randint(1, 24 * 7), minutes=rng.randint(0, 59))
        talk = 0 if rng.random() < 0.15 else rng.randint(8, 900)
        kind = rng.random()
        our_number = "+15015550100" if tenant.sip_prefix == "acme" else "+15015550142"
        if kind < 0.55:
            direction, caller, called = "outbound", our_number, f"+1501555{rng.randint(1000, 9999)}"
        elif kind < 0.8:
            direction, caller, called = "inbound", f"+1479555{rng.randint(1000, 9999)}", our_number
        elif kind < 0.9:
            direction, caller, called = (
                "inbound",
                f"+1870555{rng.randint(1000, 9999)}",
                "+18775550199",
            )
        elif kind < 0.95:
            direction, caller, called = "outbound", our_number, "+442079460000"
        else:
            direction, caller, called = "internal", "101", "102"
        answered = started + timedelta(seconds=4) if talk else None
        ended = (answered or started) + timedelta(seconds=talk or 25)
        records.append(
            {
                "call_id": f"demo-{number}",
                "tenant_id": tenant.id,
                "direction": direction,
                "from": caller,
                "to": called,
                "started_at": started.isoformat(),
                "answered_at": answered.isoformat() if answered else None,
                "ended_at": ended.isoformat(),
                "billsec": talk,
            }
        )
    return cdrs_ingest(actor=system, records=records).accepted
