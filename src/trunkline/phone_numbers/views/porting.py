"""Numbers → Port Numbers In: the partner's port requests with their status, a New Port
Request form, and each request's page (documents, LOA, Submit/Resubmit/Cancel, status
timeline). The same services as `/v1/port-requests` do the work; read-only users see
no actions and every write answers them 403."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trunkline.core.errors import TrunklineError
from trunkline.phone_numbers import porting, selectors
from trunkline.phone_numbers.loa import loa_pdf
from trunkline.phone_numbers.models import PortRequest
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.rendering import or_404
from trunkline.tenants.selectors import tenants_visible_to

LIST_URL = "/numbers/porting"
TEXT = ("current_carrier", "account_holder", "business_name", "account_number", "pin", "notes")
ADDRESS = ("street", "street2", "city", "state", "postal_code")


def _port(request, port_id: str) -> PortRequest:
    return or_404(selectors.port_request_get, actor=request.actor, port_id=port_id)


@require_GET
@partner_required
def port_list(request):
    status = request.GET.get("status", "")
    ports = selectors.port_request_list(
        actor=request.actor, status=status if status in PortRequest.Status.values else None
    ).order_by("-created_at", "-id")[:200]
    return render(
        request,
        "phone_numbers/porting_list.html",
        {
            "nav": "numbers",
            "ports": ports,
            "statuses": PortRequest.Status.values,
            "filters": {"status": status},
        },
    )


def _form_fields(request) -> dict:
    values = {name: request.POST.get(name, "").strip() for name in (*TEXT, *ADDRESS)}
    values["numbers"] = request.POST.get("numbers", "")
    values["desired_date"] = request.POST.get("desired_date", "").strip()
    values["tenant_id"] = request.POST.get("tenant_id", "")
    return values


def _service_fields(values: dict, *, keep_pin: bool) -> dict:
    fields = {name: values[name] for name in TEXT if name != "pin"}
    if values["pin"] or not keep_pin:
        fields["pin"] = values["pin"]
    fields["numbers"] = [n for n in values["numbers"].replace(",", " ").split() if n]
    fields["service_address"] = {name: values[name] for name in ADDRESS if values[name]}
    fields["desired_date"] = values["desired_date"] or None
    return fields


@require_http_methods(["GET", "POST"])
@writer_required
def port_new(request):
    tenants = list(tenants_visible_to(request.actor).exclude(status="CANCELLED").order_by("name"))
    context = {"nav": "numbers", "tenants": tenants, "values": {}, "title": "New Port Request"}
    if request.method == "POST":
        values = _form_fields(request)
        context["values"] = values
        tenant = next((t for t in tenants if t.id == values["tenant_id"]), None)
        if tenant is None:
            context["error"] = "Choose the tenant the numbers go to."
        else:
            try:
                port = porting.port_request_create(
                    actor=request.actor,
                    tenant=tenant,
                    fields=_service_fields(values, keep_pin=False),
                )
            except TrunklineError as error:
                context["error"], context["error_field"] = error.message, error.field
            else:
                return redirect(f"{LIST_URL}/{port.id}")
        return render(request, "phone_numbers/porting_form.html", context, status=422)
    return render(request, "phone_numbers/porting_form.html", context)


@require_http_methods(["GET", "POST"])
@writer_required
def port_edit(request, port_id: str):
    port = _port(request, port_id)
    address = porting.service_address(port)
    values = {
        **{name: getattr(port, name) for name in TEXT if name != "pin"},
        **{name: address.get(name) or "" for name in ADDRESS},
        "pin": "",
        "numbers": "\n".join(port.numbers),
        "desired_date": port.desired_date.isoformat() if port.desired_date else "",
    }
    context = {"nav": "numbers", "port": port, "values": values, "title": f"Edit {port.id}"}
    if request.method == "POST":
        values = _form_fields(request)
        context["values"] = values
        try:
            porting.port_request_update(
                actor=request.actor, port=port, fields=_service_fields(values, keep_pin=True)
            )
        except TrunklineError as error:
            context["error"], context["error_field"] = error.message, error.field
            return render(request, "phone_numbers/porting_form.html", context, status=422)
        return redirect(f"{LIST_URL}/{port.id}")
    return render(request, "phone_numbers/porting_form.html", context)


def _detail(request, port: PortRequest, *, error: str = "", status: int = 200):
    port = selectors.port_request_get(actor=request.actor, port_id=port.id)
    return render(
        request,
        "phone_numbers/porting_detail.html",
        {
            "nav": "numbers",
            "port": port,
            "documents": port.documents.defer("content"),
            "error": error,
            "editable": port.status in porting.EDITABLE,
            "open": port.status in PortRequest.OPEN,
        },
        status=status,
    )


@require_GET
@partner_required
def port_detail(request, port_id: str):
    return _detail(request, _port(request, port_id))


@require_POST
@writer_required
def port_upload(request, port_id: str):
    port = _port(request, port_id)
    upload = request.FILES.get("file")
    if upload is None:
        return _detail(request, port, error="Choose a file to upload.", status=422)
    try:
        porting.port_document_upload(
            actor=request.actor,
            port=port,
            kind=request.POST.get("kind", ""),
            filename=upload.name,
            content=upload.read(porting.MAX_DOCUMENT_BYTES + 1),
        )
    except TrunklineError as error:
        return _detail(request, port, error=error.message, status=422)
    return redirect(f"{LIST_URL}/{port.id}")


def _action(service):
    @require_POST
    @writer_required
    def view(request, port_id: str):
        port = _port(request, port_id)
        try:
            service(actor=request.actor, port=port)
        except TrunklineError as error:
            return _detail(request, port, error=error.message, status=error.status)
        return redirect(f"{LIST_URL}/{port.id}")

    return view


@require_GET
@partner_required
def port_loa(request, port_id: str):
    port = _port(request, port_id)
    response = HttpResponse(loa_pdf(port), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="LOA-{port.id}.pdf"'
    return response


@require_GET
@partner_required
def port_document(request, port_id: str, document_id: str):
    document = or_404(
        selectors.port_document_get,
        actor=request.actor,
        port_id=port_id,
        document_id=document_id,
    )
    response = HttpResponse(
        porting.port_document_content(document), content_type=document.content_type
    )
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    return response


urlpatterns = [
    path("numbers/porting", port_list, name="porting"),
    path("numbers/porting/new", port_new, name="porting-new"),
    path("numbers/porting/<str:port_id>", port_detail, name="porting-detail"),
    path("numbers/porting/<str:port_id>/edit", port_edit, name="porting-edit"),
    path("numbers/porting/<str:port_id>/documents", port_upload, name="porting-upload"),
    path(
        "numbers/porting/<str:port_id>/documents/<str:document_id>",
        port_document,
        name="porting-document",
    ),
    path("numbers/porting/<str:port_id>/loa.pdf", port_loa, name="porting-loa"),
    path(
        "numbers/porting/<str:port_id>/submit",
        _action(porting.port_request_submit),
        name="porting-submit",
    ),
    path(
        "numbers/porting/<str:port_id>/resubmit",
        _action(porting.port_request_resubmit),
        name="porting-resubmit",
    ),
    path(
        "numbers/porting/<str:port_id>/cancel",
        _action(porting.port_request_cancel),
        name="porting-cancel",
    ),
]
