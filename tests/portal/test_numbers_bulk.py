"""Numbers → DID Inventory, bulk actions and Reclaim (partner guide 004, "Bulk
operations": "The DID Inventory page supports bulk select via the checkboxes … Bulk
operations show a confirmation summary before executing"; seed 000: quarantined numbers
can be reclaimed)."""

import re

import pytest

from tests.factories import actor_for_user
from tests.portal.conftest import htmx_headers, sign_in
from trunkline.accounts.models import User
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.money import Money
from trunkline.phone_numbers import quarantine, services
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber
from trunkline.phone_numbers.supply import supply_seed

MODAL = htmx_headers("modal")


@pytest.fixture
def numbers(admin):
    partner = admin.partner
    supply_seed(states=["AR"], per_exchange=1, toll_free=0)
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse("50.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=partner),
        idempotency_key="portal-bulk",
    )
    wanted = list(SupplyNumber.objects.order_by("e164").values_list("e164", flat=True)[:3])
    return services.numbers_purchase(actor=actor_for_user(admin), numbers=wanted)


def ids(numbers):
    return [number.id for number in numbers]


def test_the_page_has_checkboxes_and_the_bulk_bar_for_admins_only(
    admin_client, reader_client, numbers
):
    page = admin_client.get("/numbers").content.decode()
    assert "data-select-all" in page
    assert all(f'name="ids" value="{number.id}"' in page for number in numbers)
    assert "Assign to tenant…" in page and "Update E911…" in page
    read_only = reader_client.get("/numbers").content.decode()
    assert 'name="ids"' not in read_only and "Assign to tenant…" not in read_only
    # And the actions themselves are refused to a read-only user.
    answer = reader_client.post("/numbers/bulk/release", {"ids": ids(numbers)}, **MODAL)
    assert answer.status_code == 403
    assert {n.status for n in PhoneNumber.objects.all()} == {"PENDING"}


def test_bulk_assign_asks_the_tenant_shows_the_summary_then_assigns(admin_client, tenant, numbers):
    tenant.max_dids = 10
    tenant.save()
    choose = admin_client.post("/numbers/bulk/assign", {"ids": ids(numbers)}, **MODAL)
    assert choose.status_code == 200
    assert (
        "Acme Plumbing" in choose.content.decode() and 'name="tenant_id"' in choose.content.decode()
    )
    summary = admin_client.post(
        "/numbers/bulk/assign", {"ids": ids(numbers), "tenant_id": tenant.id}, **MODAL
    ).content.decode()
    assert "Assign <strong>3 numbers</strong> to <strong>Acme Plumbing</strong>" in summary
    assert re.search(r"<td>Acme Plumbing</td><td>0</td><td>3</td><td>10</td><td>7</td>", summary)
    assert 'value="confirm"' in summary and "Confirm" in summary
    assert {n.tenant_id for n in PhoneNumber.objects.all()} == {None}  # nothing yet

    done = admin_client.post(
        "/numbers/bulk/assign",
        {"ids": ids(numbers), "tenant_id": tenant.id, "step": "confirm"},
        **MODAL,
    ).content.decode()
    assert "3 numbers</strong> assigned to Acme Plumbing" in done
    assert "data-reload-on-close" in done
    assert {n.tenant_id for n in PhoneNumber.objects.all()} == {tenant.id}


def test_the_summary_shows_max_dids_and_refusals_and_confirm_changes_nothing(
    admin_client, admin, tenant, numbers
):
    tenant.max_dids = 2
    tenant.save()
    services.number_reserve(actor=actor_for_user(admin), number=numbers[0], reserved=True)
    summary = admin_client.post(
        "/numbers/bulk/assign", {"ids": ids(numbers), "tenant_id": tenant.id}, **MODAL
    ).content.decode()
    assert numbers[0].e164 in summary and "reserved" in summary
    assert re.search(r"<button[^>]*disabled[^>]*>Confirm</button>", summary)
    # Tenants keep within Max DIDs without the reserved one; confirming anyway is refused
    # whole, and the modal says why.
    refused = admin_client.post(
        "/numbers/bulk/assign",
        {"ids": ids(numbers), "tenant_id": tenant.id, "step": "confirm"},
        **MODAL,
    )
    assert refused.status_code == 409
    assert "nothing was changed" in refused.content.decode()
    assert {n.tenant_id for n in PhoneNumber.objects.all()} == {None}


def test_bulk_release_and_bulk_e911(admin_client, admin, tenant, numbers):
    for number in numbers:
        services.number_assign(actor=actor_for_user(admin), number=number, tenant=tenant)
    summary = admin_client.post("/numbers/bulk/release", {"ids": ids(numbers[:2])}, **MODAL)
    assert "Release <strong>2 numbers</strong>" in summary.content.decode()
    admin_client.post(
        "/numbers/bulk/release", {"ids": ids(numbers[:2]), "step": "confirm"}, **MODAL
    )
    assert PhoneNumber.objects.filter(status="RELEASED").count() == 2

    form = admin_client.post("/numbers/bulk/e911", {"ids": ids(numbers)}, **MODAL)
    assert 'name="street"' in form.content.decode()
    address = {
        "street": "1200 Main St",
        "city": "Little Rock",
        "state": "AR",
        "postal_code": "72201",
    }
    bad = admin_client.post(
        "/numbers/bulk/e911",
        {"ids": ids(numbers), **address, "street": "PO Box 1", "step": "preview"},
        **MODAL,
    )
    assert bad.status_code == 422 and "PO box" in bad.content.decode()
    summary = admin_client.post(
        "/numbers/bulk/e911", {"ids": ids(numbers), **address, "step": "preview"}, **MODAL
    ).content.decode()
    assert "1200 Main St, Little Rock, AR 72201" in summary
    assert {n.e911_street for n in PhoneNumber.objects.all()} == {""}
    admin_client.post(
        "/numbers/bulk/e911", {"ids": ids(numbers), **address, "step": "confirm"}, **MODAL
    )
    assert {n.e911_status for n in PhoneNumber.objects.all()} == {"PENDING"}


def test_nothing_selected_and_foreign_ids(admin_client, numbers, other_partner):
    empty = admin_client.post("/numbers/bulk/release", {}, **MODAL)
    assert empty.status_code == 422 and "Select at least one number" in empty.content.decode()
    assert admin_client.post("/numbers/bulk/nonsense", {"ids": ids(numbers)}).status_code == 404
    _, admin_b, _ = other_partner
    supply_seed(states=["MO"], per_exchange=1, toll_free=0)
    ledger.wallet_credit(
        partner=admin_b.partner,
        amount=Money.parse("10.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=admin_b.partner),
        idempotency_key="portal-bulk-b",
    )
    theirs = services.numbers_purchase(
        actor=actor_for_user(admin_b),
        numbers=[SupplyNumber.objects.filter(state="MO").first().e164],
    )
    answer = admin_client.post(
        "/numbers/bulk/release", {"ids": [*ids(numbers), theirs[0].id], "step": "confirm"}, **MODAL
    )
    assert answer.status_code == 409 and "no such phone number" in answer.content.decode()
    assert {n.status for n in PhoneNumber.objects.all()} == {"PENDING"}
    assert admin_client.get(f"/numbers/{theirs[0].id}/reclaim", **MODAL).status_code == 404


def test_reclaim_a_quarantined_number(admin_client, reader_client, admin, numbers):
    number = numbers[0]
    PhoneNumber.objects.filter(pk=number.pk).update(status="ACTIVE")
    staff = User.objects.create_superuser("ops@trunkline.example", "Correct-Horse9battery")
    quarantine.number_disconnect(actor=Actor(kind="user", user=staff), number=number)
    page = admin_client.get("/numbers").content.decode()
    assert f"/numbers/{number.id}/reclaim" in page and "QUARANTINED" in page
    assert f"/numbers/{number.id}/reclaim" not in reader_client.get("/numbers").content.decode()
    modal = admin_client.get(f"/numbers/{number.id}/reclaim", **MODAL).content.decode()
    assert "returned to the carrier" in modal
    done = admin_client.post(f"/numbers/{number.id}/reclaim", **MODAL)
    assert done["HX-Redirect"] == "/numbers"
    assert PhoneNumber.objects.get(pk=number.pk).status == "RELEASED"
    again = admin_client.post(f"/numbers/{number.id}/reclaim", **MODAL)
    assert again.status_code == 409


# --- in a real browser -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_select_all_then_bulk_assign_in_the_browser(page, live_server, admin, tenant, numbers):
    sign_in(page, admin, live_server)
    page.goto("/numbers")
    page.get_by_label("Select all on this page").check()
    assert page.locator("input[name=ids]:checked").count() == 3
    page.get_by_role("button", name="Assign to tenant…").click()
    page.locator("#modal select[name=tenant_id]").select_option(label="Acme Plumbing")
    page.locator("#modal").get_by_role("button", name="Review").click()
    summary = page.locator("#modal .bulk-summary")
    summary.wait_for()
    assert "Assign 3 numbers to Acme Plumbing" in summary.inner_text()
    page.locator("#modal").get_by_role("button", name="Confirm").click()
    page.locator("#modal [role=status]").wait_for()
    assert "3 numbers assigned to Acme Plumbing" in page.locator("#modal").inner_text()
    page.locator("#modal").get_by_role("link", name="Close").click()
    page.wait_for_load_state()
    assert page.locator("td", has_text="Acme Plumbing").count() == 3
    assert {n.tenant_id for n in PhoneNumber.objects.all()} == {tenant.id}
