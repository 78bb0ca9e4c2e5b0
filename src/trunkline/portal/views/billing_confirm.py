"""Settings → Billing → confirm a card payment (3-D Secure) for a wallet top-up.

`/settings/billing/confirm/<id>` shows the payment and where it stands. With Stripe it
sends the cardholder to the bank's page, which sends them back to `…/return`; with the
simulated processor it shows the simulated bank's own Approve / Decline. Coming back, the
processor is asked and a confirmed payment credits the wallet (`card_confirmations`).
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from trunkline.billing import card_confirmations, ledger
from trunkline.billing.models import CardConfirmation
from trunkline.core.errors import TrunklineError
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.rendering import or_404
from trunkline.portal.views.billing import billing_tabs


def _confirmation(request, confirmation_id: str) -> CardConfirmation:
    return or_404(
        card_confirmations.confirmation_get,
        partner=request.actor.partner,
        confirmation_id=confirmation_id,
    )


@partner_required
def confirmation_page(request, confirmation_id: str):
    confirmation = _confirmation(request, confirmation_id)
    return render(
        request,
        "portal/billing/confirm.html",
        {
            "nav": "settings",
            "tab": "history",
            "billing_tabs": billing_tabs(),
            "confirmation": confirmation,
            "simulated": confirmation.processor == "simulated",
            "balance": ledger.wallet_balance(request.actor.partner),
        },
    )


def _settled_message(request, confirmation: CardConfirmation) -> None:
    Status = CardConfirmation.Status
    if confirmation.status == Status.SUCCEEDED:
        added = confirmation.amount.to_json()
        messages.success(request, f"Payment confirmed: ${added} added to your wallet.")
    elif confirmation.status == Status.PENDING:
        messages.info(request, "The bank has not confirmed the payment yet.")
    else:
        messages.error(request, f"The payment was not taken: {confirmation.failure_reason}")


@writer_required
def confirmation_return(request, confirmation_id: str):
    """Where the bank sends the cardholder back."""
    confirmation = _confirmation(request, confirmation_id)
    try:
        confirmation = card_confirmations.confirmation_refresh(
            confirmation=confirmation, actor=request.actor
        )
    except TrunklineError as error:
        messages.error(request, error.message[:1].upper() + error.message[1:])
    else:
        _settled_message(request, confirmation)
    return redirect(card_confirmations.confirmation_path(confirmation.id))


@require_POST
@writer_required
def confirmation_simulated_answer(request, confirmation_id: str):
    """The simulated bank's Approve / Decline buttons."""
    confirmation = _confirmation(request, confirmation_id)
    try:
        confirmation = card_confirmations.confirmation_simulated_answer(
            confirmation=confirmation,
            approved=request.POST.get("answer") == "approve",
            actor=request.actor,
        )
    except TrunklineError as error:
        messages.error(request, error.message[:1].upper() + error.message[1:])
    else:
        _settled_message(request, confirmation)
    return redirect(card_confirmations.confirmation_path(confirmation.id))
