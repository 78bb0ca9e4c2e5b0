"""Numbers → Buy DIDs: search the carrier's local and toll-free numbers, tick the ones
wanted, confirm the price against the wallet, buy. The search is the API's own
(`availability.available_numbers`); the quote and the purchase are the services behind
`POST /v1/phone-numbers/purchase/quote` and `POST /v1/phone-numbers/purchase`."""

from __future__ import annotations

import phonenumbers
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from trunkline.core.errors import Conflict, PaymentRequired, TrunklineError, ValidationFailed
from trunkline.core.money import Money
from trunkline.phone_numbers import availability, geography, services
from trunkline.phone_numbers.models import TOLL_FREE_NPAS, PhoneNumber
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.rendering import render_modal, vary_on_htmx

LOCAL_FIELDS = ("state", "area_code", "nxx", "rate_center", "city")
FORM_FIELDS = (*LOCAL_FIELDS, "count", "pattern")
DEFAULT_TOLL_FREE_COUNT = 10
MAX_TOLL_FREE_COUNT = 100
VANITY_EXAMPLES = ("877-555-XXXX", "8XX-OUR-FOOD", "888-XXX-1000")


def formatted(e164: str) -> str:
    """`+15015550123` as `(501) 555-0123`."""
    return phonenumbers.format_number(
        phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.NATIONAL
    )


def _search(request, **criteria) -> tuple[list[dict] | None, dict[str, str]]:
    """Results (None when nothing was searched yet) and errors keyed by form field."""
    try:
        found = availability.available_numbers(actor=request.actor, **criteria)
    except TrunklineError as error:
        field = {"limit": "count"}.get(error.field, error.field) or "general"
        if not isinstance(error, ValidationFailed) or field not in FORM_FIELDS:
            field = "general"  # no price list in force, and the like: above the form
        return None, {field: error.message[:1].upper() + error.message[1:]}
    for offer in found:
        offer["formatted"] = formatted(offer["number"])
    return found, {}


def _page(request, tab: str, context: dict):
    response = render(
        request,
        "phone_numbers/buy.html",
        {"nav": "numbers", "tab": tab, "can_buy": request.user.can_write, **context},
    )
    return vary_on_htmx(response)


@require_GET
@partner_required
def buy_local(request):
    values = {name: request.GET.get(name, "").strip()[:64] for name in LOCAL_FIELDS}
    values["state"] = values["state"].upper()
    results, errors = None, {}
    if "search" in request.GET or any(values.values()):
        results, errors = _search(request, kind="local", **values)
    return _page(
        request,
        "local",
        {
            "values": values,
            "results": results,
            "errors": errors,
            "states": geography.states(),
            "area_codes": geography.area_codes(values["state"]) if values["state"] else (),
        },
    )


@require_GET
@partner_required
def buy_toll_free(request):
    mode = "vanity" if request.GET.get("mode") == "vanity" else "regular"
    values = {
        "count": request.GET.get("count", "").strip()[:6] or str(DEFAULT_TOLL_FREE_COUNT),
        "code": request.GET.get("code", "").strip()[:3],
        "pattern": request.GET.get("pattern", "").strip()[:40],
    }
    results, errors = None, {}
    if "search" in request.GET:
        if mode == "vanity":
            if not values["pattern"]:
                errors = {"pattern": "Type a pattern, such as 8XX-OUR-FOOD."}
            else:
                results, errors = _search(
                    request, kind="toll_free", pattern=values["pattern"], limit=50
                )
        elif not values["count"].isdigit() or not 1 <= int(values["count"]) <= MAX_TOLL_FREE_COUNT:
            errors = {"count": f"Show between 1 and {MAX_TOLL_FREE_COUNT} numbers."}
        else:
            results, errors = _search(
                request, kind="toll_free", area_code=values["code"], limit=int(values["count"])
            )
    return _page(
        request,
        "toll_free",
        {
            "mode": mode,
            "values": values,
            "results": results,
            "errors": errors,
            "codes": TOLL_FREE_NPAS,
            "examples": VANITY_EXAMPLES,
        },
    )


@require_GET
@partner_required
def city_options(request):
    """`<option>`s for the City box's datalist: the state's cities starting as typed."""
    state = request.GET.get("state", "").strip().upper()[:2]
    typed = request.GET.get("city", "").strip()[:64]
    names = geography.cities(state, typed) if state in geography.states() else []
    return vary_on_htmx(render(request, "phone_numbers/_city_options.html", {"cities": names}))


def _chosen(request) -> list[str]:
    return request.POST.getlist("numbers")


def _error_status(error: TrunklineError) -> int:
    return error.status if isinstance(error, PaymentRequired | Conflict) else 422


def _error_message(error: TrunklineError) -> str:
    if getattr(error, "type", "") == "number_unavailable":
        return f"Sold meanwhile — {error.message}. Nothing was bought; untick it or search again."
    if isinstance(error, PaymentRequired):
        return (
            f"Your wallet cannot pay for this purchase ({error.message}). Nothing was "
            "bought; top up the wallet in Settings → Billing and try again."
        )
    if error.field == "numbers":
        return "Tick at least one number to buy." if not error.message else error.message
    return error.message


@require_POST
@writer_required
def quote(request):
    numbers = _chosen(request)
    context = {"title": "Confirm purchase", "numbers": numbers, "modal_class": "wide"}
    if not numbers:
        context["error"] = "Tick at least one number to buy."
        return render_modal(request, "phone_numbers/_buy_confirm.html", context, status=422)
    try:
        priced = services.purchase_quote(actor=request.actor, numbers=numbers)
    except TrunklineError as error:
        context["error"] = _error_message(error)
        return render_modal(
            request, "phone_numbers/_buy_confirm.html", context, status=_error_status(error)
        )
    total, balance = Money.parse(priced["total"]), Money.parse(priced["wallet_balance"])
    for line in priced["numbers"]:
        line["formatted"] = formatted(line["number"])
    context.update(
        quote=priced,
        shortfall=(total - balance).to_json() if balance < total else None,
    )
    return render_modal(request, "phone_numbers/_buy_confirm.html", context)


@require_POST
@writer_required
def purchase(request):
    numbers = _chosen(request)
    context = {"title": "Purchase", "numbers": numbers, "modal_class": "wide"}
    try:
        bought = services.numbers_purchase(actor=request.actor, numbers=numbers)
    except TrunklineError as error:
        context["error"] = _error_message(error)
        return render_modal(
            request, "phone_numbers/_buy_done.html", context, status=_error_status(error)
        )
    for number in bought:
        number.formatted = formatted(number.e164)
    context.update(title="Numbers purchased", bought=bought, pending=PhoneNumber.Status.PENDING)
    return render_modal(request, "phone_numbers/_buy_done.html", context)


urlpatterns = [
    path("numbers/buy", buy_local, name="numbers-buy"),
    path("numbers/buy/toll-free", buy_toll_free, name="numbers-buy-toll-free"),
    path("numbers/buy/cities", city_options, name="numbers-buy-cities"),
    path("numbers/buy/quote", quote, name="numbers-buy-quote"),
    path("numbers/buy/purchase", purchase, name="numbers-buy-purchase"),
]
