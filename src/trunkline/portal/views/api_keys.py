"""Settings → API Keys. The plaintext key appears in one response only: the one creating it."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods

from trunkline.accounts import services
from trunkline.core.errors import TrunklineError
from trunkline.portal import selectors
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms import ApiKeyForm
from trunkline.portal.rendering import day_end, finish, or_404, render_modal, show_service_error
from trunkline.tenants.selectors import tenants_visible_to

LIST_URL = "/settings/api-keys"


def _tenants(request):
    return tenants_visible_to(request.actor).order_by("name")


@require_GET
@partner_required
def api_key_list(request):
    api_keys = selectors.api_keys_for(request.actor).order_by("-created_at")
    return render(
        request,
        "portal/api_keys/list.html",
        {"nav": "settings", "api_keys": list(api_keys), "now": timezone.now()},
    )


@require_http_methods(["GET", "POST"])
@writer_required
def api_key_new(request):
    if request.method == "POST":
        form = ApiKeyForm(request.POST, tenants=_tenants(request))
        if form.is_valid():
            data = form.cleaned_data
            try:
                api_key, plaintext = services.api_key_create(
                    actor=request.actor,
                    name=data["name"],
                    scopes=data["scopes"],
                    tenant_ids=data["tenant_ids"],
                    rate_limit=data["rate_limit"],
                    expires_at=day_end(data["expires_on"]),
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                response = render_modal(
                    request,
                    "portal/api_keys/_created.html",
                    {
                        "nav": "settings",
                        "api_key": api_key,
                        "plaintext": plaintext,
                        "title": "API key created",
                    },
                    status=201,
                )
                # The only copy of the key must not linger in any cache.
                add_never_cache_headers(response)
                return response
        return _key_form(request, form, status=422)
    return _key_form(request, ApiKeyForm(tenants=_tenants(request)))


@require_http_methods(["GET", "POST"])
@writer_required
def api_key_edit(request, key_id: str):
    api_key = or_404(selectors.api_key_get, actor=request.actor, key_id=key_id)
    if request.method == "POST":
        form = ApiKeyForm(request.POST, tenants=_tenants(request), api_key=api_key)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.api_key_update(
                    actor=request.actor,
                    api_key=api_key,
                    scopes=data["scopes"],
                    tenant_ids=data["tenant_ids"],
                    rate_limit=data["rate_limit"],
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"API key {api_key.name} saved.")
                return finish(request, LIST_URL)
        return _key_form(request, form, status=422)
    return _key_form(request, ApiKeyForm(tenants=_tenants(request), api_key=api_key))


def _key_form(request, form: ApiKeyForm, *, status: int = 200):
    api_key = form.api_key
    return render_modal(
        request,
        "portal/api_keys/_form.html",
        {
            "nav": "settings",
            "form": form,
            "api_key": api_key,
            "title": f"Edit {api_key.name}" if api_key else "Create API Key",
            "action": f"{LIST_URL}/{api_key.id}/edit" if api_key else f"{LIST_URL}/new",
            "submit_label": "Save" if api_key else "Create Key",
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@writer_required
def api_key_revoke(request, key_id: str):
    api_key = or_404(selectors.api_key_get, actor=request.actor, key_id=key_id)
    error_message = ""
    if request.method == "POST":
        try:
            services.api_key_revoke(actor=request.actor, api_key=api_key)
        except TrunklineError as error:
            error_message = error.message[:1].upper() + error.message[1:]
        else:
            messages.success(
                request,
                f"API key {api_key.name} revoked. Requests using it are refused within a minute.",
            )
            return finish(request, LIST_URL)
    return render_modal(
        request,
        "portal/api_keys/_revoke.html",
        {
            "nav": "settings",
            "api_key": api_key,
            "title": f"Revoke {api_key.name}",
            "error": error_message,
        },
        status=409 if error_message else 200,
    )
