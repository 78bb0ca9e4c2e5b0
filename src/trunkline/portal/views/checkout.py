"""The public hosted payment page of an invoice (billing/checkout.py): no sign-in, reached
by the unguessable token in its address, under the partner's brand. With the simulated
processor it takes a test card itself; with Stripe it sends the payer to Stripe Checkout,
which sends them back to `…/done`. The invoice email's lasting link
(`/pay/invoice/<signed>`) opens a session on demand."""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from trunkline.accounts.views.common import public_base_url
from trunkline.billing import checkout as checkouts
from trunkline.billing.models import InvoiceCheckout
from trunkline.core.email import brand_name
from trunkline.core.errors import TrunklineError
from trunkline.portal.rendering import show_service_error


class CardForm(forms.Form):
    card_number = forms.CharField(
        label="Card number",
        required=False,
        max_length=40,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )


def _private(response):
    # The address is the key to the page: keep it out of caches and Referer headers.
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def _page(request, checkout: InvoiceCheckout, *, form=None, status=200, done=False):
    invoice = checkout.invoice
    partner = invoice.partner
    now = timezone.now()
    state = checkout.status
    if state == InvoiceCheckout.Status.OPEN and checkout.expires_at <= now:
        state = InvoiceCheckout.Status.EXPIRED
    return _private(
        render(
            request,
            "portal/billing/checkout_page.html",
            {
                "checkout": checkout,
                "invoice": invoice,
                "tenant": invoice.tenant,
                "state": state,
                "simulated": checkout.processor == "simulated",
                "open_invoice": invoice.status in checkouts.collection.OPEN_STATUSES
                and invoice.amount_due_micros > 0,
                "form": form or CardForm(),
                "done": done,
                "brand_name": brand_name(partner),
                "brand_partner": partner,
                "brand_color": partner.primary_color or "#2f5bea",
                "support_email": partner.brand_support_email,
            },
            status=status,
        )
    )


def _message(request, invoice, message: str, *, status: int = 200):
    partner = invoice.partner
    return _private(
        render(
            request,
            "portal/billing/checkout_message.html",
            {
                "invoice": invoice,
                "message": message,
                "brand_name": brand_name(partner),
                "brand_partner": partner,
                "brand_color": partner.primary_color or "#2f5bea",
                "support_email": partner.brand_support_email,
            },
            status=status,
        )
    )


def _checkout(token: str) -> InvoiceCheckout:
    found = checkouts.checkout_for_token(token)
    if found is None:
        raise Http404("no such payment link")
    return found


@never_cache
@require_http_methods(["GET", "POST"])
def pay_page(request, token: str):
    checkout = _checkout(token)
    if request.method != "POST":
        return _page(request, checkout)
    form = CardForm(request.POST)
    status = 422
    if form.is_valid():
        try:
            checkout = checkouts.invoice_checkout_pay_simulated(
                checkout=checkout, card_number=form.cleaned_data["card_number"]
            )
        except TrunklineError as error:
            show_service_error(form, error)
            status = 409 if error.status == 409 else 422
        else:
            if checkout.status == InvoiceCheckout.Status.COMPLETED:
                return redirect(f"{checkouts.page_path(checkout)}/done")
            form.add_error("card_number", checkout.message)
            status = 402
    return _page(request, checkout, form=form, status=status)


@never_cache
@require_GET
def pay_done(request, token: str):
    """Where the processor's page sends the payer back: the payment is applied here if
    the hourly job has not done it yet."""
    checkout = _checkout(token)
    checkout = checkouts.invoice_checkout_complete(checkout_id=checkout.id)
    return _page(request, checkout, done=True)


@never_cache
@require_GET
def pay_link(request, token: str):
    """The invoice email's link: on to a payment page for what is due now."""
    try:
        checkout = checkouts.invoice_checkout_for_pay_link(
            token=token, base_url=public_base_url(request)
        )
    except checkouts.NothingDue:
        # Paid (perhaps on this very link): the latest page says so.
        invoice = checkouts.invoice_for_pay_link(token)
        latest = invoice.checkouts.order_by("-created_at").first() if invoice else None
        if latest is None:
            return _message(request, invoice, "Nothing is due on this invoice.")
        return _page(request, latest)
    except TrunklineError as error:
        if error.status == 404:
            raise Http404("no such payment link") from None
        invoice = checkouts.invoice_for_pay_link(token)
        message = error.message[:1].upper() + error.message[1:]
        return _message(request, invoice, f"{message}. Please try again later.", status=502)
    if checkout.processor == "simulated":
        return redirect(checkouts.page_path(checkout))
    return _private(HttpResponseRedirect(checkout.url))
