"""Extensions: creating, changing and deleting them, under every rule that caps them.

Creating one takes, in this order, the partner's row lock (its plan caps extensions
across all its tenants) and the tenant's, then checks:

- the tenant is not SUSPENDED or CANCELLED (the partner guide: a suspended tenant gets
  "no new extensions");
- the tenant's Max Extensions (409 `limit_exceeded` on the (N+1)th);
- the partner's plan cap (409 `plan_limit`, naming the tier that would hold them);
- the number: 2 to 6 digits, free in the tenant, and not an emergency or service code.

Each extension holds a service period from its creation to its deletion: the partner's
monthly per-extension charge and the tenant's invoice prorate by it.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from trunkline.accounts.models import Partner
from trunkline.billing.models import ServicePeriod
from trunkline.billing.service_periods import service_period_move
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record, changed_fields, event_emit
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.licensing.models import LicenseAssignment
from trunkline.licensing.services import (
    extension_licenses,
    governed,
    seat_change,
    seat_take,
    target_released,
)
from trunkline.pbx.models import Extension
from trunkline.pbx.references import delete_guard
from trunkline.pbx.services import (
    clean_name,
    dial_number_free,
    plain,
    tenant_department,
    tenant_site,
)
from trunkline.telephony.subscribers import subscribers_follow_extension
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer, tenant_lock
from trunkline.tenants.validation import clean_email

# Never an extension: emergency numbers (911 and its test line 933, 112, 999), the 988
# crisis line and the N11 service codes, and nothing that starts with an emergency
# number, so dialling one never waits for more digits.
EMERGENCY_PREFIXES = ("911", "933", "112", "999")
SERVICE_CODES = frozenset({"988", "211", "311", "411", "511", "611", "711", "811"})
FIELDS = ("number", "name", "email", "site_id", "department_id", "license", "main_number")


def extension_json(
    extension: Extension, licenses: dict | None = None, additional: list[str] | None = None
) -> dict:
    """The extension as the API shows it; `licenses` is its entry of
    `licensing.services.extension_licenses` and `additional` its entry of
    `additional_numbers_of_many` when the caller read many at once."""
    if licenses is None:
        licenses = extension_licenses([extension.id]).get(extension.id, {})
    if additional is None:
        additional = additional_numbers_of_many([extension]).get(extension.id, [])
    return {
        "id": extension.id,
        "tenant_id": extension.tenant_id,
        "number": extension.number,
        "name": extension.name,
        "email": extension.email or None,
        "main_number": extension.main_number.e164 if extension.main_number_id else None,
        "additional_numbers": additional,
        "site_id": extension.site_id,
        "department_id": extension.department_id,
        "license": licenses.get("license"),
        "addons": licenses.get("addons", []),
        "created_at": extension.created_at,
        "updated_at": extension.updated_at,
    }


def additional_numbers_of_many(extensions: list[Extension]) -> dict[str, list[str]]:
    """The E.164 numbers routed to each user besides its main number, in one query."""
    from trunkline.phone_numbers.models import PhoneNumber

    if not extensions:
        return {}
    mains = {e.id: e.main_number_id for e in extensions}
    found: dict[str, list[str]] = {}
    routed = (
        PhoneNumber.objects.filter(
            tenant_id__in={e.tenant_id for e in extensions},
            route__type="extension",
            route__id__in=list(mains),
        )
        .order_by("e164")
        .values_list("id", "e164", "route")
    )
    for number_id, e164, route in routed:
        if mains.get(route["id"], number_id) != number_id:
            found.setdefault(route["id"], []).append(e164)
    return found


def _event_view(extension: Extension) -> dict:
    return plain(extension_json(extension))


def e164_of(value, *, field: str = "main_number") -> str:
    """A phone number as E.164; ten-digit and 1+ten-digit North American forms are read
    as +1 numbers."""
    if not isinstance(value, str) or not 2 <= len(value) <= 20:
        raise ValidationFailed("a phone number is E.164, such as +15015550123", field=field)
    digits = re.sub(r"[\s().-]", "", value)
    if re.fullmatch(r"\d{10}", digits):
        digits = "+1" + digits
    elif re.fullmatch(r"1\d{10}", digits):
        digits = "+" + digits
    if not re.fullmatch(r"\+[1-9]\d{6,14}", digits):
        raise ValidationFailed("a phone number is E.164, such as +15015550123", field=field)
    return digits


def tenant_did(tenant: Tenant, value, *, extension: Extension | None = None):
    """The tenant's own number `value` (E.164), free to be a user's main number; None
    for None or ""."""
    from trunkline.phone_numbers.models import PhoneNumber

    if value in (None, ""):
        return None
    e164 = e164_of(value)
    number = PhoneNumber.objects.filter(
        tenant=tenant,
        e164=e164,
        status__in=(PhoneNumber.Status.ACTIVE, PhoneNumber.Status.PENDING),
    ).first()
    if number is None:
        raise NotFound(f"{e164} is not one of the tenant's numbers", field="main_number")
    holder = Extension.objects.filter(main_number=number)
    if extension is not None:
        holder = holder.exclude(pk=extension.pk)
    holder = holder.first()
    if holder is not None:
        raise Conflict(
            f"{e164} is already extension {holder.number}'s main number",
            field="main_number",
            type="number_taken",
        )
    return number


def main_numbers_let_go(number_id: str, *, keep_tenant_id: str | None = None) -> int:
    """The number left its tenant (released, or assigned elsewhere): no user of another
    tenant keeps it as main number or as the caller ID of outgoing calls."""
    from trunkline.pbx.call_settings import outgoing_numbers_let_go

    found = Extension.objects.filter(main_number_id=number_id)
    if keep_tenant_id is not None:
        found = found.exclude(tenant_id=keep_tenant_id)
    return found.update(main_number=None) + outgoing_numbers_let_go(
        number_id, keep_tenant_id=keep_tenant_id
    )


def clean_number(value) -> str:
    if not isinstance(value, str) or not value.isdigit() or not 2 <= len(value) <= 6:
        raise ValidationFailed("an extension is 2 to 6 digits", field="number")
    if value.startswith(EMERGENCY_PREFIXES) or value in SERVICE_CODES:
        raise ValidationFailed(
            f"{value} is kept for emergency and service calls",
            field="number",
            type="reserved_number",
        )
    return value


def _email(value) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 254:
        raise ValidationFailed("email is not a valid email address", field="email")
    return clean_email(value, field="email")


def partner_extension_count(*, partner, at: datetime | None = None) -> int:
    """Extensions the partner's tenants have (at `at`: those that existed then), which
    its plan caps and its monthly per-extension charge counts."""
    if at is None:
        return Extension.objects.filter(partner=partner).count()
    return (
        ServicePeriod.objects.filter(
            partner_id=partner.id, kind=ServicePeriod.Kind.EXTENSION, started_at__lte=at
        )
        .exclude(ended_at__lte=at)
        .count()
    )


def extensions_accept(partner: Partner, tenant: Tenant, now: datetime, *, adding: int = 1) -> None:
    """Refuse `adding` new extensions (409) for a suspended or cancelled tenant, past the
    tenant's Max Extensions or past the partner's plan cap. Call with the partner's and
    the tenant's rows locked."""
    from trunkline.billing.subscriptions import plan_extension_cap_check

    if tenant.status in (Tenant.Status.SUSPENDED, Tenant.Status.CANCELLED):
        status = tenant.get_status_display().lower()
        raise Conflict(
            f"a {status} tenant gets no new extensions",
            field="tenant_id",
            type=f"tenant_{tenant.status.lower()}",
        )
    held = Extension.objects.filter(tenant=tenant).count()
    if tenant.max_extensions is not None and held + adding > tenant.max_extensions:
        asked = f" and {adding} more were asked for" if adding > 1 else ""
        raise Conflict(
            f"{tenant.name} already has {held} of its {tenant.max_extensions} extensions "
            f"(Max Extensions){asked}; raise the limit to add more",
            field="tenant_id",
            type="limit_exceeded",
        )
    plan_extension_cap_check(
        partner=partner, current=partner_extension_count(partner=partner), adding=adding, now=now
    )


def extension_create(
    *, actor: Actor, tenant: Tenant, fields: dict, now: datetime | None = None
) -> Extension:
    """A new extension ({number, name, email?, site_id?, department_id?, license?}); the
    tenant's default site when no site is named. On a licence-governed tenant it takes a
    seat at its site (`license` names which; else the cheapest free one)."""
    if set(fields) - set(FIELDS):
        raise ValidationFailed("an extension has " + ", ".join(FIELDS), field="body")
    number = clean_number(fields.get("number"))
    name = clean_name(fields.get("name"), what="an extension's")
    email = _email(fields.get("email"))
    now = now or timezone.now()
    require_tenant_writer(actor, tenant)
    with transaction.atomic():
        partner = Partner.objects.select_for_update(no_key=True).get(pk=tenant.partner_id)
        tenant = tenant_lock(tenant)
        site = tenant_site(tenant, fields.get("site_id"))
        department = tenant_department(tenant, fields.get("department_id"), field="department_id")
        main_number = tenant_did(tenant, fields.get("main_number"))
        extensions_accept(partner, tenant, now)
        dial_number_free(tenant, number)
        extension = Extension(
            partner=partner,
            tenant=tenant,
            site=site,
            department=department,
            number=number,
            name=name,
            email=email,
            main_number=main_number,
            created_at=now,
            updated_at=now,
        )
        extension.save(force_insert=True)
        service_period_move(
            object_id=extension.id,
            kind=ServicePeriod.Kind.EXTENSION,
            label=number,
            partner_id=partner.id,
            tenant_id=tenant.id,
            at=now,
        )
        seat_take(
            tenant=tenant,
            site=site,
            extension_id=extension.id,
            sku_code=fields.get("license"),
            now=now,
        )
        view = _event_view(extension)
        audit_record(
            actor=actor,
            partner=partner,
            action="extension.created",
            object_type="extension",
            object_id=extension.id,
            tenant_id=tenant.id,
            after=view,
        )
        event_emit(partner=partner, type="extension.created", data={"extension": view})
    return extension


def extension_update(*, actor: Actor, extension: Extension, changes: dict) -> Extension:
    """Renumber, rename, change the email or the department. The site is for good: an
    extension moves to another site by being deleted and created again there."""
    if "site_id" in changes:
        raise ValidationFailed(
            "an extension stays at its site; delete it and create it at the other site",
            field="site_id",
        )
    if set(changes) - set(FIELDS) - {"site_id"}:
        raise ValidationFailed("an extension has " + ", ".join(FIELDS), field="body")
    require_tenant_writer(actor, extension.tenant)
    with transaction.atomic():
        tenant = tenant_lock(extension.tenant)
        if tenant.status == Tenant.Status.CANCELLED:
            raise Conflict("a cancelled tenant's extensions cannot change", type="tenant_cancelled")
        extension = Extension.objects.select_for_update().get(pk=extension.pk)
        before = _event_view(extension)
        if "number" in changes:
            extension.number = clean_number(changes["number"])
            dial_number_free(tenant, extension.number, keep_id=extension.pk)
        if "name" in changes:
            extension.name = clean_name(changes["name"], what="an extension's")
        if "email" in changes:
            extension.email = _email(changes["email"])
        if "main_number" in changes:
            from trunkline.pbx.routing import main_number_change_check

            previous_main_id = extension.main_number_id
            extension.main_number = tenant_did(tenant, changes["main_number"], extension=extension)
            main_number_change_check(tenant, extension, previous_main_id=previous_main_id)
        if "department_id" in changes:
            extension.department = tenant_department(
                tenant, changes["department_id"], field="department_id"
            )
        if "license" in changes:
            if not governed(tenant):
                raise ValidationFailed(
                    "this tenant's billing profile does not use licences", field="license"
                )
            seat_change(
                tenant=tenant, extension=extension, sku_code=changes["license"], now=timezone.now()
            )
        after = _event_view(extension)
        changed = changed_fields(before, after)
        changed.pop("updated_at", None)
        if not changed:
            return extension
        extension.updated_at = timezone.now()
        extension.save()
        subscribers_follow_extension(extension=extension)
        after = _event_view(extension)
        previous = {key: before[key] for key in changed}
        audit_record(
            actor=actor,
            partner=tenant.partner,
            action="extension.updated",
            object_type="extension",
            object_id=extension.id,
            tenant_id=tenant.id,
            before=before,
            after=after,
        )
        event_emit(
            partner=tenant.partner,
            type="extension.updated",
            data={"extension": after, "previous_attributes": previous},
        )
    return extension


def extension_delete(*, actor: Actor, extension: Extension, now: datetime | None = None) -> None:
    require_tenant_writer(actor, extension.tenant)
    now = now or timezone.now()
    with transaction.atomic():
        tenant = tenant_lock(extension.tenant)
        extension = Extension.objects.filter(pk=extension.pk).first()
        if extension is None:
            raise NotFound("no such extension", field="extension_id")
        delete_guard(
            tenant_id=tenant.id,
            target_type="extension",
            target_id=extension.id,
            what=f"user {extension.number}",
        )
        view = _event_view(extension)
        target_released(target_type=LicenseAssignment.Target.EXTENSION, target_id=extension.id)
        extension.delete()
        service_period_move(
            object_id=view["id"],
            kind=ServicePeriod.Kind.EXTENSION,
            label=view["number"],
            partner_id=tenant.partner_id,
            tenant_id=None,
            at=now,
        )
        audit_record(
            actor=actor,
            partner=tenant.partner,
            action="extension.deleted",
            object_type="extension",
            object_id=view["id"],
            tenant_id=tenant.id,
            before=view,
        )
        event_emit(partner=tenant.partner, type="extension.deleted", data={"extension": view})


def extension_target(tenant_id: str, extension_id: str):
    """A user as a call destination: (extension, label) or None."""
    found = Extension.objects.filter(tenant_id=tenant_id, pk=extension_id).first()
    return (found, f"user {found.number} {found.name}") if found else None
