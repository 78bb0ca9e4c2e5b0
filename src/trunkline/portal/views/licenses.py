"""Tenants → [Tenant] → Licences, and the site-level page (`000_*.txt`, "Licenses" and
"Improvements to the Licenses Page"; `001_*.txt`, "Manage Licenses").

The figures are the licence engine's own (`licensing.services.overview`), so the page and
`GET /v1/tenants/{id}/licenses` always agree; the search is the API's selector.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from trunkline.licensing import selectors, services
from trunkline.licensing.models import LicenseSku, LicenseSubscription
from trunkline.pbx.models import Extension, Site
from trunkline.portal.access import partner_required
from trunkline.portal.rendering import or_404
from trunkline.tenants import selectors as tenant_selectors
from trunkline.tenants.models import Tenant

K = LicenseSku.Kind
# The seed's tenant-level page: user and call-flow licences, trunking, and the number
# entitlements on a tab of their own.
TABS = (
    ("users", "User licences", (K.USER_BASE, K.USER_ADDON)),
    ("call_flows", "Call-flow licences", (K.CALL_FLOW_BASE, K.CALL_FLOW_ADDON)),
    ("trunks", "Trunking", (K.TRUNK,)),
    ("entitlements", "Number entitlements", (K.NUMBER,)),
)
BASE_KINDS = (K.USER_BASE, K.CALL_FLOW_BASE, K.NUMBER)
ASSIGNMENTS_SHOWN = 200
USERS_SHOWN = 200


def tenant_of(request, tenant_id: str) -> Tenant:
    return or_404(tenant_selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)


def site_of(tenant: Tenant, site_id: str) -> Site:
    found = Site.objects.filter(tenant=tenant, pk=site_id[:64]).first()
    if found is None:
        raise Http404("not found")
    found.tenant = tenant
    return found


def tenant_sites(tenant: Tenant) -> list[Site]:
    return list(Site.objects.filter(tenant=tenant).order_by("-is_default", "created_at", "id"))


def _percent(part: int, whole: int) -> int:
    if whole <= 0:
        return 0
    return max(0, min(100, round(100 * part / whole)))


def _decorate(rows: list[dict], skus: dict[str, LicenseSku]) -> list[dict]:
    """What the bars and the hover details need beside the engine's figures."""
    for row in rows:
        row["sku_object"] = skus.get(row["sku"])
        row["is_base"] = row["kind"] in BASE_KINDS
        row["percent_in_use"] = _percent(row["in_use"], row["limit"])
        row["percent_assigned"] = min(
            _percent(row["assigned"], row["limit"]), row["percent_in_use"]
        )
        row["percent_spare"] = row["percent_in_use"] - row["percent_assigned"]
    return rows


def license_rows(tenant: Tenant) -> list[dict]:
    rows = services.overview(tenant)
    skus = {sku.code: sku for sku in LicenseSku.objects.filter(pk__in=[r["sku"] for r in rows])}
    return _decorate(rows, skus)


def license_summary(tenant: Tenant) -> dict | None:
    """For the tenant page's Licences card: None when the tenant is not billed by licence."""
    if not services.governed(tenant):
        return None
    rows = services.overview(tenant)
    return {
        "kinds": len(rows),
        "depleted": [row["name"] for row in rows if row["depleted"]],
    }


def _search_params(request, tab: str) -> dict:
    params = {
        "sku": (request.GET.get("sku") or "").strip()[:64],
        "user": (request.GET.get("user") or "").strip()[:100],
        "extension": (request.GET.get("extension") or "").strip()[:6],
    }
    if tab != "users":
        params["user"] = params["extension"] = ""
    return params


def holders(tenant: Tenant, assignments) -> list[dict]:
    targets = selectors.assignment_targets(tenant, assignments)
    return [
        {
            "assignment": assignment,
            "target": targets.get((assignment.target_type, assignment.target_id)),
        }
        for assignment in assignments
    ]


@require_GET
@partner_required
def license_overview(request, tenant_id: str):
    tenant = tenant_of(request, tenant_id)
    context = {"nav": "tenants", "tenant": tenant, "governed": services.governed(tenant)}
    if not context["governed"]:
        return render(request, "portal/licenses/overview.html", context)
    tab = request.GET.get("tab") or "users"
    if tab not in {key for key, _, _ in TABS}:
        tab = "users"
    kinds = next(kinds for key, _, kinds in TABS if key == tab)
    rows = license_rows(tenant)
    params = _search_params(request, tab)
    found = selectors.assignment_search(
        tenant,
        sku=params["sku"] or None,
        kinds=kinds,
        extension=params["extension"] or None,
        user_name=params["user"] or None,
    )
    shown = list(found[: ASSIGNMENTS_SHOWN + 1])
    here = f"/tenants/{tenant.id}/licenses?" + urlencode(
        {"tab": tab, **{key: value for key, value in params.items() if value}}
    )
    context.update(
        {
            "tab": tab,
            "tabs": [
                {
                    "key": key,
                    "label": label,
                    "url": f"/tenants/{tenant.id}/licenses?tab={key}",
                    "depleted": any(row["depleted"] for row in rows if row["kind"] in kinds_of),
                }
                for key, label, kinds_of in TABS
            ],
            "rows": [row for row in rows if row["kind"] in kinds],
            "depleted": [row for row in rows if row["depleted"]],
            "subscriptions": LicenseSubscription.objects.filter(
                tenant=tenant,
                status=LicenseSubscription.Status.ACTIVE,
                sku__kind__in=kinds,
            ).select_related("sku"),
            "params": params,
            "searched": any(params.values()),
            "search_skus": LicenseSku.objects.filter(kind__in=kinds, active=True),
            "assignments": holders(tenant, shown[:ASSIGNMENTS_SHOWN]),
            "more_assignments": len(shown) > ASSIGNMENTS_SHOWN,
            "sites": tenant_sites(tenant),
            "here": here,
            "writable": request.user.can_write and tenant.status != Tenant.Status.CANCELLED,
        }
    )
    return render(request, "portal/licenses/overview.html", context)


@require_GET
@partner_required
def site_detail(request, tenant_id: str, site_id: str):
    """The seed's group-level page: one site's licences and its users."""
    tenant = tenant_of(request, tenant_id)
    site = site_of(tenant, site_id)
    governed = services.governed(tenant)
    rows = []
    if governed:
        unallocated = {row["sku"]: row["unallocated"] for row in services.overview(tenant)}
        skus = {sku.code: sku for sku in LicenseSku.objects.all()}
        for row in _decorate(services.site_overview(site), skus):
            figures = row["sites"][0]
            row["allocated"], row["used"] = figures["allocated"], figures["used"]
            row["free"] = max(figures["allocated"] - figures["used"], 0)
            row["tenant_unallocated"] = unallocated.get(row["sku"], 0)
            row["percent_used"] = _percent(figures["used"], figures["allocated"])
            rows.append(row)
    users = Extension.objects.filter(tenant=tenant, site=site).select_related("department")
    users_shown = list(users.order_by("number")[:USERS_SHOWN])
    names = dict(LicenseSku.objects.values_list("code", "name"))
    licences = services.extension_licenses([user.id for user in users_shown]) if governed else {}
    here = f"/tenants/{tenant.id}/sites/{site.id}"
    return render(
        request,
        "portal/licenses/site.html",
        {
            "nav": "tenants",
            "tenant": tenant,
            "site": site,
            "governed": governed,
            "rows": rows,
            "users": [
                {
                    "extension": user,
                    "seat": names.get((licences.get(user.id) or {}).get("license"), ""),
                    "addons": [
                        names.get(code, code)
                        for code in (licences.get(user.id) or {}).get("addons", [])
                    ],
                }
                for user in users_shown
            ],
            "users_count": users.count(),
            "other_sites": [s for s in tenant_sites(tenant) if s.pk != site.pk],
            "here": here,
            "writable": request.user.can_write and tenant.status != Tenant.Status.CANCELLED,
        },
    )
