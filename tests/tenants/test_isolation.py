"""Partner and tenant isolation: a foreign id answers 404, never 403, and changes nothing."""

import pytest

from tests.core.capture import assert_error, capture_audit, capture_events
from tests.factories import actor_for_user, make_api_key, make_tenant
from tests.tenants.helpers import AR_ADDRESS, row, tenant_body
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_delete, tenant_suspend

# (method, path suffix, state B's tenant is put in so the call would be legal for B)
FOREIGN_OPERATIONS = [
    ("get", "", "ACTIVE"),
    ("patch", "", "ACTIVE"),
    ("delete", "", "ACTIVE"),
    ("post", "/suspend", "ACTIVE"),
    ("post", "/unsuspend", "SUSPENDED"),
    ("post", "/reactivate", "CANCELLED"),
]


def _call(api, method: str, path: str):
    if method == "patch":
        return api.patch(path, {"name": "Taken Over", "default_cnam": "HIJACKED"})
    if method == "post":
        return api.post(path)
    return getattr(api, method)(path)


def _put_in_state(admin, tenant: Tenant, state: str) -> Tenant:
    actor = actor_for_user(admin)
    if state == "SUSPENDED":
        return tenant_suspend(actor=actor, tenant=tenant, reason="past due")
    if state == "CANCELLED":
        return tenant_delete(actor=actor, tenant=tenant)
    return tenant


@pytest.mark.parametrize(("method", "suffix", "state"), FOREIGN_OPERATIONS)
def test_partner_a_key_gets_404_on_every_operation_of_partner_b(
    api, other_partner, method, suffix, state
):
    _, admin_b = other_partner
    tenant_b = make_tenant(
        admin_b, name="Bravo Dental", sip_prefix="bravo", status="ACTIVE", e911_address=AR_ADDRESS
    )
    tenant_b = _put_in_state(admin_b, tenant_b, state)
    before = row(tenant_b)

    with capture_events([]), capture_audit([]):
        response = _call(api, method, f"/v1/tenants/{tenant_b.id}{suffix}")

    assert_error(response, 404, "not_found")
    assert tenant_b.id not in response.content.decode()
    assert row(tenant_b) == before


@pytest.mark.parametrize(("method", "suffix", "state"), FOREIGN_OPERATIONS)
def test_unknown_id_answers_like_a_foreign_one(api, method, suffix, state):
    response = _call(api, method, f"/v1/tenants/tnt_doesnotexist{suffix}")
    error = assert_error(response, 404, "not_found")

    partner_b_error = error  # same shape and message whatever the id's owner
    assert partner_b_error["message"] == "no such tenant"


def test_the_list_never_shows_another_partners_tenants(api, admin, other_partner):
    _, admin_b = other_partner
    mine = make_tenant(admin, name="Acme Plumbing", sip_prefix="acme")
    make_tenant(admin_b, name="Acme Plumbing West", sip_prefix="acmewest")
    make_tenant(admin_b, name="Bravo Dental", sip_prefix="bravo", billing_email="a@bravo.example")

    everything = api.get("/v1/tenants", {"limit": 500}).json()
    assert [t["id"] for t in everything["data"]] == [mine.id]

    for search in ("Acme", "Bravo", "bravo", "acmewest", "a@bravo.example"):
        found = api.get("/v1/tenants", {"search": search}).json()["data"]
        assert {t["id"] for t in found} <= {mine.id}
    for status in ("TRIAL", "ACTIVE", "SUSPENDED", "CANCELLED"):
        found = api.get("/v1/tenants", {"status": status}).json()["data"]
        assert {t["id"] for t in found} <= {mine.id}


def test_partner_b_is_unaffected_by_partner_a_creating_tenants(api, other_partner, make_api):
    partner_b, _ = other_partner
    api_b = make_api(make_api_key(partner_b))
    assert api.post("/v1/tenants", tenant_body()).status_code == 201
    assert api_b.get("/v1/tenants").json() == {"data": [], "next_cursor": None}


class TestTenantScopedKey:
    @pytest.fixture
    def tenants(self, admin):
        return [
            make_tenant(admin, name="Alpha", sip_prefix="alpha"),
            make_tenant(admin, name="Bravo", sip_prefix="bravo"),
            make_tenant(admin, name="Charlie", sip_prefix="charlie"),
        ]

    @pytest.fixture
    def scoped(self, partner, tenants, make_api):
        alpha, bravo, _ = tenants
        return make_api(make_api_key(partner, scopes="all", tenant_ids=[alpha.id, bravo.id]))

    def test_lists_and_reads_only_its_tenants(self, scoped, tenants):
        alpha, bravo, charlie = tenants
        listed = scoped.get("/v1/tenants").json()["data"]
        assert sorted(t["id"] for t in listed) == sorted([alpha.id, bravo.id])
        assert scoped.get("/v1/tenants", {"search": "Charlie"}).json()["data"] == []
        assert scoped.get(f"/v1/tenants/{alpha.id}").status_code == 200
        assert scoped.get(f"/v1/tenants/{bravo.id}").status_code == 200

    @pytest.mark.parametrize(("method", "suffix", "state"), FOREIGN_OPERATIONS)
    def test_404_on_the_partners_other_tenants(self, scoped, tenants, admin, method, suffix, state):
        charlie = _put_in_state(admin, tenants[2], state)
        before = row(charlie)
        with capture_events([]), capture_audit([]):
            response = _call(scoped, method, f"/v1/tenants/{charlie.id}{suffix}")
        assert_error(response, 404, "not_found")
        assert row(charlie) == before

    def test_can_edit_its_own_tenants(self, scoped, tenants):
        alpha = tenants[0]
        response = scoped.patch(f"/v1/tenants/{alpha.id}", {"name": "Alpha Two"})
        assert response.status_code == 200
        assert response.json()["name"] == "Alpha Two"

    def test_cannot_create_tenants(self, scoped):
        with capture_events([]):
            response = scoped.post("/v1/tenants", tenant_body())
        assert_error(response, 403, "permission_denied")
        assert not Tenant.objects.filter(name="Acme Plumbing").exists()

    def test_cannot_change_the_partners_tenant_defaults(self, scoped, partner):
        response = scoped.put("/v1/tenant-defaults", {"default_timezone": "America/New_York"})
        assert_error(response, 403, "permission_denied")
        partner.refresh_from_db()
        assert partner.default_timezone == "America/Chicago"
        assert scoped.get("/v1/tenant-defaults").status_code == 200
