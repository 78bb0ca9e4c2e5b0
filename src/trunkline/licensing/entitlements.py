"""Number entitlements: a licence per number a tenant on the licence pricing model holds
(`000_*.txt` "Number Entitlements": it "grants the ability to select numbers from our
inventory"; `003_*.txt`: "A licence is the right to assign a number").

- A number given to a governed tenant takes one free entitlement of its type (a
  `number` SKU whose scope names the number's kind, local or toll-free) as the number's
  base licence, at the tenant's default site, or at another site that has one allocated
  and free when the default site cannot have one.
- The number leaving the tenant (released, taken back, moved to another tenant, ported
  out, disconnected) frees it; the subscription stays and is billed until terminated, as
  the seed says. Routing the number to another user inside the tenant keeps it.
- No free entitlement: 409 `license_required` naming it, unless the partner's licence
  policy buys one automatically (`LicensePolicy.auto_purchase_numbers`): a subscription
  of one, marked `automatic`, added through `subscription_add` in the same transaction
  and billed on the tenant's next invoice like any other.

Every function that counts or takes runs under the tenant's row lock, taken by the
caller, so numbers racing for the last entitlement are served one after the other.
Freeing needs no lock: it only ever lowers what is in use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, Sum

from trunkline.core.actors import Actor
from trunkline.licensing.models import (
    LicenseAllocation,
    LicenseAssignment,
    LicensePolicy,
    LicenseSku,
    LicenseSubscription,
)
from trunkline.licensing.services import (
    LicenseRequired,
    _audit,
    _take,
    assignment_json,
    governed,
    subscription_add,
)
from trunkline.pbx.models import Site
from trunkline.pbx.services import plain
from trunkline.tenants.models import Tenant

T = LicenseAssignment.Target
KIND_WORDS = {"local": "local", "toll_free": "toll-free"}


def entitlement_skus(kind: str) -> list[LicenseSku]:
    """The active entitlements that cover numbers of `kind`, cheapest first."""
    found = [
        sku
        for sku in LicenseSku.objects.filter(kind=LicenseSku.Kind.NUMBER, active=True)
        if (sku.scope or {}).get("type") == kind and (sku.scope or {}).get("country", "US") == "US"
    ]
    return sorted(found, key=lambda sku: (sku.price_micros, sku.sort_order, sku.code))


def auto_purchase(tenant: Tenant) -> bool:
    return LicensePolicy.objects.filter(
        partner_id=tenant.partner_id, auto_purchase_numbers=True
    ).exists()


def _free(tenant: Tenant, sku: LicenseSku) -> int:
    """Entitlements of `sku` the tenant holds and no number has. Every site's free
    allocation is usable and so is every unallocated one, so this is held − assigned."""
    held = (
        LicenseSubscription.objects.filter(
            tenant=tenant, sku=sku, status=LicenseSubscription.Status.ACTIVE
        ).aggregate(total=Sum("quantity"))["total"]
        or 0
    )
    return held - LicenseAssignment.objects.filter(tenant=tenant, sku=sku).count()


def _site(tenant: Tenant, sku: LicenseSku) -> Site:
    """Where a number's entitlement is taken: the default site when it has one free or the
    tenant has one unallocated, otherwise the site with the most allocated and free."""
    default = Site.objects.get(tenant=tenant, is_default=True)
    allocations = {
        row.site_id: row.quantity
        for row in LicenseAllocation.objects.filter(tenant=tenant, sku=sku)
    }
    used = dict(
        LicenseAssignment.objects.filter(tenant=tenant, sku=sku)
        .values("site")
        .annotate(count=Count("id"))
        .values_list("site", "count")
    )
    held = (
        LicenseSubscription.objects.filter(
            tenant=tenant, sku=sku, status=LicenseSubscription.Status.ACTIVE
        ).aggregate(total=Sum("quantity"))["total"]
        or 0
    )
    if allocations.get(default.id, 0) > used.get(default.id, 0) or held > sum(allocations.values()):
        return default
    spare = {site_id: count - used.get(site_id, 0) for site_id, count in allocations.items()}
    best = max((site_id for site_id in spare if spare[site_id] > 0), key=spare.get, default=None)
    return Site.objects.get(pk=best) if best else default


def _refusal(tenant: Tenant, kind: str, skus: list[LicenseSku], wanted: int) -> LicenseRequired:
    word = KIND_WORDS.get(kind, kind)
    if not skus:
        return LicenseRequired(
            f"{tenant.name} is on licences and no number entitlement covers {word} "
            "numbers on this platform",
            field="license",
        )
    names = " or ".join(f"{sku.name} ({sku.code})" for sku in skus)
    free = sum(max(_free(tenant, sku), 0) for sku in skus)
    need = "a free" if wanted == 1 else f"{wanted} free"
    return LicenseRequired(
        f"{tenant.name} needs {need} {names} for {'this' if wanted == 1 else 'these'} "
        f"{word} number{'s' if wanted != 1 else ''} and has {free}; add licences, or let "
        "the licence policy buy them automatically",
        field="license",
    )


def numbers_entitlement_plan(tenant: Tenant, kinds: Iterable[str]) -> dict[str, int]:
    """Whether the tenant (locked by the caller) can take numbers of these kinds (one
    entry per number coming in): {entitlement SKU code: how many would be bought
    automatically} — empty when the free ones cover them or the tenant is not governed by
    licences. Raises `LicenseRequired` when they do not and nothing is bought."""
    wanted = Counter(kinds)
    if not wanted or not governed(tenant):
        return {}
    buying = auto_purchase(tenant)
    to_buy: dict[str, int] = {}
    for kind, count in sorted(wanted.items()):
        skus = entitlement_skus(kind)
        free = sum(max(_free(tenant, sku), 0) for sku in skus)
        if free >= count:
            continue
        if not skus or not buying:
            raise _refusal(tenant, kind, skus, count)
        to_buy[skus[0].code] = to_buy.get(skus[0].code, 0) + count - free
    return to_buy


def number_entitlement_take(
    *, actor: Actor, tenant: Tenant, number, now: datetime
) -> LicenseAssignment | None:
    """The number (just given to the tenant, whose row the caller has locked) takes a free
    entitlement of its kind, one bought automatically when the policy says so. None for a
    tenant not governed by licences."""
    if not governed(tenant):
        return None
    held = LicenseAssignment.objects.filter(target_type=T.NUMBER, target_id=number.id).first()
    if held is not None:
        if held.tenant_id == tenant.id:
            return held
        number_entitlement_free(actor=actor, number_id=number.id)
    skus = entitlement_skus(number.kind)
    sku = next((sku for sku in skus if _free(tenant, sku) > 0), None)
    if sku is None:
        if not skus or not auto_purchase(tenant):
            raise _refusal(tenant, number.kind, skus, 1)
        sku = skus[0]
        subscription_add(
            actor=actor, tenant=tenant, sku_code=sku.code, quantity=1, now=now, automatic=True
        )
    assignment = _take(
        tenant,
        _site(tenant, sku),
        sku,
        target_type=T.NUMBER,
        target_id=number.id,
        is_base=True,
        now=now,
    )
    _audit(
        actor, tenant, "license.assigned", assignment.id, after=plain(assignment_json(assignment))
    )
    return assignment


def number_entitlement_free(*, actor: Actor, number_id: str) -> int:
    """The number left its tenant: its entitlement is free for another number (it stays
    allocated to its site). Returns how many were freed (0 or 1)."""
    freed = 0
    for assignment in LicenseAssignment.objects.filter(
        target_type=T.NUMBER, target_id=number_id
    ).select_related("tenant__partner"):
        view = plain(assignment_json(assignment))
        assignment.delete()
        _audit(actor, assignment.tenant, "license.unassigned", view["id"], before=view)
        freed += 1
    return freed
