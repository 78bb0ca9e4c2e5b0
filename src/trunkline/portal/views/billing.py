"""Settings → Billing: the partner's wallet history (and the tabs beside it)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from trunkline.billing import ledger, selectors
from trunkline.billing.exports import (
    csv_response,
    wallet_transaction_row,
    wallet_transactions_csv,
)
from trunkline.billing.models import Posting
from trunkline.core.errors import TrunklineError
from trunkline.core.pagination import paginate
from trunkline.portal.access import partner_required
from trunkline.portal.forms import WalletHistoryFilterForm
from trunkline.portal.rendering import day_end, day_start, htmx_target, vary_on_htmx

PAGE_SIZE = 50
SUBSCRIPTION_URL = "/settings/billing/subscription"
HISTORY_URL = "/settings/billing/history"
PAYMENT_METHODS_URL = "/settings/billing/payment-methods"


def _filters(form) -> dict:
    return {name: value for name, value in form.data.items() if name in form.fields and value}


def _history(request, form):
    data = form.cleaned_data
    return selectors.wallet_transactions(
        actor=request.actor,
        types=[data["type"]] if data["type"] else None,
        since=day_start(data["date_from"]),
        until=day_end(data["date_to"]),
    )


def billing_tabs() -> list[dict]:
    return [
        {"key": "subscription", "label": "Subscription", "url": SUBSCRIPTION_URL},
        {"key": "payment_methods", "label": "Payment Methods", "url": PAYMENT_METHODS_URL},
        {"key": "history", "label": "History", "url": HISTORY_URL},
        {"key": "profiles", "label": "Billing Config", "url": "/settings/billing/profiles"},
        {"key": "tax", "label": "Tax Jurisdictions", "url": "/settings/billing/tax"},
        {"key": "invoices", "label": "Tenant Invoices", "url": "/settings/billing/invoices"},
        {
            "key": "tenant_billing",
            "label": "Tenant Billing",
            "url": "/settings/billing/tenant-billing",
        },
    ]


def _transaction(posting) -> dict:
    return {
        **wallet_transaction_row(posting),
        "type_label": Posting.Type(posting.type).label,
        "amount_micros": posting.amount_micros,
        "balance_after_micros": posting.balance_after_micros,
    }


@require_GET
@partner_required
def billing_home(request):
    return redirect(billing_tabs()[0]["url"])  # the first tab there is


@require_GET
@partner_required
def history(request):
    form = WalletHistoryFilterForm(request.GET)
    page = None
    rows: list[dict] = []
    if form.is_valid():
        try:
            page = paginate(
                _history(request, form),
                limit=PAGE_SIZE,
                cursor=request.GET.get("cursor") or None,
                sort_field="created_at",
                descending=True,
            )
        except TrunklineError as error:
            return HttpResponseBadRequest(error.message)
        rows = [_transaction(posting) for posting in page.items]
    filters = _filters(form)
    load_more_url = ""
    if page and page.next_cursor:
        load_more_url = f"{HISTORY_URL}?{urlencode({**filters, 'cursor': page.next_cursor})}"
    query = urlencode(filters)
    context = {
        "nav": "settings",
        "tab": "history",
        "billing_tabs": billing_tabs(),
        "form": form,
        "page": page,
        "rows": rows,
        "balance": ledger.wallet_balance(request.actor.partner),
        "filtered": bool(filters),
        "load_more_url": load_more_url,
        "csv_url": f"{HISTORY_URL}.csv" + (f"?{query}" if query else ""),
    }
    template = (
        "portal/billing/_history_rows.html"
        if htmx_target(request) == "load-more"
        else "portal/billing/history.html"
    )
    return vary_on_htmx(render(request, template, context))


@require_GET
@partner_required
def history_csv(request):
    """The same rows as `GET /v1/wallet/transactions.csv`, under the portal session."""
    form = WalletHistoryFilterForm(request.GET)
    if not form.is_valid():
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponseBadRequest(problems, content_type="text/plain; charset=utf-8")
    found = _history(request, form)
    return csv_response(wallet_transactions_csv(found), "wallet-transactions.csv")
