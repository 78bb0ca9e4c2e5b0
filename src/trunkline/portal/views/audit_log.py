"""Settings → Audit Log: who changed what, and every call the partner's API keys made."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.views.decorators.http import require_GET

from trunkline.core.errors import TrunklineError
from trunkline.core.pagination import paginate
from trunkline.portal import selectors
from trunkline.portal.access import partner_required
from trunkline.portal.forms import ApiRequestFilterForm, AuditFilterForm
from trunkline.portal.rendering import day_end, day_start, htmx_target, vary_on_htmx

PAGE_SIZE = 50


def _next_url(path: str, form, cursor: str | None) -> str:
    if not cursor:
        return ""
    params = {name: value for name, value in form.data.items() if name != "cursor" and value}
    params["cursor"] = cursor
    return f"{path}?{urlencode(params)}"


def _render(request, page_template: str, rows_template: str, context: dict):
    template = rows_template if htmx_target(request) == "load-more" else page_template
    return vary_on_htmx(render(request, template, {"nav": "settings", **context}))


@require_GET
@partner_required
def audit_entries(request):
    actor = request.actor
    form = AuditFilterForm(request.GET, actions=selectors.audit_actions_for(actor))
    page = None
    if form.is_valid():
        data = form.cleaned_data
        queryset = selectors.audit_entries_for(
            actor,
            actor_query=data["actor"].strip(),
            action=data["action"],
            object_id=data["object_id"].strip(),
            since=day_start(data["date_from"]),
            until=day_end(data["date_to"]),
        )
        try:
            page = paginate(
                queryset,
                limit=PAGE_SIZE,
                cursor=request.GET.get("cursor") or None,
                sort_field="created_at",
                descending=True,
            )
        except TrunklineError as error:
            return HttpResponseBadRequest(error.message)
    return _render(
        request,
        "portal/audit/entries.html",
        "portal/audit/_entry_rows.html",
        {
            "tab": "entries",
            "form": form,
            "page": page,
            "load_more_url": _next_url("/settings/audit-log", form, page and page.next_cursor),
        },
    )


@require_GET
@partner_required
def api_requests(request):
    actor = request.actor
    api_keys = selectors.api_keys_for(actor).order_by("name")
    form = ApiRequestFilterForm(request.GET, api_keys=api_keys)
    page = None
    if form.is_valid():
        data = form.cleaned_data
        queryset = selectors.api_request_logs_for(
            actor,
            api_key_id=data["api_key"],
            since=day_start(data["date_from"]),
            until=day_end(data["date_to"]),
        )
        try:
            page = selectors.api_request_log_page(
                queryset, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE
            )
        except TrunklineError as error:
            return HttpResponseBadRequest(error.message)
    return _render(
        request,
        "portal/audit/requests.html",
        "portal/audit/_request_rows.html",
        {
            "tab": "requests",
            "form": form,
            "page": page,
            "load_more_url": _next_url(
                "/settings/audit-log/api-requests", form, page and page.next_cursor
            ),
        },
    )
