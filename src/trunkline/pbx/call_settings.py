"""A user's call settings: forwarding, do not disturb, ringing linked mobiles, call
blocking and the caller ID of outgoing calls (`../shared/seeds/000_*.txt`, the Basic/Premium
table, "Mobility", "Call blocking", "Call forwarding" and "Calling line ID").

Each setting is available where the user's licences grant its feature (`licensing.catalog`):
switching one on, or changing one that is on, is refused (409 `license_required`, naming the
licences that have it) when they do not; switching off is always allowed. Tenants not billed
by licence have every setting. A seat change or an add-on taken away that would leave a
setting on without its licence is refused (409 `license_in_use`) by the licence engine,
which asks `call_settings_features` what is on.

Forwarding goes to destinations in the `pbx.references` shape: the tenant's users, call
flows and voicemail boxes (as far as they exist), or an external number. What a user's
forwarding points at cannot be deleted while it does (`call_settings_referrers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone
from pydantic import ValidationError

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, event_emit
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.licensing.models import LicenseAssignment
from trunkline.licensing.services import feature_check
from trunkline.pbx.call_settings_schemas import DAYS, CallSettingsDoc
from trunkline.pbx.extensions import e164_of, extension_json
from trunkline.pbx.models import CallSettings, Extension
from trunkline.pbx.references import (
    Referrer,
    destination_clean,
    destination_types,
    external_number,
    points_at,
)
from trunkline.pbx.services import plain
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer, tenant_lock

USER = LicenseAssignment.Target.EXTENSION
FORWARD_TYPES = ("extension", "call_flow", "voicemail", "external")
FORWARDS = {
    "forward_always": "unconditional forwarding",
    "forward_busy": "forwarding when busy",
    "forward_no_reply": "forwarding on no reply",
    "forward_unreachable": "forwarding when unreachable",
}
SCREENINGS = ("forward_selective", "selective_rejection", "selective_acceptance")
RINGINGS = ("simultaneous_ringing", "sequential_ringing")

# setting: (licensed feature, a person's words, whether the setting is on)
FEATURES = {
    "do_not_disturb": ("do_not_disturb", "do not disturb", lambda d: d["do_not_disturb"]),
    "forward_always": (
        "call_forwarding_always",
        FORWARDS["forward_always"],
        lambda d: d["forward_always"]["enabled"],
    ),
    "forward_busy": (
        "call_forwarding_busy",
        FORWARDS["forward_busy"],
        lambda d: d["forward_busy"]["enabled"],
    ),
    "forward_no_reply": (
        "call_forwarding_no_reply",
        FORWARDS["forward_no_reply"],
        lambda d: d["forward_no_reply"]["enabled"],
    ),
    "forward_unreachable": (
        "call_forwarding_unreachable",
        FORWARDS["forward_unreachable"],
        lambda d: d["forward_unreachable"]["enabled"],
    ),
    "forward_selective": (
        "call_forwarding_selective",
        "selective forwarding",
        lambda d: d["forward_selective"]["enabled"],
    ),
    "linked_mobiles": ("off_net_mobility", "linked mobiles", lambda d: bool(d["linked_mobiles"])),
    "simultaneous_ringing": (
        "simultaneous_ringing",
        "simultaneous ringing",
        lambda d: d["simultaneous_ringing"]["enabled"],
    ),
    "sequential_ringing": (
        "sequential_ringing",
        "sequential ringing",
        lambda d: d["sequential_ringing"]["enabled"],
    ),
    "reject_anonymous": (
        "reject_anonymous",
        "anonymous call rejection",
        lambda d: d["reject_anonymous"],
    ),
    "selective_rejection": (
        "selective_call_rejection",
        "selective call rejection",
        lambda d: d["selective_rejection"]["enabled"],
    ),
    "selective_acceptance": (
        "selective_call_acceptance",
        "selective call acceptance",
        lambda d: d["selective_acceptance"]["enabled"],
    ),
    "hide_number": ("hide_number", "number hiding", lambda d: d["hide_number"]),
    "outgoing_caller_id": (
        "flexible_outgoing_cli",
        "a flexible outgoing caller ID",
        lambda d: d["outgoing_caller_id"] is not None,
    ),
}


# --- reading ------------------------------------------------------------------------------


def _doc(row: CallSettings | None) -> dict:
    """The settings document of a row (the defaults without one); stored documents get
    the defaults of settings added since they were written."""
    if row is None:
        return CallSettingsDoc().model_dump()
    stored = dict(row.settings or {})
    stored["outgoing_caller_id"] = row.outgoing_number.e164 if row.outgoing_number_id else None
    return CallSettingsDoc.model_validate(stored).model_dump()


def _row(extension: Extension, *, lock: bool = False) -> CallSettings | None:
    found = CallSettings.objects.select_related("outgoing_number").filter(pk=extension.pk)
    if lock:
        found = found.select_for_update(of=("self",))
    return found.first()


def call_settings_json(extension: Extension, row: CallSettings | None = None) -> dict:
    return {
        "extension_id": extension.id,
        "tenant_id": extension.tenant_id,
        "timezone": extension.site.timezone,
        **_doc(row),
        "updated_at": row.updated_at if row is not None else None,
    }


def call_settings_get(*, extension: Extension) -> dict:
    """The user's call settings as the API shows them."""
    return call_settings_json(extension, _row(extension))


# --- changing -----------------------------------------------------------------------------


def _merge(before: dict, changes: dict) -> dict:
    """The changes over the current settings: an object's fields not sent stay, lists are
    replaced whole, and null sets a field back to its default."""
    merged = dict(before)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(before.get(key), dict):
            section = dict(before[key])
            for inner, inner_value in value.items():
                if inner_value is None:
                    section.pop(inner, None)
                else:
                    section[inner] = inner_value
            merged[key] = section
        else:
            merged[key] = value
    return merged


def _validated(document: dict) -> dict:
    try:
        return CallSettingsDoc.model_validate(document).model_dump()
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            message = f"unknown field {field}"
        else:
            message = first["msg"].removeprefix("Value error, ")
            message = f"{field}: {message}" if field else message
        raise ValidationFailed(message, field=field) from None


def _destination(tenant: Tenant, extension: Extension, value: dict, *, field: str) -> dict:
    allowed = [kind for kind in FORWARD_TYPES if kind in destination_types()]
    cleaned = destination_clean(
        tenant.id, {k: v for k, v in value.items() if v is not None}, field=field, allowed=allowed
    )
    if points_at(cleaned, "extension", extension.id):
        raise ValidationFailed("a user's calls cannot be forwarded to the same user", field=field)
    return cleaned


def _outgoing_number(tenant: Tenant, value: str):
    """One of the tenant's own numbers in service, for the caller ID of outgoing calls."""
    from trunkline.phone_numbers.models import PhoneNumber

    e164 = e164_of(value, field="outgoing_caller_id")
    found = PhoneNumber.objects.filter(
        tenant=tenant,
        e164=e164,
        status__in=(PhoneNumber.Status.ACTIVE, PhoneNumber.Status.PENDING),
    ).first()
    if found is None:
        raise NotFound(f"{e164} is not one of the tenant's numbers", field="outgoing_caller_id")
    return found


def _mobiles(tenant: Tenant, numbers: list[str]) -> list[str]:
    from trunkline.phone_numbers.models import PhoneNumber

    cleaned: list[str] = []
    for index, number in enumerate(numbers):
        e164 = external_number(number, field=f"linked_mobiles.{index}")
        if e164 in cleaned:
            raise ValidationFailed(f"{e164} is listed twice", field=f"linked_mobiles.{index}")
        cleaned.append(e164)
    own = (
        PhoneNumber.objects.filter(
            tenant=tenant,
            e164__in=cleaned,
            status__in=(PhoneNumber.Status.ACTIVE, PhoneNumber.Status.PENDING),
        )
        .values_list("e164", flat=True)
        .first()
        if cleaned
        else None
    )
    if own is not None:
        raise ValidationFailed(
            f"{own} is one of the tenant's own numbers; a linked mobile is outside the "
            "phone system",
            field=f"linked_mobiles.{cleaned.index(own)}",
        )
    return cleaned


def _check(tenant: Tenant, extension: Extension, after: dict, sent: set[str], row) -> object:
    """What the schema cannot see: targets and numbers against the tenant, and settings
    that need one another. Rewrites `after` in its stored form; returns the outgoing
    caller ID's number."""
    for key in FORWARDS:
        forward = after[key]
        if key in sent and forward["destination"] is not None:
            forward["destination"] = _destination(
                tenant, extension, forward["destination"], field=f"{key}.destination"
            )
        if forward["enabled"] and forward["destination"] is None:
            raise ValidationFailed("forwarding needs a destination", field=f"{key}.destination")
    if "forward_selective" in sent:
        for index, rule in enumerate(after["forward_selective"]["rules"]):
            rule["destination"] = _destination(
                tenant,
                extension,
                rule["destination"],
                field=f"forward_selective.rules.{index}.destination",
            )
    for key in SCREENINGS:
        if after[key]["enabled"] and not after[key]["rules"]:
            raise ValidationFailed("it needs at least one rule", field=f"{key}.rules")
    if "linked_mobiles" in sent:
        after["linked_mobiles"] = _mobiles(tenant, after["linked_mobiles"])
    if all(after[key]["enabled"] for key in RINGINGS):
        raise ValidationFailed(
            "the linked mobiles ring either together or in turn, not both",
            field="sequential_ringing.enabled",
        )
    for key in RINGINGS:
        if after[key]["enabled"] and not after["linked_mobiles"]:
            raise ValidationFailed(
                f"{key.replace('_', ' ')} needs a linked mobile", field=f"{key}.enabled"
            )
    if "outgoing_caller_id" not in sent:
        number = row.outgoing_number if row is not None else None
    elif after["outgoing_caller_id"] is None:
        number = None
    else:
        number = _outgoing_number(tenant, after["outgoing_caller_id"])
        after["outgoing_caller_id"] = number.e164
    return number


def _licensed(tenant: Tenant, extension: Extension, after: dict, changed: set[str]) -> None:
    """A setting that is on and that this change touches needs its licence."""
    for setting, (feature, _, is_on) in FEATURES.items():
        if setting in changed and is_on(after):
            feature_check(USER, extension.id, tenant=tenant, feature=feature, field=setting)


def _destination_ids(document: dict) -> str:
    found = [document[key]["destination"] for key in FORWARDS]
    found += [rule["destination"] for rule in document["forward_selective"]["rules"]]
    ids = sorted({d["id"] for d in found if d and d.get("id")})
    return f" {' '.join(ids)} " if ids else ""


def call_settings_update(*, actor: Actor, extension: Extension, changes: dict) -> dict:
    """Change some of a user's call settings (a partial update, see `_merge`); returns them
    as the API shows them. Bad input (422), a target that is not the tenant's (404) or a
    setting the user's licences lack (409) changes nothing."""
    if not isinstance(changes, dict):
        raise ValidationFailed("call settings are an object", field="body")
    unknown = sorted(set(changes) - set(CallSettingsDoc.model_fields))
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}", field=unknown[0])
    require_tenant_writer(actor, extension.tenant)
    with transaction.atomic():
        tenant = tenant_lock(extension.tenant)
        if tenant.status == Tenant.Status.CANCELLED:
            raise Conflict("a cancelled tenant's users cannot change", type="tenant_cancelled")
        extension = (
            Extension.objects.select_related("site", "main_number").filter(pk=extension.pk).first()
        )
        if extension is None:
            raise NotFound("no such extension", field="extension_id")
        row = _row(extension, lock=True)
        before = _doc(row)
        after = _validated(_merge(before, changes))
        number = _check(tenant, extension, after, set(changes), row)
        after = _validated(after)
        changed = {key for key in after if after[key] != before[key]}
        if not changed:
            return call_settings_json(extension, row)
        _licensed(tenant, extension, after, changed)
        if row is None:
            row = CallSettings(extension=extension, partner_id=tenant.partner_id, tenant=tenant)
        row.settings = {key: value for key, value in after.items() if key != "outgoing_caller_id"}
        row.outgoing_number = number
        row.destination_ids = _destination_ids(after)
        row.updated_at = timezone.now()
        row.save()
        audit_record(
            actor=actor,
            partner=tenant.partner,
            action="extension.call_settings_updated",
            object_type="extension",
            object_id=extension.id,
            tenant_id=tenant.id,
            before={key: before[key] for key in sorted(changed)},
            after={key: after[key] for key in sorted(changed)},
        )
        event_emit(
            partner=tenant.partner,
            type="extension.updated",
            data={
                "extension": plain(extension_json(extension)),
                "call_settings": after,
                "previous_attributes": {
                    "call_settings": {key: before[key] for key in sorted(changed)}
                },
            },
        )
    return call_settings_json(extension, row)


# --- what other apps ask ------------------------------------------------------------------


def call_settings_referrers(tenant_id: str, target_type: str, target_id: str):
    """The users whose forwarding points at a target (the delete guard's source)."""
    rows = CallSettings.objects.filter(
        tenant_id=tenant_id, destination_ids__contains=f" {target_id} "
    ).select_related("extension")
    for row in rows:
        document = row.settings or {}
        name = f"user {row.extension.number} {row.extension.name}"
        for key, words in FORWARDS.items():
            if points_at((document.get(key) or {}).get("destination"), target_type, target_id):
                yield Referrer(type="extension", id=row.extension_id, name=name, via=words)
        rules = (document.get("forward_selective") or {}).get("rules") or []
        for index, rule in enumerate(rules, start=1):
            if points_at(rule.get("destination"), target_type, target_id):
                label = f" {rule['name']}" if rule.get("name") else ""
                yield Referrer(
                    type="extension",
                    id=row.extension_id,
                    name=name,
                    via=f"selective forwarding rule {index}{label}",
                )


def call_settings_features(target_type: str, target_ids: Iterable[str]) -> dict:
    """{user id: {feature: words}} for the settings that are on (the licence engine's
    question before a seat change or an add-on taken away)."""
    if target_type != USER:
        return {}
    ids = list(target_ids)
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(ids), 500):
        rows = CallSettings.objects.select_related("outgoing_number").filter(
            pk__in=ids[start : start + 500]
        )
        for row in rows:
            document = _doc(row)
            used = {
                feature: f"{words} ({setting})"
                for setting, (feature, words, is_on) in FEATURES.items()
                if is_on(document)
            }
            if used:
                found[row.extension_id] = used
    return found


def outgoing_numbers_let_go(number_id: str, *, keep_tenant_id: str | None = None) -> int:
    """The number left its tenant: no user of another tenant keeps it as caller ID."""
    found = CallSettings.objects.filter(outgoing_number_id=number_id)
    if keep_tenant_id is not None:
        found = found.exclude(tenant_id=keep_tenant_id)
    return found.update(outgoing_number=None)


def rule_applies(rule: dict, *, caller: str | None, at: datetime, zone: str) -> bool:
    """Whether a selective rule matches a call from `caller` (E.164, None when withheld)
    at `at`, in the time zone of the user's site."""
    if rule.get("times"):
        local = at.astimezone(ZoneInfo(zone))
        day, clock = DAYS[local.weekday()], local.strftime("%H:%M")
        if not any(
            day in window["days"] and window["start"] <= clock < window["end"]
            for window in rule["times"]
        ):
            return False
    if rule.get("callers"):
        if caller is None:
            return False
        return any(
            caller.startswith(pattern[:-1]) if pattern.endswith("*") else caller == pattern
            for pattern in rule["callers"]
        )
    return True
