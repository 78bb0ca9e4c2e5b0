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
        for name, prefix, email, cnam, zone, status, address in DEMO_TENANTS:
            tenant = tenant_create(
                actor=actor,
                name=name,
                sip_prefix=prefix,
                billing_email=email,
                default_cnam=cnam,
                timezone_name=zone,
                status=status,
                e911_address=address,
            )
            if prefix == "deltafrt":
                tenant_suspend(actor=actor, tenant=tenant, reason="Past due invoice")
        api_key, plaintext = api_key_create(actor=actor, name="Demo integration", scopes="all")
    return [
        "Loaded the Docs Demo partner:",
        f"  sign in at the portal as {DEMO_EMAIL} / {DEMO_PASSWORD}",
        f"  (read-only Partner User: {DEMO_READONLY_EMAIL} / {DEMO_PASSWORD})",
        f"  API key (shown once): {plaintext}",
        f"  {Tenant.objects.filter(partner=partner).count()} tenants",
    ]
