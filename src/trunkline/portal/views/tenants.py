"""Tenants → Tenants: the list, the tenant page and every lifecycle action on it."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trunkline.billing import profiles as billing_profiles
from trunkline.core.errors import TrunklineError
from trunkline.core.pagination import paginate
from trunkline.portal import selectors as portal_selectors
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms import TenantDeleteForm, TenantForm, TenantSuspendForm
from trunkline.portal.rendering import (
    finish,
    htmx_target,
    or_404,
    render_modal,
    safe_next,
    show_service_error,
    vary_on_htmx,
)
from trunkline.portal.views.billing_config import tenant_billing_context
from trunkline.portal.views.licenses import license_summary
from trunkline.portal.views.pbx import pbx_context
from trunkline.tenants import selectors, services
from trunkline.tenants.models import Tenant

PAGE_SIZE = 25
DEFAULT_SORT = "-created_at"
COLUMNS = (
    ("name", "Name"),
    ("sip_prefix", "SIP Prefix"),
    ("status", "Status"),
    ("users_count", "Users"),
    ("created_at", "Created"),
)


def _list_params(request) -> dict:
    sort = request.GET.get("sort") or DEFAULT_SORT
    if sort.lstrip("-") not in selectors.SORTABLE:
        sort = DEFAULT_SORT
    status = request.GET.get("status") or ""
    if status not in Tenant.Status.values:
        status = ""
    return {"q": (request.GET.get("q") or "").strip()[:200], "status": status, "sort": sort}


def _query(params: dict, **overrides) -> str:
    merged = {**params, **overrides}
    return urlencode({key: value for key, value in merged.items() if value})


def _headers(params: dict) -> list[dict]:
    """Column headers: clicking one sorts by it, clicking it again reverses."""
    headers = []
    current = params["sort"]
    for field, label in COLUMNS:
        ascending_now = current == field
        headers.append(
            {
                "label": label,
                "url": "/tenants?" + _query(params, sort=f"-{field}" if ascending_now else field),
                "direction": "asc" if ascending_now else ("desc" if current == f"-{field}" else ""),
            }
        )
    return headers


@require_GET
@partner_required
def tenant_list(request):
    params = _list_params(request)
    queryset = selectors.tenant_list(
        actor=request.actor, search=params["q"] or None, status=params["status"] or None
    )
    try:
        page = paginate(
            queryset,
            limit=PAGE_SIZE,
            cursor=request.GET.get("cursor") or None,
            sort_field=params["sort"].lstrip("-"),
            descending=params["sort"].startswith("-"),
        )
    except TrunklineError as error:
        return HttpResponseBadRequest(error.message)
    context = {
        "nav": "tenants",
        "page": page,
        "params": params,
        "headers": _headers(params),
        "statuses": Tenant.Status.values,
        "filtered": bool(params["q"] or params["status"]),
        "load_more_url": "/tenants?" + _query(params, cursor=page.next_cursor)
        if page.next_cursor
        else "",
        "here": "/tenants?" + _query(params),
        "now": timezone.now(),
    }
    target = htmx_target(request)
    if target == "load-more":
        template = "portal/tenants/_rows.html"
    elif target == "tenant-table":
        template = "portal/tenants/_table.html"
    else:
        template = "portal/tenants/list.html"
    return vary_on_htmx(render(request, template, context))


@require_GET
@partner_required
def tenant_detail(request, tenant_id: str):
    tenant = or_404(selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)
    users_count = selectors.tenant_list(actor=request.actor).filter(id=tenant.id).get().users_count
    activity = portal_selectors.audit_entries_for(request.actor, object_id=tenant.id).order_by(
        "-created_at", "-id"
    )[:10]
    return render(
        request,
        "portal/tenants/detail.html",
        {
            "nav": "tenants",
            "tenant": tenant,
            "users_count": users_count,
            "activity": list(activity),
            "now": timezone.now(),
            "here": request.get_full_path(),
            **tenant_billing_context(tenant),
            **pbx_context(tenant),
            "licenses": license_summary(tenant),
        },
    )


@require_http_methods(["GET", "POST"])
@writer_required
def tenant_new(request):
    partner = request.actor.partner
    profiles = list(billing_profiles.billing_profile_list(actor=request.actor))
    if request.method == "POST":
        form = TenantForm(request.POST, profiles=profiles)
        if form.is_valid():
            try:
                tenant = services.tenant_create(actor=request.actor, **form.create_arguments())
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Tenant {tenant.name} created.")
                return finish(request, f"/tenants/{tenant.id}")
        return _tenant_form(request, form, status=422)
    form = TenantForm(
        initial={
            "timezone": partner.default_timezone,
            "default_cnam": partner.default_cnam,
            "status": Tenant.Status.TRIAL,
        },
        profiles=profiles,
    )
    return _tenant_form(request, form)


@require_http_methods(["GET", "POST"])
@writer_required
def tenant_edit(request, tenant_id: str):
    tenant = or_404(selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)
    if request.method == "POST":
        form = TenantForm(request.POST, tenant=tenant)
        if form.is_valid():
            try:
                tenant = services.tenant_update(
                    actor=request.actor, tenant=tenant, changes=form.changes()
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Tenant {tenant.name} saved.")
                return finish(request, safe_next(request, f"/tenants/{tenant.id}"))
        return _tenant_form(request, form, status=422)
    return _tenant_form(request, TenantForm(tenant=tenant))


def _tenant_form(request, form: TenantForm, *, status: int = 200) -> HttpResponse:
    tenant = form.tenant
    return render_modal(
        request,
        "portal/tenants/_form.html",
        {
            "nav": "tenants",
            "form": form,
            "tenant": tenant,
            "title": f"Edit {tenant.name}" if tenant else "New Tenant",
            "action": f"/tenants/{tenant.id}/edit" if tenant else "/tenants/new",
            "submit_label": "Save" if tenant else "Create",
            "next": safe_next(request, ""),
        },
        status=status,
    )


@require_GET
@writer_required
def sip_prefix_suggestion(request):
    """The SIP prefix input, refilled with a suggestion from the name typed so far."""
    name = (request.GET.get("name") or "")[:120]
    form = TenantForm(initial={"sip_prefix": services.sip_prefix_suggest(name)})
    return HttpResponse(str(form["sip_prefix"]))


@require_http_methods(["GET", "POST"])
@writer_required
def tenant_delete(request, tenant_id: str):
    tenant = or_404(selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)
    form = TenantDeleteForm(request.POST or None, tenant=tenant)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.tenant_delete(actor=request.actor, tenant=tenant)
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(
                    request,
                    f"Tenant {tenant.name} cancelled. Its data is kept for 90 days; "
                    "you can reactivate it until then.",
                )
                return finish(request, "/tenants")
        status = 422
    return render_modal(
        request,
        "portal/tenants/_delete.html",
        {"nav": "tenants", "form": form, "tenant": tenant, "title": f"Delete {tenant.name}"},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@writer_required
def tenant_suspend(request, tenant_id: str):
    tenant = or_404(selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)
    form = TenantSuspendForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.tenant_suspend(
                    actor=request.actor, tenant=tenant, reason=form.cleaned_data["reason"]
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Tenant {tenant.name} suspended.")
                return finish(request, safe_next(request, f"/tenants/{tenant.id}"))
        status = 422
    return render_modal(
        request,
        "portal/tenants/_suspend.html",
        {
            "nav": "tenants",
            "form": form,
            "tenant": tenant,
            "title": f"Suspend {tenant.name}",
            "next": safe_next(request, ""),
        },
        status=status,
    )


def _status_action(request, tenant_id: str, service, done: str) -> HttpResponse:
    tenant = or_404(selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)
    try:
        tenant = service(actor=request.actor, tenant=tenant)
    except TrunklineError as error:
        messages.error(request, error.message[:1].upper() + error.message[1:])
    else:
        messages.success(request, f"Tenant {tenant.name} {done}.")
    return finish(request, safe_next(request, f"/tenants/{tenant.id}"))


@require_POST
@writer_required
def tenant_unsuspend(request, tenant_id: str):
    return _status_action(request, tenant_id, services.tenant_unsuspend, "unsuspended")


@require_POST
@writer_required
def tenant_reactivate(request, tenant_id: str):
    return _status_action(request, tenant_id, services.tenant_reactivate, "reactivated")
