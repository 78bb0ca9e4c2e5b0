"""The licence page's writes: add licences, allocate to a site, migrate between sites,
terminate a subscription, and the mass-configuration upload. Each calls the licence
engine's service (or the mass configuration's) and shows its refusal on the form."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trunkline.core.errors import TrunklineError
from trunkline.licensing import mass_config, services
from trunkline.licensing.models import LicenseSku
from trunkline.pbx.services import tenant_site
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms_licenses import (
    AllocationForm,
    LicenseAddForm,
    MassConfigForm,
    MigrateForm,
)
from trunkline.portal.rendering import finish, render_modal, safe_next, show_service_error
from trunkline.portal.views.licenses import tenant_of, tenant_sites
from trunkline.tenants.models import Tenant


def _back(request, tenant: Tenant) -> str:
    return safe_next(request, f"/tenants/{tenant.id}/licenses")


def _held_skus(tenant: Tenant):
    """The licences the tenant has something of: those allocation and migration are for."""
    codes = [row["sku"] for row in services.overview(tenant)]
    return LicenseSku.objects.filter(pk__in=codes)


def _refused(form, error: TrunklineError) -> int:
    show_service_error(form, error)
    return 409 if error.status == 409 else 422


def _modal(request, template: str, tenant: Tenant, form, title: str, status: int):
    return render_modal(
        request,
        template,
        {
            "nav": "tenants",
            "title": title,
            "form": form,
            "tenant": tenant,
            "next": _back(request, tenant),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@writer_required
def license_add(request, tenant_id: str):
    tenant = tenant_of(request, tenant_id)
    form = LicenseAddForm(
        request.POST or None,
        initial={"sku": request.GET.get("sku", "")[:64], "quantity": "1"},
        skus=LicenseSku.objects.filter(active=True),
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                subscription = services.subscription_add(
                    actor=request.actor,
                    tenant=tenant,
                    sku_code=form.cleaned_data["sku"],
                    quantity=form.cleaned_data["quantity"],
                )
            except TrunklineError as error:
                status = _refused(form, error)
            else:
                messages.success(
                    request,
                    f"Added {subscription.quantity} × {subscription.sku.name} "
                    f"(subscription {subscription.id}).",
                )
                return finish(request, _back(request, tenant))
    return _modal(request, "portal/licenses/_add_form.html", tenant, form, "Add licences", status)


@require_http_methods(["GET", "POST"])
@writer_required
def license_allocate(request, tenant_id: str):
    tenant = tenant_of(request, tenant_id)
    sites = tenant_sites(tenant)
    initial = {"site": request.GET.get("site", "")[:64], "sku": request.GET.get("sku", "")[:64]}
    if initial["site"] and initial["sku"]:
        # Start from what the site has, so the form reads as "change 4 to …".
        figures = next(
            (
                site
                for row in services.overview(tenant)
                if row["sku"] == initial["sku"]
                for site in row["sites"]
                if site["site_id"] == initial["site"]
            ),
            None,
        )
        initial["quantity"] = str(figures["allocated"]) if figures else "0"
    form = AllocationForm(
        request.POST or None, initial=initial, skus=_held_skus(tenant), sites=sites
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                site = tenant_site(tenant, form.cleaned_data["site"] or "", field="site_id")
                site.tenant = tenant
                row = services.allocation_set(
                    actor=request.actor,
                    site=site,
                    sku_code=form.cleaned_data["sku"],
                    quantity=form.cleaned_data["quantity"],
                )
            except TrunklineError as error:
                status = _refused(form, error)
            else:
                messages.success(request, f"{site.name} now has {row.quantity} × {row.sku.name}.")
                return finish(request, _back(request, tenant))
    return _modal(
        request, "portal/licenses/_allocate_form.html", tenant, form, "Allocate to a site", status
    )


@require_http_methods(["GET", "POST"])
@writer_required
def license_migrate(request, tenant_id: str):
    tenant = tenant_of(request, tenant_id)
    form = MigrateForm(
        request.POST or None,
        initial={
            "sku": request.GET.get("sku", "")[:64],
            "from_site": request.GET.get("from_site", "")[:64],
        },
        skus=_held_skus(tenant),
        sites=tenant_sites(tenant),
    )
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.allocation_migrate(
                    actor=request.actor,
                    tenant=tenant,
                    sku_code=data["sku"],
                    from_site_id=data["from_site"],
                    to_site_id=data["to_site"],
                    quantity=data["quantity"],
                )
            except TrunklineError as error:
                status = _refused(form, error)
            else:
                sku = LicenseSku.objects.get(pk=data["sku"])
                messages.success(request, f"Moved {data['quantity']} × {sku.name}.")
                return finish(request, _back(request, tenant))
    return _modal(
        request, "portal/licenses/_migrate_form.html", tenant, form, "Migrate licences", status
    )


@require_POST
@writer_required
def subscription_terminate(request, tenant_id: str, subscription_id: str):
    tenant = tenant_of(request, tenant_id)
    try:
        subscription = services.subscription_get(tenant, subscription_id[:64])
        services.subscription_terminate(
            actor=request.actor, tenant=tenant, subscription_id=str(subscription.id)
        )
    except TrunklineError as error:
        if error.status == 404:
            raise Http404("not found") from None
        messages.error(request, error.message[:1].upper() + error.message[1:])
    else:
        messages.success(request, f"Terminated {subscription.quantity} × {subscription.sku.name}.")
    return finish(request, _back(request, tenant))


# --- mass configuration ---------------------------------------------------------------------


@require_GET
@partner_required
def mass_config_sample(request, tenant_id: str):
    tenant_of(request, tenant_id)
    response = HttpResponse(mass_config.sample_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="mass-configuration-sample.csv"'
    return response


def _mass_config_page(request, tenant: Tenant, form, *, status: int = 200, **more):
    return render(
        request,
        "portal/licenses/mass_config.html",
        {
            "nav": "tenants",
            "tenant": tenant,
            "form": form,
            "governed": services.governed(tenant),
            "writable": request.user.can_write and tenant.status != Tenant.Status.CANCELLED,
            "max_rows": mass_config.MAX_ROWS,
            "max_megabytes": mass_config.MAX_BYTES // 1024 // 1024,
            "addons": LicenseSku.objects.filter(kind=LicenseSku.Kind.USER_ADDON, active=True),
            **more,
        },
        status=status,
    )


@writer_required
def _mass_config_upload(request, tenant_id: str):
    """Check the file (the "Check only" button) or apply it; the page shows the summary,
    or every problem by row and column with nothing applied."""
    tenant = tenant_of(request, tenant_id)
    form = MassConfigForm(request.POST, request.FILES)
    form.is_valid()
    upload = request.FILES.get("file")
    data = upload.read(mass_config.MAX_BYTES + 1) if upload else b""
    check_only = request.POST.get("action") != "apply"
    run = mass_config.mass_config_check if check_only else mass_config.mass_config_apply
    try:
        summary = run(actor=request.actor, tenant=tenant, data=data)
    except mass_config.InvalidRows as error:
        return _mass_config_page(
            request,
            tenant,
            MassConfigForm(),
            status=422,
            problem=error.message[:1].upper() + error.message[1:],
            # By row, each row's problems in the order of its columns.
            row_errors=sorted(error.errors, key=lambda found: found["row"] or 0),
            file_name=upload.name if upload else "",
            check_only=check_only,
        )
    except TrunklineError as error:
        return _mass_config_page(request, tenant, form, status=_refused(form, error))
    return _mass_config_page(
        request,
        tenant,
        MassConfigForm(),
        summary=summary,
        file_name=upload.name if upload else "",
    )


@require_http_methods(["GET", "POST"])
@partner_required
def mass_configuration(request, tenant_id: str):
    if request.method == "POST":
        return _mass_config_upload(request, tenant_id)
    return _mass_config_page(request, tenant_of(request, tenant_id), MassConfigForm())
