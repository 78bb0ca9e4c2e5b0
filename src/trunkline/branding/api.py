"""`/v1/branding/logo`: the partner's logo, uploaded, read back and removed.

There is no branding scope among the API's scopes; the logo is printed on the tenant
invoices and sent with the billing emails, so it goes with `billing`, as the statement
descriptor (the other mark the partner puts on its tenants' invoices) does.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpResponse
from ninja import File, Router, Schema, Status
from ninja.files import UploadedFile

from trunkline.accounts.api_auth import scope
from trunkline.branding import selectors, services
from trunkline.branding.models import PartnerLogo

router = Router(tags=["Branding"])


class LogoOut(Schema):
    content_type: str
    width: int
    height: int
    size: int
    sha256: str
    updated_at: datetime


def _out(logo: PartnerLogo) -> dict:
    return {
        "content_type": logo.content_type,
        "width": logo.width,
        "height": logo.height,
        "size": logo.size,
        "sha256": logo.sha256,
        "updated_at": logo.updated_at,
    }


@router.put("/branding/logo", response=LogoOut, auth=scope("billing:write"))
def put_logo(request, file: File[UploadedFile]):
    """Upload the logo (multipart field `file`): a PNG or JPEG of at most 512 KB and
    2000 pixels either way. It is stored as a PNG at most 256 pixels tall, without the
    file's metadata, and drawn on the tenant invoice PDFs. SVG is not accepted yet."""
    data = file.read(services.MAX_LOGO_BYTES + 1)
    return _out(services.partner_logo_set(actor=request.actor, data=data))


@router.get(
    "/branding/logo",
    auth=scope("billing:read"),
    openapi_extra={
        "responses": {
            200: {"description": "the logo", "content": {"image/png": {}}},
            404: {"description": "no logo has been uploaded"},
        }
    },
)
def get_logo(request):
    """The logo as stored (PNG); 404 when none has been uploaded."""
    logo = selectors.partner_logo_get(actor=request.actor)
    return logo_response(logo)


@router.delete("/branding/logo", response={204: None}, auth=scope("billing:write"))
def delete_logo(request):
    """Remove the logo; invoices drawn from now on show the brand name alone."""
    services.partner_logo_remove(actor=request.actor)
    return Status(204, None)


def logo_response(logo: PartnerLogo) -> HttpResponse:
    response = HttpResponse(bytes(logo.image), content_type=logo.content_type)
    response["Cache-Control"] = "private, no-cache"
    response["ETag"] = f'"{logo.sha256}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
