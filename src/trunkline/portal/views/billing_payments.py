"""Settings → Billing → Payment Methods (cards, auto-recharge) and the wallet top-up."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.shortcuts import render
from django.views.decorators.http import require_POST

from trunkline.accounts.views.common import public_base_url
from trunkline.billing import ledger, payment_services
from trunkline.billing.card_confirmations import confirmation_path
from trunkline.billing.models import Posting
from trunkline.billing.payments import TEST_CARDS
from trunkline.core.errors import TrunklineError
from trunkline.core.money import Money, MoneyError
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms import AutoRechargeForm, PaymentMethodForm, TopUpForm
from trunkline.portal.rendering import finish, or_404, render_modal, safe_next, show_service_error
from trunkline.portal.views.billing import billing_tabs

METHODS_URL = "/settings/billing/payment-methods"
TEST_CARD_NOTES = {
    "succeeded": "succeeds",
    "declined": "is declined when added",
    "insufficient_funds": "is added, then declined for insufficient funds when charged",
    "requires_action": "is added, then every charge waits for the bank's confirmation (3-D Secure)",
    "declined_on_charge": "is added, then declined when charged",
}


def processor_info() -> dict:
    kind = getattr(settings, "TRUNKLINE_PAYMENT_PROCESSOR", "simulated")
    return {
        "kind": kind,
        "simulated": kind == "simulated",
        "stripe_configured": kind == "stripe" and bool(getattr(settings, "STRIPE_SECRET_KEY", "")),
        "test_cards": [
            {
                "number": " ".join(number[i : i + 4] for i in range(0, len(number), 4)),
                "brand": brand,
                "note": TEST_CARD_NOTES[outcome],
            }
            for number, (brand, outcome) in TEST_CARDS.items()
        ],
    }


def _dollars(form, name: str) -> Money | None:
    text = (form.cleaned_data.get(name) or "").strip().removeprefix("$").replace(",", "")
    if not text:
        form.add_error(name, "Enter an amount in dollars, like 100.00.")
        return None
    try:
        return Money.parse(text)
    except MoneyError as error:
        form.add_error(name, str(error)[:1].upper() + str(error)[1:] + ".")
        return None


@partner_required
def payment_methods(request):
    partner = request.actor.partner
    account_settings = payment_services.wallet_auto_recharge_settings(partner)
    form = AutoRechargeForm(initial=account_settings)
    return _methods_page(request, form)


def _methods_page(request, auto_recharge_form, *, status: int = 200):
    partner = request.actor.partner
    account_settings = payment_services.wallet_auto_recharge_settings(partner)
    return render(
        request,
        "portal/billing/payment_methods.html",
        {
            "nav": "settings",
            "tab": "payment_methods",
            "billing_tabs": billing_tabs(),
            "methods": list(payment_services.payment_methods_of(partner)),
            "auto_recharge": account_settings,
            "auto_recharge_form": auto_recharge_form,
            "balance": ledger.wallet_balance(partner),
            "processor": processor_info(),
        },
        status=status,
    )


@writer_required
def payment_method_new(request):
    form = PaymentMethodForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            method = payment_services.payment_method_add(
                partner=request.actor.partner,
                actor=request.actor,
                token=form.cleaned_data["token"],
            )
        except TrunklineError as error:
            show_service_error(form, error)
            status = 422  # htmx swaps 422 in: the form again, with the reason
        else:
            default = " and made it the default" if method.is_default else ""
            messages.success(request, f"Added {method.brand.title()} •••• {method.last4}{default}.")
            return finish(request, METHODS_URL)
    processor = processor_info()
    if not processor["simulated"]:
        form.fields["token"].label = "Payment method id"
        form.fields["token"].widget.attrs.pop("inputmode", None)
        form.fields["token"].widget.attrs["placeholder"] = "pm_…"
    return render_modal(
        request,
        "portal/billing/_payment_method_form.html",
        {"nav": "settings", "title": "Add Payment Method", "form": form, "processor": processor},
        status=status,
    )


@require_POST
@writer_required
def payment_method_default(request, method_id: str):
    partner = request.actor.partner
    or_404(payment_services.payment_method_get, partner=partner, payment_method_id=method_id)
    method = payment_services.payment_method_set_default(
        partner=partner, actor=request.actor, payment_method_id=method_id
    )
    messages.success(request, f"{method.brand.title()} •••• {method.last4} is now the default.")
    return finish(request, METHODS_URL)


@writer_required
def payment_method_delete(request, method_id: str):
    partner = request.actor.partner
    method = or_404(
        payment_services.payment_method_get, partner=partner, payment_method_id=method_id
    )
    others = payment_services.payment_methods_of(partner).exclude(id=method.id)
    if request.method == "POST":
        payment_services.payment_method_delete(
            partner=partner, actor=request.actor, payment_method_id=method.id
        )
        messages.success(request, f"Deleted {method.brand.title()} •••• {method.last4}.")
        return finish(request, METHODS_URL)
    return render_modal(
        request,
        "portal/billing/_payment_method_delete.html",
        {
            "nav": "settings",
            "title": "Delete Payment Method",
            "method": method,
            "successor": others.first() if method.is_default else None,
            "last_one": not others.exists(),
            "auto_recharge_on": payment_services.wallet_auto_recharge_settings(partner)["enabled"],
        },
    )


@require_POST
@writer_required
def auto_recharge(request):
    form = AutoRechargeForm(request.POST)
    if form.is_valid():
        threshold, amount = _dollars(form, "threshold"), _dollars(form, "amount")
        if threshold is not None and amount is not None:
            try:
                payment_services.wallet_auto_recharge_update(
                    partner=request.actor.partner,
                    actor=request.actor,
                    enabled=form.cleaned_data["enabled"],
                    threshold=threshold,
                    amount=amount,
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                state = "on" if form.cleaned_data["enabled"] else "off"
                messages.success(request, f"Auto-recharge is {state}.")
                return finish(request, METHODS_URL)
    return _methods_page(request, form, status=422)


@writer_required
def top_up(request):
    partner = request.actor.partner
    form = TopUpForm(request.POST or None, initial={"idempotency_key": uuid.uuid4().hex})
    next_url = safe_next(request, "/settings/billing/history")
    status = 200
    if request.method == "POST" and form.is_valid():
        amount = _dollars(form, "amount")
        key = form.cleaned_data["idempotency_key"] or uuid.uuid4().hex
        if amount is not None:
            try:
                posting = payment_services.wallet_top_up(
                    partner=partner,
                    actor=request.actor,
                    amount=amount,
                    idempotency_key=key,
                    base_url=public_base_url(request),
                )
            except payment_services.CardAuthenticationRequired as error:
                if error.confirmation is None:
                    show_service_error(form, error)
                    status = 422
                else:
                    # The bank wants the cardholder: on to the confirmation page.
                    return finish(request, confirmation_path(error.confirmation["id"]))
            except TrunklineError as error:
                show_service_error(form, error)
                status = 422
            else:
                messages.success(
                    request,
                    f"Added ${_amount_of(posting)} to your wallet. Balance: {_balance(partner)}.",
                )
                return finish(request, next_url)
        else:
            status = 422
    return render_modal(
        request,
        "portal/billing/_top_up.html",
        {
            "nav": "settings",
            "title": "Top Up Wallet",
            "form": form,
            "next": next_url,
            "balance": ledger.wallet_balance(partner),
            "default_method": payment_services.default_payment_method(partner),
            "processor": processor_info(),
        },
        status=status,
    )


def _amount_of(posting: Posting) -> str:
    return Money(posting.entries.get(account__code="wallet").amount_micros).to_json()


def _balance(partner) -> str:
    balance = ledger.wallet_balance(partner)
    return f"−${(-balance).to_json()}" if balance.micros < 0 else f"${balance.to_json()}"
