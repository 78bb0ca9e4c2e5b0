"""The partner's logo (partner guide 004_*.txt, "Upload your logo"; "Tenant invoices":
the PDF is branded with the partner's logo): uploaded as PNG or JPEG, checked by decoding
it, stored re-encoded, served to its own partner only and drawn on the invoice PDF."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from tests.billing.test_cycle_run_batches import JAN_1, flat_rate_tenants
from tests.branding.conftest import image_bytes, upload
from tests.conftest import ApiClient
from tests.core.capture import assert_error
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant, make_user
from trunkline.billing.models import Invoice
from trunkline.billing.tenant_invoice_pdf import tenant_invoice_pdf
from trunkline.billing.tenant_invoices import tenant_cycles_run
from trunkline.branding.models import PartnerLogo
from trunkline.branding.services import partner_logo_remove, partner_logo_set
from trunkline.core.errors import PermissionDenied, ValidationFailed
from trunkline.core.models import AuditEntry

pytestmark = pytest.mark.django_db

FEB_1_RUN = JAN_1.replace(month=2, hour=7, minute=35)


def decoded(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- upload and read back ---------------------------------------------------------------------


def test_a_png_is_stored_downscaled_and_served_back(api, partner, png):
    response = upload(api, png)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["width"], body["height"]) == (384, 256)  # 600x400 scaled to 256 tall
    assert body["content_type"] == "image/png"
    served = api.get("/v1/branding/logo")
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    image = decoded(served.content)
    assert image.format == "PNG" and image.size == (384, 256)
    assert body["sha256"] and served["ETag"] == f'"{body["sha256"]}"'
    entry = AuditEntry.objects.get(action="partner.logo_updated")
    assert entry.partner_id == partner.id and entry.before is None
    assert entry.after["sha256"] == body["sha256"]


def test_a_jpeg_is_taken_and_stored_as_png_without_its_metadata(api, partner):
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # Make
    exif[0x0131] = "Editor 9"  # Software
    jpeg = image_bytes("JPEG", size=(300, 120), exif=exif.tobytes(), comment=b"private note")
    assert b"SecretCam" in jpeg
    response = upload(api, jpeg, name="logo.jpg", content_type="image/jpeg")
    assert response.status_code == 200, response.content
    assert (response.json()["width"], response.json()["height"]) == (300, 120)  # small: kept
    stored = bytes(PartnerLogo.objects.get(partner=partner).image)
    assert stored.startswith(b"\x89PNG")
    assert b"SecretCam" not in stored and b"private note" not in stored
    assert decoded(stored).getexif() == {}


def test_transparency_is_kept(api, partner):
    png = image_bytes("PNG", size=(100, 50), mode="RGBA")
    assert upload(api, png).status_code == 200
    assert decoded(bytes(PartnerLogo.objects.get(partner=partner).image)).mode == "RGBA"


def test_a_new_upload_replaces_the_logo_and_delete_removes_it(api, partner, png):
    upload(api, png)
    second = image_bytes("PNG", size=(200, 100))
    assert upload(api, second).json()["width"] == 200
    assert PartnerLogo.objects.filter(partner=partner).count() == 1
    assert api.delete("/v1/branding/logo").status_code == 204
    assert_error(api.get("/v1/branding/logo"), 404, "not_found")
    assert api.delete("/v1/branding/logo").status_code == 204  # gone already: still 204
    actions = list(
        AuditEntry.objects.filter(partner=partner, action__startswith="partner.logo")
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )
    assert actions == ["partner.logo_updated", "partner.logo_updated", "partner.logo_removed"]


def test_no_logo_is_404(api):
    assert_error(api.get("/v1/branding/logo"), 404, "not_found")


# --- refusals change nothing ------------------------------------------------------------------


def _refusals():
    png = image_bytes("PNG", size=(600, 400))
    noisy = bytes(range(256)) * 2200  # 550 KB, over the limit whatever it is
    return {
        "text": (b"just some text, not an image\n", "the file is not a PNG or JPEG image"),
        "empty": (b"", "choose a PNG or JPEG file"),
        "truncated_png": (png[: len(png) // 2], "damaged or incomplete"),
        "gif": (image_bytes("GIF", size=(50, 50)), "must be a PNG or JPEG, not GIF"),
        "webp": (image_bytes("WEBP", size=(50, 50)), "must be a PNG or JPEG, not WEBP"),
        "too_big": (noisy, "larger than 512 KB"),
        "too_wide": (image_bytes("PNG", size=(2001, 10)), "at most 2000x2000"),
        "too_tall": (image_bytes("PNG", size=(10, 2400)), "at most 2000x2000"),
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_refused_uploads_change_nothing(api, partner, png, case):
    assert upload(api, png).status_code == 200
    before = PartnerLogo.objects.get(partner=partner)
    data, message = _refusals()[case]
    error = assert_error(upload(api, data), 422, "validation_error", "file")
    assert message in error["message"]
    after = PartnerLogo.objects.get(partner=partner)
    assert (after.sha256, bytes(after.image)) == (before.sha256, bytes(before.image))
    assert AuditEntry.objects.filter(action="partner.logo_updated").count() == 1


def test_a_put_without_a_file_is_422(api):
    multipart = "multipart/form-data; boundary=x"
    response = api.client.put(
        "/v1/branding/logo", b"", content_type=multipart, **api._headers(None)
    )
    assert_error(response, 422, "validation_error", "file")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [5000, 30000])
def test_a_huge_image_in_a_small_file_is_refused_before_decoding(api, side):
    error = assert_error(upload(api, png_claiming(side, side)), 422, "validation_error", "file")
    assert "at most 2000x2000" in error["message"]
    assert not PartnerLogo.objects.exists()


# --- who may ------------------------------------------------------------------------------------


def test_partner_users_and_tenant_limited_keys_are_refused(partner, admin, client, png):
    reader = make_user(partner)
    with pytest.raises(PermissionDenied):
        partner_logo_set(actor=actor_for_user(reader), data=png)
    with pytest.raises(PermissionDenied):
        partner_logo_remove(actor=actor_for_user(reader))
    tenant = make_tenant(admin)
    limited = ApiClient(client, make_api_key(partner, tenant_ids=[tenant.id]))
    assert_error(upload(limited, png), 403, "permission_denied")
    read_only = ApiClient(client, make_api_key(partner, scopes="billing:read"))
    assert_error(upload(read_only, png), 403, "permission_denied")
    assert_error(read_only.delete("/v1/branding/logo"), 403, "permission_denied")
    assert not PartnerLogo.objects.exists()
    partner_logo_set(actor=actor_for_user(admin), data=png)
    assert read_only.get("/v1/branding/logo").status_code == 200
    other_scope = ApiClient(client, make_api_key(partner, scopes="tenants:read"))
    assert_error(other_scope.get("/v1/branding/logo"), 403, "permission_denied")


def test_each_partner_reads_only_its_own_logo(api, partner, client, png):
    assert upload(api, png).status_code == 200
    other, _ = make_partner(company_name="Other Partner")
    theirs = ApiClient(client, make_api_key(other))
    assert_error(theirs.get("/v1/branding/logo"), 404, "not_found")
    assert upload(theirs, image_bytes("PNG", size=(80, 40))).status_code == 200
    assert decoded(theirs.get("/v1/branding/logo").content).size == (80, 40)
    assert decoded(api.get("/v1/branding/logo").content).size == (384, 256)
    assert theirs.delete("/v1/branding/logo").status_code == 204
    assert PartnerLogo.objects.filter(partner=partner).exists()  # ours untouched


def test_the_service_refuses_bad_data_with_the_field(admin):
    with pytest.raises(ValidationFailed) as refused:
        partner_logo_set(actor=actor_for_user(admin), data=b"GIF89a nonsense")
    assert refused.value.field == "file"


# --- on the PDFs ----------------------------------------------------------------------------


@pytest.fixture
def invoice(admin):
    [tenant] = flat_rate_tenants(admin, 1)
    tenant_cycles_run(now=JAN_1)
    tenant_cycles_run(now=FEB_1_RUN)
    return Invoice.objects.select_related("tenant__partner").get(tenant=tenant)


def test_the_tenant_invoice_pdf_shows_the_logo_only_when_there_is_one(admin, invoice, png):
    without = tenant_invoice_pdf(invoice)
    assert b"/Subtype /Image" not in without
    partner_logo_set(actor=actor_for_user(admin), data=png)
    with_logo = tenant_invoice_pdf(invoice)
    assert b"/Subtype /Image" in with_logo
    assert with_logo.startswith(b"%PDF-")
    partner_logo_remove(actor=actor_for_user(admin))
    assert b"/Subtype /Image" not in tenant_invoice_pdf(invoice)


def test_a_very_wide_logo_still_fits_the_letterhead(admin, invoice):
    partner_logo_set(actor=actor_for_user(admin), data=image_bytes("PNG", size=(2000, 20)))
    assert b"/Subtype /Image" in tenant_invoice_pdf(invoice)


def test_the_platforms_own_invoice_pdf_carries_no_partner_logo(admin, png):
    from tests.billing.subscription_helpers import add_card, at, partner_actor
    from trunkline.billing.invoices_platform import invoice_pdf
    from trunkline.billing.models import PlatformInvoice
    from trunkline.billing.subscriptions import subscription_activate

    partner_logo_set(actor=actor_for_user(admin), data=png)
    add_card(admin.partner)
    subscription_activate(actor=partner_actor(admin), plan="starter", now=at(2026, 11, 10))
    invoice = PlatformInvoice.objects.get(partner=admin.partner)
    assert b"/Subtype /Image" not in invoice_pdf(invoice)


# --- the portal's Logo card -------------------------------------------------------------------


def test_the_portal_uploads_previews_and_removes_the_logo(admin, partner, png):
    from django.core.files.uploadedfile import SimpleUploadedFile

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    page = browser.get("/settings/account")
    assert page.status_code == 200
    assert b'id="logo"' in page.content and b"data-no-logo" in page.content
    token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else None
    token = token or browser.cookies["csrftoken"].value
    assert (
        browser.post(
            "/settings/account/logo", {"file": SimpleUploadedFile("l.png", png, "image/png")}
        ).status_code
        == 403
    )  # no CSRF token
    saved = browser.post(
        "/settings/account/logo",
        {"file": SimpleUploadedFile("l.png", png, "image/png"), "csrfmiddlewaretoken": token},
    )
    assert saved.status_code == 302 and saved["Location"] == "/settings/account#logo"
    assert PartnerLogo.objects.filter(partner=partner).exists()
    page = browser.get("/settings/account")
    assert b"data-logo-preview" in page.content and b"Remove" in page.content
    preview = browser.get("/settings/account/logo.png")
    assert preview.status_code == 200 and preview["Content-Type"] == "image/png"
    assert decoded(preview.content).size == (384, 256)

    refused = browser.post(
        "/settings/account/logo",
        {
            "file": SimpleUploadedFile("x.gif", b"GIF89a...", "image/gif"),
            "csrfmiddlewaretoken": token,
        },
    )
    assert refused.status_code == 422
    assert b"not a PNG or JPEG" in refused.content

    removed = browser.post("/settings/account/logo/remove", {"csrfmiddlewaretoken": token})
    assert removed.status_code == 302
    assert not PartnerLogo.objects.filter(partner=partner).exists()
    assert browser.get("/settings/account/logo.png").status_code == 404


def test_a_partner_user_sees_the_logo_but_cannot_change_it(admin, partner, png):
    from django.core.files.uploadedfile import SimpleUploadedFile

    partner_logo_set(actor=actor_for_user(admin), data=png)
    reader = Client()
    reader.force_login(make_user(partner))
    page = reader.get("/settings/account")
    assert b"data-logo-preview" in page.content
    assert b'action="/settings/account/logo"' not in page.content
    assert reader.get("/settings/account/logo.png").status_code == 200
    refused = reader.post(
        "/settings/account/logo", {"file": SimpleUploadedFile("l.png", png, "image/png")}
    )
    assert refused.status_code == 403
    assert reader.post("/settings/account/logo/remove").status_code == 403
    assert PartnerLogo.objects.filter(partner=partner).exists()


def test_another_partners_user_sees_only_their_own_preview(admin, png):
    partner_logo_set(actor=actor_for_user(admin), data=png)
    _, other_admin = make_partner(company_name="Other Partner")
    other = Client()
    other.force_login(other_admin)
    assert other.get("/settings/account/logo.png").status_code == 404
