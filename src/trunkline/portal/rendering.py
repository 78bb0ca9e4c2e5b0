"""How portal views answer: a modal for htmx, a whole page without it, and the way back."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from trunkline.core.errors import NotFound, TrunklineError


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def htmx_target(request) -> str:
    return request.headers.get("HX-Target", "") if is_htmx(request) else ""


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    # The same URL answers a fragment to htmx and a page to the browser.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def render_modal(request, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    """Inside `#modal` when htmx asked; otherwise the same form on a page of its own."""
    wrapper = "portal/_modal.html" if is_htmx(request) else "portal/form_page.html"
    response = render(request, wrapper, {**context, "inner_template": template}, status=status)
    return vary_on_htmx(response)


def safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def finish(request, url: str) -> HttpResponse:
    """After a successful write: htmx navigates the whole page, a plain form redirects."""
    if is_htmx(request):
        return HttpResponse(headers={"HX-Redirect": url})
    return redirect(url)


def show_service_error(form, error: TrunklineError) -> None:
    """Put a service's error next to the field it names, or above the form."""
    mapping = getattr(form, "service_error_fields", {})
    field = mapping.get(error.field, error.field)
    if field not in form.fields or form.fields[field].disabled:
        field = None
    message = error.message[:1].upper() + error.message[1:]
    form.add_error(field, message)


def or_404(lookup, **kwargs):
    """Call a scoped selector; a foreign or unknown id is the same 404."""
    try:
        return lookup(**kwargs)
    except NotFound:
        raise Http404("not found") from None


def day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


def day_end(day: date | None) -> datetime | None:
    """The first instant after `day` (UTC), for exclusive upper bounds."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) if day else None
