"""Numbers → DID Inventory (partner guide 004, "Inventory management", "Assigning to a
tenant", "Releasing a DID", "CNAM", "E911")."""

import pytest

from tests.factories import actor_for_user
from tests.portal.conftest import htmx_headers
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.money import Money
from trunkline.phone_numbers import services
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber
from trunkline.phone_numbers.supply import supply_seed


@pytest.fixture
def numbers(admin):
    partner = admin.partner
    supply_seed(states=["AR"], per_exchange=1, toll_free=0)
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse("50.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=partner),
        idempotency_key="portal-numbers",
    )
    wanted = list(SupplyNumber.objects.order_by("e164").values_list("e164", flat=True)[:3])
    return services.numbers_purchase(actor=actor_for_user(admin), numbers=wanted)


def test_lists_every_number_with_tenant_status_cnam_and_e911(admin_client, admin, tenant, numbers):
    services.number_assign(actor=actor_for_user(admin), number=numbers[0], tenant=tenant)
    page = admin_client.get("/numbers").content.decode()
    for number in numbers:
        assert number.e164 in page
    assert "Acme Plumbing" in page and "Unassigned" in page
    assert "ACME" in page  # the tenant's default CNAM, inherited
    assert "Not Set" in page
    filtered = admin_client.get("/numbers", {"tenant": "unassigned"}).content.decode()
    assert numbers[0].e164 not in filtered and numbers[1].e164 in filtered
    searched = admin_client.get("/numbers", {"q": numbers[2].e164[-4:]}).content.decode()
    assert numbers[2].e164 in searched and numbers[1].e164 not in searched


def test_assign_and_release_in_modals(admin_client, tenant, numbers):
    number = numbers[0]
    form = admin_client.get(f"/numbers/{number.id}/assign", **htmx_headers("modal"))
    assert tenant.name in form.content.decode()
    done = admin_client.post(
        f"/numbers/{number.id}/assign", {"tenant_id": tenant.id}, **htmx_headers("modal")
    )
    assert done.status_code == 200 and done["HX-Redirect"] == "/numbers"
    assert PhoneNumber.objects.get(pk=number.pk).tenant_id == tenant.id
    released = admin_client.post(f"/numbers/{number.id}/release", **htmx_headers("modal"))
    assert released["HX-Redirect"] == "/numbers"
    number.refresh_from_db()
    assert (number.status, number.tenant_id) == ("RELEASED", None)


def test_max_dids_is_shown_in_the_modal(admin_client, tenant, numbers):
    tenant.max_dids = 0
    tenant.save()
    refused = admin_client.post(
        f"/numbers/{numbers[0].id}/assign", {"tenant_id": tenant.id}, **htmx_headers("modal")
    )
    assert refused.status_code == 422
    assert "Max DIDs" in refused.content.decode()


def test_edit_sets_cnam_and_the_911_address_or_explains_why_not(admin_client, tenant, numbers):
    number = numbers[0]
    bad = admin_client.post(
        f"/numbers/{number.id}/edit",
        {
            "cnam": "",
            "street": "PO Box 12",
            "city": "Little Rock",
            "state": "AR",
            "postal_code": "72201",
        },
        **htmx_headers("modal"),
    )
    assert bad.status_code == 422
    assert "building number" in bad.content.decode()
    assert PhoneNumber.objects.get(pk=number.pk).e911_status == "NOT_SET"
    good = admin_client.post(
        f"/numbers/{number.id}/edit",
        {
            "cnam": "ACME SALES",
            "street": "400 President Clinton Ave",
            "street2": "Floor 2",
            "city": "Little Rock",
            "state": "AR",
            "postal_code": "72201",
        },
        **htmx_headers("modal"),
    )
    assert good["HX-Redirect"] == "/numbers"
    number.refresh_from_db()
    assert (number.cnam, number.cnam_status, number.e911_status) == (
        "ACME SALES",
        "PENDING",
        "PENDING",
    )
    assert number.e911_street2 == "Floor 2"


def test_read_only_users_see_numbers_but_cannot_change_them(reader_client, numbers, tenant):
    page = reader_client.get("/numbers").content.decode()
    assert numbers[0].e164 in page
    assert f"/numbers/{numbers[0].id}/assign" not in page
    refused = reader_client.post(f"/numbers/{numbers[0].id}/assign", {"tenant_id": tenant.id})
    assert refused.status_code == 403
    assert PhoneNumber.objects.get(pk=numbers[0].pk).tenant_id is None


def test_another_partners_numbers_are_not_found(other_partner, numbers):
    from django.test import Client

    _, admin_b, tenant_b = other_partner
    client = Client()
    client.force_login(admin_b)
    assert numbers[0].e164 not in client.get("/numbers").content.decode()
    assert client.get(f"/numbers/{numbers[0].id}/edit").status_code == 404
    assert (
        client.post(f"/numbers/{numbers[0].id}/assign", {"tenant_id": tenant_b.id}).status_code
        == 404
    )
    assert client.post(f"/numbers/{numbers[0].id}/release").status_code == 404
    assert PhoneNumber.objects.get(pk=numbers[0].pk).status == "PENDING"
