"""The landing page: headline counts that come from real rows, and the shortcuts."""

from django.shortcuts import render

from trunkline.portal import selectors
from trunkline.portal.access import partner_required

RECENT_ACTIVITY = 6


@partner_required
def home(request):
    counts = selectors.dashboard_counts(request.actor)
    recent = selectors.audit_entries_for(request.actor).order_by("-created_at", "-id")[
        :RECENT_ACTIVITY
    ]
    return render(
        request,
        "portal/dashboard.html",
        {"nav": "dashboard", "counts": counts, "recent": list(recent)},
    )
