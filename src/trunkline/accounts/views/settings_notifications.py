"""Settings → Notifications: four toggles, saved with htmx as they are clicked."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from trunkline.accounts import account_settings
from trunkline.core.errors import TrunklineError
from trunkline.portal.access import partner_required, writer_required

TOGGLES = (
    ("notify_new_tenants", "New tenant sign-ups", "An email when a tenant is created."),
    (
        "notify_usage_alerts",
        "Usage alerts",
        "When any tenant trips a usage cap or threshold. Recommended.",
    ),
    (
        "notify_monthly_reports",
        "Monthly reports",
        "Last month's revenue, top tenants and churn. Recommended.",
    ),
    (
        "notify_system_updates",
        "System updates",
        "Maintenance windows, planned downtime and major feature releases.",
    ),
)


def _context(request, *, saved: bool = False, error: str | None = None) -> dict:
    partner = request.user.partner
    return {
        "nav": "settings",
        "tab": "notifications",
        "toggles": [
            (field, label, help_text, getattr(partner, field))
            for field, label, help_text in TOGGLES
        ],
        "can_edit": request.user.can_write,
        "saved": saved,
        "error": error,
    }


@require_http_methods(["GET", "POST"])
@partner_required
def notifications_view(request):
    if request.method == "POST":
        return _save(request)
    return render(request, "accounts/settings_notifications.html", _context(request))


@writer_required
def _save(request):
    # A form posts every toggle; an unchecked checkbox is simply absent.
    changes = {field: request.POST.get(field) == "on" for field, _, _ in TOGGLES}
    status, error = 200, None
    try:
        partner = account_settings.partner_notifications_update(
            actor=request.actor, changes=changes
        )
    except TrunklineError as failure:
        status, error = failure.status, failure.message
    else:
        request.user.partner = partner
    if request.headers.get("HX-Request") != "true":
        if error is None:
            return redirect("/settings/notifications")
        return render(
            request,
            "accounts/settings_notifications.html",
            _context(request, error=error),
            status=status,
        )
    return render(
        request,
        "accounts/_notification_toggles.html",
        _context(request, saved=error is None, error=error),
        status=status,
    )
