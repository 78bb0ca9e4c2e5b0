"""Settings → Webhooks: endpoints, their signing secrets, and the deliveries debugger.

A signing secret appears in one response only: the one that created or rotated it.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from trunkline.core.errors import TrunklineError
from trunkline.core.events import EVENT_TYPES
from trunkline.portal.access import partner_required, writer_required
from trunkline.portal.forms import WebhookEndpointForm
from trunkline.portal.rendering import (
    finish,
    is_htmx,
    or_404,
    render_modal,
    show_service_error,
    vary_on_htmx,
)
from trunkline.webhooks import selectors, services
from trunkline.webhooks.models import WebhookDelivery, WebhookEndpoint

LIST_URL = "/settings/webhooks"


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


@require_GET
@partner_required
def endpoint_list(request):
    endpoints = selectors.endpoint_list(actor=request.actor).order_by("-created_at", "-id")
    return render(
        request,
        "portal/webhooks/list.html",
        {"nav": "settings", "endpoints": list(endpoints), "event_total": len(EVENT_TYPES)},
    )


def _secret_modal(request, endpoint: WebhookEndpoint, secret: str, *, title: str, status: int):
    response = render_modal(
        request,
        "portal/webhooks/_secret.html",
        {"nav": "settings", "endpoint": endpoint, "secret": secret, "title": title},
        status=status,
    )
    # The only copy of the secret must not linger in any cache.
    add_never_cache_headers(response)
    return response


@require_http_methods(["GET", "POST"])
@writer_required
def endpoint_new(request):
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                endpoint, secret = services.endpoint_create(
                    actor=request.actor,
                    url=data["url"],
                    events=data["events"],
                    description=data["description"],
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                return _secret_modal(
                    request, endpoint, secret, title="Endpoint created", status=201
                )
        return _endpoint_form(request, form, status=422)
    return _endpoint_form(request, WebhookEndpointForm())


@require_http_methods(["GET", "POST"])
@writer_required
def endpoint_edit(request, endpoint_id: str):
    endpoint = or_404(selectors.endpoint_get, actor=request.actor, endpoint_id=endpoint_id)
    if request.method == "POST":
        form = WebhookEndpointForm(request.POST, endpoint=endpoint)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.endpoint_update(
                    actor=request.actor,
                    endpoint=endpoint,
                    url=data["url"],
                    description=data["description"],
                    events=data["events"],
                )
            except TrunklineError as error:
                show_service_error(form, error)
            else:
                messages.success(request, f"Endpoint {endpoint.url} saved.")
                return finish(request, LIST_URL)
        return _endpoint_form(request, form, status=422)
    return _endpoint_form(request, WebhookEndpointForm(endpoint=endpoint))


def _endpoint_form(request, form: WebhookEndpointForm, *, status: int = 200):
    endpoint = form.endpoint
    return render_modal(
        request,
        "portal/webhooks/_form.html",
        {
            "nav": "settings",
            "form": form,
            "endpoint": endpoint,
            "title": "Edit Endpoint" if endpoint else "Add Endpoint",
            "action": f"{LIST_URL}/{endpoint.id}/edit" if endpoint else f"{LIST_URL}/new",
            "submit_label": "Save" if endpoint else "Create Endpoint",
        },
        status=status,
    )


@require_POST
@writer_required
def endpoint_toggle(request, endpoint_id: str):
    endpoint = or_404(selectors.endpoint_get, actor=request.actor, endpoint_id=endpoint_id)
    enable = endpoint.status != WebhookEndpoint.Status.ACTIVE
    target = WebhookEndpoint.Status.ACTIVE if enable else WebhookEndpoint.Status.DISABLED
    try:
        services.endpoint_set_status(actor=request.actor, endpoint=endpoint, status=target)
    except TrunklineError as error:
        messages.error(request, _sentence(error.message))
    else:
        if enable:
            messages.success(request, f"Endpoint {endpoint.url} enabled.")
        else:
            messages.success(
                request, f"Endpoint {endpoint.url} disabled. Its events wait until you enable it."
            )
    return finish(request, LIST_URL)


@require_http_methods(["GET", "POST"])
@writer_required
def endpoint_rotate(request, endpoint_id: str):
    endpoint = or_404(selectors.endpoint_get, actor=request.actor, endpoint_id=endpoint_id)
    error_message = ""
    if request.method == "POST":
        try:
            secret = services.endpoint_rotate_secret(actor=request.actor, endpoint=endpoint)
        except TrunklineError as error:
            error_message = _sentence(error.message)
        else:
            return _secret_modal(request, endpoint, secret, title="Secret rotated", status=200)
    return render_modal(
        request,
        "portal/webhooks/_rotate.html",
        {"nav": "settings", "endpoint": endpoint, "title": "Rotate Secret", "error": error_message},
        status=409 if error_message else 200,
    )


@require_http_methods(["GET", "POST"])
@writer_required
def endpoint_delete(request, endpoint_id: str):
    endpoint = or_404(selectors.endpoint_get, actor=request.actor, endpoint_id=endpoint_id)
    error_message = ""
    if request.method == "POST":
        try:
            services.endpoint_delete(actor=request.actor, endpoint=endpoint)
        except TrunklineError as error:
            error_message = _sentence(error.message)
        else:
            messages.success(
                request, f"Endpoint {endpoint.url} deleted. Nothing more will be sent to it."
            )
            return finish(request, LIST_URL)
    return render_modal(
        request,
        "portal/webhooks/_delete.html",
        {
            "nav": "settings",
            "endpoint": endpoint,
            "title": "Delete Endpoint",
            "error": error_message,
        },
        status=409 if error_message else 200,
    )


def _deliveries(request, endpoint: WebhookEndpoint, *, notice: str = "", error: str = ""):
    deliveries = selectors.delivery_list(actor=request.actor, endpoint_id=endpoint.id)
    return render_modal(
        request,
        "portal/webhooks/_deliveries.html",
        {
            "nav": "settings",
            "endpoint": endpoint,
            "deliveries": deliveries,
            "max_attempts": WebhookDelivery.MAX_ATTEMPTS,
            "title": "Deliveries",
            "modal_class": "wide",
            "notice": notice,
            "error": error,
        },
        status=409 if error else 200,
    )


@require_GET
@partner_required
def delivery_list(request, endpoint_id: str):
    endpoint = or_404(selectors.endpoint_get, actor=request.actor, endpoint_id=endpoint_id)
    return _deliveries(request, endpoint)


def _pretty(body: str) -> str:
    """JSON indented for reading; anything else exactly as it was."""
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return body


@require_GET
@partner_required
def delivery_detail(request, delivery_id: str):
    delivery = or_404(selectors.delivery_get, actor=request.actor, delivery_id=delivery_id)
    attempts = [
        {
            "attempt": attempt,
            "request_body": _pretty(attempt.request_body),
            "response_body": _pretty(attempt.response_body),
        }
        for attempt in selectors.attempt_list(delivery=delivery)
    ]
    context = {
        "nav": "settings",
        "delivery": delivery,
        "attempts": attempts,
        # Not attempted yet: show the body it will carry.
        "pending_body": "" if attempts else json.dumps(delivery.event.envelope(), indent=2),
        "title": f"{delivery.event.type} → {delivery.endpoint.url}",
    }
    if is_htmx(request):  # expanded in place inside the deliveries list
        return vary_on_htmx(render(request, "portal/webhooks/_delivery_detail.html", context))
    return render_modal(request, "portal/webhooks/_delivery_detail.html", context)


@require_POST
@writer_required
def delivery_redeliver(request, delivery_id: str):
    delivery = or_404(selectors.delivery_get, actor=request.actor, delivery_id=delivery_id)
    endpoint = or_404(selectors.endpoint_get, actor=request.actor, endpoint_id=delivery.endpoint_id)
    try:
        services.delivery_redeliver(actor=request.actor, delivery=delivery)
    except TrunklineError as error:
        return _deliveries(request, endpoint, error=_sentence(error.message))
    return _deliveries(
        request,
        endpoint,
        notice=f"{delivery.event.type} ({delivery.event_id}) queued to be sent again, "
        "with the same id and body.",
    )
