from django.shortcuts import render

from trunkline.portal.access import partner_required


@partner_required
def home(request):
    return render(request, "portal/dashboard.html", {"nav": "dashboard"})
