"""The licence page's forms: add licences, allocate them to a site, migrate them between
sites, and the mass-configuration upload.

Only reading happens here. The SKU and site fields take any value and the quantities
take any text, so a wrong one reaches the licence engine, whose message is shown next to
the field: the portal and the API refuse the same things with the same words.
"""

from __future__ import annotations

from django import forms

from trunkline.licensing.models import LicenseSku
from trunkline.pbx.models import Site


def quantity_of(value: str):
    text = (value or "").strip().replace(",", "")
    if not text:
        return None
    return int(text) if text.isdigit() else text


def _quantity_field(label: str = "Quantity") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


def sku_choices(skus) -> list:
    """The SKUs grouped by kind, in the catalog's order."""
    groups: dict[str, list] = {}
    for sku in skus:
        groups.setdefault(LicenseSku.Kind(sku.kind).label, []).append((sku.code, sku.name))
    return [("", "— choose a licence —"), *groups.items()]


def site_choices(sites) -> list:
    return [("", "— choose a site —")] + [(site.id, site.name) for site in sites]


class LicenseAddForm(forms.Form):
    sku = forms.CharField(label="Licence", required=False, widget=forms.Select())
    quantity = _quantity_field()

    def __init__(self, *args, skus=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sku"].widget.choices = sku_choices(skus)

    def clean_quantity(self):
        return quantity_of(self.cleaned_data["quantity"])


class AllocationForm(forms.Form):
    service_error_fields = {"site_id": "site"}

    site = forms.CharField(label="Site", required=False, widget=forms.Select())
    sku = forms.CharField(label="Licence", required=False, widget=forms.Select())
    quantity = _quantity_field("Licences at the site")

    def __init__(self, *args, skus=(), sites: list[Site] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sku"].widget.choices = sku_choices(skus)
        self.fields["site"].widget.choices = site_choices(sites)

    def clean_quantity(self):
        value = quantity_of(self.cleaned_data["quantity"])
        return 0 if value is None else value


class MigrateForm(forms.Form):
    service_error_fields = {"from_site_id": "from_site", "to_site_id": "to_site"}

    sku = forms.CharField(label="Licence", required=False, widget=forms.Select())
    from_site = forms.CharField(label="From site", required=False, widget=forms.Select())
    to_site = forms.CharField(label="To site", required=False, widget=forms.Select())
    quantity = _quantity_field("Licences to move")

    def __init__(self, *args, skus=(), sites: list[Site] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sku"].widget.choices = sku_choices(skus)
        self.fields["from_site"].widget.choices = site_choices(sites)
        self.fields["to_site"].widget.choices = site_choices(sites)

    def clean_quantity(self):
        return quantity_of(self.cleaned_data["quantity"])


class MassConfigForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
