"""Portal forms parse and render input; every rule about it lives in the services they feed.

Fields are optional here on purpose: an empty or wrong value reaches the service, whose
message is shown next to the field, so the portal and the API say the same thing.
"""

from __future__ import annotations

import zoneinfo
from functools import cache

from django import forms

from trunkline.accounts.models import ApiKey
from trunkline.accounts.scopes import ALL, RESOURCES
from trunkline.billing.models import Plan
from trunkline.billing.subscriptions import SELF_SERVICE_PLANS
from trunkline.core.events import CATEGORIES, EVENT_TYPES, events_in
from trunkline.portal.forms_limits import LimitFields
from trunkline.tenants.models import Tenant
from trunkline.tenants.validation import US_STATES
from trunkline.webhooks.models import WebhookEndpoint

COMMON_ZONES = (
    ("America/New_York", "Eastern — New York"),
    ("America/Chicago", "Central — Chicago"),
    ("America/Denver", "Mountain — Denver"),
    ("America/Phoenix", "Arizona — Phoenix"),
    ("America/Los_Angeles", "Pacific — Los Angeles"),
    ("America/Anchorage", "Alaska — Anchorage"),
    ("Pacific/Honolulu", "Hawaii — Honolulu"),
    ("America/Puerto_Rico", "Atlantic — Puerto Rico"),
)
SUSPENSION_BEHAVIOR_CHOICES = (
    ("suspend", "Suspend the tenant when it reaches its spend or minute cap"),
    ("alert_only", "Alert only: email you and keep service running"),
)


@cache
def timezone_choices() -> tuple:
    every_zone = tuple((zone, zone) for zone in sorted(zoneinfo.available_timezones()))
    return (("United States", COMMON_ZONES), ("All time zones", every_zone))


def _text(maxlength: int | None = None, **attrs) -> forms.TextInput:
    if maxlength:
        attrs["maxlength"] = maxlength
    return forms.TextInput(attrs=attrs)


class TenantForm(forms.Form):
    """New Tenant and Edit share one form; on edit the SIP prefix is shown, never taken."""

    service_error_fields = {
        "e911_address": "e911_street",
        "e911_address.street": "e911_street",
        "e911_address.street2": "e911_street2",
        "e911_address.city": "e911_city",
        "e911_address.state": "e911_state",
        "e911_address.postal_code": "e911_postal_code",
        "e911_address.country": "e911_street",
    }

    name = forms.CharField(
        label="Tenant Name",
        required=False,
        widget=_text(120, required=True, autocomplete="off", autofocus=True),
    )
    sip_prefix = forms.CharField(
        label="SIP Prefix",
        required=False,
        widget=forms.TextInput(
            attrs={
                "maxlength": 12,
                "autocomplete": "off",
                "pattern": "[a-z0-9]{3,12}",
                "spellcheck": "false",
                "data-track-touch": "",
            }
        ),
        help_text="3–12 lowercase letters and digits. Cannot be changed later.",
    )
    billing_email = forms.CharField(
        label="Billing Email",
        required=False,
        widget=forms.EmailInput(attrs={"required": True, "maxlength": 254}),
    )
    default_cnam = forms.CharField(
        label="Default CNAM",
        required=False,
        widget=_text(15, placeholder="ACME PLUMBING"),
        help_text="Caller ID name on outbound calls, at most 15 characters.",
    )
    timezone = forms.CharField(
        label="Timezone", required=False, widget=forms.Select(choices=timezone_choices())
    )
    status = forms.ChoiceField(label="Status", required=False)
    e911_street = forms.CharField(label="Street", required=False, widget=_text(200))
    e911_street2 = forms.CharField(
        label="Street line 2", required=False, widget=_text(200, placeholder="Suite, floor")
    )
    e911_city = forms.CharField(label="City", required=False, widget=_text(100))
    e911_state = forms.CharField(
        label="State",
        required=False,
        widget=forms.Select(choices=[("", "—")] + [(code, code) for code in sorted(US_STATES)]),
    )
    e911_postal_code = forms.CharField(
        label="ZIP", required=False, widget=_text(10, inputmode="numeric")
    )

    billing_profile_id = forms.CharField(
        label="Billing profile",
        required=False,
        widget=forms.Select(),
        help_text="How you charge this tenant; change it later from the tenant's page.",
    )

    def __init__(self, *args, tenant: Tenant | None = None, profiles=(), **kwargs):
        if tenant is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(tenant)
        super().__init__(*args, **kwargs)
        self.tenant = tenant
        if tenant is None and profiles:
            self.fields["billing_profile_id"].widget.choices = [
                (profile.id, profile.name + (" (default)" if profile.is_default else ""))
                for profile in profiles
            ]
            default = next((profile.id for profile in profiles if profile.is_default), "")
            self.fields["billing_profile_id"].initial = default
        else:
            del self.fields["billing_profile_id"]
        statuses = [Tenant.Status.TRIAL, Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED]
        if tenant is not None:
            # Cancelling goes through Delete, with its confirmation; a cancelled tenant
            # keeps its status in the list so the form can still show it.
            if tenant.status == Tenant.Status.CANCELLED:
                statuses.append(Tenant.Status.CANCELLED)
            self.fields["sip_prefix"].disabled = True
            self.fields["sip_prefix"].help_text = "Immutable: existing extensions depend on it."
        else:
            # Suggest a prefix from the name as it is typed, until the prefix is edited by hand.
            self.fields["name"].widget.attrs.update(
                {
                    "hx-get": "/tenants/sip-prefix",
                    "hx-trigger": "input changed delay:300ms"
                    "[!document.getElementById('id_sip_prefix').dataset.touched]",
                    "hx-target": "#id_sip_prefix",
                    "hx-swap": "outerHTML",
                }
            )
        self.fields["status"].choices = [(status, status) for status in statuses]

    @staticmethod
    def initial_from(tenant: Tenant) -> dict:
        return {
            "name": tenant.name,
            "sip_prefix": tenant.sip_prefix,
            "billing_email": tenant.billing_email,
            "default_cnam": tenant.default_cnam,
            "timezone": tenant.timezone,
            "status": tenant.status,
            "e911_street": tenant.e911_street,
            "e911_street2": tenant.e911_street2,
            "e911_city": tenant.e911_city,
            "e911_state": tenant.e911_state,
            "e911_postal_code": tenant.e911_postal_code,
        }

    def e911_address(self) -> dict | None:
        data = self.cleaned_data
        address = {
            "street": data.get("e911_street", ""),
            "street2": data.get("e911_street2", ""),
            "city": data.get("e911_city", ""),
            "state": data.get("e911_state", ""),
            "postal_code": data.get("e911_postal_code", ""),
        }
        return address if any(value.strip() for value in address.values()) else None

    def create_arguments(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "billing_email": data["billing_email"],
            "timezone_name": data["timezone"] or None,
            "sip_prefix": data["sip_prefix"].strip() or None,
            "default_cnam": data["default_cnam"],
            "status": data["status"] or Tenant.Status.TRIAL,
            "e911_address": self.e911_address(),
            "billing_profile_id": data.get("billing_profile_id") or None,
        }

    def changes(self) -> dict:
        data = self.cleaned_data
        changes = {
            "name": data["name"],
            "billing_email": data["billing_email"],
            "default_cnam": data["default_cnam"],
            "timezone": data["timezone"],
            "e911_address": self.e911_address(),
        }
        if data["status"]:
            changes["status"] = data["status"]
        return changes


class TenantDeleteForm(forms.Form):
    confirm_name = forms.CharField(
        label="Type the tenant name to confirm",
        required=False,
        widget=_text(autocomplete="off", spellcheck="false"),
    )

    def __init__(self, *args, tenant: Tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant

    def clean_confirm_name(self) -> str:
        # Deliberate friction before a destructive step, not a business rule.
        typed = self.cleaned_data["confirm_name"].strip()
        if typed != self.tenant.name:
            raise forms.ValidationError("Type the tenant name exactly as shown to delete it.")
        return typed


class TenantSuspendForm(forms.Form):
    reason = forms.CharField(
        label="Reason (optional)",
        required=False,
        widget=_text(200, placeholder="Past due invoice"),
    )


class TenantDefaultsForm(LimitFields):
    """Tenant Defaults, with the usage limits new tenants start with; Auto-Suspend is the
    suspension behaviour."""

    service_error_fields = {"timezone": "default_timezone"}
    DEFAULT_FIELDS = ("default_timezone", "default_cnam", "default_suspension_behavior")

    default_timezone = forms.CharField(
        label="Timezone", required=False, widget=forms.Select(choices=timezone_choices())
    )
    default_cnam = forms.CharField(
        label="Default CNAM",
        required=False,
        widget=_text(15),
        help_text="Leave blank if your tenants set their own caller ID name.",
    )
    default_suspension_behavior = forms.CharField(
        label="Auto-Suspend",
        required=False,
        widget=forms.RadioSelect(choices=SUSPENSION_BEHAVIOR_CHOICES),
    )

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.DEFAULT_FIELDS}


def resource_label(resource: str) -> str:
    return resource.replace("_", " ").title()


class ApiKeyForm(forms.Form):
    """Create a key (all fields) or edit one (scopes, tenant scope and rate limit only)."""

    name = forms.CharField(
        label="Name",
        required=False,
        widget=_text(100, required=True, placeholder="Production CRM Integration"),
    )
    scopes = forms.MultipleChoiceField(
        required=False,
        choices=[(ALL, "Select All")]
        + [
            (f"{resource}:{access}", f"{resource}:{access}")
            for resource in RESOURCES
            for access in ("read", "write")
        ],
    )
    tenant_ids = forms.MultipleChoiceField(required=False)
    rate_limit = forms.IntegerField(
        label="Rate Limit",
        required=False,
        initial=ApiKey.DEFAULT_RATE_LIMIT,
        widget=forms.NumberInput(attrs={"min": 1, "max": ApiKey.MAX_RATE_LIMIT, "step": 1}),
        help_text=f"Requests per minute. Default {ApiKey.DEFAULT_RATE_LIMIT}, "
        f"max {ApiKey.MAX_RATE_LIMIT:,}.",
    )
    expires_on = forms.DateField(
        label="Expires (optional)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The key stops working at the end of this day (UTC).",
    )

    service_error_fields = {"expires_at": "expires_on"}

    def __init__(self, *args, tenants, api_key: ApiKey | None = None, **kwargs):
        if api_key is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "scopes": list(api_key.scopes),
                "tenant_ids": list(api_key.tenants.values_list("id", flat=True)),
                "rate_limit": api_key.rate_limit,
            }
        super().__init__(*args, **kwargs)
        self.api_key = api_key
        self.tenants = list(tenants)
        self.fields["tenant_ids"].choices = [(tenant.id, tenant.name) for tenant in self.tenants]
        if api_key is not None:
            del self.fields["name"]
            del self.fields["expires_on"]

    def _selected(self, field: str) -> set[str]:
        value = self[field].value() or []
        return {value} if isinstance(value, str) else set(value)

    def scope_rows(self) -> list[dict]:
        """One row a resource, read and write side by side, as the guide groups them."""
        selected = self._selected("scopes")
        everything = ALL in selected
        return [
            {
                "label": resource_label(resource),
                "read": f"{resource}:read",
                "write": f"{resource}:write",
                "read_checked": everything or f"{resource}:read" in selected,
                "write_checked": everything or f"{resource}:write" in selected,
            }
            for resource in RESOURCES
        ]

    def all_scopes_checked(self) -> bool:
        return ALL in self._selected("scopes")

    def tenant_rows(self) -> list[dict]:
        selected = self._selected("tenant_ids")
        return [{"tenant": tenant, "checked": tenant.id in selected} for tenant in self.tenants]


class AuditFilterForm(forms.Form):
    actor = forms.CharField(
        label="Actor", required=False, widget=_text(255, placeholder="Email, key name or id")
    )
    action = forms.CharField(label="Action", required=False, widget=forms.Select())
    object_id = forms.CharField(
        label="Object id", required=False, widget=_text(64, placeholder="tnt_…")
    )
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, actions: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].widget.choices = [("", "All actions")] + [(a, a) for a in actions]


class ApiRequestFilterForm(forms.Form):
    api_key = forms.CharField(label="Key", required=False, widget=forms.Select())
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, api_keys, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["api_key"].widget.choices = [("", "All keys")] + [
            (key.id, f"{key.name} ({key.masked})") for key in api_keys
        ]


class WebhookEndpointForm(forms.Form):
    """Add an endpoint or edit one: URL, description and the events it receives."""

    url = forms.CharField(
        label="Endpoint URL",
        required=False,
        widget=forms.URLInput(
            attrs={
                "required": True,
                "maxlength": 2048,
                "placeholder": "https://api.yourcompany.com/webhooks/trunkline",
                "spellcheck": "false",
                "autocomplete": "off",
            }
        ),
        help_text="Must be https. Your server answers each POST with a 2xx within 10 seconds.",
    )
    description = forms.CharField(
        label="Description (optional)",
        required=False,
        widget=_text(500, placeholder="CRM sync"),
    )
    events = forms.MultipleChoiceField(
        required=False, choices=[(name, name) for name in EVENT_TYPES]
    )

    def __init__(self, *args, endpoint: WebhookEndpoint | None = None, **kwargs):
        if endpoint is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "url": endpoint.url,
                "description": endpoint.description,
                "events": list(endpoint.events),
            }
        super().__init__(*args, **kwargs)
        self.endpoint = endpoint

    def _selected_events(self) -> set[str]:
        value = self["events"].value() or []
        return {value} if isinstance(value, str) else set(value)

    def event_groups(self) -> list[dict]:
        """The catalogue's categories, each with its events, as the guide groups them."""
        selected = self._selected_events()
        groups = []
        for category in CATEGORIES:
            events = [
                {
                    "name": event.name,
                    "description": event.description,
                    "checked": event.name in selected,
                }
                for event in events_in(category)
            ]
            groups.append(
                {
                    "category": category,
                    "slug": category.lower().replace(" ", "-"),
                    "events": events,
                    "all_checked": all(event["checked"] for event in events),
                }
            )
        return groups

    def all_events_checked(self) -> bool:
        return set(EVENT_TYPES) <= self._selected_events()


class WalletHistoryFilterForm(forms.Form):
    """Settings → Billing → History: a date range (UTC days) and a transaction type."""

    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    type = forms.ChoiceField(label="Type", required=False)

    def __init__(self, *args, **kwargs):
        from trunkline.billing.ledger import WALLET_TYPES
        from trunkline.billing.models import Posting

        super().__init__(*args, **kwargs)
        self.fields["type"].choices = [
            ("", "All types"),
            *((value, label) for value, label in Posting.Type.choices if value in WALLET_TYPES),
        ]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end date is on or after the start date.")
        return data


class PaymentMethodForm(forms.Form):
    """With the simulated processor the card number itself is the token; with Stripe it is
    the PaymentMethod id (`pm_…`) the card form produced."""

    token = forms.CharField(
        label="Card number",
        required=False,
        max_length=255,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


class TenantChargeForm(forms.Form):
    """A one-time charge for the tenant's next invoice; the service checks the figures."""

    service_error_fields = {
        "charge.description": "description",
        "charge.quantity": "quantity",
        "charge.unit_price": "unit_price",
    }

    description = forms.CharField(
        max_length=200, widget=forms.TextInput(attrs={"placeholder": "Setup fee"})
    )
    quantity = forms.IntegerField(min_value=1, max_value=100_000, initial=1)
    unit_price = forms.CharField(
        label="Unit price (USD)",
        max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "49.00"}),
    )


class SiteForm(forms.Form):
    name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"placeholder": "Little Rock office"})
    )
    timezone = forms.CharField(
        label="Timezone", required=False, widget=forms.Select(choices=timezone_choices())
    )


class DepartmentForm(forms.Form):
    service_error_fields = {"parent_id": "parent"}

    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"placeholder": "Sales"}))
    parent = forms.ChoiceField(label="Under", required=False)

    def __init__(self, *args, departments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].choices = [("", "— the top level —")] + [
            (department.id, f"{'· ' * depth}{department.name}") for department, depth in departments
        ]


class TopUpForm(forms.Form):
    amount = forms.CharField(
        label="Amount (USD)",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "100.00"}),
    )
    # Made when the form is shown: submitting it twice charges the card once.
    idempotency_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput())


class AutoRechargeForm(forms.Form):
    enabled = forms.BooleanField(label="Enable auto-recharge", required=False)
    threshold = forms.CharField(
        label="When the balance falls below (USD)",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    amount = forms.CharField(
        label="Recharge amount (USD)",
        required=False,
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
        help_text="Four to six weeks of typical usage keeps recharges rare.",
    )


class PlanChoiceForm(forms.Form):
    """A tier for activation or a plan change; `confirm` turns the preview into the change."""

    plan = forms.ChoiceField(
        label="Plan",
        choices=[(plan, Plan(plan).label) for plan in SELF_SERVICE_PLANS],
        widget=forms.RadioSelect,
    )
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput())
