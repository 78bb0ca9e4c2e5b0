"""Voicemail boxes: a user's own, or standalone for call flows (`000_*.txt`, "Voicemail
for Call Flows: dedicated mailbox").

A box lives at one site. A user's box is at the user's site and goes when the user is
deleted; a user has at most one. On a licence-governed tenant a user's box needs the
`voicemail` feature among the user's licences (every seat of the default catalog has it);
a standalone box needs none.

The PIN that opens a box by phone is 4 to 10 digits, never a single repeated digit or a
straight run (1234, 9876), and is kept only as a password hash: no response carries it,
except the one that makes it up (a box created without a PIN, or `reset-pin`). New
messages go to up to `MAX_EMAILS` addresses, with the recording attached when
`attach_audio` is on (`004_*.txt`: "Email Attach is on if they want the audio file").
"""

from __future__ import annotations

import secrets
from datetime import datetime
from itertools import pairwise

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import changed_fields
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.licensing.models import LicenseAssignment
from trunkline.licensing.services import feature_check
from trunkline.pbx.models import Extension, VoicemailBox
from trunkline.pbx.references import delete_guard
from trunkline.pbx.services import clean_name, pbx_audit, phone_system_lock, plain, tenant_site
from trunkline.tenants.models import Tenant
from trunkline.tenants.validation import clean_email

MAX_BOXES = 5000  # per tenant
MAX_EMAILS = 5
MIN_MESSAGE_SECONDS, MAX_MESSAGE_SECONDS = 10, 600
GENERATED_PIN_LENGTH = 6
FIELDS = (
    "name",
    "site_id",
    "owner_id",
    "pin",
    "emails",
    "attach_audio",
    "greeting",
    "max_message_seconds",
)


def voicemail_box_json(box: VoicemailBox) -> dict:
    return {
        "id": box.id,
        "tenant_id": box.tenant_id,
        "site_id": box.site_id,
        "owner_id": box.owner_id,
        "name": box.name,
        "emails": list(box.emails),
        "attach_audio": box.attach_audio,
        "greeting": box.greeting,
        "max_message_seconds": box.max_message_seconds,
        "pin_set_at": box.pin_set_at,
        "created_at": box.created_at,
        "updated_at": box.updated_at,
    }


def _weak(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in pairwise(pin)}
    return len(set(pin)) == 1 or steps in ({1}, {-1})


def clean_pin(value) -> str:
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise ValidationFailed("a PIN is 4 to 10 digits", field="pin")
    if not 4 <= len(value) <= 10:
        raise ValidationFailed("a PIN is 4 to 10 digits", field="pin")
    if _weak(value):
        raise ValidationFailed(
            "a PIN is not one digit repeated or a straight run like 1234", field="pin"
        )
    return value


def _new_pin() -> str:
    while True:
        pin = "".join(secrets.choice("0123456789") for _ in range(GENERATED_PIN_LENGTH))
        if not _weak(pin):
            return pin


def _set_pin(box: VoicemailBox, pin: str, now: datetime) -> None:
    box.pin_hash = make_password(pin)
    box.pin_set_at = now


def voicemail_pin_matches(box: VoicemailBox, pin: str) -> bool:
    """Whether `pin` opens the box (the call engine asks when a caller dials in)."""
    return isinstance(pin, str) and check_password(pin, box.pin_hash)


def clean_emails(value) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_EMAILS:
        raise ValidationFailed(
            f"emails is a list of at most {MAX_EMAILS} addresses", field="emails"
        )
    found: list[str] = []
    for item in value:
        if not isinstance(item, str) or len(item) > 254:
            raise ValidationFailed("emails holds email addresses", field="emails")
        address = clean_email(item, field="emails")
        if address.lower() not in (seen.lower() for seen in found):
            found.append(address)
    return found


def _max_seconds(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed("max_message_seconds is a whole number", field="max_message_seconds")
    if not MIN_MESSAGE_SECONDS <= value <= MAX_MESSAGE_SECONDS:
        raise ValidationFailed(
            f"max_message_seconds is {MIN_MESSAGE_SECONDS} to {MAX_MESSAGE_SECONDS}",
            field="max_message_seconds",
        )
    return value


def _greeting(value) -> str:
    if value not in VoicemailBox.Greeting.values:
        raise ValidationFailed(
            "greeting is " + ", ".join(VoicemailBox.Greeting.values), field="greeting"
        )
    return value


def _flag(value, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} is true or false", field=field)
    return value


def _owner(tenant: Tenant, owner_id) -> Extension | None:
    if owner_id is None:
        return None
    found = (
        Extension.objects.filter(tenant=tenant, pk=owner_id).first()
        if isinstance(owner_id, str)
        else None
    )
    if found is None:
        raise NotFound("no such extension", field="owner_id")
    return found


def _settings(box: VoicemailBox, fields: dict) -> None:
    """The settings a box's create and update share."""
    if "emails" in fields:
        box.emails = clean_emails(fields["emails"])
    if "attach_audio" in fields:
        box.attach_audio = _flag(fields["attach_audio"], "attach_audio")
    if "greeting" in fields:
        box.greeting = _greeting(fields["greeting"])
    if "max_message_seconds" in fields:
        box.max_message_seconds = _max_seconds(fields["max_message_seconds"])


def voicemail_box_create(
    *, actor: Actor, tenant: Tenant, fields: dict, now: datetime | None = None
) -> tuple[VoicemailBox, str | None]:
    """A new box ({name?, site_id?, owner_id?, pin?, emails?, attach_audio?, greeting?,
    max_message_seconds?}); returns it with the PIN when one was made up (else None)."""
    if set(fields) - set(FIELDS):
        raise ValidationFailed("a voicemail box has " + ", ".join(FIELDS), field="body")
    pin = fields.get("pin")
    pin = clean_pin(pin) if pin is not None else None
    now = now or timezone.now()
    with transaction.atomic():
        tenant = phone_system_lock(actor, tenant)
        owner = _owner(tenant, fields.get("owner_id"))
        if owner is not None:
            if fields.get("site_id") not in (None, owner.site_id):
                raise ValidationFailed(
                    "a user's voicemail box is at the user's site", field="site_id"
                )
            site = owner.site
            if VoicemailBox.objects.filter(owner=owner).exists():
                raise Conflict(
                    f"user {owner.number} already has a voicemail box",
                    field="owner_id",
                    type="voicemail_box_exists",
                )
            feature_check(
                LicenseAssignment.Target.EXTENSION,
                owner.id,
                tenant=tenant,
                feature="voicemail",
                field="owner_id",
            )
            name = fields.get("name") or f"{owner.number} {owner.name}"
        else:
            site = tenant_site(tenant, fields.get("site_id"))
            name = fields.get("name")
        name = clean_name(name, what="a voicemail box's")
        if VoicemailBox.objects.filter(tenant=tenant).count() >= MAX_BOXES:
            raise Conflict(
                f"a tenant has at most {MAX_BOXES} voicemail boxes", type="limit_exceeded"
            )
        box = VoicemailBox(
            partner_id=tenant.partner_id,
            tenant=tenant,
            site=site,
            owner=owner,
            name=name,
            created_at=now,
            updated_at=now,
        )
        _settings(box, fields)
        made_up = None if pin is not None else _new_pin()
        _set_pin(box, pin or made_up, now)
        box.save(force_insert=True)
        pbx_audit(actor, box, "voicemail_box.created", after=plain(voicemail_box_json(box)))
    return box, made_up


def voicemail_box_update(*, actor: Actor, box: VoicemailBox, changes: dict) -> VoicemailBox:
    """Rename the box, change where messages go, its greeting or length, or set its PIN.
    The site and the owner are for good."""
    for fixed in ("site_id", "owner_id"):
        if fixed in changes:
            raise ValidationFailed(
                "a voicemail box stays at its site and with its user; make another box instead",
                field=fixed,
            )
    if set(changes) - set(FIELDS):
        raise ValidationFailed("a voicemail box has " + ", ".join(FIELDS), field="body")
    pin = clean_pin(changes["pin"]) if "pin" in changes else None
    now = timezone.now()
    with transaction.atomic():
        phone_system_lock(actor, box.tenant)
        box = VoicemailBox.objects.select_for_update().get(pk=box.pk)
        before = plain(voicemail_box_json(box))
        if "name" in changes:
            box.name = clean_name(changes["name"], what="a voicemail box's")
        _settings(box, changes)
        if pin is not None:
            _set_pin(box, pin, now)
        after = plain(voicemail_box_json(box))
        if not changed_fields(before, after):
            return box
        box.updated_at = now
        box.save()
        action = "voicemail_box.updated"
        pbx_audit(actor, box, action, before=before, after=plain(voicemail_box_json(box)))
    return box


def voicemail_box_pin_reset(
    *, actor: Actor, box: VoicemailBox, now: datetime | None = None
) -> tuple[VoicemailBox, str]:
    """A new, made-up PIN, returned this once."""
    now = now or timezone.now()
    with transaction.atomic():
        phone_system_lock(actor, box.tenant)
        box = VoicemailBox.objects.select_for_update().get(pk=box.pk)
        pin = _new_pin()
        _set_pin(box, pin, now)
        box.updated_at = now
        box.save(update_fields=["pin_hash", "pin_set_at", "updated_at"])
        pbx_audit(actor, box, "voicemail_box.pin_reset")
    return box, pin


def voicemail_box_delete(*, actor: Actor, box: VoicemailBox) -> None:
    """Delete a box nothing routes to (409 `in_use` with the referrers otherwise)."""
    with transaction.atomic():
        tenant = phone_system_lock(actor, box.tenant)
        box = VoicemailBox.objects.filter(pk=box.pk).first()
        if box is None:
            raise NotFound("no such voicemail box", field="voicemail_box_id")
        delete_guard(
            tenant_id=tenant.id,
            target_type="voicemail",
            target_id=box.id,
            what=f"voicemail box {box.name}",
        )
        view = plain(voicemail_box_json(box))
        box_id = box.id
        box.delete()
        box.id = box_id
        pbx_audit(actor, box, "voicemail_box.deleted", before=view)


def voicemail_target(tenant_id: str, box_id: str):
    """A voicemail box as a call destination: (box, label) or None."""
    found = VoicemailBox.objects.filter(tenant_id=tenant_id, pk=box_id).first()
    return (found, f"voicemail box {found.name}") if found else None
