"""`GET /v1/e911/summary`: counts per E911 status and the numbers that need an address,
from the same selector as the portal's E911 page (partner guide 004, Appendix C)."""

import pytest

from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from trunkline.phone_numbers import services
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber

pytestmark = pytest.mark.django_db


def buy(admin, numbers):
    return services.numbers_purchase(actor=actor_for_user(admin), numbers=numbers)


@pytest.fixture
def owned(admin, partner, inventory, fund):
    fund(partner)
    tenant = make_tenant(admin, name="Acme")
    wanted = list(
        SupplyNumber.objects.filter(kind="local").order_by("e164").values_list("e164", flat=True)
    )[:4]
    bought = buy(admin, wanted)
    for number in bought[:3]:
        services.number_assign(actor=actor_for_user(admin), number=number, tenant=tenant)
    for number, status in zip(bought, ["FAILED", "REGISTERED", "PENDING", "NOT_SET"], strict=True):
        PhoneNumber.objects.filter(pk=number.pk).update(e911_status=status)
    return tenant, bought


def test_counts_and_the_numbers_needing_attention_not_set_first(api, owned):
    tenant, bought = owned
    body = api.get("/v1/e911/summary").json()
    assert body["counts"] == {"NOT_SET": 1, "FAILED": 1, "PENDING": 1, "REGISTERED": 1}
    assert [row["number"] for row in body["needs_attention"]] == [bought[3].e164, bought[0].e164]
    assert [row["e911_status"] for row in body["needs_attention"]] == ["NOT_SET", "FAILED"]
    assert body["needs_attention"][1]["tenant_name"] == "Acme"
    assert body["needs_attention_total"] == 2
    scoped = api.get("/v1/e911/summary", params={"tenant_id": tenant.id}).json()
    assert scoped["counts"]["NOT_SET"] == 0 and scoped["needs_attention_total"] == 1
    limited = api.get("/v1/e911/summary", params={"limit": 1}).json()
    assert len(limited["needs_attention"]) == 1 and limited["needs_attention_total"] == 2


def test_another_partners_tenant_is_404_and_its_numbers_never_count(
    api, client, owned, inventory, fund
):
    partner_b, admin_b = make_partner(company_name="Partner B")
    tenant_b = make_tenant(admin_b, name="B tenant")
    fund(partner_b)
    spare = list(
        SupplyNumber.objects.filter(kind="local").order_by("e164").values_list("e164", flat=True)
    )[:2]
    for number in buy(admin_b, spare):
        services.number_assign(actor=actor_for_user(admin_b), number=number, tenant=tenant_b)
    answer = api.get("/v1/e911/summary", params={"tenant_id": tenant_b.id})
    assert answer.status_code == 404 and answer.json()["error"]["field"] == "tenant_id"
    assert api.get("/v1/e911/summary").json()["counts"]["NOT_SET"] == 1
    key_b = make_api_key(partner_b)
    theirs = client.get("/v1/e911/summary", HTTP_AUTHORIZATION=f"Bearer {key_b}").json()
    assert theirs["counts"] == {"NOT_SET": 2, "FAILED": 0, "PENDING": 0, "REGISTERED": 0}


def test_needs_phone_numbers_read_and_refuses_bad_input(client, partner, api, owned):
    key = make_api_key(partner, scopes=["tenants:read"])
    refused = client.get("/v1/e911/summary", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert refused.status_code == 403
    reader = make_api_key(partner, scopes=["phone_numbers:read"])
    allowed = client.get("/v1/e911/summary", HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert allowed.status_code == 200
    for params in ({"limit": 0}, {"limit": "many"}, {"tenant_id": "x" * 41}):
        answer = api.get("/v1/e911/summary", params=params)
        assert answer.status_code == 422, params
        assert answer.json()["error"]["type"]
    assert client.get("/v1/e911/summary").status_code == 401


def test_a_tenant_scoped_key_sees_only_its_tenants_numbers(client, partner, owned):
    tenant, _ = owned
    key = make_api_key(partner, tenant_ids=[tenant.id])
    body = client.get("/v1/e911/summary", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert body["counts"] == {"NOT_SET": 0, "FAILED": 1, "PENDING": 1, "REGISTERED": 1}
