"""Numbers → Port Numbers In (partner guide 004, "Porting numbers in", Appendix B
"Submitting the port")."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tests.factories import actor_for_user
from trunkline.phone_numbers import porting
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import PhoneNumber, PortRequest

pytestmark = pytest.mark.django_db

FORM = {
    "numbers": "+12125550101\n+12125550102",
    "current_carrier": "Spectrum",
    "account_holder": "ACME PLUMBING LLC",  # not as the carrier has it: rejected
    "business_name": "Acme Plumbing",
    "account_number": "5550001000",
    "pin": "4417",
    "street": "100 Main St",
    "city": "Little Rock",
    "state": "AR",
    "postal_code": "72201",
}


def test_new_request_upload_submit_reject_fix_resubmit_complete(admin_client, tenant):
    assert "New Port Request" in admin_client.get("/numbers/porting").content.decode()
    created = admin_client.post("/numbers/porting/new", {**FORM, "tenant_id": tenant.id})
    assert created.status_code == 302
    port = PortRequest.objects.get()
    url = f"/numbers/porting/{port.id}"
    assert created["Location"] == url
    page = admin_client.get(url).content.decode()
    assert "Submit" in page and "4417" not in page and "On file" in page
    refused = admin_client.post(f"{url}/submit")
    assert refused.status_code == 409 and "LOA" in refused.content.decode()
    bad = admin_client.post(
        f"{url}/documents", {"kind": "loa", "file": SimpleUploadedFile("loa.pdf", b"MZ\x90\x00")}
    )
    assert bad.status_code == 422 and "not a PDF, PNG or JPEG" in bad.content.decode()
    loa = SimpleUploadedFile("loa.pdf", b"%PDF-1.4 signed", content_type="application/pdf")
    assert admin_client.post(f"{url}/documents", {"kind": "loa", "file": loa}).status_code == 302
    assert "loa.pdf" in admin_client.get(url).content.decode()
    assert admin_client.get(f"{url}/loa.pdf").content.startswith(b"%PDF")
    assert admin_client.post(f"{url}/submit").status_code == 302
    requests_sync(now=timezone.now() + timedelta(days=4))
    page = admin_client.get(url).content.decode()
    assert "Account holder name doesn&#x27;t match" in page and "Resubmit" in page
    fixed = admin_client.post(
        f"{url}/edit", {**FORM, "account_holder": "Acme Plumbing LLC", "pin": ""}
    )
    assert fixed.status_code == 302
    port.refresh_from_db()
    assert porting.port_pin(port) == "4417"  # an empty PIN field keeps the one on file
    assert admin_client.post(f"{url}/resubmit").status_code == 302
    requests_sync(now=timezone.now() + timedelta(days=40))
    page = admin_client.get(url).content.decode()
    assert "COMPLETED" in page and "FOC_RECEIVED" in page and "REJECTED" in page
    assert PhoneNumber.objects.filter(tenant=tenant, status="ACTIVE").count() == 2
    assert "COMPLETED" in admin_client.get("/numbers/porting").content.decode()


def test_cancel_from_the_page(admin_client, admin, tenant):
    port = porting.port_request_create(
        actor=actor_for_user(admin),
        tenant=tenant,
        fields={
            "numbers": ["+12125550103"],
            "current_carrier": "Vonage",
            "account_holder": "Acme",
            "account_number": "1",
            "service_address": {
                "street": "100 Main St",
                "city": "Little Rock",
                "state": "AR",
                "postal_code": "72201",
            },
        },
    )
    assert admin_client.post(f"/numbers/porting/{port.id}/cancel").status_code == 302
    assert PortRequest.objects.get(pk=port.pk).status == "CANCELLED"
    again = admin_client.post(f"/numbers/porting/{port.id}/cancel")
    assert again.status_code == 409


def test_read_only_users_see_no_actions(admin_client, reader_client, tenant):
    admin_client.post("/numbers/porting/new", {**FORM, "tenant_id": tenant.id})
    port = PortRequest.objects.get()
    listing = reader_client.get("/numbers/porting").content.decode()
    assert port.id in listing and "New Port Request" not in listing
    page = reader_client.get(f"/numbers/porting/{port.id}").content.decode()
    assert "Cancel port" not in page and "Upload" not in page and "Edit details" not in page
    assert reader_client.post(f"/numbers/porting/{port.id}/cancel").status_code == 403
    assert reader_client.get("/numbers/porting/new").status_code == 403


def test_another_partners_request_is_404(admin_client, other_partner):
    _, admin_b, tenant_b = other_partner
    port = porting.port_request_create(
        actor=actor_for_user(admin_b),
        tenant=tenant_b,
        fields={
            "numbers": ["+12125550104"],
            "current_carrier": "Vonage",
            "account_holder": "Other",
            "account_number": "1",
            "service_address": {
                "street": "100 Main St",
                "city": "Little Rock",
                "state": "AR",
                "postal_code": "72201",
            },
        },
    )
    for suffix in ("", "/loa.pdf", "/edit"):
        assert admin_client.get(f"/numbers/porting/{port.id}{suffix}").status_code == 404
    assert admin_client.post(f"/numbers/porting/{port.id}/cancel").status_code == 404
    assert port.id not in admin_client.get("/numbers/porting").content.decode()
