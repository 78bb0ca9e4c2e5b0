"""Tax jurisdictions: the sales taxes a partner collects from its tenants.

A tenant names at most one jurisdiction. Invoices copy the jurisdiction's name and rate
when they are created, so enabling, disabling or changing one affects only invoices made
afterwards. Trunkline applies the rate the partner sets; which taxes apply is the
partner's (and its accountant's) call.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from trunkline.billing.models import TaxJurisdiction
from trunkline.billing.profiles import _writer
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer

# Country, then optional subdivisions: US, US-AR, US-AR-Pulaski, CA-ON.
CODE = re.compile(r"^[A-Z]{2}(-[A-Za-z0-9]{1,20}){0,3}$")
MAX_RATE = Decimal("0.5")
FIELDS = frozenset({"name", "code", "rate", "enabled"})


def tax_jurisdiction_list(*, actor: Actor):
    if actor.partner is None:
        return TaxJurisdiction.objects.none()
    return TaxJurisdiction.objects.filter(partner=actor.partner)


def tenant_counts(*, actor: Actor) -> dict[str, int]:
    """Tenants in each of the partner's jurisdictions (those with none are left out)."""
    if actor.partner is None:
        return {}
    return dict(
        Tenant.objects.filter(partner=actor.partner, tax_jurisdiction__isnull=False)
        .values("tax_jurisdiction_id")
        .annotate(count=Count("id"))
        .values_list("tax_jurisdiction_id", "count")
    )


def tax_jurisdiction_get(*, actor: Actor, jurisdiction_id: str) -> TaxJurisdiction:
    found = tax_jurisdiction_list(actor=actor).filter(id=jurisdiction_id).first()
    if found is None:
        raise NotFound("no such tax jurisdiction", field="tax_jurisdiction_id")
    return found


def _rate(value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationFailed("rate is a decimal string such as '0.085'", field="rate")
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed("rate is a decimal string such as '0.085'", field="rate") from None
    if not rate.is_finite() or rate < 0 or rate > MAX_RATE:
        raise ValidationFailed(
            f"rate is a fraction from 0 to {MAX_RATE} (0.085 is 8.5%)", field="rate"
        )
    if rate != rate.quantize(Decimal("0.000001")):
        raise ValidationFailed("rate has at most six decimal places", field="rate")
    return rate


def _clean(changes: dict, *, creating: bool) -> dict:
    unknown = sorted(set(changes) - FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown field {unknown[0]}", field=unknown[0])
    cleaned: dict = {}
    if "name" in changes or creating:
        name = changes.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 80:
            raise ValidationFailed("name is 1 to 80 characters", field="name")
        cleaned["name"] = " ".join(name.split())
    if "code" in changes or creating:
        code = changes.get("code")
        if not isinstance(code, str) or not CODE.match(code.strip()):
            raise ValidationFailed(
                "code is a country code and optional regions, e.g. US-AR-Pulaski or CA-ON",
                field="code",
            )
        cleaned["code"] = code.strip()
    if "rate" in changes or creating:
        cleaned["rate"] = _rate(changes.get("rate"))
    if "enabled" in changes:
        if not isinstance(changes["enabled"], bool):
            raise ValidationFailed("enabled is true or false", field="enabled")
        cleaned["enabled"] = changes["enabled"]
    return cleaned


def snapshot(jurisdiction: TaxJurisdiction) -> dict:
    return {
        "id": jurisdiction.id,
        "name": jurisdiction.name,
        "code": jurisdiction.code,
        "rate": format(jurisdiction.rate.normalize(), "f"),
        "enabled": jurisdiction.enabled,
    }


def _save(jurisdiction: TaxJurisdiction, *, insert: bool) -> None:
    try:
        with transaction.atomic():
            jurisdiction.save(force_insert=insert)
    except IntegrityError:
        raise Conflict(
            f"a jurisdiction with code {jurisdiction.code!r} already exists",
            field="code",
            type="code_taken",
        ) from None


def tax_jurisdiction_create(
    *, actor: Actor, now: datetime | None = None, **fields
) -> TaxJurisdiction:
    partner = _writer(actor)
    cleaned = _clean(fields, creating=True)
    now = now or timezone.now()
    jurisdiction = TaxJurisdiction(partner=partner, created_at=now, updated_at=now, **cleaned)
    with transaction.atomic():
        _save(jurisdiction, insert=True)
        audit_record(
            actor=actor,
            action="tax_jurisdiction.created",
            object_type="tax_jurisdiction",
            object_id=jurisdiction.id,
            after=snapshot(jurisdiction),
        )
    return jurisdiction


def tax_jurisdiction_update(
    *, actor: Actor, jurisdiction: TaxJurisdiction, changes: dict, now: datetime | None = None
) -> TaxJurisdiction:
    partner = _writer(actor)
    cleaned = _clean(changes, creating=False)
    with transaction.atomic():
        jurisdiction = TaxJurisdiction.objects.select_for_update().get(
            pk=jurisdiction.pk, partner=partner
        )
        before = snapshot(jurisdiction)
        for field, value in cleaned.items():
            setattr(jurisdiction, field, value)
        jurisdiction.updated_at = now or timezone.now()
        _save(jurisdiction, insert=False)
        audit_record(
            actor=actor,
            action="tax_jurisdiction.updated",
            object_type="tax_jurisdiction",
            object_id=jurisdiction.id,
            before=before,
            after=snapshot(jurisdiction),
        )
    return jurisdiction


def tax_jurisdiction_delete(*, actor: Actor, jurisdiction: TaxJurisdiction) -> None:
    partner = _writer(actor)
    with transaction.atomic():
        jurisdiction = TaxJurisdiction.objects.select_for_update().get(
            pk=jurisdiction.pk, partner=partner
        )
        used = Tenant.objects.filter(tax_jurisdiction=jurisdiction).count()
        if used:
            raise Conflict(
                f"{used} tenant(s) are in this jurisdiction; disable it or move them first",
                type="in_use",
            )
        audit_record(
            actor=actor,
            action="tax_jurisdiction.deleted",
            object_type="tax_jurisdiction",
            object_id=jurisdiction.id,
            before=snapshot(jurisdiction),
        )
        jurisdiction.delete()


def tenant_tax_jurisdiction_set(
    *, actor: Actor, tenant: Tenant, jurisdiction_id: str | None
) -> Tenant:
    """Put the tenant in a jurisdiction (None: none). Only invoices made afterwards change."""
    require_tenant_writer(actor, tenant)
    jurisdiction = None
    if jurisdiction_id is not None:
        if not isinstance(jurisdiction_id, str):
            raise ValidationFailed(
                "tax_jurisdiction_id is a jurisdiction's id", field="tax_jurisdiction_id"
            )
        jurisdiction = TaxJurisdiction.objects.filter(
            partner_id=tenant.partner_id, id=jurisdiction_id
        ).first()
        if jurisdiction is None:
            raise NotFound("no such tax jurisdiction", field="tax_jurisdiction_id")
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        before = tenant.tax_jurisdiction_id
        if before == (jurisdiction.id if jurisdiction else None):
            return tenant
        tenant.tax_jurisdiction = jurisdiction
        tenant.updated_at = timezone.now()
        tenant.save(update_fields=["tax_jurisdiction", "updated_at"])
        audit_record(
            actor=actor,
            action="tenant.tax_jurisdiction_changed",
            object_type="tenant",
            object_id=tenant.id,
            tenant_id=tenant.id,
            before={"tax_jurisdiction_id": before},
            after={"tax_jurisdiction_id": tenant.tax_jurisdiction_id},
        )
    return tenant
