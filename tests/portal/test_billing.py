"""Settings → Billing → History for partners; the Tenants and Providers dashboards and the
rate tables for platform staff."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from tests.factories import actor_for_user, make_partner, make_tenant
from tests.portal.conftest import htmx_headers, sign_in
from trunkline.accounts.models import User
from trunkline.billing import ledger
from trunkline.billing.cdrs import cdrs_ingest, usage_cycle_start
from trunkline.billing.models import (
    CallRecord,
    ConferenceRate,
    InboundRate,
    OutboundRate,
    PlanPrice,
    Provider,
    TenantUsage,
)
from trunkline.core.actors import Actor
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db

SINCE = datetime(2020, 1, 1, tzinfo=UTC)


def money(text: str) -> Money:
    return Money.parse(text)


def credit(partner, amount, key, when, type="top_up", memo=""):
    return ledger.wallet_credit(
        partner=partner,
        amount=money(amount),
        type=type,
        actor=Actor.system(partner=partner),
        idempotency_key=key,
        memo=memo,
        now=when,
    )[0]


def debit(partner, amount, key, when, type, memo=""):
    return ledger.wallet_debit(
        partner=partner,
        amount=money(amount),
        type=type,
        actor=Actor.system(partner=partner),
        idempotency_key=key,
        memo=memo,
        allow_negative=True,
        now=when,
    )[0]


@pytest.fixture
def wallet(partner):
    """A top-up, two monthly charges and usage across three days of November 2026."""
    day = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    return [
        credit(partner, "100.00", "t1", day, memo="Card top-up"),
        debit(partner, "1.75", "d1", day + timedelta(days=1), "did_monthly_local", "+13125550100"),
        debit(partner, "3.00", "e1", day + timedelta(days=1, hours=1), "extension_monthly"),
        debit(partner, "0.022", "u1", day + timedelta(days=2), "usage_local", "3 calls"),
    ]


def rows_of(response) -> list[str]:
    return re.findall(r'data-transaction="(pst_\w+)"', response.content.decode())


# --- History -------------------------------------------------------------------------------


def test_billing_is_in_the_settings_menu_and_opens_on_its_first_tab(admin_client):
    page = admin_client.get("/settings/account").content.decode()
    assert 'href="/settings/billing"' in page
    response = admin_client.get("/settings/billing")
    assert response.status_code == 302
    tabs = admin_client.get(response["Location"]).content.decode()
    assert 'aria-current="page">Subscription<' in tabs
    assert 'href="/settings/billing/payment-methods"' in tabs
    assert 'href="/settings/billing/history"' in tabs


def test_history_lists_every_transaction_newest_first_with_signed_amounts_and_balance(
    admin_client, wallet
):
    response = admin_client.get("/settings/billing/history")
    assert response.status_code == 200
    assert rows_of(response) == [posting.id for posting in reversed(wallet)]
    page = response.content.decode()
    top_up = page[page.index(f'data-transaction="{wallet[0].id}"') :]
    assert "Top-up" in top_up[:600]
    assert 'class="num money credit">+$100.00<' in top_up[:600]
    assert '">$100.00<' in top_up[:600]  # the balance after it
    usage = page[page.index(f'data-transaction="{wallet[3].id}"') :]
    assert 'class="num money debit">−$0.022<' in usage[:600]
    assert '">$95.228<' in usage[:600]
    # The wallet balance heads the page.
    assert "$95.228" in page[: page.index("<table")]


def test_history_filters_by_type_and_by_days(admin_client, wallet):
    by_type = admin_client.get("/settings/billing/history", {"type": "extension_monthly"})
    assert rows_of(by_type) == [wallet[2].id]
    one_day = admin_client.get(
        "/settings/billing/history", {"date_from": "2026-11-04", "date_to": "2026-11-04"}
    )
    assert rows_of(one_day) == [wallet[2].id, wallet[1].id]
    from_day = admin_client.get("/settings/billing/history", {"date_from": "2026-11-05"})
    assert rows_of(from_day) == [wallet[3].id]
    none = admin_client.get("/settings/billing/history", {"type": "refund"})
    assert rows_of(none) == [] and "No transactions match" in none.content.decode()


def test_history_refuses_bad_filters_next_to_the_field(admin_client, wallet):
    response = admin_client.get(
        "/settings/billing/history", {"date_from": "2026-11-05", "date_to": "2026-11-01"}
    )
    assert "The end date is on or after the start date." in response.content.decode()
    assert rows_of(response) == []
    unknown = admin_client.get("/settings/billing/history", {"type": "free_money"})
    assert "Select a valid choice" in unknown.content.decode()
    assert rows_of(unknown) == []


def test_history_pages_with_a_cursor_and_load_more(admin_client, partner):
    start = datetime(2026, 10, 1, tzinfo=UTC)
    postings = [credit(partner, "1.00", f"k{n}", start + timedelta(minutes=n)) for n in range(53)]
    first = admin_client.get("/settings/billing/history", {"type": "top_up"})
    assert rows_of(first) == [posting.id for posting in reversed(postings)][:50]
    more_url = re.search(r'id="load-more".*?hx-get="([^"]+)"', first.content.decode(), re.S)[1]
    assert "type=top_up" in more_url
    rest = admin_client.get(more_url.replace("&amp;", "&"), **htmx_headers("load-more"))
    assert rows_of(rest) == [posting.id for posting in reversed(postings)][50:]
    assert "<html" not in rest.content.decode() and "Load more" not in rest.content.decode()
    tampered = admin_client.get("/settings/billing/history", {"cursor": "nonsense"})
    assert tampered.status_code == 400


def csv_rows(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_export_csv_streams_the_filtered_rows_like_the_api(admin_client, partner, wallet, api):
    page = admin_client.get("/settings/billing/history", {"date_from": "2026-11-04"})
    assert 'href="/settings/billing/history.csv?date_from=2026-11-04"' in page.content.decode()
    response = admin_client.get("/settings/billing/history.csv", {"date_from": "2026-11-04"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [row["id"] for row in rows] == [wallet[3].id, wallet[2].id, wallet[1].id]
    assert rows[0]["amount"] == "-0.022" and rows[0]["balance_after"] == "95.228"
    assert rows[2]["type"] == "did_monthly_local" and rows[2]["memo"] == "+13125550100"
    from_api = api.get("/v1/wallet/transactions.csv", {"from": "2026-11-04"})
    assert csv_rows(from_api) == rows


def test_export_csv_refuses_bad_filters(admin_client):
    response = admin_client.get("/settings/billing/history.csv", {"date_from": "yesterday"})
    assert response.status_code == 400 and b"date_from" in response.content


def test_a_partner_user_can_read_and_export_the_history(reader_client, wallet):
    assert rows_of(reader_client.get("/settings/billing/history")) == [
        posting.id for posting in reversed(wallet)
    ]
    assert len(csv_rows(reader_client.get("/settings/billing/history.csv"))) == 4


def test_another_partners_transactions_are_invisible(admin_client, wallet, other_partner):
    partner_b = other_partner[0]
    foreign = credit(partner_b, "500.00", "b1", datetime(2026, 11, 4, tzinfo=UTC))
    page = admin_client.get("/settings/billing/history").content.decode()
    assert foreign.id not in page and "500.00" not in page
    exported = csv_rows(admin_client.get("/settings/billing/history.csv"))
    assert foreign.id not in {row["id"] for row in exported}


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for path in ("/settings/billing/history", "/settings/billing/history.csv"):
        assert client.get(path)["Location"].startswith("/login")


# --- platform staff ----------------------------------------------------------------------


@pytest.fixture
def staff(db):
    return User.objects.create_superuser("ops@trunkline.example", "Correct-Horse9battery")


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def carrier(db):
    provider = Provider.objects.create(name="Docs Demo Carrier", is_default=True)
    OutboundRate.objects.create(
        provider=provider,
        prefix="1",
        per_minute_micros=4_000,
        first_increment=6,
        step_increment=6,
        effective_from=SINCE,
    )
    InboundRate.objects.create(
        provider=provider,
        did_class="toll_free",
        per_minute_micros=7_000,
        first_increment=6,
        step_increment=6,
        effective_from=SINCE,
    )
    OutboundRate.objects.create(
        provider=None, prefix="44", per_minute_micros=50_000, effective_from=SINCE
    )
    return provider


def call(tenant, call_id, started, seconds, **changes):
    return {
        "call_id": call_id,
        "tenant_id": tenant.id,
        "direction": "outbound",
        "from": "+15015550100",
        "to": "+15015550123",
        "started_at": started.isoformat(),
        "answered_at": started.isoformat(),
        "ended_at": (started + timedelta(seconds=seconds)).isoformat(),
        "billsec": seconds,
        **changes,
    }


STAFF_PAGES = ("/platform/tenants", "/platform/providers")


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_platform_pages_are_404_for_partners(admin_client, reader_client, path):
    assert admin_client.get(path).status_code == 404
    assert reader_client.get(path).status_code == 404


@pytest.mark.parametrize("path", STAFF_PAGES)
def test_platform_pages_send_signed_out_visitors_to_sign_in(client, path):
    assert client.get(path)["Location"] == f"/login?next={path}"


def test_staff_see_the_platform_menu_and_partners_do_not(staff_client, admin_client):
    page = staff_client.get("/platform/tenants").content.decode()
    assert "Providers Dashboard" in page and "/admin/billing/outboundrate/" in page
    assert "Platform" not in admin_client.get("/settings/billing/history").content.decode()
    # A staff member without a partner lands on the platform pages, not in a sign-in loop.
    assert staff_client.get("/")["Location"] == "/platform/tenants"


def this_cycle_start(tenant) -> datetime:
    zone = ZoneInfo(tenant.timezone)
    first = usage_cycle_start(tenant.timezone, timezone.now())
    return datetime(first.year, first.month, first.day, 1, tzinfo=zone)


def test_tenants_dashboard_shows_each_tenants_cycle_usage_and_partner_billing(
    staff_client, admin, partner, carrier
):
    busy = make_tenant(admin, name="Busy Plumbing")
    quiet = make_tenant(admin, name="Quiet Dental", timezone_name="America/Los_Angeles")
    partner_b, admin_b = make_partner(company_name="Second Reseller")
    foreign = make_tenant(admin_b, name="Far Away Ltd")
    start = this_cycle_start(busy)
    records = [
        call(busy, "a", start, 61),
        call(busy, "b", start + timedelta(minutes=5), 125),
        call(busy, "tf", start, 30, direction="inbound", to="+18005550100"),
        call(busy, "uk", start, 90, to="+442079460000"),
        # Last cycle's call counts in last cycle's row, not this one.
        call(busy, "old", start - timedelta(days=40), 600),
    ]
    assert cdrs_ingest(actor=actor_for_user(admin), records=records).accepted == 5
    cdrs_ingest(
        actor=actor_for_user(admin_b), records=[call(foreign, "f", this_cycle_start(foreign), 42)]
    )
    credit(partner_b, "10.00", "b-top", timezone.now())

    response = staff_client.get("/platform/tenants")
    assert response.status_code == 200
    page = response.content.decode()
    usage = TenantUsage.objects.get(tenant=busy, cycle_start=start.date())
    row = page[page.index(f'data-tenant="{busy.id}"') :]
    row = row[: row.index("</tr>")]
    assert f'data-col="calls">{usage.calls}<' in row and usage.calls == 4
    assert f'data-col="local">{(usage.local_seconds * 10 + 30) // 600}.' in row
    assert 'data-col="toll_free">0.5<' in row  # 30 s
    assert 'data-col="international">2.0<' in row  # 90 s in 60/60 steps → 120 s
    assert f'data-col="exposure">${Money(usage.wholesale_micros).to_json()}<' in row
    wallet = ledger.wallet_balance(partner)
    assert wallet.micros == -usage.wholesale_micros - 10 * 20_000  # plus last cycle's call
    assert f'data-col="wallet">−${Money(-wallet.micros).to_json()}<' in row
    assert "Starter" in row and partner.company_name in row
    # Highest exposure first, every partner's tenants, the quiet one at zero.
    order = re.findall(r'data-tenant="(tnt_\w+)"', page)
    assert order.index(busy.id) < order.index(foreign.id) < order.index(quiet.id)
    quiet_row = page[page.index(f'data-tenant="{quiet.id}"') :]
    assert 'data-col="exposure">$0.00<' in quiet_row[: quiet_row.index("</tr>")]
    far_row = page[page.index(f'data-tenant="{foreign.id}"') :]
    assert 'data-col="wallet">$9.986<' in far_row[: far_row.index("</tr>")]
    # Totals are this cycle's counters summed.
    this_cycle = TenantUsage.objects.exclude(cycle_start__lt=start.date() - timedelta(days=1))
    assert f'data-total="calls">{sum(u.calls for u in this_cycle)}<' in page
    exposure = Money(sum(u.wholesale_micros for u in this_cycle))
    assert f'data-total="exposure">${exposure.to_json()}<' in page


def test_tenants_dashboard_search_and_status(staff_client, admin):
    busy = make_tenant(admin, name="Busy Plumbing")
    make_tenant(admin, name="Quiet Dental", status="ACTIVE")
    found = staff_client.get("/platform/tenants", {"q": "busy"}).content.decode()
    assert re.findall(r'data-tenant="(tnt_\w+)"', found) == [busy.id]
    by_partner = staff_client.get("/platform/tenants", {"q": admin.partner.company_name})
    assert len(re.findall(r'data-tenant="', by_partner.content.decode())) == 2
    active = staff_client.get("/platform/tenants", {"status": "ACTIVE", "sort": "name"})
    assert "Quiet Dental" in active.content.decode()
    assert "Busy Plumbing" not in active.content.decode()


def test_providers_dashboard_sums_the_call_records_in_the_range(
    staff_client, admin, carrier, other_partner
):
    tenant = make_tenant(admin, name="Busy Plumbing")
    partner_b, admin_b, tenant_b = other_partner
    other_carrier = Provider.objects.create(name="Backup Carrier")
    day = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    cdrs_ingest(
        actor=actor_for_user(admin),
        records=[
            call(tenant, "a", day, 61),
            call(tenant, "b", day + timedelta(days=5), 125),
            call(tenant, "missed", day, 0, answered_at=None),
            call(tenant, "int", day, 40, direction="internal", **{"from": "101", "to": "102"}),
            call(tenant, "late", datetime(2026, 12, 1, 0, 0, tzinfo=UTC), 300),
        ],
    )
    cdrs_ingest(actor=actor_for_user(admin_b), records=[call(tenant_b, "x", day, 90)])

    response = staff_client.get(
        "/platform/providers", {"date_from": "2026-11-01", "date_to": "2026-11-30"}
    )
    assert response.status_code == 200
    page = response.content.decode()
    in_range = CallRecord.objects.filter(
        provider=carrier, started_at__gte=datetime(2026, 11, 1, tzinfo=UTC)
    ).exclude(call_id="late")
    assert in_range.count() == 4
    row = page[page.index(f'data-provider="{carrier.id}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-col="calls">4<' in row and 'data-col="answered">3<' in row
    assert 'data-col="minutes">4.6<' in row  # 61 + 125 + 90 s
    cost = Money(sum(record.provider_cost_micros for record in in_range))
    revenue = Money(sum(record.wholesale_micros for record in in_range))
    assert cost == money("0.0188")  # 66 s + 126 s + 90 s at $0.004 a minute
    assert f'data-col="cost">${cost.to_json()}<' in row
    assert f'data-col="revenue">${revenue.to_json()}<' in row
    assert f'data-col="margin">${(revenue - cost).to_json()}<' in row
    percent = 100 * (revenue - cost).micros / revenue.micros
    assert f'data-col="margin_percent">{percent:.1f}%<' in row
    backup = page[page.index(f'data-provider="{other_carrier.id}"') :]
    assert 'data-col="calls">0<' in backup[: backup.index("</tr>")]
    assert "No carrier (internal calls)" in page
    total = page[page.index('data-provider="total"') :]
    assert 'data-col="calls">5<' in total[: total.index("</tr>")]


def test_providers_dashboard_defaults_to_this_month_and_checks_the_range(staff_client):
    today = timezone.now().date()
    page = staff_client.get("/platform/providers").content.decode()
    assert f'value="{today.replace(day=1).isoformat()}"' in page
    assert f'value="{today.isoformat()}"' in page
    backwards = staff_client.get(
        "/platform/providers", {"date_from": "2026-11-30", "date_to": "2026-11-01"}
    )
    assert backwards.status_code == 422
    assert "The end date is on or after the start date." in backwards.content.decode()


# --- rate tables in the admin ----------------------------------------------------------------

HEADER = (
    "prefix,description,per_minute,connection_fee,first_increment,step_increment,"
    "effective_from,effective_to\n"
)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/billing/provider/",
        "/admin/billing/outboundrate/",
        "/admin/billing/inboundrate/",
        "/admin/billing/conferencerate/",
        "/admin/billing/planprice/",
    ],
)
def test_rate_tables_are_in_the_admin_for_staff(staff_client, carrier, path):
    ConferenceRate.objects.create(
        description="Docs Demo rooms", per_minute_micros=3_000, effective_from=SINCE
    )
    response = staff_client.get(path)
    assert response.status_code == 200


def test_admin_lists_prices_in_dollars_and_finds_prefixes_as_dialled(staff_client, carrier):
    page = staff_client.get("/admin/billing/outboundrate/", {"q": "+44"}).content.decode()
    assert "+44" in page and "$0.05" in page and "+1<" not in page
    prices = staff_client.get("/admin/billing/planprice/").content.decode()
    assert "$249.00" in prices and "$0.02 / $0.022" in prices


def test_admin_takes_prices_in_dollars(staff_client, carrier):
    response = staff_client.post(
        "/admin/billing/conferencerate/add/",
        {
            "description": "Docs Demo rooms",
            "per_minute_micros": "0.0045",
            "connection_micros": "0",
            "first_increment": "60",
            "step_increment": "60",
            "effective_from_0": "2026-01-01",
            "effective_from_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert ConferenceRate.objects.get().per_minute_micros == 4_500
    bad = staff_client.post(
        "/admin/billing/conferencerate/add/",
        {"per_minute_micros": "0.1234567", "connection_micros": "0"},
    )
    assert "at most six decimal places" in bad.content.decode()


def test_partners_cannot_open_the_admin(admin_client):
    response = admin_client.get("/admin/billing/outboundrate/upload/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert PlanPrice.objects.exists()  # untouched list prices


def upload(client, text: str, provider=None):
    return client.post(
        "/admin/billing/outboundrate/upload/",
        {
            "provider": provider.id if provider else "",
            "file": SimpleUploadedFile("deck.csv", text.encode(), content_type="text/csv"),
        },
    )


def test_uploading_a_good_rate_file_loads_it(staff_client, carrier):
    form = staff_client.get("/admin/billing/outboundrate/upload/").content.decode()
    assert "Docs Demo Carrier" in form and "effective_from" in form
    text = (
        HEADER
        + "44,United Kingdom,0.0125,0,60,60,2027-01-01,\n4420,London,0.011,,30,6,2027-01-01,\n"
    )
    response = upload(staff_client, text, carrier)
    assert response.status_code == 302
    assert OutboundRate.objects.filter(provider=carrier, prefix__startswith="44").count() == 2
    listing = staff_client.get(response["Location"]).content.decode()
    assert "Loaded 2 rate(s) for 2 prefix(es) into Docs Demo Carrier" in listing


def test_uploading_a_bad_rate_file_lists_the_rows_and_loads_nothing(staff_client, carrier):
    before = OutboundRate.objects.count()
    text = HEADER + "44,UK,0.0125,0,60,60,2027-01-01,\n4x,Bad,0.01,0,0,60,2027-01-01,\n"
    response = upload(staff_client, text, carrier)
    assert response.status_code == 422
    page = response.content.decode()
    assert "The file was not loaded" in page
    assert "row 3: prefix &#x27;4x&#x27; is digits only" in page
    assert OutboundRate.objects.count() == before
    binary = staff_client.post(
        "/admin/billing/outboundrate/upload/",
        {"provider": "", "file": SimpleUploadedFile("deck.xls", b"\xd0\xcf\x11\xe0\xff")},
    )
    assert binary.status_code == 422 and "not UTF-8" in binary.content.decode()


# --- in a real browser -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_a_read_only_user_filters_the_history_and_exports_it(
    page, live_server, partner, reader
):
    from playwright.sync_api import expect

    day = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    top_up = credit(partner, "100.00", "t1", day, memo="Card top-up")
    did = debit(partner, "1.75", "d1", day + timedelta(days=1), "did_monthly_local", "DID")
    extension = debit(partner, "3.00", "e1", day + timedelta(days=2), "extension_monthly")
    sign_in(page, reader, live_server)

    page.goto("/settings/billing")
    page.get_by_role("navigation", name="Billing").get_by_role("link", name="History").click()
    expect(page).to_have_url(re.compile(r"/settings/billing/history$"))
    rows = page.locator("tr[data-transaction]")
    expect(rows).to_have_count(3)
    first = page.locator(f'tr[data-transaction="{extension.id}"]')
    expect(first.locator("td.money").first).to_have_text("−$3.00")
    expect(first.locator("td.money").first).to_have_class(re.compile(r"\bdebit\b"))
    expect(first.locator("td.money").last).to_have_text("$95.25")
    expect(page.locator(f'tr[data-transaction="{top_up.id}"] td.credit')).to_have_text("+$100.00")

    page.get_by_label("Type").select_option(label="Monthly DID (local)")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-transaction", did.id)

    page.get_by_role("link", name="Clear").click()
    expect(rows).to_have_count(3)
    page.get_by_label("From").fill("2026-11-04")
    page.get_by_label("To").fill("2026-11-05")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)
    expect(page.get_by_label("From")).to_have_value("2026-11-04")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download_info.value.path()).read_text()
    exported = list(csv.DictReader(io.StringIO(text)))
    assert [row["id"] for row in exported] == [extension.id, did.id]

    page.get_by_label("From").fill("2026-11-09")
    page.get_by_label("To").fill("2026-11-01")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("alert")).to_have_text("The end date is on or after the start date.")


# --- Payment Methods and top-ups ---------------------------------------------------------

METHODS = "/settings/billing/payment-methods"


def add_card(client, number):
    return client.post(f"{METHODS}/new", {"token": number}, **htmx_headers())


def test_payment_methods_say_the_processor_is_simulated_and_list_test_numbers(admin_client):
    page = admin_client.get(METHODS).content.decode()
    assert "Simulated card processor" in page
    assert "4242 4242 4242 4242" in page and "4000 0000 0000 0002" in page
    assert "No payment method yet" in page
    form = admin_client.get(f"{METHODS}/new", **htmx_headers()).content.decode()
    assert 'name="token"' in form and "Card number" in form


def test_stripe_mode_says_so_and_takes_a_payment_method_id(admin_client, settings):
    settings.TRUNKLINE_PAYMENT_PROCESSOR = "stripe"
    settings.STRIPE_SECRET_KEY = ""
    page = admin_client.get(f"{METHODS}/new", **htmx_headers()).content.decode()
    assert "processed by Stripe" in page and "no Stripe secret key is configured" in page
    assert "js.stripe.com" in page and "Payment method id" in page


def test_cards_are_added_the_first_is_default_and_the_default_can_move(admin_client, partner):
    response = add_card(admin_client, "4242 4242 4242 4242")
    assert response.status_code == 200 and response["HX-Redirect"] == METHODS
    add_card(admin_client, "5555555555554444")
    visa, mastercard = sorted(partner.payment_methods.all(), key=lambda m: m.last4)
    assert (visa.last4, visa.is_default, mastercard.is_default) == ("4242", True, False)
    page = admin_client.get(METHODS).content.decode()
    visa_row = page[page.index(f'data-method="{visa.id}"') :]
    assert "Default" in visa_row[: visa_row.index("</li>")]
    admin_client.post(f"{METHODS}/{mastercard.id}/default")
    mastercard.refresh_from_db()
    assert mastercard.is_default


def test_a_refused_card_is_explained_next_to_the_field(admin_client, partner):
    declined = add_card(admin_client, "4000000000000002")
    assert declined.status_code == 422 and "declined" in declined.content.decode()
    unknown = add_card(admin_client, "1234123412341234")
    assert unknown.status_code == 422 and "test card numbers" in unknown.content.decode()
    assert not partner.payment_methods.exists()


def test_deleting_a_card_asks_first_and_the_next_becomes_default(admin_client, partner):
    add_card(admin_client, "4242424242424242")
    add_card(admin_client, "5555555555554444")
    visa = partner.payment_methods.get(last4="4242")
    question = admin_client.get(f"{METHODS}/{visa.id}/delete", **htmx_headers()).content.decode()
    assert "Delete Visa •••• 4242?" in question and "Mastercard •••• 4444 becomes" in question
    assert partner.payment_methods.filter(deleted_at__isnull=True).count() == 2
    response = admin_client.post(f"{METHODS}/{visa.id}/delete", **htmx_headers())
    assert response["HX-Redirect"] == METHODS
    visa.refresh_from_db()
    assert visa.deleted_at is not None
    assert partner.payment_methods.get(last4="4444").is_default


def test_auto_recharge_needs_a_card_and_then_saves(admin_client, partner):
    form = {"enabled": "on", "threshold": "50.00", "amount": "200.00"}
    refused = admin_client.post("/settings/billing/auto-recharge", form)
    assert refused.status_code == 422
    assert "Add a payment method before turning on auto-recharge" in refused.content.decode()
    add_card(admin_client, "4242424242424242")
    bad = admin_client.post("/settings/billing/auto-recharge", {**form, "amount": "2.5.0"})
    assert bad.status_code == 422 and "not a decimal amount" in bad.content.decode()
    saved = admin_client.post("/settings/billing/auto-recharge", {**form, "threshold": "75"})
    assert saved.status_code == 302
    account = partner.billing_account
    account.refresh_from_db()
    assert account.auto_recharge_enabled
    assert account.auto_recharge_threshold_micros == 75_000_000


def test_top_up_charges_the_default_card_once_per_form(admin_client, partner):
    no_card = admin_client.get("/settings/billing/top-up", **htmx_headers()).content.decode()
    assert "Add a payment method first" in no_card
    add_card(admin_client, "4242424242424242")
    form = admin_client.get("/settings/billing/top-up", **htmx_headers()).content.decode()
    key = re.search(r'name="idempotency_key" value="(\w+)"', form).group(1)
    for _ in range(2):  # a double click
        response = admin_client.post(
            "/settings/billing/top-up",
            {"amount": "$150.00", "idempotency_key": key},
            **htmx_headers(),
        )
        assert response["HX-Redirect"] == "/settings/billing/history"
    assert ledger.wallet_balance(partner) == money("150.00")
    too_small = admin_client.post(
        "/settings/billing/top-up", {"amount": "5", "idempotency_key": "other"}, **htmx_headers()
    )
    assert too_small.status_code == 422 and "between $10.00" in too_small.content.decode()


def test_a_declined_top_up_credits_nothing(admin_client, partner):
    add_card(admin_client, "4000000000009995")  # added, declined when charged
    response = admin_client.post(
        "/settings/billing/top-up", {"amount": "100", "idempotency_key": "k"}, **htmx_headers()
    )
    assert response.status_code == 422 and "insufficient funds" in response.content.decode()
    assert ledger.wallet_balance(partner) == money("0")


def test_a_partner_user_sees_cards_but_cannot_change_them(admin_client, reader_client, partner):
    add_card(admin_client, "4242424242424242")
    visa = partner.payment_methods.get()
    page = reader_client.get(METHODS).content.decode()
    assert "Visa •••• 4242" in page and "Add Payment Method" not in page
    assert "Save auto-recharge" not in page and "Top Up Wallet" not in page
    assert reader_client.post(f"{METHODS}/new", {"token": "5555555555554444"}).status_code == 403
    assert reader_client.post(f"{METHODS}/{visa.id}/delete").status_code == 403
    assert reader_client.post("/settings/billing/top-up", {"amount": "50"}).status_code == 403
    assert partner.payment_methods.filter(deleted_at__isnull=True).count() == 1


def test_another_partners_cards_answer_404(admin_client, other_partner):
    partner_b, admin_b, _ = other_partner
    other = Client()
    other.force_login(admin_b)
    add_card(other, "4242424242424242")
    card = partner_b.payment_methods.get()
    assert admin_client.get(f"{METHODS}/{card.id}/delete").status_code == 404
    assert admin_client.post(f"{METHODS}/{card.id}/delete").status_code == 404
    assert admin_client.post(f"{METHODS}/{card.id}/default").status_code == 404
    assert card.id not in admin_client.get(METHODS).content.decode()


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_an_admin_adds_a_card_and_tops_up_the_wallet(page, live_server, admin):
    from playwright.sync_api import expect

    sign_in(page, admin, live_server)
    page.goto(METHODS)
    expect(page.get_by_role("note")).to_contain_text("Simulated card processor")
    page.get_by_role("link", name="Add Payment Method").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Card number").fill("4000 0000 0000 0002")
    dialog.get_by_role("button", name="Add card").click()
    expect(dialog.get_by_role("alert")).to_contain_text("declined")
    dialog.get_by_label("Card number").fill("4242 4242 4242 4242")
    dialog.get_by_role("button", name="Add card").click()
    expect(page.locator(".flash")).to_contain_text("Added Visa •••• 4242 and made it the default")
    expect(page.locator("li[data-method]")).to_contain_text("Default")

    page.get_by_role("navigation", name="Billing").get_by_role("link", name="History").click()
    page.get_by_role("link", name="Top Up Wallet").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Amount (USD)").fill("50")
    dialog.get_by_role("button", name="Top Up").click()
    expect(page.locator(".flash")).to_contain_text("Added $50.00 to your wallet")
    row = page.locator("tr[data-transaction]")
    expect(row).to_have_count(1)
    expect(row.locator("td.credit")).to_have_text("+$50.00")
    assert ledger.wallet_balance(admin.partner) == money("50.00")
