"""Settings → Billing → Billing Config and Tax Jurisdictions, and a tenant's billing card."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trunkline.billing import profiles, tax
from trunkline.billing.models import BillingProfile
from trunkline.core.errors import TrunklineError
from trunkline.core.money import Money
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.rendering import finish, or_404, render_modal, show_service_error
from trunkline.portal.views.billing import billing_tabs
from trunkline.tenants import selectors as tenant_selectors
from trunkline.tenants.models import Tenant

PROFILES_URL = "/settings/billing/profiles"
TAX_URL = "/settings/billing/tax"
MONEY_FIELDS = (
    ("base_fee", "Monthly base fee ($)"),
    ("extension_monthly", "Extension /mo ($)"),
    ("did_monthly", "Standard DID /mo ($)"),
    ("toll_free_did_monthly", "Toll-Free DID /mo ($)"),
    ("per_minute", "Per Minute ($)"),
    ("per_minute_local", "Local per minute ($, optional)"),
    ("per_minute_toll_free", "Toll-free per minute ($, optional)"),
)
INCLUDED_FIELDS = (
    ("included_extensions", "Included extensions"),
    ("included_dids", "Included DIDs"),
    ("included_minutes", "Included minutes"),
)
COUNT_FIELDS = (
    *INCLUDED_FIELDS,
    ("expires_after_days", "Expires after (days)"),
    ("suspension_after_days", "Suspend after (days overdue)"),
)
OPTIONAL_MONEY = {"per_minute_local", "per_minute_toll_free"}
OPTIONAL_COUNTS = {"included_minutes", "expires_after_days", "suspension_after_days"}


def _money_text(micros) -> str:
    return "" if micros is None else Money(micros).to_json()


class ProfileForm(forms.Form):
    """Every field is text: the service parses and explains (see portal/forms.py)."""

    name = forms.CharField(label="Name", required=False, max_length=200)
    description = forms.CharField(label="Description", required=False, max_length=300)
    pricing_model = forms.ChoiceField(
        label="Pricing model", required=False, choices=BillingProfile.PricingModel.choices
    )
    converts_to_id = forms.ChoiceField(label="Then converts to", required=False)
    is_default = forms.BooleanField(label="Default for new tenants", required=False)

    def __init__(self, *args, actor, profile=None, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in MONEY_FIELDS:
            self.fields[name] = forms.CharField(label=label, required=False, max_length=30)
        for name, label in COUNT_FIELDS:
            self.fields[name] = forms.CharField(label=label, required=False, max_length=10)
        self.fields["included_minutes"].help_text = "Blank on a Flat Rate profile: unlimited."
        self.fields["suspension_after_days"].help_text = "Blank: your Default Suspension After."
        others = profiles.billing_profile_list(actor=actor)
        if profile is not None:
            others = others.exclude(pk=profile.pk)
        self.fields["converts_to_id"].choices = [("", "—")] + [(p.id, p.name) for p in others]

    def changes(self) -> dict:
        data = self.cleaned_data
        out: dict = {
            "name": data["name"],
            "description": data["description"],
            "pricing_model": data["pricing_model"],
            "converts_to_id": data["converts_to_id"] or None,
            "is_default": data["is_default"],
        }
        flat = data["pricing_model"] == BillingProfile.PricingModel.FLAT_RATE
        for name, _ in MONEY_FIELDS:
            text = (data.get(name) or "").strip().removeprefix("$")
            if not text:
                text = None if name in OPTIONAL_MONEY else "0"
            out[name] = text
        for name, _ in COUNT_FIELDS:
            text = (data.get(name) or "").strip()
            if not text:
                blank = None if name in OPTIONAL_COUNTS else 0
                if name == "included_minutes" and not flat:
                    blank = 0  # Pay-As-You-Go includes nothing
                out[name] = blank
            else:
                out[name] = int(text) if text.isdigit() else text
        if not flat:
            for name in ("included_extensions", "included_dids", "included_minutes"):
                out[name] = out[name] or 0
        return out


def _profile_initial(profile: BillingProfile) -> dict:
    initial = {
        "name": profile.name,
        "description": profile.description,
        "pricing_model": profile.pricing_model,
        "converts_to_id": profile.converts_to_id or "",
        "is_default": profile.is_default,
    }
    for name, _ in MONEY_FIELDS:
        initial[name] = _money_text(getattr(profile, f"{name}_micros"))
    for name, _ in COUNT_FIELDS:
        value = getattr(profile, name)
        initial[name] = "" if value is None else str(value)
    return initial


class TaxForm(forms.Form):
    name = forms.CharField(label="Name", required=False, max_length=200)
    code = forms.CharField(
        label="Jurisdiction code",
        required=False,
        max_length=60,
        help_text="e.g. US-AR-Pulaski or CA-ON",
    )
    rate = forms.CharField(
        label="Tax rate", required=False, max_length=30, help_text="A decimal: 0.085 is 8.5%."
    )
    enabled = forms.BooleanField(label="Enabled", required=False)

    def changes(self) -> dict:
        return dict(self.cleaned_data)


class SuspensionForm(forms.Form):
    suspension_after_days = forms.CharField(
        label="Default Suspension After (days overdue)", required=False, max_length=4
    )


class TenantBillingForm(forms.Form):
    billing_profile_id = forms.ChoiceField(label="Billing profile", required=False)
    tax_jurisdiction_id = forms.ChoiceField(label="Tax jurisdiction", required=False)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["billing_profile_id"].choices = [
            (p.id, p.name) for p in profiles.billing_profile_list(actor=actor)
        ]
        self.fields["tax_jurisdiction_id"].choices = [("", "None")] + [
            (j.id, f"{j.name} ({j.code}){'' if j.enabled else ' — disabled'}")
            for j in tax.tax_jurisdiction_list(actor=actor)
        ]


# --- Billing Config -------------------------------------------------------------------------


def _profiles_page(request, *, suspension_form=None, status=200):
    partner = request.actor.partner
    rows = profiles.billing_profile_list(actor=request.actor).select_related("converts_to")
    used = profiles.tenant_counts(actor=request.actor)
    return render(
        request,
        "portal/billing/profiles.html",
        {
            "nav": "settings",
            "tab": "profiles",
            "billing_tabs": billing_tabs(),
            "profiles": [(profile, *used.get(profile.id, (0, 0))) for profile in rows],
            "suspension_form": suspension_form
            or SuspensionForm(initial={"suspension_after_days": partner.suspension_after_days}),
        },
        status=status,
    )


@require_GET
@partner_required
def profile_list(request):
    return _profiles_page(request)


def _profile_modal(request, form, profile=None, *, status=200):
    return render_modal(
        request,
        "portal/billing/_profile_form.html",
        {
            "title": f"Edit {profile.name}" if profile else "New billing profile",
            "form": form,
            "profile": profile,
            "money_fields": [form[name] for name, _ in MONEY_FIELDS],
            "included_fields": [form[name] for name, _ in INCLUDED_FIELDS],
            "count_fields": [form[name] for name, _ in COUNT_FIELDS[len(INCLUDED_FIELDS) :]],
            "modal_class": "wide",
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@writer_required
def profile_new(request):
    if request.method == "POST":
        form = ProfileForm(request.POST, actor=request.actor)
        if form.is_valid():
            try:
                profile = profiles.billing_profile_create(actor=request.actor, **form.changes())
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Billing profile {profile.name} created.")
                return finish(request, PROFILES_URL)
        return _profile_modal(request, form, status=422)
    form = ProfileForm(
        actor=request.actor,
        initial={"pricing_model": BillingProfile.PricingModel.PAY_AS_YOU_GO},
    )
    return _profile_modal(request, form)


@require_http_methods(["GET", "POST"])
@writer_required
def profile_edit(request, profile_id: str):
    profile = or_404(profiles.billing_profile_get, actor=request.actor, profile_id=profile_id)
    if request.method == "POST":
        form = ProfileForm(request.POST, actor=request.actor, profile=profile)
        if form.is_valid():
            changes = form.changes()
            if profile.is_default and not changes["is_default"]:
                changes.pop("is_default")  # unticking it is not how the default moves
            try:
                profiles.billing_profile_update(
                    actor=request.actor, profile=profile, changes=changes
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Billing profile {profile.name} saved.")
                return finish(request, PROFILES_URL)
        return _profile_modal(request, form, profile, status=422)
    form = ProfileForm(actor=request.actor, profile=profile, initial=_profile_initial(profile))
    return _profile_modal(request, form, profile)


@require_POST
@writer_required
def profile_make_default(request, profile_id: str):
    profile = or_404(profiles.billing_profile_get, actor=request.actor, profile_id=profile_id)
    profiles.billing_profile_update(
        actor=request.actor, profile=profile, changes={"is_default": True}
    )
    messages.success(request, f"{profile.name} is now the default for new tenants.")
    return finish(request, PROFILES_URL)


@require_http_methods(["GET", "POST"])
@writer_required
def profile_delete(request, profile_id: str):
    profile = or_404(profiles.billing_profile_get, actor=request.actor, profile_id=profile_id)
    error = ""
    if request.method == "POST":
        try:
            profiles.billing_profile_delete(actor=request.actor, profile=profile)
        except TrunklineError as refused:
            error = refused.message[:1].upper() + refused.message[1:]
        else:
            messages.success(request, f"Billing profile {profile.name} deleted.")
            return finish(request, PROFILES_URL)
    return render_modal(
        request,
        "portal/billing/_profile_delete.html",
        {"title": f"Delete {profile.name}?", "profile": profile, "error": error},
        status=409 if error else 200,
    )


@require_POST
@writer_required
def suspension_setting(request):
    form = SuspensionForm(request.POST)
    if form.is_valid():
        text = (form.cleaned_data["suspension_after_days"] or "").strip()
        try:
            profiles.partner_suspension_after_days_set(
                actor=request.actor, days=int(text) if text.isdigit() else text
            )
        except TrunklineError as error:
            show_service_error(form, error)
        else:
            messages.success(request, "Default Suspension After saved.")
            return finish(request, PROFILES_URL)
    return _profiles_page(request, suspension_form=form, status=422)


# --- Tax Jurisdictions ----------------------------------------------------------------------


@require_GET
@partner_required
def tax_list(request):
    used = tax.tenant_counts(actor=request.actor)
    rows = tax.tax_jurisdiction_list(actor=request.actor)
    return render(
        request,
        "portal/billing/tax.html",
        {
            "nav": "settings",
            "tab": "tax",
            "billing_tabs": billing_tabs(),
            "jurisdictions": [
                (row, used.get(row.id, 0), format((row.rate * 100).normalize(), "f"))
                for row in rows
            ],
        },
    )


def _tax_modal(request, form, jurisdiction=None, *, status=200):
    return render_modal(
        request,
        "portal/billing/_tax_form.html",
        {
            "title": f"Edit {jurisdiction.name}" if jurisdiction else "Add Jurisdiction",
            "form": form,
            "jurisdiction": jurisdiction,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@writer_required
def tax_new(request):
    if request.method == "POST":
        form = TaxForm(request.POST)
        if form.is_valid():
            try:
                made = tax.tax_jurisdiction_create(actor=request.actor, **form.changes())
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Jurisdiction {made.code} added.")
                return finish(request, TAX_URL)
        return _tax_modal(request, form, status=422)
    return _tax_modal(request, TaxForm(initial={"enabled": True}))


@require_http_methods(["GET", "POST"])
@writer_required
def tax_edit(request, jurisdiction_id: str):
    jurisdiction = or_404(
        tax.tax_jurisdiction_get, actor=request.actor, jurisdiction_id=jurisdiction_id
    )
    if request.method == "POST":
        form = TaxForm(request.POST)
        if form.is_valid():
            try:
                tax.tax_jurisdiction_update(
                    actor=request.actor, jurisdiction=jurisdiction, changes=form.changes()
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Jurisdiction {jurisdiction.code} saved.")
                return finish(request, TAX_URL)
        return _tax_modal(request, form, jurisdiction, status=422)
    initial = {**tax.snapshot(jurisdiction)}
    return _tax_modal(request, TaxForm(initial=initial), jurisdiction)


@require_POST
@writer_required
def tax_toggle(request, jurisdiction_id: str):
    jurisdiction = or_404(
        tax.tax_jurisdiction_get, actor=request.actor, jurisdiction_id=jurisdiction_id
    )
    tax.tax_jurisdiction_update(
        actor=request.actor,
        jurisdiction=jurisdiction,
        changes={"enabled": not jurisdiction.enabled},
    )
    state = "disabled" if jurisdiction.enabled else "enabled"
    messages.success(request, f"{jurisdiction.code} {state}: new invoices only.")
    return finish(request, TAX_URL)


@require_http_methods(["GET", "POST"])
@writer_required
def tax_delete(request, jurisdiction_id: str):
    jurisdiction = or_404(
        tax.tax_jurisdiction_get, actor=request.actor, jurisdiction_id=jurisdiction_id
    )
    error = ""
    if request.method == "POST":
        try:
            tax.tax_jurisdiction_delete(actor=request.actor, jurisdiction=jurisdiction)
        except TrunklineError as refused:
            error = refused.message[:1].upper() + refused.message[1:]
        else:
            messages.success(request, f"Jurisdiction {jurisdiction.code} deleted.")
            return finish(request, TAX_URL)
    return render_modal(
        request,
        "portal/billing/_tax_delete.html",
        {"title": f"Delete {jurisdiction.code}?", "jurisdiction": jurisdiction, "error": error},
        status=409 if error else 200,
    )


# --- a tenant's billing ---------------------------------------------------------------------


def tenant_billing_context(tenant: Tenant) -> dict:
    """For the tenant page's Billing card."""
    tenant = Tenant.objects.select_related(
        "billing_profile__converts_to", "pending_billing_profile", "tax_jurisdiction"
    ).get(pk=tenant.pk)
    cycle = profiles.billing_cycle(tenant, timezone.now())
    from trunkline.billing import collection

    found = collection.settings_for(tenant.partner)
    from trunkline.billing.tenant_charges import tenant_charges

    cards = [collection.card_json(card, found) for card in collection.tenant_cards(tenant)]
    return {
        "billing_tenant": tenant,
        "billing_cycle": cycle,
        "tenant_cards": cards,
        "pending_charges": list(tenant_charges(tenant, status="pending")),
    }


@require_http_methods(["GET", "POST"])
@writer_required
def tenant_billing_change(request, tenant_id: str):
    tenant = or_404(tenant_selectors.tenant_get, actor=request.actor, tenant_id=tenant_id)
    cycle = profiles.billing_cycle(tenant, timezone.now())
    if request.method == "POST":
        form = TenantBillingForm(request.POST, actor=request.actor)
        if form.is_valid():
            data = form.cleaned_data
            try:
                profiles.tenant_billing_set(
                    actor=request.actor,
                    tenant=tenant,
                    changes={
                        "billing_profile_id": data["billing_profile_id"],
                        "tax_jurisdiction_id": data["tax_jurisdiction_id"] or None,
                    },
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Billing for {tenant.name} saved.")
                return finish(request, f"/tenants/{tenant.id}")
        status = 422
    else:
        form = TenantBillingForm(
            actor=request.actor,
            initial={
                "billing_profile_id": tenant.pending_billing_profile_id
                or tenant.billing_profile_id,
                "tax_jurisdiction_id": tenant.tax_jurisdiction_id or "",
            },
        )
        status = 200
    return render_modal(
        request,
        "portal/tenants/_billing_form.html",
        {"title": f"Billing for {tenant.name}", "form": form, "tenant": tenant, "cycle": cycle},
        status=status,
    )
