"""Numbers → E911 (also under Settings): every number of the partner by E911 status,
Not Set first, with the counts per status. Editing an address opens the DID Inventory's
own edit modal, so there is one way to set a 911 address."""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from trunkline.phone_numbers.e911_selectors import (
    STATUS_ORDER,
    UNREACHABLE,
    e911_counts,
    e911_number_list,
)
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.portal.access import partner_required
from trunkline.tenants.selectors import tenants_visible_to

PAGE_SIZE = 50


@require_GET
@partner_required
def e911_page(request):
    tenant_id = request.GET.get("tenant", "")[:40]
    status = request.GET.get("status", "")
    if status not in PhoneNumber.E911Status.values:
        status = ""
    numbers = e911_number_list(
        actor=request.actor, tenant_id=tenant_id or None, e911_status=status or None
    )
    page = Paginator(numbers, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = e911_counts(actor=request.actor, tenant_id=tenant_id or None)
    labels = dict(PhoneNumber.E911Status.choices)
    here = "/numbers/e911?" + urlencode(
        {key: value for key, value in (("tenant", tenant_id), ("status", status)) if value}
    )
    return render(
        request,
        "phone_numbers/e911.html",
        {
            "nav": "numbers",
            "page": page,
            "counts": [
                {
                    "status": key,
                    "label": labels[key],
                    "count": counts[key],
                    "alarm": key in UNREACHABLE and counts[key] > 0,
                    "url": "/numbers/e911?"
                    + urlencode({"status": key, **({"tenant": tenant_id} if tenant_id else {})}),
                }
                for key in STATUS_ORDER
            ],
            "tenants": list(tenants_visible_to(request.actor).order_by("name")),
            "e911_statuses": [(key, labels[key]) for key in STATUS_ORDER],
            "filters": {"tenant": tenant_id, "status": status},
            "next": urlencode({"next": here.rstrip("?")}),
            "page_query": urlencode(
                {key: value for key, value in (("tenant", tenant_id), ("status", status)) if value}
            ),
        },
    )


urlpatterns = [
    path("numbers/e911", e911_page, name="numbers-e911"),
    path("settings/e911", e911_page, name="settings-e911"),
]
