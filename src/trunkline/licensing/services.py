"""The licence engine: what a tenant on the licence pricing model holds, where its
licences are and who has them — and the checks every provisioning step makes against it.

Only tenants whose billing profile uses the licence pricing model are governed
(`001_*.txt`: "accounts that chose their Pricing model as License Model"). Tenants on
Pay-As-You-Go or Flat Rate are billed per extension, DID and minute and are never asked
for a licence; `grants()` answers None for them, meaning "no licence limits".

Counting, per SKU:
- held: the quantities of the tenant's active subscriptions;
- allocated ("in use" at tenant level, as the seed's note says): the sum of what the
  tenant's sites were given, never more than held;
- used at a site: the licences assigned there, never more than the site's allocation.

A site that has no free licence of the kind takes one from the tenant's unallocated ones
when there is one, so a one-site tenant never has to allocate by hand.

Race-freedom: every change takes the tenant's row lock first (`tenant_lock`), so two requests
for the last seat are served one after the other and the second sees it gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.licensing.models import (
    LicenseAllocation,
    LicenseAssignment,
    LicensePolicy,
    LicenseSku,
    LicenseSubscription,
)
from trunkline.pbx.models import Site
from trunkline.pbx.services import plain, tenant_site
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import require_tenant_writer, tenant_lock

K = LicenseSku.Kind
T = LicenseAssignment.Target
MAX_QUANTITY = 100_000
BASE_KINDS = (K.USER_BASE, K.CALL_FLOW_BASE, K.NUMBER)
# Which SKU kinds may be assigned to which target.
TARGET_KINDS = {
    T.EXTENSION: (K.USER_BASE, K.USER_ADDON),
    T.CALL_FLOW: (K.CALL_FLOW_BASE, K.CALL_FLOW_ADDON),
    T.TRUNK: (K.TRUNK,),
    T.NUMBER: (K.NUMBER,),
}


class LicenseRequired(Conflict):
    """409 `license_required`: the step needs a licence the tenant does not have free."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, field=field, type="license_required")


# --- reading ------------------------------------------------------------------------------


def governed(tenant: Tenant) -> bool:
    """True when the tenant's billing profile uses the licence pricing model."""
    from trunkline.billing.models import BillingProfile

    if tenant.billing_profile_id is None:
        return False
    model = (
        BillingProfile.objects.filter(pk=tenant.billing_profile_id)
        .values_list("pricing_model", flat=True)
        .first()
    )
    return model == BillingProfile.PricingModel.LICENSE


def sku_get(code, *, kinds: Iterable[str] | None = None, field: str = "sku") -> LicenseSku:
    sku = (
        LicenseSku.objects.filter(pk=code, active=True).first()
        if isinstance(code, str) and len(code) <= 64
        else None
    )
    if sku is None or (kinds is not None and sku.kind not in kinds):
        raise ValidationFailed(f"{code!r} is not a licence of the right kind", field=field)
    return sku


def held(tenant: Tenant, sku: LicenseSku) -> int:
    return (
        LicenseSubscription.objects.filter(
            tenant=tenant, sku=sku, status=LicenseSubscription.Status.ACTIVE
        ).aggregate(total=Sum("quantity"))["total"]
        or 0
    )


def allocated(tenant: Tenant, sku: LicenseSku, *, exclude_site: Site | None = None) -> int:
    found = LicenseAllocation.objects.filter(tenant=tenant, sku=sku)
    if exclude_site is not None:
        found = found.exclude(site=exclude_site)
    return found.aggregate(total=Sum("quantity"))["total"] or 0


def site_allocated(site: Site, sku: LicenseSku) -> int:
    found = LicenseAllocation.objects.filter(site=site, sku=sku).first()
    return found.quantity if found else 0


def site_used(site: Site, sku: LicenseSku) -> int:
    return LicenseAssignment.objects.filter(site=site, sku=sku).count()


def overview(tenant: Tenant, *, kind: str | None = None) -> list[dict]:
    """Per SKU the tenant holds, allocates or uses: limit (held), in use (allocated, as
    the seed counts it), assigned, free to allocate, and the per-site figures."""
    held_by = dict(
        LicenseSubscription.objects.filter(tenant=tenant, status=LicenseSubscription.Status.ACTIVE)
        .values("sku")
        .annotate(total=Sum("quantity"))
        .values_list("sku", "total")
    )
    sites = {site.id: site for site in Site.objects.filter(tenant=tenant)}
    per_site: dict[str, dict[str, dict]] = {}
    for row in LicenseAllocation.objects.filter(tenant=tenant).values("sku", "site", "quantity"):
        per_site.setdefault(row["sku"], {})[row["site"]] = {
            "allocated": row["quantity"],
            "used": 0,
        }
    for row in (
        LicenseAssignment.objects.filter(tenant=tenant)
        .values("sku", "site")
        .annotate(count=Count("id"))
    ):
        per_site.setdefault(row["sku"], {}).setdefault(row["site"], {"allocated": 0, "used": 0})[
            "used"
        ] = row["count"]
    codes = set(held_by) | set(per_site)
    skus = LicenseSku.objects.filter(pk__in=codes)
    if kind:
        skus = skus.filter(kind=kind)
    rows = []
    for sku in skus:
        by_site = per_site.get(sku.code, {})
        limit = held_by.get(sku.code, 0)
        in_use = sum(figures["allocated"] for figures in by_site.values())
        assigned = sum(figures["used"] for figures in by_site.values())
        rows.append(
            {
                "sku": sku.code,
                "name": sku.name,
                "kind": sku.kind,
                "limit": limit,
                "in_use": in_use,
                "assigned": assigned,
                "unallocated": max(limit - in_use, 0),
                "depleted": limit > 0 and in_use >= limit and assigned >= limit,
                "sites": [
                    {
                        "site_id": site_id,
                        "site_name": sites[site_id].name if site_id in sites else "",
                        "allocated": figures["allocated"],
                        "used": figures["used"],
                    }
                    for site_id, figures in sorted(by_site.items())
                ],
            }
        )
    return rows


def site_overview(site: Site) -> list[dict]:
    """The overview's rows for the licences the site has or uses, with its figures only."""
    rows = []
    for row in overview(site.tenant):
        here = [figures for figures in row["sites"] if figures["site_id"] == site.id]
        if here:
            rows.append({**row, "sites": here})
    return rows


@dataclass
class Grants:
    """What the licences on one user or call flow allow: the union of their features and
    the sum of their quotas."""

    skus: list[LicenseSku] = field(default_factory=list)
    features: set[str] = field(default_factory=set)
    quotas: dict[str, int] = field(default_factory=dict)

    def quota(self, key: str) -> int | None:
        """The quota, or None when no licence caps it (unlimited)."""
        return self.quotas.get(key)

    @property
    def base(self) -> LicenseSku | None:
        return next((sku for sku in self.skus if sku.kind in BASE_KINDS), None)


def grants(target_type: str, target_id: str, *, tenant: Tenant) -> Grants | None:
    """The licences on a user (extension) or call flow, or None when the tenant is not
    governed by licences."""
    if not governed(tenant):
        return None
    found = Grants()
    assigned = LicenseAssignment.objects.filter(
        target_type=target_type, target_id=target_id
    ).select_related("sku")
    for assignment in sorted(assigned, key=lambda a: (not a.is_base, a.created_at)):
        sku = assignment.sku
        found.skus.append(sku)
        found.features.update(sku.features or [])
        for key, value in (sku.quotas or {}).items():
            found.quotas[key] = found.quotas.get(key, 0) + int(value)
    return found


def _better(kinds: Iterable[str], quota: str, beyond: int, *, flow_type: str = "") -> list[str]:
    """Names of the active licences whose quota goes past `beyond` (or that add to it). A
    base licence that does not cap the quota has no limit, so it is one of them; call-flow
    base licences count only for their type of call flow."""
    names = []
    for sku in LicenseSku.objects.filter(kind__in=list(kinds), active=True):
        if sku.kind == K.CALL_FLOW_BASE and sku.call_flow_type != flow_type:
            continue
        value = (sku.quotas or {}).get(quota)
        if sku.kind in BASE_KINDS:
            if value is None or int(value) > beyond:
                names.append(sku.name)
        elif value is not None:
            names.append(sku.name)
    return names


QUOTA_WORDS = {
    "devices": "devices",
    "additional_numbers": "additional numbers",
    "conference_participants": "conference participants",
    "menu_levels": "menu levels",
}


def quota_check(
    target_type: str,
    target_id: str,
    *,
    tenant: Tenant,
    quota: str,
    wanted: int,
    field=None,
    flow_type: str = "",
) -> None:
    """Refuse (409 `license_required`) when `wanted` of `quota` is more than the target's
    licences grant, naming the licences that would allow it."""
    found = grants(target_type, target_id, tenant=tenant)
    if found is None:
        return
    allowed = found.quota(quota)
    if allowed is None or wanted <= allowed:
        return
    base = found.base
    kinds = TARGET_KINDS[target_type]
    better = _better(kinds, quota, allowed, flow_type=flow_type)
    word = QUOTA_WORDS.get(quota, quota)
    held_names = " + ".join(sku.name for sku in found.skus) or "no licence"
    hint = f"; {' or '.join(better)} would allow more" if better else ""
    raise LicenseRequired(
        f"{held_names} allows {allowed} {word}{hint}"
        if base
        else f"this needs a licence first{hint}",
        field=field,
    )


def feature_check(
    target_type: str,
    target_id: str,
    *,
    tenant: Tenant,
    feature: str,
    field=None,
    flow_type: str = "",
) -> None:
    """Refuse (409 `license_required`) a setting the target's licences do not include,
    naming the licences that do."""
    found = grants(target_type, target_id, tenant=tenant)
    if found is None or feature in found.features:
        return
    offering = [
        sku.name
        for sku in LicenseSku.objects.filter(kind__in=TARGET_KINDS[target_type], active=True)
        if feature in (sku.features or [])
        and (sku.kind != K.CALL_FLOW_BASE or sku.call_flow_type == flow_type)
    ]
    needs = " or ".join(offering) if offering else "a licence this platform does not sell"
    raise LicenseRequired(f"{feature.replace('_', ' ')} needs {needs}", field=field)


# --- changing -----------------------------------------------------------------------------


def _audit(actor: Actor, tenant: Tenant, action: str, object_id: str, **views) -> None:
    audit_record(
        actor=actor,
        partner=tenant.partner,
        action=action,
        object_type="license",
        object_id=object_id,
        tenant_id=tenant.id,
        **views,
    )


def _quantity(value, *, field: str = "quantity", minimum: int = 1) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (minimum <= value <= MAX_QUANTITY)
    ):
        raise ValidationFailed(
            f"{field} is a whole number from {minimum} to {MAX_QUANTITY:,}", field=field
        )
    return value


def subscription_json(subscription: LicenseSubscription) -> dict:
    return {
        "id": str(subscription.id),
        "tenant_id": subscription.tenant_id,
        "sku": subscription.sku_id,
        "quantity": subscription.quantity,
        "status": subscription.status,
        "automatic": subscription.automatic,
        "started_at": subscription.started_at,
        "terminated_at": subscription.terminated_at,
    }


def subscription_add(
    *,
    actor: Actor,
    tenant: Tenant,
    sku_code,
    quantity,
    now: datetime | None = None,
    automatic: bool = False,
) -> LicenseSubscription:
    """The tenant takes `quantity` more licences of one SKU (a new subscription).
    `automatic` marks one bought by the partner's licence policy to cover a number."""
    sku = sku_get(sku_code)
    quantity = _quantity(quantity)
    require_tenant_writer(actor, tenant)
    now = now or timezone.now()
    with transaction.atomic():
        tenant = tenant_lock(tenant)
        if tenant.status == Tenant.Status.CANCELLED:
            raise Conflict("a cancelled tenant takes no licences", type="tenant_cancelled")
        subscription = LicenseSubscription.objects.create(
            partner_id=tenant.partner_id,
            tenant=tenant,
            sku=sku,
            quantity=quantity,
            automatic=automatic,
            started_at=now,
        )
        _audit(
            actor,
            tenant,
            "license.subscription_created",
            str(subscription.id),
            after=plain(subscription_json(subscription)),
        )
    return subscription


def subscription_terminate(
    *, actor: Actor, tenant: Tenant, subscription_id, now: datetime | None = None
) -> LicenseSubscription:
    """End one subscription by its UUID. Refused while the licences left would not cover
    those assigned; free allocations shrink to fit what is left."""
    require_tenant_writer(actor, tenant)
    now = now or timezone.now()
    with transaction.atomic():
        tenant = tenant_lock(tenant)
        subscription = subscription_get(tenant, subscription_id)
        if subscription.status != LicenseSubscription.Status.ACTIVE:
            raise Conflict("this subscription has already ended", type="invalid_transition")
        sku = subscription.sku
        left = held(tenant, sku) - subscription.quantity
        assigned = LicenseAssignment.objects.filter(tenant=tenant, sku=sku).count()
        if assigned > left:
            raise Conflict(
                f"{assigned} {sku.name} licences are assigned and only {left} would be left; "
                "unassign some first",
                type="license_in_use",
            )
        _shrink_allocations(tenant, sku, to=left)
        before = plain(subscription_json(subscription))
        subscription.status = LicenseSubscription.Status.TERMINATED
        subscription.terminated_at = now
        subscription.save(update_fields=["status", "terminated_at"])
        _audit(
            actor,
            tenant,
            "license.subscription_terminated",
            str(subscription.id),
            before=before,
            after=plain(subscription_json(subscription)),
        )
    return subscription


def subscription_get(tenant: Tenant, subscription_id) -> LicenseSubscription:
    import uuid

    try:
        key = uuid.UUID(str(subscription_id))
    except ValueError:
        key = None
    found = (
        LicenseSubscription.objects.select_related("sku").filter(tenant=tenant, pk=key).first()
        if key
        else None
    )
    if found is None:
        raise NotFound("no such licence subscription", field="subscription_id")
    return found


def _shrink_allocations(tenant: Tenant, sku: LicenseSku, *, to: int) -> None:
    """Give back free (allocated, unassigned) licences, the sites with most free first,
    until no more than `to` are allocated."""
    excess = allocated(tenant, sku) - to
    if excess <= 0:
        return
    rows = list(LicenseAllocation.objects.filter(tenant=tenant, sku=sku))
    used = dict(
        LicenseAssignment.objects.filter(tenant=tenant, sku=sku)
        .values("site")
        .annotate(count=Count("id"))
        .values_list("site", "count")
    )
    for row in sorted(rows, key=lambda r: used.get(r.site_id, 0) - r.quantity):
        free = row.quantity - used.get(row.site_id, 0)
        give = min(free, excess)
        if give > 0:
            row.quantity -= give
            row.save(update_fields=["quantity"])
            excess -= give
        if excess == 0:
            return


def allocation_set(*, actor: Actor, site: Site, sku_code, quantity) -> LicenseAllocation:
    """Give a site exactly `quantity` of the tenant's licences of one SKU."""
    sku = sku_get(sku_code)
    quantity = _quantity(quantity, minimum=0)
    tenant = site.tenant
    require_tenant_writer(actor, tenant)
    with transaction.atomic():
        tenant = tenant_lock(tenant)
        row, _ = LicenseAllocation.objects.get_or_create(tenant=tenant, site=site, sku=sku)
        before = row.quantity
        used = site_used(site, sku)
        if quantity < used:
            raise Conflict(
                f"{used} {sku.name} licences are assigned at {site.name}; "
                f"it cannot have fewer than that",
                field="quantity",
                type="license_in_use",
            )
        others = allocated(tenant, sku, exclude_site=site)
        limit = held(tenant, sku)
        if others + quantity > limit:
            raise LicenseRequired(
                f"the tenant holds {limit} {sku.name} licences and its other sites have "
                f"{others}; {site.name} can have at most {max(limit - others, 0)}",
                field="quantity",
            )
        row.quantity = quantity
        row.save(update_fields=["quantity"])
        _audit(
            actor,
            tenant,
            "license.allocated",
            f"{site.id}:{sku.code}",
            before={"site_id": site.id, "sku": sku.code, "quantity": before},
            after={"site_id": site.id, "sku": sku.code, "quantity": quantity},
        )
    return row


def allocation_migrate(
    *, actor: Actor, tenant: Tenant, sku_code, from_site_id, to_site_id, quantity
) -> None:
    """Move free licences of one SKU from one site to another."""
    sku = sku_get(sku_code)
    quantity = _quantity(quantity)
    require_tenant_writer(actor, tenant)
    with transaction.atomic():
        tenant = tenant_lock(tenant)
        source = tenant_site(tenant, from_site_id, field="from_site_id")
        target = tenant_site(tenant, to_site_id, field="to_site_id")
        if source.pk == target.pk:
            raise ValidationFailed("the two sites are the same", field="to_site_id")
        row = LicenseAllocation.objects.filter(site=source, sku=sku).first()
        free = (row.quantity if row else 0) - site_used(source, sku)
        if quantity > free:
            raise Conflict(
                f"{source.name} has {max(free, 0)} free {sku.name} licences to move",
                field="quantity",
                type="license_in_use",
            )
        row.quantity -= quantity
        row.save(update_fields=["quantity"])
        dest, _ = LicenseAllocation.objects.get_or_create(tenant=tenant, site=target, sku=sku)
        dest.quantity += quantity
        dest.save(update_fields=["quantity"])
        _audit(
            actor,
            tenant,
            "license.migrated",
            f"{sku.code}",
            after={
                "sku": sku.code,
                "from_site_id": source.id,
                "to_site_id": target.id,
                "quantity": quantity,
            },
        )


def _take(
    tenant: Tenant,
    site: Site,
    sku: LicenseSku,
    *,
    target_type: str,
    target_id: str,
    is_base: bool,
    now: datetime,
) -> LicenseAssignment:
    """Assign one licence at the site, taking one from the tenant's unallocated licences
    when the site has none free. The caller holds the tenant's lock."""
    row, _ = LicenseAllocation.objects.get_or_create(tenant=tenant, site=site, sku=sku)
    if site_used(site, sku) >= row.quantity:
        limit, total = held(tenant, sku), allocated(tenant, sku)
        if total >= limit:
            where = f" at {site.name}" if total else ""
            raise LicenseRequired(
                f"no free {sku.name} licence{where}: the tenant holds {limit}, "
                f"all allocated and assigned; add licences or migrate a free one here",
                field="license",
            )
        row.quantity += 1
        row.save(update_fields=["quantity"])
    if LicenseAssignment.objects.filter(
        target_type=target_type, target_id=target_id, sku=sku
    ).exists():
        raise Conflict(f"it already has a {sku.name} licence", type="license_assigned")
    return LicenseAssignment.objects.create(
        tenant=tenant,
        site=site,
        sku=sku,
        target_type=target_type,
        target_id=target_id,
        is_base=is_base,
        created_at=now,
    )


def seat_take(
    *, tenant: Tenant, site: Site, extension_id: str, sku_code, now: datetime
) -> LicenseAssignment | None:
    """The base seat of a new user, inside the caller's transaction under the tenant's
    lock. `sku_code` names the seat; without one, the cheapest seat free at the site (or
    free to allocate there) is taken. Nothing for tenants not governed by licences."""
    if not governed(tenant):
        if sku_code not in (None, ""):
            raise ValidationFailed(
                "this tenant's billing profile does not use licences", field="license"
            )
        return None
    if sku_code not in (None, ""):
        skus = [sku_get(sku_code, kinds=(K.USER_BASE,), field="license")]
    else:
        skus = list(
            LicenseSku.objects.filter(kind=K.USER_BASE, active=True).order_by(
                "price_micros", "sort_order"
            )
        )
    for sku in skus:
        if _free_at(tenant, site, sku):
            return _take(
                tenant,
                site,
                sku,
                target_type=T.EXTENSION,
                target_id=extension_id,
                is_base=True,
                now=now,
            )
    if sku_code not in (None, ""):
        sku = skus[0]
        raise LicenseRequired(
            f"no free {sku.name} licence at {site.name}: the tenant holds {held(tenant, sku)}, "
            "all allocated and assigned; add licences or migrate a free one here",
            field="license",
        )
    holding = [f"{held(tenant, sku)} {sku.name}" for sku in skus if held(tenant, sku)]
    raise LicenseRequired(
        f"no free seat licence at {site.name}: "
        + (
            f"the tenant's seats ({', '.join(holding)}) are all assigned"
            if holding
            else "the tenant holds no seat licences"
        ),
        field="license",
    )


def _free_at(tenant: Tenant, site: Site, sku: LicenseSku) -> bool:
    if site_allocated(site, sku) > site_used(site, sku):
        return True
    return held(tenant, sku) > allocated(tenant, sku)


def target_released(*, target_type: str, target_id: str) -> int:
    """A user, call flow, trunk or number went away: its licences are free again (they
    stay allocated to the site). Returns how many were released."""
    deleted, _ = LicenseAssignment.objects.filter(
        target_type=target_type, target_id=target_id
    ).delete()
    return deleted


def assignment_json(assignment: LicenseAssignment) -> dict:
    return {
        "id": assignment.id,
        "tenant_id": assignment.tenant_id,
        "site_id": assignment.site_id,
        "sku": assignment.sku_id,
        "target_type": assignment.target_type,
        "target_id": assignment.target_id,
        "is_base": assignment.is_base,
        "created_at": assignment.created_at,
    }


def _target(tenant: Tenant, target_type, target_id):
    """(site, object) of an assignment target in the tenant; 404 for any other."""
    from trunkline.pbx.models import CallFlow, Extension

    models = {T.EXTENSION: (Extension, "user"), T.CALL_FLOW: (CallFlow, "call flow")}
    if target_type in models:
        model, word = models[target_type]
        found = (
            model.objects.select_related("site").filter(tenant=tenant, pk=target_id).first()
            if isinstance(target_id, str)
            else None
        )
        if found is None:
            raise NotFound(f"no such {word}", field="target_id")
        return found.site, found
    if target_type in T.values:
        raise ValidationFailed(
            f"licences are not assigned to a {target_type} here; it takes its licence when "
            "it is created",
            field="target_type",
        )
    raise ValidationFailed(
        "target_type is extension, call_flow, trunk or number", field="target_type"
    )


ADDON_KINDS = {T.EXTENSION: (K.USER_ADDON,), T.CALL_FLOW: (K.CALL_FLOW_ADDON,)}


def _base_first(target_type: str, target_id: str) -> None:
    """A user's add-on comes on top of its seat; call-flow add-ons need no base licence
    (only some kinds of call flow have one)."""
    if target_type != T.EXTENSION:
        return
    if not LicenseAssignment.objects.filter(
        target_type=target_type, target_id=target_id, is_base=True
    ).exists():
        raise LicenseRequired("an add-on needs the user's seat first", field="target_id")


def assignment_create(
    *, actor: Actor, tenant: Tenant, sku_code, target_type, target_id, now=None
) -> LicenseAssignment:
    """Assign an add-on to a user (the user's seat comes with the user) or to a call flow
    (Power Pack, Voicemail for call flows)."""
    require_tenant_writer(actor, tenant)
    now = now or timezone.now()
    with transaction.atomic():
        tenant = tenant_lock(tenant)
        if not governed(tenant):
            raise Conflict(
                "this tenant's billing profile does not use licences", type="not_licensed"
            )
        site, _ = _target(tenant, target_type, target_id)
        sku = sku_get(sku_code, kinds=ADDON_KINDS[target_type])
        _base_first(target_type, target_id)
        assignment = _take(
            tenant,
            site,
            sku,
            target_type=target_type,
            target_id=target_id,
            is_base=False,
            now=now,
        )
        _audit(
            actor,
            tenant,
            "license.assigned",
            assignment.id,
            after=plain(assignment_json(assignment)),
        )
    return assignment


def _assignment(tenant: Tenant, assignment_id) -> LicenseAssignment:
    found = (
        LicenseAssignment.objects.select_related("sku", "site")
        .filter(tenant=tenant, pk=assignment_id)
        .first()
        if isinstance(assignment_id, str)
        else None
    )
    if found is None:
        raise NotFound("no such licence assignment", field="assignment_id")
    return found


def _fits_without(assignment: LicenseAssignment, tenant: Tenant) -> None:
    """Refuse taking an add-on away when what the user or call flow has would exceed the
    quotas left, or uses a feature only that add-on grants."""
    for quota in assignment.sku.quotas or {}:
        in_use = quota_usage(assignment.target_type, assignment.target_id, quota)
        if in_use is None:
            continue
        found = grants(assignment.target_type, assignment.target_id, tenant=tenant)
        left = (found.quota(quota) or 0) - int(assignment.sku.quotas[quota])
        if in_use > left:
            raise Conflict(
                f"the user has {in_use} {QUOTA_WORDS.get(quota, quota)} and would be "
                f"allowed {left} without {assignment.sku.name}; remove some first",
                type="license_in_use",
            )
    others = LicenseAssignment.objects.filter(
        target_type=assignment.target_type, target_id=assignment.target_id
    ).exclude(pk=assignment.pk)
    features_fit(
        assignment.target_type,
        assignment.target_id,
        _features_of(others.select_related("sku")),
        left=f"what is left without {assignment.sku.name}",
    )


def _features_of(assignments) -> set[str]:
    return {feature for a in assignments for feature in (a.sku.features or [])}


FEATURE_USERS: list = []


def feature_usage_register(source) -> None:
    """How to tell which licensed features targets have switched on:
    `source(target_type, target_ids)` -> {target id: {feature: the setting's words}},
    registered by the app that owns the settings (a user's call settings)."""
    if source not in FEATURE_USERS:
        FEATURE_USERS.append(source)


def features_in_use(target_type: str, target_ids: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for source in FEATURE_USERS:
        for target_id, used in source(target_type, target_ids).items():
            found.setdefault(target_id, {}).update(used)
    return found


def features_fit(
    target_type: str, target_id: str, granted: set[str], *, left: str, field=None
) -> None:
    """Refuse (409 `license_in_use`) a licence change after which the target would have a
    setting on that the licences `left` ("a Basic seat") do not grant. Settings are not
    switched off behind the user's back: the change waits until someone does."""
    used = features_in_use(target_type, [target_id]).get(target_id, {})
    missing = [words for feature, words in sorted(used.items()) if feature not in granted]
    if missing:
        raise Conflict(
            f"{'; '.join(missing)}: {left} would not include it; change that first",
            field=field,
            type="license_in_use",
        )


QUOTA_COUNTERS: dict[str, callable] = {}


def quota_counter_register(quota: str, counter) -> None:
    """How much of a quota a target uses (`counter(target_type, target_id)`), registered
    by the app that owns the counted things (devices, numbers)."""
    QUOTA_COUNTERS[quota] = counter


def quota_usage(target_type: str, target_id: str, quota: str) -> int | None:
    counter = QUOTA_COUNTERS.get(quota)
    return counter(target_type, target_id) if counter else None


def assignment_delete(*, actor: Actor, tenant: Tenant, assignment_id) -> None:
    """Take an add-on off a user. A user's seat stays while the user exists."""
    require_tenant_writer(actor, tenant)
    with transaction.atomic():
        tenant = tenant_lock(tenant)
        assignment = _assignment(tenant, assignment_id)
        if assignment.is_base:
            raise Conflict(
                "a user keeps its seat while it exists; change the seat or delete the user",
                type="license_in_use",
            )
        _fits_without(assignment, tenant)
        view = plain(assignment_json(assignment))
        assignment.delete()
        _audit(actor, tenant, "license.unassigned", view["id"], before=view)


def assignment_reassign(
    *, actor: Actor, tenant: Tenant, assignment_id, target_id
) -> LicenseAssignment:
    """Give an add-on to another user at the same site (the licence is the site's)."""
    require_tenant_writer(actor, tenant)
    with transaction.atomic():
        tenant = tenant_lock(tenant)
        assignment = _assignment(tenant, assignment_id)
        if assignment.is_base:
            raise Conflict(
                "a seat stays with its user; change the other user's seat instead",
                type="license_in_use",
            )
        site, _ = _target(tenant, assignment.target_type, target_id)
        if site.pk != assignment.site_id:
            raise Conflict(
                f"the licence is allocated to {assignment.site.name}; migrate a licence to "
                f"{site.name} and assign it there",
                field="target_id",
                type="license_required",
            )
        if target_id == assignment.target_id:
            return assignment
        _base_first(assignment.target_type, target_id)
        if LicenseAssignment.objects.filter(
            target_type=assignment.target_type, target_id=target_id, sku=assignment.sku
        ).exists():
            raise Conflict(f"that user already has {assignment.sku.name}", type="license_assigned")
        _fits_without(assignment, tenant)
        before = plain(assignment_json(assignment))
        assignment.target_id = target_id
        assignment.save(update_fields=["target_id"])
        _audit(
            actor,
            tenant,
            "license.reassigned",
            assignment.id,
            before=before,
            after=plain(assignment_json(assignment)),
        )
    return assignment


def seat_change(*, tenant: Tenant, extension, sku_code, now: datetime) -> LicenseAssignment:
    """Move a user to another seat (Basic ↔ Premium) inside the caller's transaction under
    the tenant's lock; refused when what the user has would not fit the new seat."""
    sku = sku_get(sku_code, kinds=(K.USER_BASE,), field="license")
    current = LicenseAssignment.objects.filter(
        target_type=T.EXTENSION, target_id=extension.id, is_base=True
    ).first()
    if current is not None and current.sku_id == sku.code:
        return current
    for quota, allowed in (sku.quotas or {}).items():
        in_use = quota_usage(T.EXTENSION, extension.id, quota)
        addons = sum(
            int((a.sku.quotas or {}).get(quota, 0))
            for a in LicenseAssignment.objects.filter(
                target_type=T.EXTENSION, target_id=extension.id, is_base=False
            ).select_related("sku")
        )
        if in_use is not None and in_use > int(allowed) + addons:
            raise Conflict(
                f"the user has {in_use} {QUOTA_WORDS.get(quota, quota)}; a {sku.name} "
                f"allows {int(allowed) + addons}",
                field="license",
                type="license_in_use",
            )
    addons = LicenseAssignment.objects.filter(
        target_type=T.EXTENSION, target_id=extension.id, is_base=False
    ).select_related("sku")
    features_fit(
        T.EXTENSION,
        extension.id,
        set(sku.features or []) | _features_of(addons),
        left=f"a {sku.name} with the user's add-ons",
        field="license",
    )
    if current is not None:
        current.delete()
    return _take(
        tenant,
        extension.site,
        sku,
        target_type=T.EXTENSION,
        target_id=extension.id,
        is_base=True,
        now=now,
    )


def call_flow_bases(kind: str) -> list[LicenseSku]:
    """The base licences a kind of call flow takes (auto attendants: AA Basic and AA
    Standard), cheapest first; none means that kind needs no licence of its own."""
    return list(
        LicenseSku.objects.filter(kind=K.CALL_FLOW_BASE, call_flow_type=kind, active=True).order_by(
            "price_micros", "sort_order", "code"
        )
    )


def _flow_base(kind: str, sku_code) -> LicenseSku:
    sku = sku_get(sku_code, kinds=(K.CALL_FLOW_BASE,), field="license")
    if sku.call_flow_type != kind:
        raise ValidationFailed(
            f"{sku.name} is a licence for another kind of call flow", field="license"
        )
    return sku


def call_flow_licenses_take(
    *, tenant: Tenant, site: Site, flow, sku_code, addons, fits, now: datetime
) -> None:
    """A new call flow's licences, inside the caller's transaction under the tenant's
    lock: its base licence when its kind has one (`sku_code` names it; else the cheapest
    free one that `fits` what the call flow is set to do) and the add-ons asked for."""
    if not governed(tenant):
        if sku_code not in (None, "") or addons:
            raise ValidationFailed(
                "this tenant's billing profile does not use licences", field="license"
            )
        return
    bases = call_flow_bases(flow.kind)
    chosen = None
    if sku_code not in (None, ""):
        chosen = _flow_base(flow.kind, sku_code)
    elif bases:
        # When none fits, the first is taken and the checks that follow name the one
        # that would.
        fitting = [sku for sku in bases if fits(sku)] or bases
        chosen = next((sku for sku in fitting if _free_at(tenant, site, sku)), fitting[0])
    if chosen is not None:
        _take(
            tenant, site, chosen, target_type=T.CALL_FLOW, target_id=flow.id, is_base=True, now=now
        )
    if not isinstance(addons, list) or len(addons) > 20:
        raise ValidationFailed("addons lists call-flow add-on codes", field="addons")
    for code in addons:
        sku = sku_get(code, kinds=(K.CALL_FLOW_ADDON,), field="addons")
        _take(tenant, site, sku, target_type=T.CALL_FLOW, target_id=flow.id, is_base=False, now=now)


def call_flow_license_change(*, tenant: Tenant, flow, sku_code, now: datetime) -> None:
    """Move a call flow to another base licence (AA Basic ↔ Standard) inside the caller's
    transaction; the caller checks what the call flow does against it afterwards."""
    if not governed(tenant):
        raise ValidationFailed(
            "this tenant's billing profile does not use licences", field="license"
        )
    sku = _flow_base(flow.kind, sku_code)
    current = LicenseAssignment.objects.filter(
        target_type=T.CALL_FLOW, target_id=flow.id, is_base=True
    ).first()
    if current is not None and current.sku_id == sku.code:
        return
    if current is not None:
        current.delete()
    _take(tenant, flow.site, sku, target_type=T.CALL_FLOW, target_id=flow.id, is_base=True, now=now)


def target_licenses(target_type: str, target_ids: list[str]) -> dict[str, dict]:
    """{target id: {"license": base code, "addons": [codes]}} for JSON views."""
    found: dict[str, dict] = {}
    for assignment in LicenseAssignment.objects.filter(
        target_type=target_type, target_id__in=target_ids
    ).order_by("created_at", "id"):
        entry = found.setdefault(assignment.target_id, {"license": None, "addons": []})
        if assignment.is_base:
            entry["license"] = assignment.sku_id
        else:
            entry["addons"].append(assignment.sku_id)
    return found


def extension_licenses(extension_ids: list[str]) -> dict[str, dict]:
    return target_licenses(T.EXTENSION, extension_ids)


def user_number_cap(tenant: Tenant, extension_id: str) -> int | None:
    """The most numbers the user may have under its partner's licence policy: the cap set
    for its seat (`003_*.txt`, "Max numbers per user" by plan), or None when there is none
    (no policy cap for the seat, no seat, or a tenant not governed by licences)."""
    if not governed(tenant):
        return None
    seat = (
        LicenseAssignment.objects.filter(
            tenant=tenant, target_type=T.EXTENSION, target_id=extension_id, is_base=True
        )
        .values_list("sku_id", flat=True)
        .first()
    )
    if seat is None:
        return None
    caps = (
        LicensePolicy.objects.filter(partner_id=tenant.partner_id)
        .values_list("numbers_per_user", flat=True)
        .first()
    ) or {}
    cap = caps.get(seat)
    return int(cap) if cap is not None else None
