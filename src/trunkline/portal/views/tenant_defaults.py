"""Tenants → Tenant Defaults: values pre-filled into new tenants only, with the usage
limits they start with."""

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from trunkline.billing import profiles
from trunkline.core.errors import TrunklineError
from trunkline.limits import services as limits
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms import TenantDefaultsForm
from trunkline.portal.rendering import or_404, show_service_error
from trunkline.tenants import services


def _page(request, form, *, status=200):
    return render(
        request,
        "portal/tenants/defaults.html",
        {
            "nav": "tenants",
            "form": form,
            "billing_profiles": profiles.billing_profile_list(actor=request.actor),
        },
        status=status,
    )


@require_POST
@writer_required
def default_billing_profile(request):
    profile = or_404(
        profiles.billing_profile_get,
        actor=request.actor,
        profile_id=request.POST.get("profile_id", "")[:64],
    )
    profiles.billing_profile_update(
        actor=request.actor, profile=profile, changes={"is_default": True}
    )
    messages.success(request, f"New tenants now start on {profile.name}.")
    return redirect("/tenants/defaults")


@require_http_methods(["GET", "POST"])
def tenant_defaults(request):
    if request.method == "POST":
        return _save(request)
    return _show(request)


@partner_required
def _show(request):
    partner = request.actor.partner
    form = TenantDefaultsForm(
        initial={
            "default_timezone": partner.default_timezone,
            "default_cnam": partner.default_cnam,
            "default_suspension_behavior": partner.default_suspension_behavior,
            **TenantDefaultsForm.limits_initial(limits.defaults_of(partner)),
        }
    )
    return _page(request, form)


@writer_required
def _save(request):
    form = TenantDefaultsForm(request.POST)
    if form.is_valid():
        try:
            # One save: a refused limit leaves the other defaults unsaved too.
            with transaction.atomic():
                services.tenant_defaults_update(actor=request.actor, changes=form.changes())
                changes = form.limit_changes(present=request.POST)
                if changes:
                    limits.partner_default_limits_set(actor=request.actor, changes=changes)
        except TrunklineError as error:
            show_service_error(form, error)
        else:
            messages.success(request, "Tenant defaults saved. They apply to new tenants only.")
            return redirect("/tenants/defaults")
    return _page(request, form, status=422)
