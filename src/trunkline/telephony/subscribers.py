"""Keeping the SIP credentials directory (`SipSubscriber`) in step with devices and tenants.

These run inside the transaction of the service that changes the device, extension or
tenant, so the registrar never sees a device whose row is missing, stale or enabled for a
suspended tenant. A device's row goes with it (the foreign key cascades).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.utils import timezone

from trunkline.pbx.models import Device, Extension
from trunkline.telephony.models import SipSubscriber
from trunkline.tenants.models import Tenant

# Statuses under which a tenant's phones may register and call.
IN_SERVICE = (Tenant.Status.TRIAL, Tenant.Status.ACTIVE)


def sip_domain(tenant: Tenant) -> str:
    """The tenant's SIP domain (and digest realm): `<sip_prefix>.<TRUNKLINE_SIP_DOMAIN>`."""
    return f"{tenant.sip_prefix}.{settings.TRUNKLINE_SIP_DOMAIN}"


def digest_ha1(username: str, realm: str, password: str) -> str:
    # MD5 is what SIP digest (RFC 2617/3261) is defined over; it is not a choice made here.
    return hashlib.md5(f"{username}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def subscriber_set_password(*, device: Device, password: str) -> SipSubscriber:
    """Write the device's row for a new password (device created or password reset)."""
    tenant = device.tenant
    domain = sip_domain(tenant)
    values = {
        "tenant": tenant,
        "username": device.sip_username,
        "domain": domain,
        "ha1": digest_ha1(device.sip_username, domain, password),
        "ha1b": digest_ha1(f"{device.sip_username}@{domain}", domain, password),
        "extension": device.extension.number,
        "enabled": tenant.status in IN_SERVICE,
        "updated_at": timezone.now(),
    }
    subscriber, _ = SipSubscriber.objects.update_or_create(device=device, defaults=values)
    return subscriber


def subscribers_follow_tenant(*, tenant: Tenant) -> int:
    """Enable or disable the tenant's devices for its (new) status. Returns rows changed."""
    enabled = tenant.status in IN_SERVICE
    return (
        SipSubscriber.objects.filter(tenant=tenant)
        .exclude(enabled=enabled)
        .update(enabled=enabled, updated_at=timezone.now())
    )


def subscribers_follow_extension(*, extension: Extension) -> int:
    """A renumbered extension's devices answer to its new number."""
    return (
        SipSubscriber.objects.filter(device__extension=extension)
        .exclude(extension=extension.number)
        .update(extension=extension.number, updated_at=timezone.now())
    )


def subscribers_rebuild() -> dict:
    """Rewrite every device's row from the device itself: its tenant's domain under the
    current `TRUNKLINE_SIP_DOMAIN`, its extension, the tenant's status, and the digest
    hashes from its sealed password. Run after the SIP domain changes (every HA1 hashes
    the realm) or to repair the table; rows of devices that are gone went with them."""
    from django.db import transaction

    from trunkline.pbx.sip_secrets import sip_password

    changed = unchanged = 0
    devices = Device.objects.select_related("tenant", "extension").order_by("pk")
    with transaction.atomic():
        for device in devices.iterator(chunk_size=500):
            before = (
                SipSubscriber.objects.filter(device=device)
                .values("domain", "ha1", "ha1b", "extension", "enabled")
                .first()
            )
            subscriber = subscriber_set_password(device=device, password=sip_password(device))
            after = {
                "domain": subscriber.domain,
                "ha1": subscriber.ha1,
                "ha1b": subscriber.ha1b,
                "extension": subscriber.extension,
                "enabled": subscriber.enabled,
            }
            if before == after:
                unchanged += 1
            else:
                changed += 1
    return {"devices": changed + unchanged, "rewritten": changed, "unchanged": unchanged}
