"""Settings → Billing → Subscription: the plan, this cycle's usage, activation, plan
changes and the platform's subscription invoices."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from trunkline.billing import payment_services, selectors, subscriptions
from trunkline.billing.invoices_platform import invoice_pdf as draw_invoice_pdf
from trunkline.billing.invoices_platform import platform_invoice_get, platform_invoices
from trunkline.billing.models import Plan
from trunkline.core.errors import TrunklineError
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms import PlanChoiceForm
from trunkline.portal.rendering import finish, or_404, render_modal, show_service_error
from trunkline.portal.views.billing import PAYMENT_METHODS_URL, SUBSCRIPTION_URL, billing_tabs

INVOICES_SHOWN = 50
ACTIVATE_URL = f"{SUBSCRIPTION_URL}/activate"
CHANGE_PLAN_URL = f"{SUBSCRIPTION_URL}/change-plan"


@require_GET
@partner_required
def subscription(request):
    now = timezone.now()
    summary = selectors.subscription_summary(actor=request.actor, now=now)
    return render(
        request,
        "portal/billing/subscription.html",
        {
            "nav": "settings",
            "tab": "subscription",
            "billing_tabs": billing_tabs(),
            "sub": summary,
            "can_activate": summary["status"] in ("TRIAL", "SUSPENDED"),
            "can_change_plan": summary["status"] == "ACTIVE",
            "usage": selectors.partner_cycle_usage(actor=request.actor, now=now),
            "cycle": now,
            "invoices": list(platform_invoices(actor=request.actor)[:INVOICES_SHOWN]),
        },
    )


def _plan_modal(request, *, template: str, title: str, form, status: int = 200, **context):
    now = timezone.now()
    return render_modal(
        request,
        template,
        {
            "nav": "settings",
            "title": title,
            "form": form,
            "sub": selectors.subscription_summary(actor=request.actor, now=now),
            "plans": selectors.plan_choices(actor=request.actor, now=now),
            "default_method": payment_services.default_payment_method(request.actor.partner),
            "payment_methods_url": PAYMENT_METHODS_URL,
            **context,
        },
        status=status,
    )


def _refused(form, error: TrunklineError) -> dict:
    show_service_error(form, error)
    return {"needs_card": error.type == payment_services.PaymentMethodRequired.type}


@writer_required
def activate(request):
    """Choose a tier, see what activation charges, then confirm it."""
    template, title = "portal/billing/_activate.html", "Activate Account"
    if request.method != "POST":
        form = PlanChoiceForm(initial={"plan": Plan.PROFESSIONAL})
        return _plan_modal(request, template=template, title=title, form=form)
    form = PlanChoiceForm(request.POST)
    if not form.is_valid():
        return _plan_modal(request, template=template, title=title, form=form, status=422)
    plan, now, partner = form.cleaned_data["plan"], timezone.now(), request.actor.partner
    try:
        if not form.cleaned_data["confirm"]:
            quote = subscriptions.activation_quote(partner=partner, plan=plan, now=now)
            return _plan_modal(request, template=template, title=title, form=form, quote=quote)
        invoice = subscriptions.subscription_activate(actor=request.actor, plan=plan, now=now)
    except TrunklineError as error:
        context = _refused(form, error)
        return _plan_modal(
            request, template=template, title=title, form=form, status=422, **context
        )
    messages.success(
        request,
        f"Your account is active on {Plan(plan).label}. Invoice {invoice.display_number} is paid.",
    )
    return finish(request, SUBSCRIPTION_URL)


@writer_required
def change_plan(request):
    """Pick a tier, preview what the change costs and when it applies, then confirm."""
    template, title = "portal/billing/_change_plan.html", "Change Plan"
    if request.method != "POST":
        return _plan_modal(request, template=template, title=title, form=PlanChoiceForm())
    form = PlanChoiceForm(request.POST)
    if not form.is_valid():
        return _plan_modal(request, template=template, title=title, form=form, status=422)
    plan = form.cleaned_data["plan"]
    try:
        change = subscriptions.subscription_change_plan(
            actor=request.actor, plan=plan, confirm=form.cleaned_data["confirm"]
        )
    except TrunklineError as error:
        context = _refused(form, error)
        return _plan_modal(
            request, template=template, title=title, form=form, status=422, **context
        )
    if not change.confirmed:
        return _plan_modal(request, template=template, title=title, form=form, change=change)
    label = Plan(plan).label
    if change.direction == "upgrade":
        charged = f" ${change.amount_due_now.to_json()} was charged to your card."
        text = f"You are now on {label}.{charged if change.invoice else ''}"
    elif change.direction == "downgrade":
        text = f"You move to {label} on {change.effective_at:%d %B %Y}."
    else:
        text = f"The pending downgrade is cancelled: you stay on {label}."
    messages.success(request, text)
    return finish(request, SUBSCRIPTION_URL)


@require_GET
@partner_required
def invoice_pdf(request, invoice_id: str):
    """The same PDF as `GET /v1/subscription/invoices/{id}/pdf`, under the portal session."""
    invoice = or_404(platform_invoice_get, actor=request.actor, invoice_id=invoice_id[:40])
    response = HttpResponse(draw_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.display_number}.pdf"'
    return response
