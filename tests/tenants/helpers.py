"""Request bodies and row snapshots shared by the tenant tests."""

from __future__ import annotations

from trunkline.tenants.models import Tenant

AR_ADDRESS = {
    "street": "400 President Clinton Ave",
    "city": "Little Rock",
    "state": "AR",
    "postal_code": "72201",
}


def tenant_body(**overrides) -> dict:
    body = {
        "name": "Acme Plumbing",
        "billing_email": "billing@acmeplumbing.example",
        "timezone": "America/Chicago",
    }
    body.update(overrides)
    return body


def row(tenant_or_id) -> dict:
    """Every column of the tenant as stored now."""
    tenant_id = getattr(tenant_or_id, "id", tenant_or_id)
    return Tenant.objects.filter(pk=tenant_id).values().get()
