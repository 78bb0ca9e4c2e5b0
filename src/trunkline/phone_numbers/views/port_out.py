"""Porting out in the portal (partner guide 004, Appendix B "Porting out"): the tenant's
port-out PIN on its page, and on DID Inventory a Port out action for a number the
gaining carrier has asked for, then Complete or Cancel while it is pending.

The services of `porting_out` decide everything (who may, which numbers, whether the
PIN matches); these views only ask and show their answers. A PIN appears in one
response only, the one that set it, and is never put back into a form."""

from __future__ import annotations

from django.contrib import messages
from django.urls import path
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from trunkline.core.errors import TrunklineError
from trunkline.phone_numbers import porting_out, selectors
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.portal.access import writer_required
from trunkline.portal.rendering import finish, or_404, render_modal
from trunkline.tenants.selectors import tenant_get

LIST_URL = "/numbers"


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


def _never_cached(response):
    # The PIN typed in, or the one generated, must not linger in any cache.
    add_never_cache_headers(response)
    return response


# --- the tenant's port-out PIN ------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@writer_required
def pin_set(request, tenant_id: str):
    tenant = or_404(tenant_get, actor=request.actor, tenant_id=tenant_id)
    rotating = bool(tenant.port_out_pin_hash)
    context = {
        "nav": "tenants",
        "tenant": tenant,
        "rotating": rotating,
        "title": "Rotate port-out PIN" if rotating else "Set port-out PIN",
    }
    if request.method == "POST":
        try:
            pin = porting_out.tenant_port_out_pin_set(
                actor=request.actor, tenant=tenant, pin=request.POST.get("pin", "").strip()
            )
        except TrunklineError as error:
            # The digits typed are not put back: a PIN is never written into a page.
            context["error"], context["error_field"] = _sentence(error.message), error.field
            return _never_cached(
                render_modal(request, "phone_numbers/_pin_form.html", context, status=422)
            )
        context.update(pin=pin, title="Port-out PIN rotated" if rotating else "Port-out PIN set")
        return _never_cached(render_modal(request, "phone_numbers/_pin_shown.html", context))
    return render_modal(request, "phone_numbers/_pin_form.html", context)


# --- porting a number out -----------------------------------------------------------------


def _number(request, number_id: str) -> PhoneNumber:
    return or_404(selectors.phone_number_get, actor=request.actor, number_id=number_id)


@require_http_methods(["GET", "POST"])
@writer_required
def port_out_start(request, number_id: str):
    number = _number(request, number_id)
    tenant = number.tenant
    context = {
        "number": number,
        "tenant": tenant,
        # The service's rule: the PIN when the tenant has one, else its account number.
        "asks_pin": tenant is None or bool(tenant.port_out_pin_hash),
        "values": {"gaining_carrier": ""},
        "title": f"Port out {number.e164}",
    }
    if request.method == "POST":
        carrier = request.POST.get("gaining_carrier", "")
        context["values"] = {
            "gaining_carrier": carrier.strip()[:100],
            "account_number": request.POST.get("account_number", "").strip()[:64],
        }
        try:
            porting_out.number_port_out_request(
                actor=request.actor,
                number=number,
                gaining_carrier=carrier,
                pin=request.POST.get("pin", "").strip(),
                account_number=request.POST.get("account_number", "").strip(),
            )
        except TrunklineError as error:
            context["error"], context["error_field"] = _sentence(error.message), error.field
            return _never_cached(
                render_modal(request, "phone_numbers/_port_out.html", context, status=error.status)
            )
        messages.success(
            request,
            f"Port-out of {number.e164} to {' '.join(carrier.split())} started. "
            "Keep the number assigned until the port completes.",
        )
        return finish(request, LIST_URL)
    return render_modal(request, "phone_numbers/_port_out.html", context)


def _pending_action(*, service, template: str, title: str, done: str):
    @require_http_methods(["GET", "POST"])
    @writer_required
    def view(request, number_id: str):
        number = _number(request, number_id)
        context = {"number": number, "title": f"{title} {number.e164}"}
        if request.method == "POST":
            try:
                service(actor=request.actor, number=number)
            except TrunklineError as error:
                context["error"] = _sentence(error.message)
                return render_modal(request, template, context, status=error.status)
            messages.success(request, done.format(number=number.e164))
            return finish(request, LIST_URL)
        return render_modal(request, template, context)

    return view


port_out_complete = _pending_action(
    service=porting_out.number_port_out_complete,
    template="phone_numbers/_port_out_complete.html",
    title="Complete port-out of",
    done="{number} has been ported out. It is no longer in your inventory or billed.",
)
port_out_cancel = _pending_action(
    service=porting_out.number_port_out_cancel,
    template="phone_numbers/_port_out_cancel.html",
    title="Cancel port-out of",
    done="The port-out of {number} was cancelled. The number stays with its tenant.",
)


urlpatterns = [
    path("tenants/<str:tenant_id>/port-out-pin", pin_set, name="tenant-port-out-pin"),
    path("numbers/<str:number_id>/port-out", port_out_start, name="number-port-out"),
    path(
        "numbers/<str:number_id>/port-out/complete",
        port_out_complete,
        name="number-port-out-complete",
    ),
    path("numbers/<str:number_id>/port-out/cancel", port_out_cancel, name="number-port-out-cancel"),
]
