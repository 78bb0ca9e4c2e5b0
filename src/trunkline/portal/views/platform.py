"""The platform's own pages, for staff: tenants' usage exposure, carriers' traffic, and
loading number blocks into the carrier's inventory.

Rate tables are kept in the admin (`/admin/billing/…`), which these pages link to.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from trunkline.billing import dashboards
from trunkline.core.errors import TrunklineError
from trunkline.core.pagination import paginate
from trunkline.phone_numbers import blocks
from trunkline.portal.access import staff_required
from trunkline.portal.rendering import day_end, day_start, htmx_target, vary_on_htmx
from trunkline.tenants.models import Tenant

PAGE_SIZE = 100
SORTS = {"exposure": ("usage_wholesale_micros", True), "name": ("name", False)}


class TenantsFilterForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Tenant, partner or id"}),
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Tenant.Status.choices]
    )
    sort = forms.ChoiceField(
        label="Sort",
        required=False,
        choices=[("exposure", "Highest exposure first"), ("name", "Name")],
    )


class DateRangeForm(forms.Form):
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        today = timezone.now().date()
        data["date_from"] = data.get("date_from") or dashboards.month_start(today)
        data["date_to"] = data.get("date_to") or today
        if data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end date is on or after the start date.")
        return data


@require_GET
@staff_required
def tenants_dashboard(request):
    form = TenantsFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest("bad filter")
    data = form.cleaned_data
    queryset = dashboards.tenants_exposure(
        actor=request.actor, search=data["q"].strip(), status=data["status"]
    )
    sort_field, descending = SORTS[data["sort"] or "exposure"]
    try:
        page = paginate(
            queryset,
            limit=PAGE_SIZE,
            cursor=request.GET.get("cursor") or None,
            sort_field=sort_field,
            descending=descending,
        )
    except TrunklineError as error:
        return HttpResponseBadRequest(error.message)
    filters = {name: value for name, value in form.data.items() if name in form.fields and value}
    load_more_url = ""
    if page.next_cursor:
        load_more_url = f"/platform/tenants?{urlencode({**filters, 'cursor': page.next_cursor})}"
    context = {
        "nav": "platform",
        "form": form,
        "page": page,
        "totals": dashboards.tenants_exposure_totals(queryset),
        "load_more_url": load_more_url,
    }
    template = (
        "portal/platform/_tenant_rows.html"
        if htmx_target(request) == "load-more"
        else "portal/platform/tenants.html"
    )
    return vary_on_htmx(render(request, template, context))


@require_GET
@staff_required
def providers_dashboard(request):
    form = DateRangeForm(request.GET)
    rows, totals = [], None
    if form.is_valid():
        data = form.cleaned_data
        rows = dashboards.providers_traffic(
            actor=request.actor,
            since=day_start(data["date_from"]),
            until=day_end(data["date_to"]),
        )
        totals = dashboards.provider_totals(rows)
        form = DateRangeForm(
            {"date_from": data["date_from"].isoformat(), "date_to": data["date_to"].isoformat()}
        )
    return render(
        request,
        "portal/platform/providers.html",
        {"nav": "platform", "form": form, "rows": rows, "totals": totals},
        status=200 if totals is not None else 422,
    )


class NumberBlockForm(forms.Form):
    file = forms.FileField(label="CSV file")
    dry_run = forms.BooleanField(label="Check only: load nothing", required=False)


@require_http_methods(["GET", "POST"])
@staff_required
def number_blocks(request):
    """Upload a CSV block: every row checked first; errors listed by row, or the counts
    loaded. "Check only" runs the same checks and changes nothing."""
    form = NumberBlockForm(request.POST or None, request.FILES or None)
    errors: list[str] = []
    result = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                result = blocks.number_block_load(
                    actor=request.actor,
                    content=upload.read(blocks.MAX_BYTES + 1),
                    filename=upload.name,
                    dry_run=form.cleaned_data["dry_run"],
                )
            except blocks.BlockRejected as error:
                errors = error.errors
            except TrunklineError as error:
                errors = [error.message]
        if errors or not form.is_valid():
            status = 422
    return render(
        request,
        "portal/platform/number_blocks.html",
        {
            "nav": "platform",
            "form": form,
            "errors": errors[: blocks.MAX_ERRORS],
            "more_errors": max(0, len(errors) - blocks.MAX_ERRORS),
            "result": result,
            "columns": blocks.COLUMNS,
            "max_rows": f"{blocks.MAX_ROWS:,}",
        },
        status=status,
    )
