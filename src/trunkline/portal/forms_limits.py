"""Usage limits as the portal takes them: the Edit Limits modal and Tenant Defaults' limits.

A blank field is no limit. Values are only read here (a `$` or thousands separators
dropped, digits made numbers); what a valid limit is, and every message about it, is the
limits service's, so the portal and the API agree.
"""

from __future__ import annotations

from django import forms


def _limit_input(placeholder: str = "No limit", **attrs) -> forms.TextInput:
    return forms.TextInput(
        attrs={"inputmode": "decimal", "autocomplete": "off", "placeholder": placeholder, **attrs}
    )


def _count(value: str):
    text = value.strip().replace(",", "")
    if not text:
        return None
    return int(text) if text.isdigit() else text  # anything else: the service says why


def _dollars(value: str):
    text = value.strip().removeprefix("$").replace(",", "").strip()
    return text or None


class LimitFields(forms.Form):
    """The five limits that are values (Auto-Suspend is a yes/no beside them). Named as
    the API names them, so a service error lands on its field."""

    LIMITS = (
        "monthly_spend_limit",
        "max_extensions",
        "max_dids",
        "max_monthly_minutes",
        "alert_threshold_percent",
    )

    monthly_spend_limit = forms.CharField(
        label="Monthly Spend Limit ($)", required=False, max_length=30, widget=_limit_input()
    )
    max_extensions = forms.CharField(
        label="Max Extensions", required=False, max_length=20, widget=_limit_input()
    )
    max_dids = forms.CharField(
        label="Max DIDs", required=False, max_length=20, widget=_limit_input()
    )
    max_monthly_minutes = forms.CharField(
        label="Max Monthly Minutes", required=False, max_length=20, widget=_limit_input()
    )
    alert_threshold_percent = forms.CharField(
        label="Alert Threshold (%)",
        required=False,
        max_length=10,
        widget=_limit_input("80", inputmode="numeric"),
        help_text="Share of the spend or minute cap that emails you an early warning.",
    )

    @staticmethod
    def limits_initial(limits: dict) -> dict:
        """Form values from `limits_of` / `defaults_of` (None shows as blank)."""
        return {
            name: "" if limits[name] is None else str(limits[name]) for name in LimitFields.LIMITS
        }

    def limit_changes(self, present=None) -> dict:
        """The limits as the service takes them; with `present` (the names submitted),
        only those, so a form that left a field out leaves that limit as it is."""
        data = self.cleaned_data
        changes = {}
        for name in self.LIMITS:
            if present is not None and name not in present:
                continue
            value = data.get(name, "")
            changes[name] = _dollars(value) if name == "monthly_spend_limit" else _count(value)
        return changes


class UsageLimitsForm(LimitFields):
    """The Edit Limits modal: all six limits of one tenant."""

    auto_suspend = forms.BooleanField(
        label="Auto-Suspend",
        required=False,
        help_text="Suspend the tenant when it reaches its spend or minute cap.",
    )

    def changes(self) -> dict:
        return {**self.limit_changes(), "auto_suspend": self.cleaned_data["auto_suspend"]}
