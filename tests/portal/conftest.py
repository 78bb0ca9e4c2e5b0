import pytest
from django.test import Client

from tests.factories import make_partner, make_tenant, make_user


@pytest.fixture
def admin_client(admin):
    client = Client()
    client.force_login(admin)
    return client


@pytest.fixture
def reader(partner):
    return make_user(partner)


@pytest.fixture
def reader_client(reader):
    client = Client()
    client.force_login(reader)
    return client


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Acme Plumbing", sip_prefix="acmeplumb", default_cnam="ACME")


@pytest.fixture
def other_partner(db):
    """Partner B with a tenant, for isolation checks."""
    partner_b, admin_b = make_partner(company_name="Other Partner")
    tenant_b = make_tenant(admin_b, name="Other Tenant")
    return partner_b, admin_b, tenant_b


HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx_headers(target: str = "") -> dict:
    headers = dict(HTMX)
    if target:
        headers["HTTP_HX_TARGET"] = target
    return headers
