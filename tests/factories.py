"""Test data builders. They go through the services, so the data is what users make."""

from __future__ import annotations

import itertools

from trunkline.accounts.models import Partner, User
from trunkline.accounts.services import api_key_create, partner_create
from trunkline.core.actors import Actor
from trunkline.tenants.services import tenant_create

PASSWORD = "Correct-Horse9battery"
_counter = itertools.count(1)


def make_partner(company_name: str | None = None, email: str | None = None) -> tuple[Partner, User]:
    n = next(_counter)
    return partner_create(
        actor=Actor.system(),
        company_name=company_name or f"Partner {n}",
        email=email or f"admin{n}@partner{n}.example",
        password=PASSWORD,
        name=f"Admin {n}",
    )


def make_user(
    partner: Partner, role: str = User.Role.PARTNER_USER, email: str | None = None
) -> User:
    n = next(_counter)
    return User.objects.create_user(
        email or f"user{n}@example.com",
        PASSWORD,
        partner=partner,
        role=role,
        name=f"User {n}",
        email_verified_at=partner.created_at,
    )


def actor_for_user(user: User, **extra) -> Actor:
    return Actor(kind="user", partner=user.partner, user=user, can_write=user.can_write, **extra)


def make_tenant(partner_admin: User, name: str | None = None, **fields):
    n = next(_counter)
    return tenant_create(
        actor=actor_for_user(partner_admin),
        name=name or f"Tenant {n}",
        billing_email=fields.pop("billing_email", f"billing{n}@tenant.example"),
        timezone_name=fields.pop("timezone_name", "America/Chicago"),
        **fields,
    )


def make_api_key(partner: Partner, scopes="all", **fields) -> str:
    _, plaintext = api_key_create(
        actor=Actor.system(partner=partner),
        name=fields.pop("name", "test key"),
        scopes=scopes,
        **fields,
    )
    return plaintext
