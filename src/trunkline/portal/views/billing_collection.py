"""Settings → Billing → Tenant Billing: how the partner collects its tenants' invoices
(billing/collection.py), and the simulated processor's hosted Connect onboarding."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trunkline.accounts.views.common import public_base_url
from trunkline.billing import collection, tenant_charges
from trunkline.billing.models import CollectionSettings, SimulatedConnectAccount
from trunkline.billing.payments import simulated_onboarding_finish
from trunkline.core.errors import TrunklineError
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms import PaymentMethodForm, TenantChargeForm
from trunkline.portal.rendering import finish, or_404, render_modal, show_service_error
from trunkline.portal.views.billing import billing_tabs
from trunkline.portal.views.billing_payments import processor_info
from trunkline.tenants import selectors as tenant_selectors

PAGE_URL = "/settings/billing/tenant-billing"


class DescriptorForm(forms.Form):
    statement_descriptor = forms.CharField(
        label="Statement Descriptor",
        required=False,
        max_length=22,
        help_text="5–22 characters: letters, digits, spaces, - and &. Blank shows the "
        "platform's name.",
        widget=forms.TextInput(attrs={"placeholder": "ACME PHONES", "autocomplete": "off"}),
    )


class ModeForm(forms.Form):
    mode = forms.ChoiceField(
        label="Collect with", choices=CollectionSettings.Mode.choices, widget=forms.RadioSelect
    )


class CustomKeysForm(forms.Form):
    secret_key = forms.CharField(
        label="Secret key",
        max_length=255,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "placeholder": "sk_live_…"}),
    )
    publishable_key = forms.CharField(
        label="Publishable key",
        required=False,
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "pk_live_…"}),
    )


def _page(request, *, descriptor_form=None, mode_form=None, keys_form=None, status=200):
    found = collection.settings_for(request.actor.partner)
    view = collection.settings_json(found)
    return render(
        request,
        "portal/billing/tenant_billing.html",
        {
            "nav": "settings",
            "tab": "tenant_billing",
            "billing_tabs": billing_tabs(),
            "collection": view,
            "modes": CollectionSettings.Mode,
            "descriptor_form": descriptor_form
            or DescriptorForm(initial={"statement_descriptor": found.statement_descriptor}),
            "mode_form": mode_form or ModeForm(initial={"mode": found.mode}),
            "keys_form": keys_form or CustomKeysForm(),
            "processor": processor_info(),
            "open_advanced": keys_form is not None or found.mode == found.Mode.CUSTOM_KEYS,
        },
        status=status,
    )


@partner_required
def tenant_billing(request):
    """Coming back from the hosted onboarding (`?connect=return`) asks the processor how
    the connected account stands."""
    back = request.GET.get("connect")
    found = collection.settings_for(request.actor.partner)
    if back in ("return", "retry") and found.connect_account_id and request.actor.can_write:
        try:
            found = collection.connect_refresh(actor=request.actor)
        except TrunklineError as error:
            messages.error(request, error.message)
        else:
            if found.connect_status == found.ConnectStatus.ACTIVE:
                messages.success(request, "Stripe Connect is active: you can collect with it.")
            else:
                messages.info(request, "Stripe has not finished reviewing your account yet.")
        return redirect(PAGE_URL)
    return _page(request)


@require_POST
@writer_required
def descriptor_save(request):
    form = DescriptorForm(request.POST)
    if form.is_valid():
        try:
            collection.collection_update(
                actor=request.actor,
                statement_descriptor=form.cleaned_data["statement_descriptor"],
            )
        except TrunklineError as error:
            show_service_error(form, error)
        else:
            messages.success(request, "Statement descriptor saved.")
            return redirect(PAGE_URL)
    return _page(request, descriptor_form=form, status=422)


@require_POST
@writer_required
def mode_save(request):
    form = ModeForm(request.POST)
    if form.is_valid():
        try:
            found = collection.collection_update(
                actor=request.actor, mode=form.cleaned_data["mode"]
            )
        except TrunklineError as error:
            form.add_error("mode", error.message[:1].upper() + error.message[1:])
        else:
            messages.success(
                request, f"Tenant invoices are collected with {found.get_mode_display()}."
            )
            return redirect(PAGE_URL)
    return _page(request, mode_form=form, status=422)


@require_POST
@writer_required
def connect_start(request):
    try:
        url = collection.connect_start(
            actor=request.actor,
            return_url=f"{public_base_url(request)}{PAGE_URL}?connect=return",
            refresh_url=f"{public_base_url(request)}{PAGE_URL}?connect=retry",
        )
    except TrunklineError as error:
        messages.error(request, error.message)
        return redirect(PAGE_URL)
    return HttpResponseRedirect(url)


@require_POST
@writer_required
def connect_check(request):
    try:
        collection.connect_refresh(actor=request.actor)
    except TrunklineError as error:
        messages.error(request, error.message)
    return redirect(PAGE_URL)


@require_POST
@writer_required
def custom_keys_save(request):
    form = CustomKeysForm(request.POST)
    if form.is_valid():
        try:
            collection.custom_keys_set(
                actor=request.actor,
                secret_key=form.cleaned_data["secret_key"],
                publishable_key=form.cleaned_data["publishable_key"],
            )
        except TrunklineError as error:
            show_service_error(form, error)
        else:
            messages.success(
                request, "Your Stripe keys are saved. Choose Custom Keys to collect with them."
            )
            return redirect(PAGE_URL)
    # A PasswordInput never renders its value: the secret key is not sent back.
    return _page(request, keys_form=form, status=422)


@require_POST
@writer_required
def custom_keys_remove(request):
    collection.custom_keys_remove(actor=request.actor)
    messages.success(request, "Your Stripe keys are removed.")
    return redirect(PAGE_URL)


@writer_required
def simulated_onboarding(request, account: str):
    """The simulated processor's stand-in for Stripe's hosted onboarding: the partner
    reviews the business details and completes it."""
    found = collection.settings_for(request.actor.partner)
    if (
        found.connect_account_id != account
        or not SimulatedConnectAccount.objects.filter(id=account).exists()
    ):
        raise Http404("no such connected account")
    if request.method == "POST":
        simulated_onboarding_finish(account=account)
        return redirect(f"{PAGE_URL}?connect=return")
    return render(
        request,
        "portal/billing/simulated_onboarding.html",
        {"nav": "settings", "account": account, "partner": request.actor.partner},
    )


# --- a tenant's card (the tenant page's Billing card) ---------------------------------------


def _tenant(request, tenant_id: str):
    return or_404(tenant_selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)


@writer_required
def tenant_card_new(request, tenant_id: str):
    tenant = _tenant(request, tenant_id)
    form = PaymentMethodForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            card = collection.tenant_card_add(
                actor=request.actor, tenant=tenant, token=form.cleaned_data["token"]
            )
        except TrunklineError as error:
            show_service_error(form, error)
            status = 422
        else:
            messages.success(request, f"Added {card.brand.title()} •••• {card.last4}.")
            return finish(request, f"/tenants/{tenant.id}")
    return render_modal(
        request,
        "portal/tenants/_card_form.html",
        {
            "nav": "tenants",
            "title": "Add card",
            "form": form,
            "tenant": tenant,
            "processor": processor_info(),
        },
        status=status,
    )


@require_POST
@writer_required
def tenant_card_default(request, tenant_id: str, card_id: str):
    tenant = _tenant(request, tenant_id)
    or_404(collection.tenant_card_set_default, actor=request.actor, tenant=tenant, card_id=card_id)
    return finish(request, f"/tenants/{tenant.id}")


@require_POST
@writer_required
def tenant_card_delete(request, tenant_id: str, card_id: str):
    tenant = _tenant(request, tenant_id)
    try:
        or_404(collection.tenant_card_delete, actor=request.actor, tenant=tenant, card_id=card_id)
    except TrunklineError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Card removed.")
    return finish(request, f"/tenants/{tenant.id}")


# --- a tenant's one-time charges (the same card) -----------------------------------------------


@writer_required
def tenant_charge_new(request, tenant_id: str):
    tenant = _tenant(request, tenant_id)
    form = TenantChargeForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            try:
                charge = tenant_charges.tenant_charge_add(
                    actor=request.actor, tenant=tenant, charge=dict(form.cleaned_data)
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(
                    request, f"{charge.description} will be on {tenant.name}'s next invoice."
                )
                return finish(request, f"/tenants/{tenant.id}")
    return render_modal(
        request,
        "portal/tenants/_charge_form.html",
        {"nav": "tenants", "title": "Add one-time charge", "form": form, "tenant": tenant},
        status=status,
    )


@require_POST
@writer_required
def tenant_charge_delete(request, tenant_id: str, charge_id: str):
    tenant = _tenant(request, tenant_id)
    try:
        or_404(
            tenant_charges.tenant_charge_remove,
            actor=request.actor,
            tenant=tenant,
            charge_id=charge_id,
        )
    except TrunklineError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Charge removed.")
    return finish(request, f"/tenants/{tenant.id}")
