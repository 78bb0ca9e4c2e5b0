"""Settings → Usage Limits: every tenant's caps in one table, this cycle's spend and minutes
beside them, and the Edit Limits modal (Save Limits, Reset to Defaults). The limits
service does the work, as it does for `PUT /v1/tenants/{id}/limits`."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trunkline.core.errors import TrunklineError
from trunkline.core.pagination import paginate
from trunkline.limits import services
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms_limits import UsageLimitsForm
from trunkline.portal.rendering import (
    finish,
    htmx_target,
    or_404,
    render_modal,
    safe_next,
    show_service_error,
    vary_on_htmx,
)
from trunkline.tenants import selectors as tenant_selectors
from trunkline.tenants.models import Tenant

LIST_URL = "/settings/usage-limits"
PAGE_SIZE = 50


def _share(used: int, cap: int | None) -> int | None:
    """How much of a cap is used, in whole percent (for the eye; the service decides)."""
    if cap is None:
        return None
    return 100 if cap == 0 else used * 100 // cap


def _row(tenant: Tenant, usage: dict) -> dict:
    minutes_cap = tenant.max_monthly_minutes
    spend_share = _share(usage["spend_micros"], tenant.monthly_spend_limit_micros)
    minutes_share = _share(usage["seconds"], None if minutes_cap is None else minutes_cap * 60)
    return {
        "tenant": tenant,
        "limits": services.limits_of(tenant),
        "spend_micros": usage["spend_micros"],
        "seconds": usage["seconds"],
        "spend_share": spend_share,
        "minutes_share": minutes_share,
        "threshold": tenant.alert_threshold_percent,
    }


@require_GET
@partner_required
def limit_list(request):
    search = (request.GET.get("q") or "").strip()[:200]
    # A cancelled tenant takes no calls and no numbers: its caps no longer matter.
    tenants = tenant_selectors.tenant_list(actor=request.actor, search=search or None).exclude(
        status=Tenant.Status.CANCELLED
    )
    try:
        page = paginate(
            tenants, limit=PAGE_SIZE, cursor=request.GET.get("cursor") or None, sort_field="name"
        )
    except TrunklineError as error:
        return HttpResponseBadRequest(error.message)
    usage = services.tenants_cycle_usage(page.items, timezone.now())
    params = {"q": search} if search else {}
    here = LIST_URL + (f"?{urlencode(params)}" if params else "")
    context = {
        "nav": "settings",
        "rows": [_row(tenant, usage[tenant.id]) for tenant in page.items],
        "page": page,
        "search": search,
        "here": here,
        "load_more_url": f"{LIST_URL}?{urlencode({**params, 'cursor': page.next_cursor})}"
        if page.next_cursor
        else "",
    }
    target = htmx_target(request)
    if target == "load-more":
        template = "portal/limits/_rows.html"
    elif target == "limits-table":
        template = "portal/limits/_table.html"
    else:
        template = "portal/limits/list.html"
    return vary_on_htmx(render(request, template, context))


def _tenant(request, tenant_id: str) -> Tenant:
    return or_404(tenant_selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)


def _modal(request, tenant: Tenant, form: UsageLimitsForm, *, status: int = 200):
    return render_modal(
        request,
        "portal/limits/_edit.html",
        {
            "nav": "settings",
            "title": "Edit Limits",
            "tenant": tenant,
            "form": form,
            "defaults": services.defaults_of(tenant.partner),
            "next": safe_next(request, LIST_URL),
        },
        status=status,
    )


def _current(tenant: Tenant, *, bound: bool = False) -> UsageLimitsForm:
    """The form holding the tenant's limits as they are (bound, to carry an error)."""
    limits = services.limits_of(tenant)
    values = UsageLimitsForm.limits_initial(limits)
    if not bound:
        return UsageLimitsForm(initial={**values, "auto_suspend": limits["auto_suspend"]})
    return UsageLimitsForm({**values, **({"auto_suspend": "on"} if limits["auto_suspend"] else {})})


@require_http_methods(["GET", "POST"])
@writer_required
def limit_edit(request, tenant_id: str):
    tenant = _tenant(request, tenant_id)
    if request.method == "POST":
        form = UsageLimitsForm(request.POST)
        if form.is_valid():
            try:
                tenant = services.tenant_limits_set(
                    actor=request.actor, tenant=tenant, changes=form.changes()
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Limits of {tenant.name} saved.")
                return finish(request, safe_next(request, LIST_URL))
        return _modal(request, tenant, form, status=422)
    return _modal(request, tenant, _current(tenant))


@require_POST
@writer_required
def limit_reset(request, tenant_id: str):
    tenant = _tenant(request, tenant_id)
    try:
        tenant = services.tenant_limits_reset(actor=request.actor, tenant=tenant)
    except TrunklineError as error:
        form = _current(tenant, bound=True)
        form.is_valid()
        show_service_error(form, error)
        return _modal(request, tenant, form, status=409)
    messages.success(request, f"Limits of {tenant.name} reset to your Tenant Defaults.")
    return finish(request, safe_next(request, LIST_URL))
