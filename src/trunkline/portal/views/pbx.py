"""The tenant page's Phone system card: its sites and departments (pbx/services.py)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.views.decorators.http import require_POST

from trunkline.core.errors import TrunklineError
from trunkline.pbx import services
from trunkline.pbx.models import Department, Extension, Site
from trunkline.portal.access import writer_required
from trunkline.portal.forms import DepartmentForm, SiteForm
from trunkline.portal.rendering import finish, or_404, render_modal, show_service_error
from trunkline.tenants import selectors as tenant_selectors
from trunkline.tenants.models import Tenant

EXTENSIONS_SHOWN = 50  # on the tenant page; the API lists them all


def department_tree(tenant: Tenant) -> list[tuple[Department, int]]:
    """The tenant's departments in tree order, each with its depth (0 at the top)."""
    children: dict[str | None, list[Department]] = {}
    for department in Department.objects.filter(tenant=tenant).order_by("name", "id"):
        children.setdefault(department.parent_id, []).append(department)
    ordered: list[tuple[Department, int]] = []
    stack = [(department, 0) for department in reversed(children.get(None, []))]
    while stack:
        department, depth = stack.pop()
        ordered.append((department, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(department.id, [])))
    return ordered


def pbx_context(tenant: Tenant) -> dict:
    """For the tenant page's Phone system card."""
    sites = Site.objects.filter(tenant=tenant).order_by("-is_default", "created_at", "id")
    extensions = Extension.objects.filter(tenant=tenant).select_related("site", "department")
    return {
        "sites": list(sites),
        "departments": department_tree(tenant),
        "extensions": list(extensions[:EXTENSIONS_SHOWN]),
        "extensions_count": extensions.count(),
    }


def _tenant(request, tenant_id: str) -> Tenant:
    return or_404(tenant_selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)


def _back(tenant: Tenant) -> str:
    return f"/tenants/{tenant.id}#phone-system"


@writer_required
def site_new(request, tenant_id: str):
    tenant = _tenant(request, tenant_id)
    form = SiteForm(request.POST or None, initial={"timezone": tenant.timezone})
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                site = services.site_create(
                    actor=request.actor,
                    tenant=tenant,
                    name=form.cleaned_data["name"],
                    timezone_name=form.cleaned_data["timezone"] or None,
                )
            except TrunklineError as error:
                show_service_error(form, error)
                status = 409 if error.status == 409 else 422
            else:
                messages.success(request, f"Site {site.name} added.")
                return finish(request, _back(tenant))
    return render_modal(
        request,
        "portal/tenants/_site_form.html",
        {"nav": "tenants", "title": "Add site", "form": form, "tenant": tenant},
        status=status,
    )


def _act_on(request, tenant_id: str, model, object_id: str, action):
    """Run `action` on one of the tenant's sites or departments and come back to the card
    with its message, or the service's refusal."""
    tenant = _tenant(request, tenant_id)
    found = model.objects.filter(tenant=tenant, pk=object_id[:64]).first()
    if found is None:
        raise Http404("not found")
    found.tenant = tenant
    try:
        done = action(found)
    except TrunklineError as error:
        messages.error(request, error.message[:1].upper() + error.message[1:])
    else:
        messages.success(request, done)
    return finish(request, _back(tenant))


@require_POST
@writer_required
def site_default(request, tenant_id: str, site_id: str):
    def make_default(site):
        services.site_update(actor=request.actor, site=site, changes={"is_default": True})
        return f"{site.name} is now the default site."

    return _act_on(request, tenant_id, Site, site_id, make_default)


@require_POST
@writer_required
def site_delete(request, tenant_id: str, site_id: str):
    def delete(site):
        services.site_delete(actor=request.actor, site=site)
        return f"Site {site.name} deleted."

    return _act_on(request, tenant_id, Site, site_id, delete)


@writer_required
def department_new(request, tenant_id: str):
    tenant = _tenant(request, tenant_id)
    form = DepartmentForm(request.POST or None, departments=department_tree(tenant))
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                department = services.department_create(
                    actor=request.actor,
                    tenant=tenant,
                    name=form.cleaned_data["name"],
                    parent_id=form.cleaned_data["parent"] or None,
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Department {department.name} added.")
                return finish(request, _back(tenant))
    return render_modal(
        request,
        "portal/tenants/_department_form.html",
        {"nav": "tenants", "title": "Add department", "form": form, "tenant": tenant},
        status=status,
    )


@require_POST
@writer_required
def department_delete(request, tenant_id: str, department_id: str):
    def delete(department):
        services.department_delete(actor=request.actor, department=department)
        return f"Department {department.name} deleted."

    return _act_on(request, tenant_id, Department, department_id, delete)
