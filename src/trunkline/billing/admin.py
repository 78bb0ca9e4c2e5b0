"""Platform staff's rate tables in the Django admin: carriers, outbound rates by prefix,
inbound rates by DID class, conference rates, the tiers' price lists and the platform's
subscription invoices (read-only).

Prices are stored in micro-dollars; the admin shows and takes them as dollar strings
("0.0125"), parsed by `Money.parse`, so nobody types six zeros or a float.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from trunkline.billing import rate_tables
from trunkline.billing.models import (
    ConferenceRate,
    InboundRate,
    OutboundRate,
    PlanPrice,
    PlatformInvoice,
    Provider,
)
from trunkline.billing.subscriptions import PRICE_FIELDS, plan_price_schedule
from trunkline.core.actors import Actor
from trunkline.core.errors import TrunklineError
from trunkline.core.money import Money, MoneyError


def _dollars(micros: int | None) -> str:
    return "—" if micros is None else f"${Money(micros).to_json()}"


class DollarField(forms.CharField):
    """A price as a decimal dollar string, kept as micro-dollars."""

    def __init__(self, *args, allow_negative: bool = False, **kwargs):
        kwargs.setdefault("help_text", "Dollars, up to six decimal places (0.0125).")
        super().__init__(*args, **kwargs)
        self.allow_negative = allow_negative

    def prepare_value(self, value):
        return Money(value).to_json() if isinstance(value, int) else value

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        try:
            micros = Money.parse(value).micros
        except MoneyError as error:
            raise forms.ValidationError(str(error)) from None
        if micros < 0 and not self.allow_negative:
            raise forms.ValidationError("The price is not negative.")
        return micros


def dollar_form(model, *fields: str):
    """A ModelForm whose `<name>_micros` fields are typed in dollars."""
    attrs = {}
    for name in fields:
        model_field = model._meta.get_field(name)
        attrs[name] = DollarField(
            label=name.removesuffix("_micros").replace("_", " ").capitalize(),
            initial=model_field.default if model_field.has_default() else None,
        )
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": "__all__"})
    return type(f"{model.__name__}Form", (forms.ModelForm,), attrs)


class _PricedAdmin(admin.ModelAdmin):
    date_hierarchy = "effective_from"

    @admin.display(description="Per minute", ordering="per_minute_micros")
    def per_minute(self, row):
        return _dollars(row.per_minute_micros)

    @admin.display(description="Connection", ordering="connection_micros")
    def connection(self, row):
        return _dollars(row.connection_micros)

    @admin.display(description="Increments")
    def increments(self, row):
        return f"{row.first_increment}/{row.step_increment}"


class InForceFilter(admin.SimpleListFilter):
    title = "in force"
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return [("now", "In force now"), ("future", "Starts later"), ("ended", "Ended")]

    def queryset(self, request, queryset):
        from django.db.models import Q
        from django.utils import timezone

        now = timezone.now()
        if self.value() == "now":
            return queryset.filter(effective_from__lte=now).filter(
                Q(effective_to__isnull=True) | Q(effective_to__gt=now)
            )
        if self.value() == "future":
            return queryset.filter(effective_from__gt=now)
        if self.value() == "ended":
            return queryset.filter(effective_to__lte=now)
        return queryset


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ("name", "trunk_name", "is_default", "active", "created_at")
    list_filter = ("is_default", "active")
    search_fields = ("name", "trunk_name", "id")
    readonly_fields = ("id", "created_at")


@admin.register(OutboundRate)
class OutboundRateAdmin(_PricedAdmin):
    form = dollar_form(OutboundRate, "per_minute_micros", "connection_micros")
    list_display = (
        "display_prefix",
        "description",
        "provider",
        "per_minute",
        "connection",
        "increments",
        "effective_from",
        "effective_to",
    )
    list_filter = (InForceFilter, "provider")
    search_fields = ("prefix", "description", "id")
    list_select_related = ("provider",)
    readonly_fields = ("id", "created_at")
    change_list_template = "admin/billing/outboundrate/change_list.html"

    @admin.display(description="Prefix", ordering="prefix")
    def display_prefix(self, row):
        return f"+{row.prefix}" if row.prefix else "(everything)"

    def get_search_results(self, request, queryset, search_term):
        # Staff paste numbers as they dial them: "+44 20" finds prefix 4420.
        digits = search_term.replace("+", "").replace(" ", "")
        if digits.isdigit():
            return queryset.filter(prefix__startswith=digits), False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        upload = self.admin_site.admin_view(self.upload_view)
        return [
            path("upload/", upload, name="billing_outboundrate_upload"),
            *super().get_urls(),
        ]

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = RateUploadForm(request.POST or None, request.FILES or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            actor = Actor(kind="user", user=request.user, partner=request.user.partner)
            try:
                result = rate_tables.outbound_rates_upload(
                    actor=actor,
                    content=upload.read(),
                    provider_id=form.cleaned_data["provider"] or None,
                    filename=upload.name,
                )
            except rate_tables.RateUploadRejected as error:
                errors = error.errors
            except TrunklineError as error:
                errors = [error.message]
            else:
                table = result.provider.name if result.provider else "platform sell prices"
                messages.success(
                    request,
                    f"Loaded {result.created} rate(s) for {result.prefixes} prefix(es) into "
                    f"{table}; {result.closed} earlier open-ended rate(s) now end where the "
                    "new ones start.",
                )
                return redirect(reverse("admin:billing_outboundrate_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Upload outbound rates",
            "form": form,
            "errors": errors,
            "columns": rate_tables.COLUMNS,
        }
        return TemplateResponse(
            request,
            "admin/billing/outboundrate/upload.html",
            context,
            status=422 if errors else 200,
        )


class RateUploadForm(forms.Form):
    provider = forms.ChoiceField(label="Table", required=False)
    file = forms.FileField(label="CSV file")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [
            ("", "Platform sell prices (international, no carrier)")
        ] + [(provider.id, f"Carrier: {provider.name}") for provider in Provider.objects.all()]


@admin.register(InboundRate)
class InboundRateAdmin(_PricedAdmin):
    form = dollar_form(InboundRate, "per_minute_micros", "connection_micros")
    list_display = (
        "provider",
        "did_class",
        "per_minute",
        "connection",
        "increments",
        "effective_from",
        "effective_to",
    )
    list_filter = (InForceFilter, "did_class", "provider")
    search_fields = ("provider__name", "id")
    list_select_related = ("provider",)
    readonly_fields = ("id", "created_at")


@admin.register(ConferenceRate)
class ConferenceRateAdmin(_PricedAdmin):
    form = dollar_form(ConferenceRate, "per_minute_micros", "connection_micros")
    list_display = (
        "description",
        "per_minute",
        "connection",
        "increments",
        "effective_from",
        "effective_to",
    )
    list_filter = (InForceFilter,)
    search_fields = ("description", "id")
    readonly_fields = ("id", "created_at")


class PlanPriceForm(
    dollar_form(
        PlanPrice,
        "monthly_fee_micros",
        "extension_monthly_micros",
        "did_local_monthly_micros",
        "did_toll_free_monthly_micros",
        "minute_local_micros",
        "minute_toll_free_micros",
    )
):
    def clean(self):
        cleaned = super().clean()
        if cleaned.get("effective_from") and cleaned["effective_from"] < timezone.now():
            self.add_error("effective_from", "a price change takes effect now or later")
        if cleaned.get("plan") == "enterprise" and not cleaned.get("partner"):
            self.add_error("partner", "Enterprise prices belong to one partner")
        return cleaned


@admin.register(PlanPrice)
class PlanPriceAdmin(admin.ModelAdmin):
    """Price rows are effective-dated: a row in force has priced usage, so it is never
    edited or deleted here; a change is a new row from now or later (with a partner it
    is that partner's own price list, which is how Enterprise prices are set)."""

    form = PlanPriceForm
    list_display = (
        "plan",
        "partner",
        "effective_from",
        "monthly_fee",
        "max_extensions",
        "per_extension",
        "dids",
        "minutes",
        "note",
    )
    list_filter = ("plan", ("partner", admin.EmptyFieldListFilter))
    search_fields = ("partner__company_name", "partner__id", "note")
    list_select_related = ("partner",)
    raw_id_fields = ("partner",)
    date_hierarchy = "effective_from"
    readonly_fields = ("created_at",)

    @admin.display(description="Monthly fee", ordering="monthly_fee_micros")
    def monthly_fee(self, row):
        return _dollars(row.monthly_fee_micros)

    @admin.display(description="Per extension")
    def per_extension(self, row):
        return _dollars(row.extension_monthly_micros)

    @admin.display(description="DID local / toll-free")
    def dids(self, row):
        return (
            f"{_dollars(row.did_local_monthly_micros)} / "
            f"{_dollars(row.did_toll_free_monthly_micros)}"
        )

    @admin.display(description="Minute local / toll-free")
    def minutes(self, row):
        return f"{_dollars(row.minute_local_micros)} / {_dollars(row.minute_toll_free_micros)}"

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Only a change that has not taken effect yet may be withdrawn.
        if obj is not None and obj.effective_from <= timezone.now():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        actor = Actor(kind="user", user=request.user, can_write=True)
        try:
            saved = plan_price_schedule(
                actor=actor,
                plan=obj.plan,
                partner=obj.partner,
                effective_from=obj.effective_from,
                prices={name: getattr(obj, name) for name in PRICE_FIELDS},
                note=obj.note,
            )
        except TrunklineError as error:
            self.message_user(request, error.message, level="error")
            return
        obj.pk = saved.pk


@admin.register(PlatformInvoice)
class PlatformInvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "partner", "kind", "plan", "status", "total_micros", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["partner__company_name", "partner__id", "charge_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
