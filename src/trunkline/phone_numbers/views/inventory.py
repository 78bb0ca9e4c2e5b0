"""Numbers → DID Inventory: every number the partner owns, with assign, release and edit
(CNAM and E911) in modals, bulk assign / release / E911 update on the numbers ticked
(a confirmation summary first, then the result), and Reclaim on quarantined numbers.
The same services as the API do the work."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods

from trunkline.core.errors import TrunklineError
from trunkline.phone_numbers import bulk, caller_id, quarantine, selectors, services
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.rendering import finish, or_404, render_modal, safe_next
from trunkline.tenants.selectors import tenants_visible_to

LIST_URL = "/numbers"
PAGE_SIZE = 50
E911_FIELDS = ("street", "street2", "city", "state", "postal_code")


def _tenants(request):
    return tenants_visible_to(request.actor).exclude(status="CANCELLED").order_by("name")


@require_GET
@partner_required
def inventory(request):
    tenant_id = request.GET.get("tenant", "")
    e911_status = request.GET.get("e911", "")
    search = request.GET.get("q", "").strip()[:100]
    numbers = selectors.phone_number_list(
        actor=request.actor,
        tenant_id=tenant_id if tenant_id not in ("", "unassigned") else None,
        unassigned=True if tenant_id == "unassigned" else None,
        e911_status=e911_status if e911_status in PhoneNumber.E911Status.values else None,
        search=search or None,
    ).order_by("e164")
    page = Paginator(numbers, PAGE_SIZE).get_page(request.GET.get("page"))
    for number in page:
        number.cnam_shown = caller_id.cnam_effective(number)
    return render(
        request,
        "phone_numbers/inventory.html",
        {
            "nav": "numbers",
            "page": page,
            "tenants": list(tenants_visible_to(request.actor).order_by("name")),
            "e911_statuses": PhoneNumber.E911Status.choices,
            "filters": {"tenant": tenant_id, "e911": e911_status, "q": search},
        },
    )


def _number(request, number_id: str) -> PhoneNumber:
    return or_404(selectors.phone_number_get, actor=request.actor, number_id=number_id)


@require_http_methods(["GET", "POST"])
@writer_required
def assign(request, number_id: str):
    number = _number(request, number_id)
    context = {"number": number, "tenants": _tenants(request), "title": "Assign number"}
    if request.method == "POST":
        tenant_id = request.POST.get("tenant_id", "")
        tenant = next((t for t in context["tenants"] if t.id == tenant_id), None)
        if tenant is None:
            context["error"] = "Choose one of your tenants."
        else:
            try:
                services.number_assign(actor=request.actor, number=number, tenant=tenant)
            except TrunklineError as error:
                context["error"] = error.message
            else:
                return finish(request, LIST_URL)
        return render_modal(request, "phone_numbers/_assign.html", context, status=422)
    return render_modal(request, "phone_numbers/_assign.html", context)


@require_http_methods(["GET", "POST"])
@writer_required
def release(request, number_id: str):
    number = _number(request, number_id)
    context = {"number": number, "title": "Release number"}
    if request.method == "POST":
        try:
            services.number_release(actor=request.actor, number=number)
        except TrunklineError as error:
            context["error"] = error.message
            return render_modal(request, "phone_numbers/_release.html", context, status=409)
        return finish(request, LIST_URL)
    # Say up front what the service would refuse (a pending port-out), not after Release.
    refusal = services.release_refusal(number)
    context["error"] = refusal.message if refusal else ""
    return render_modal(request, "phone_numbers/_release.html", context)


@require_http_methods(["GET", "POST"])
@writer_required
def edit(request, number_id: str):
    number = _number(request, number_id)
    address = number.e911_address or {}
    values = {"cnam": number.cnam, **{name: address.get(name) or "" for name in E911_FIELDS}}
    context = {
        "number": number,
        "values": values,
        "inherited": number.tenant.default_cnam if number.tenant_id else "",
        "title": f"Edit {number.e164}",
        # The partner E911 page opens this same modal and wants its own page back.
        "next": safe_next(request, LIST_URL),
    }
    if request.method == "POST":
        values = {name: request.POST.get(name, "").strip() for name in ("cnam", *E911_FIELDS)}
        context["values"] = values
        wanted = {name: values[name] for name in E911_FIELDS if values[name]}
        try:
            if values["cnam"] != number.cnam:
                caller_id.number_cnam_set(actor=request.actor, number=number, cnam=values["cnam"])
            if wanted != {k: v for k, v in address.items() if v and k in E911_FIELDS}:
                caller_id.number_e911_set(
                    actor=request.actor,
                    number=number,
                    address=wanted or None,
                    apply_to_tenant=request.POST.get("apply_to_tenant") == "on",
                )
        except TrunklineError as error:
            context["error"], context["error_field"] = error.message, error.field
            return render_modal(request, "phone_numbers/_edit.html", context, status=422)
        return finish(request, context["next"])
    return render_modal(request, "phone_numbers/_edit.html", context)


BULK_ACTIONS = {
    "assign": ("Assign to tenant", "assigned"),
    "release": ("Release numbers", "released"),
    "e911": ("Update E911 address", "given the new 911 address"),
}


def _bulk_preview(request, action: str, ids, tenant, address) -> dict:
    actor = request.actor
    if action == "assign":
        return bulk.numbers_bulk_assign_preview(actor=actor, numbers=ids, tenant=tenant)
    if action == "release":
        return bulk.numbers_bulk_release_preview(actor=actor, numbers=ids)
    return bulk.numbers_bulk_e911_preview(actor=actor, numbers=ids, address=address)


def _bulk_run(request, action: str, ids, tenant, address) -> list[PhoneNumber]:
    actor = request.actor
    if action == "assign":
        return bulk.numbers_bulk_assign(actor=actor, numbers=ids, tenant=tenant)
    if action == "release":
        return bulk.numbers_bulk_release(actor=actor, numbers=ids)
    return bulk.numbers_bulk_e911(actor=actor, numbers=ids, address=address)


@require_http_methods(["POST"])
@writer_required
def bulk_action(request, action: str):
    """One modal, three steps: the choice the action needs (a tenant, an address), the
    confirmation summary, then the result. Nothing changes before Confirm."""
    if action not in BULK_ACTIONS:
        raise Http404("no such action")
    title, done_verb = BULK_ACTIONS[action]
    ids = request.POST.getlist("ids")
    tenants = list(_tenants(request))
    tenant_id = request.POST.get("tenant_id", "")
    tenant = next((t for t in tenants if t.id == tenant_id), None)
    values = {name: request.POST.get(name, "").strip() for name in E911_FIELDS}
    address = {name: value for name, value in values.items() if value}
    context = {
        "action": action,
        "title": title,
        "ids": ids,
        "tenants": tenants,
        "tenant": tenant,
        "values": values,
        "step": "choose",
        "modal_class": "wide",  # room for the per-tenant summary table
    }
    if not ids:
        context["error"] = "Select at least one number first."
        return render_modal(request, "phone_numbers/_bulk.html", context, status=422)
    chosen = (
        action == "release"
        or (action == "assign" and tenant is not None)
        or (action == "e911" and request.POST.get("step") in ("preview", "confirm"))
    )
    if action == "assign" and tenant_id and tenant is None:
        context["error"] = "Choose one of your tenants."
    if not chosen:
        status = 422 if context.get("error") else 200
        return render_modal(request, "phone_numbers/_bulk.html", context, status=status)
    try:
        if request.POST.get("step") == "confirm":
            changed = _bulk_run(request, action, ids, tenant, address)
            context.update(step="done", changed=len(changed), done_verb=done_verb)
            return render_modal(request, "phone_numbers/_bulk.html", context)
        context.update(step="preview", preview=_bulk_preview(request, action, ids, tenant, address))
    except TrunklineError as error:
        # Refused at Confirm (something changed since the summary), or a bad address.
        context["error"], context["error_field"] = error.message, error.field
        if action == "e911" and (error.field or "").startswith("e911_address"):
            context["step"] = "choose"
            return render_modal(request, "phone_numbers/_bulk.html", context, status=422)
        context["step"] = "preview"
        context["preview"] = _safe_preview(request, action, ids, tenant, address)
        return render_modal(request, "phone_numbers/_bulk.html", context, status=409)
    return render_modal(request, "phone_numbers/_bulk.html", context)


def _safe_preview(request, action, ids, tenant, address):
    try:
        return _bulk_preview(request, action, ids, tenant, address)
    except TrunklineError:
        return None


@require_http_methods(["GET", "POST"])
@writer_required
def reclaim(request, number_id: str):
    number = _number(request, number_id)
    context = {"number": number, "title": "Reclaim number"}
    if request.method == "POST":
        try:
            quarantine.number_reclaim(actor=request.actor, number=number)
        except TrunklineError as error:
            context["error"] = error.message
            return render_modal(request, "phone_numbers/_reclaim.html", context, status=409)
        return finish(request, LIST_URL)
    return render_modal(request, "phone_numbers/_reclaim.html", context)


urlpatterns = [
    path("numbers/bulk/<str:action>", bulk_action, name="numbers-bulk"),
    path("numbers/<str:number_id>/reclaim", reclaim, name="number-reclaim"),
    path("numbers", inventory, name="numbers"),
    path("numbers/<str:number_id>/assign", assign, name="number-assign"),
    path("numbers/<str:number_id>/release", release, name="number-release"),
    path("numbers/<str:number_id>/edit", edit, name="number-edit"),
]
