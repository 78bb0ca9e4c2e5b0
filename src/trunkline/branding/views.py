"""The Logo card of Settings → Account: upload, preview and remove (services decide)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from trunkline.accounts.views.settings_account import account_page
from trunkline.branding import selectors, services
from trunkline.branding.api import logo_response
from trunkline.core.errors import NotFound, TrunklineError
from trunkline.portal.access import partner_required, writer_required

CARD_URL = "/settings/account#logo"


@require_POST
@writer_required
def logo_upload_view(request):
    upload = request.FILES.get("file")
    data = upload.read(services.MAX_LOGO_BYTES + 1) if upload is not None else b""
    try:
        services.partner_logo_set(actor=request.actor, data=data)
    except TrunklineError as error:
        message = error.message[:1].upper() + error.message[1:] + "."
        return account_page(request, status=error.status, logo_error=message)
    messages.success(request, "Logo saved.")
    return redirect(CARD_URL)


@require_POST
@writer_required
def logo_remove_view(request):
    try:
        services.partner_logo_remove(actor=request.actor)
    except TrunklineError as error:
        return account_page(request, status=error.status, logo_error=error.message)
    messages.success(request, "Logo removed.")
    return redirect(CARD_URL)


@require_GET
@partner_required
def logo_image_view(request):
    """The signed-in partner's own logo, for the card's preview."""
    try:
        logo = selectors.partner_logo_get(actor=request.actor)
    except NotFound:
        raise Http404("no logo") from None
    return logo_response(logo)
