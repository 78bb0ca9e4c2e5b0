"""Devices and their SIP credentials.

A device belongs to one user (extension). Its SIP username is `<sip prefix>-<extension>-<n>`
when it is made, so the call engine's endpoints never collide across tenants, and it keeps
that name if the extension is renumbered. The password is 24 random characters, returned
once by the call that sets it (create or reset) and otherwise never; it is kept sealed
(AES-256-GCM) because the call engine's configuration must carry it.

A user on a licence-governed tenant may have as many devices as its seat and add-ons grant
(a Basic seat 3, a Premium seat 8: `licensing.catalog`); other tenants' users up to
`MAX_DEVICES`.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, ValidationFailed
from trunkline.licensing.models import LicenseAssignment
from trunkline.licensing.services import quota_check
from trunkline.pbx.models import Device, Extension
from trunkline.pbx.services import plain
from trunkline.pbx.sip_secrets import sip_password, sip_password_new
from trunkline.telephony.subscribers import subscriber_set_password
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer, tenant_lock

MAX_DEVICES = 20
FIELDS = ("kind", "name", "mac")


def device_json(device: Device) -> dict:
    return {
        "id": device.id,
        "tenant_id": device.tenant_id,
        "extension_id": device.extension_id,
        "kind": device.kind,
        "name": device.name or None,
        "mac": device.mac or None,
        "sip_username": device.sip_username,
        "password_set_at": device.password_set_at,
        "created_at": device.created_at,
        "updated_at": device.updated_at,
    }


def device_password(device) -> str:
    """The device's SIP password, for the call engine's configuration only."""
    return sip_password(device)


def clean_mac(value) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 17:
        raise ValidationFailed("mac is 12 hexadecimal digits", field="mac")
    digits = re.sub(r"[:\-.]", "", value).upper()
    if not re.fullmatch(r"[0-9A-F]{12}", digits):
        raise ValidationFailed("mac is 12 hexadecimal digits", field="mac")
    if digits in ("000000000000", "FFFFFFFFFFFF") or int(digits[1], 16) & 1:
        raise ValidationFailed("mac is not a phone's own address", field="mac")
    return digits


def _name(value) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value.strip()) > 100:
        raise ValidationFailed("name is at most 100 characters", field="name")
    return " ".join(value.split())


def _kind(value) -> str:
    if value not in Device.Kind.values:
        raise ValidationFailed("kind is " + ", ".join(Device.Kind.values), field="kind")
    return value


def devices_of(target_type: str, target_id: str) -> int:
    """How many devices a user has (the `devices` quota's counter)."""
    if target_type != LicenseAssignment.Target.EXTENSION:
        return 0
    return Device.objects.filter(extension_id=target_id).count()


def _audit(actor: Actor, tenant: Tenant, action: str, device: Device, **views) -> None:
    audit_record(
        actor=actor,
        partner=tenant.partner,
        action=action,
        object_type="device",
        object_id=device.id,
        tenant_id=tenant.id,
        **views,
    )


def device_create(
    *, actor: Actor, extension: Extension, fields: dict, now: datetime | None = None
) -> tuple[Device, str]:
    """A new device for the user; returns it with its SIP password (shown this once)."""
    if set(fields) - set(FIELDS):
        raise ValidationFailed("a device has " + ", ".join(FIELDS), field="body")
    kind = _kind(fields.get("kind"))
    mac = clean_mac(fields.get("mac"))
    if kind == Device.Kind.DESK_PHONE and not mac:
        raise ValidationFailed("a desk phone is known by its MAC address", field="mac")
    name = _name(fields.get("name"))
    require_tenant_writer(actor, extension.tenant)
    now = now or timezone.now()
    with transaction.atomic():
        tenant = tenant_lock(extension.tenant)
        if tenant.status == Tenant.Status.CANCELLED:
            raise Conflict("a cancelled tenant gets no new devices", type="tenant_cancelled")
        extension = Extension.objects.select_for_update().get(pk=extension.pk)
        count = Device.objects.filter(extension=extension).count()
        quota_check(
            LicenseAssignment.Target.EXTENSION,
            extension.id,
            tenant=tenant,
            quota="devices",
            wanted=count + 1,
            field="kind",
        )
        if count >= MAX_DEVICES:
            raise Conflict(
                f"a user has at most {MAX_DEVICES} devices", field="kind", type="limit_exceeded"
            )
        _mac_free(mac)
        device = Device(
            partner_id=tenant.partner_id,
            tenant=tenant,
            extension=extension,
            kind=kind,
            name=name,
            mac=mac,
            sip_username=_username(tenant, extension),
            created_at=now,
            updated_at=now,
        )
        password = sip_password_new(device, now)
        try:
            with transaction.atomic():
                device.save(force_insert=True)
        except IntegrityError:
            raise _mac_taken(mac)
        subscriber_set_password(device=device, password=password)
        _audit(actor, tenant, "device.created", device, after=plain(device_json(device)))
    return device, password


def _mac_taken(mac: str) -> Conflict:
    return Conflict(f"a device with MAC {mac} is already set up", field="mac", type="device_taken")


def _mac_free(mac: str, device: Device | None = None) -> None:
    if mac and Device.objects.filter(mac=mac).exclude(pk=getattr(device, "pk", None)).exists():
        raise _mac_taken(mac)


def _username(tenant: Tenant, extension: Extension) -> str:
    stem = f"{tenant.sip_prefix}-{extension.number}-"
    taken = set(
        Device.objects.filter(sip_username__startswith=stem).values_list("sip_username", flat=True)
    )
    n = 1
    while f"{stem}{n}" in taken:
        n += 1
    return f"{stem}{n}"


def device_update(*, actor: Actor, device: Device, changes: dict) -> Device:
    """Rename a device or change its MAC (a replaced desk phone); its kind is for good."""
    if set(changes) - {"name", "mac"}:
        raise ValidationFailed("a device's name and mac can change", field="body")
    require_tenant_writer(actor, device.tenant)
    with transaction.atomic():
        tenant = tenant_lock(device.tenant)
        device = Device.objects.select_for_update().get(pk=device.pk)
        before = plain(device_json(device))
        if "name" in changes:
            device.name = _name(changes["name"])
        if "mac" in changes:
            mac = clean_mac(changes["mac"])
            if device.kind == Device.Kind.DESK_PHONE and not mac:
                raise ValidationFailed("a desk phone is known by its MAC address", field="mac")
            _mac_free(mac, device)
            device.mac = mac
        device.updated_at = timezone.now()
        device.save()
        _audit(
            actor, tenant, "device.updated", device, before=before, after=plain(device_json(device))
        )
    return device


def device_password_reset(
    *, actor: Actor, device: Device, now: datetime | None = None
) -> tuple[Device, str]:
    """A new SIP password. The registrar refuses the old one from this commit on; the
    call engine's own configuration takes the new one at its next push."""
    require_tenant_writer(actor, device.tenant)
    now = now or timezone.now()
    with transaction.atomic():
        tenant = tenant_lock(device.tenant)
        device = Device.objects.select_for_update().get(pk=device.pk)
        password = sip_password_new(device, now)
        device.updated_at = now
        device.save(update_fields=["sealed_password", "password_set_at", "updated_at"])
        subscriber_set_password(device=device, password=password)
        _audit(actor, tenant, "device.password_reset", device)
    return device, password


def device_delete(*, actor: Actor, device: Device) -> None:
    require_tenant_writer(actor, device.tenant)
    with transaction.atomic():
        tenant = tenant_lock(device.tenant)
        view = plain(device_json(device))
        Device.objects.filter(pk=device.pk).delete()
        _audit(actor, tenant, "device.deleted", device, before=view)
