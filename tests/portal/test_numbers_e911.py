"""The partner E911 page and the E911 warning on every portal page (partner guide 004,
"E911 — the legal requirement", Appendix C)."""

import re

import pytest

from tests.factories import actor_for_user, make_tenant
from tests.portal.conftest import htmx_headers
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.money import Money
from trunkline.phone_numbers import services
from trunkline.phone_numbers.e911_selectors import e911_unreachable_count
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber
from trunkline.phone_numbers.supply import supply_seed

ADDRESS = {
    "street": "400 President Clinton Ave",
    "street2": "Floor 2",
    "city": "Little Rock",
    "state": "AR",
    "postal_code": "72201",
}
WARNING = "can't reach 911 with a dispatchable address"


def buy(admin, count: int, offset: int = 0) -> list[PhoneNumber]:
    partner = admin.partner
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse("100.00"),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=partner),
        idempotency_key=f"portal-e911:{partner.id}:{offset}",
    )
    wanted = SupplyNumber.objects.filter(kind="local").order_by("e164")[offset : offset + count]
    return services.numbers_purchase(
        actor=actor_for_user(admin), numbers=[row.e164 for row in wanted]
    )


@pytest.fixture
def numbers(admin, tenant):
    """Four numbers of the partner, three assigned to Acme Plumbing, one per E911 status."""
    supply_seed(states=["AR"], per_exchange=2, toll_free=0)
    bought = buy(admin, 4)
    for number in bought[:3]:
        services.number_assign(actor=actor_for_user(admin), number=number, tenant=tenant)
    statuses = ["REGISTERED", "PENDING", "FAILED", "NOT_SET"]
    for number, status in zip(bought, statuses, strict=True):
        PhoneNumber.objects.filter(pk=number.pk).update(
            e911_status=status,
            e911_error="address not found" if status == "FAILED" else "",
            e911_street="1 Wrong Rd" if status == "FAILED" else "",
        )
    return {status: number for number, status in zip(bought, statuses, strict=True)}


def rows(html: str) -> list[str]:
    return [chunk.split('"')[0] for chunk in html.split('<tr data-number="')[1:]]


def test_lists_every_number_not_set_first_then_failed_pending_registered(admin_client, numbers):
    html = admin_client.get("/numbers/e911").content.decode()
    order = [numbers[status].e164 for status in ("NOT_SET", "FAILED", "PENDING", "REGISTERED")]
    assert rows(html) == order
    assert "Acme Plumbing" in html and "Unassigned" in html
    assert "address not found" in html and "1 Wrong Rd" in html
    counts = {
        chunk.split('"')[0]: chunk.split("data-count>")[1].split("<")[0]
        for chunk in html.split('data-status="')[1:]
    }
    assert counts == {"NOT_SET": "1", "FAILED": "1", "PENDING": "1", "REGISTERED": "1"}


def test_filters_by_tenant_and_status(admin_client, numbers, tenant):
    by_status = admin_client.get("/numbers/e911", {"status": "FAILED"}).content.decode()
    assert rows(by_status) == [numbers["FAILED"].e164]
    by_tenant = admin_client.get("/numbers/e911", {"tenant": tenant.id}).content.decode()
    assert numbers["NOT_SET"].e164 not in rows(by_tenant) and len(rows(by_tenant)) == 3
    unassigned = admin_client.get("/numbers/e911", {"tenant": "unassigned"}).content.decode()
    assert rows(unassigned) == [numbers["NOT_SET"].e164]
    nonsense = admin_client.get("/numbers/e911", {"status": "BOGUS"})
    assert nonsense.status_code == 200 and len(rows(nonsense.content.decode())) == 4


def test_settings_e911_is_the_same_page_and_both_menus_link_it(admin_client, numbers):
    html = admin_client.get("/settings/e911").content.decode()
    assert len(rows(html)) == 4
    assert html.count('href="/numbers/e911"') >= 2  # Numbers and Settings menus


def test_edit_opens_the_inventory_modal_and_comes_back_here(admin_client, numbers):
    number = numbers["NOT_SET"]
    html = admin_client.get("/numbers/e911").content.decode()
    link = f"/numbers/{number.id}/edit?next=%2Fnumbers%2Fe911"
    assert link in html
    modal = admin_client.get(link, **htmx_headers("modal")).content.decode()
    assert 'name="street"' in modal and 'name="next" value="/numbers/e911"' in modal
    saved = admin_client.post(
        f"/numbers/{number.id}/edit",
        {"cnam": "", "next": "/numbers/e911", **ADDRESS},
        **htmx_headers("modal"),
    )
    assert saved.status_code == 200 and saved["HX-Redirect"] == "/numbers/e911"
    number.refresh_from_db()
    assert number.e911_street == ADDRESS["street"] and number.e911_status == "PENDING"
    # From the inventory, the modal still returns to the inventory.
    again = admin_client.post(
        f"/numbers/{number.id}/edit", {"cnam": "ACME ONE", **ADDRESS}, **htmx_headers("modal")
    )
    assert again["HX-Redirect"] == "/numbers"
    # And nowhere else.
    away = admin_client.post(
        f"/numbers/{number.id}/edit",
        {"cnam": "ACME TWO", "next": "https://evil.example/", **ADDRESS},
        **htmx_headers("modal"),
    )
    assert away["HX-Redirect"] == "/numbers"


def test_read_only_users_see_the_page_without_edit(reader_client, numbers):
    html = reader_client.get("/numbers/e911").content.decode()
    assert len(rows(html)) == 4 and "/edit" not in html
    number = numbers["NOT_SET"]
    answer = reader_client.post(
        f"/numbers/{number.id}/edit", {"next": "/numbers/e911", **ADDRESS}, **htmx_headers("modal")
    )
    assert answer.status_code == 403


def test_another_partners_numbers_never_show_and_cannot_be_edited(
    admin_client, numbers, other_partner
):
    partner_b, admin_b, tenant_b = other_partner
    theirs = buy(admin_b, 2, offset=10)
    services.number_assign(actor=actor_for_user(admin_b), number=theirs[0], tenant=tenant_b)
    html = admin_client.get("/numbers/e911").content.decode()
    assert not {number.e164 for number in theirs} & set(rows(html))
    assert (
        admin_client.get("/numbers/e911", {"tenant": tenant_b.id})
        .content.decode()
        .count("<tr data-number")
        == 0
    )
    answer = admin_client.get(f"/numbers/{theirs[0].id}/edit?next=/numbers/e911")
    assert answer.status_code == 404


# --- the warning on every page ----------------------------------------------------------


def test_the_warning_counts_assigned_numbers_without_a_working_address(
    admin_client, admin, numbers
):
    # FAILED and NOT_SET are unreachable; the Not Set one is unassigned, so one counts.
    for url in ("/", "/numbers", "/tenants", "/numbers/buy", "/settings/webhooks"):
        html = admin_client.get(url).content.decode()
        assert f"1 number assigned to a tenant {WARNING}" in html, url
        assert 'href="/numbers/e911">Set their E911 addresses' in html
    PhoneNumber.objects.filter(pk=numbers["PENDING"].pk).update(e911_status="NOT_SET")
    html = admin_client.get("/").content.decode()
    assert f"2 numbers assigned to tenants {WARNING}" in html
    assert e911_unreachable_count(partner=admin.partner) == 2


def test_the_warning_goes_once_every_assigned_number_is_registered_or_pending(
    admin_client, admin, numbers
):
    PhoneNumber.objects.filter(pk=numbers["FAILED"].pk).update(e911_status="PENDING")
    html = admin_client.get("/").content.decode()
    assert WARNING not in html and "data-e911-warning" not in html
    # An unassigned number without an address does not raise it; assigning it does.
    tenant = make_tenant(admin, name="Second Tenant")
    services.number_assign(actor=actor_for_user(admin), number=numbers["NOT_SET"], tenant=tenant)
    assert WARNING in admin_client.get("/").content.decode()


def test_the_warning_never_counts_another_partners_numbers(admin_client, admin, other_partner):
    supply_seed(states=["AR"], per_exchange=2, toll_free=0)
    partner_b, admin_b, tenant_b = other_partner
    theirs = buy(admin_b, 3)
    for number in theirs:
        services.number_assign(actor=actor_for_user(admin_b), number=number, tenant=tenant_b)
    assert WARNING not in admin_client.get("/").content.decode()
    assert e911_unreachable_count(partner=admin.partner) == 0
    assert e911_unreachable_count(partner=partner_b) == 3
    other = admin_client.__class__()
    other.force_login(admin_b)
    assert f"3 numbers assigned to tenants {WARNING}" in other.get("/").content.decode()


def test_the_warning_is_one_count_query_and_modals_skip_it(admin_client, numbers):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as page:
        admin_client.get("/numbers/e911")
    counting = [
        query["sql"]
        for query in page.captured_queries
        if "COUNT" in query["sql"].upper() and '"tenant_id" IS NOT NULL' in query["sql"]
    ]
    assert len(counting) == 1
    with CaptureQueriesContext(connection) as modal:
        admin_client.get(f"/numbers/{numbers['NOT_SET'].id}/edit", **htmx_headers("modal"))
    assert not [q for q in modal.captured_queries if '"tenant_id" IS NOT NULL' in q["sql"]]


# --- in a real browser -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_warning_shows_until_the_address_is_set(page, live_server, admin):
    from playwright.sync_api import expect

    from tests.portal.conftest import sign_in

    supply_seed(states=["AR"], per_exchange=1, toll_free=0)
    tenant = make_tenant(admin, name="Acme Plumbing")
    number = buy(admin, 1)[0]
    services.number_assign(actor=actor_for_user(admin), number=number, tenant=tenant)
    sign_in(page, admin, live_server)
    page.goto("/tenants")
    warning = page.locator("[data-e911-warning]")
    expect(warning).to_contain_text(f"1 number assigned to a tenant {WARNING}")
    warning.get_by_role("link", name="Set their E911 addresses").click()
    expect(page.get_by_role("heading", name="E911", exact=True)).to_be_visible()
    row = page.locator(f"tr[data-number='{number.e164}']")
    expect(row).to_contain_text("Not Set")
    row.get_by_role("link", name="Edit").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Street").fill(ADDRESS["street"])
    dialog.get_by_label("Suite, floor or unit").fill(ADDRESS["street2"])
    dialog.get_by_label("City").fill(ADDRESS["city"])
    dialog.get_by_label("State").fill(ADDRESS["state"])
    dialog.get_by_label("ZIP").fill(ADDRESS["postal_code"])
    dialog.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/numbers/e911$"))
    expect(page.locator(f"tr[data-number='{number.e164}']")).to_contain_text("Pending")
    expect(page.locator("[data-e911-warning]")).to_have_count(0)
    page.goto("/")
    expect(page.locator("[data-e911-warning]")).to_have_count(0)
