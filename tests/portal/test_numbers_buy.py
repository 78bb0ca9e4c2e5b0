"""Numbers → Buy DIDs (partner guide 004, "Buying local numbers", "Buying toll-free
numbers"): search, tick, confirm against the wallet, buy."""

import re

import pytest

from tests.portal.conftest import htmx_headers
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.billing.payment_services import billing_account_for
from trunkline.core.actors import Actor
from trunkline.core.money import Money
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber
from trunkline.phone_numbers.supply import supply_seed


@pytest.fixture
def supply(db):
    return supply_seed(states=["AR"], per_exchange=2, toll_free=200)


def fund(partner, dollars: str) -> None:
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse(dollars),
        type=Posting.Type.MANUAL_ADJUSTMENT,
        actor=Actor.system(partner=partner),
        idempotency_key=f"portal-buy:{partner.id}:{dollars}",
        memo="test funds",
    )


def local_numbers(count: int, **filters) -> list[str]:
    rows = SupplyNumber.objects.filter(kind="local", state="AR", **filters).order_by("e164")
    return list(rows.values_list("e164", flat=True)[:count])


def test_local_search_shows_formatted_numbers_with_region_rate_center_and_prices(
    admin_client, supply
):
    page = admin_client.get("/numbers/buy", {"state": "AR", "city": "Little Rock"})
    html = page.content.decode()
    assert page.status_code == 200
    number = local_numbers(1, city="Little Rock")[0]
    national = f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    assert national in html
    assert "Little Rock, AR" in html and "LITTLE ROCK" in html
    # Starter prices: $1.75 a month, $1.00 setup, $0.02 a minute.
    assert "$1.75" in html and "$1.00" in html and "$0.02" in html
    assert "Purchase Selected" in html and f'value="{number}"' in html


def test_the_first_visit_shows_the_form_and_no_results(admin_client, supply):
    html = admin_client.get("/numbers/buy").content.decode()
    assert 'name="state"' in html and "Local Numbers" in html and "Toll-Free" in html
    assert "available" not in html and "No numbers match" not in html


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"search": "1", "state": ""}, "state", "State is required"),
        ({"state": "ZZ"}, "state", "not a US state"),
        ({"state": "AR", "area_code": "12"}, "area_code", "three digits"),
        ({"state": "AR", "nxx": "0x1"}, "nxx", "three digits"),
    ],
)
def test_local_search_errors_are_shown_by_their_field(admin_client, supply, params, field, message):
    html = admin_client.get("/numbers/buy", params).content.decode()
    assert message in html
    # The message sits in the field's own box, not above the form.
    box = html[html.index(f'name="{field}"') :]
    assert box.index(message) < box.index("</div>")
    assert "Purchase Selected" not in html


def test_city_autocomplete_offers_the_states_cities(admin_client, supply):
    answer = admin_client.get(
        "/numbers/buy/cities", {"state": "ar", "city": "litt"}, **htmx_headers("city-options")
    )
    assert answer.content.decode().strip() == '<option value="Little Rock"></option>'
    nothing = admin_client.get("/numbers/buy/cities", {"state": "ZZ", "city": "a"})
    assert nothing.status_code == 200 and "<option" not in nothing.content.decode()


def test_toll_free_regular_shows_as_many_as_asked(admin_client, supply):
    html = admin_client.get("/numbers/buy/toll-free").content.decode()
    assert "8XX-OUR-FOOD" in html and "877-555-XXXX" in html and "888-XXX-1000" in html
    assert "keypad" in html and 'value="10"' in html
    page = admin_client.get("/numbers/buy/toll-free", {"search": "1", "count": "3"})
    assert page.content.decode().count('name="numbers"') == 3
    npa = SupplyNumber.objects.filter(kind="toll_free").values_list("npa", flat=True).first()
    coded = admin_client.get("/numbers/buy/toll-free", {"search": "1", "code": npa}).context
    assert coded["results"] and {row["number"][2:5] for row in coded["results"]} == {npa}
    assert {row["region"] for row in coded["results"]} == {"Toll-free"}


def test_toll_free_vanity_finds_the_pattern(admin_client, supply):
    digits = SupplyNumber.objects.filter(kind="toll_free").order_by("e164").first().digits
    pattern = f"{digits[:3]}-XXX-{digits[6:]}"
    answer = admin_client.get(
        "/numbers/buy/toll-free", {"search": "1", "mode": "vanity", "pattern": pattern}
    )
    found = [row["number"] for row in answer.context["results"]]
    assert "+1" + digits in found
    assert all(number[2:5] == digits[:3] and number[-4:] == digits[6:] for number in found)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"mode": "vanity", "pattern": "501-XXX-XXXX"}, "pattern", "Toll-free numbers start"),
        ({"mode": "vanity", "pattern": "8XX-OUR"}, "pattern", "10 positions"),
        ({"mode": "vanity", "pattern": "8XX-OUR-F@OD"}, "pattern", "cannot be part"),
        ({"mode": "vanity", "pattern": ""}, "pattern", "Type a pattern"),
        ({"mode": "regular", "count": "0"}, "count", "between 1 and 100"),
        ({"mode": "regular", "count": "many"}, "count", "between 1 and 100"),
    ],
)
def test_toll_free_errors_are_shown_by_their_field(admin_client, supply, params, field, message):
    html = admin_client.get("/numbers/buy/toll-free", {"search": "1", **params}).content.decode()
    box = html[html.index(f'name="{field}"') :]
    assert message in box[: box.index("</div>")]


def test_quote_shows_each_number_the_totals_and_the_wallet(admin_client, partner, supply):
    fund(partner, "20.00")
    numbers = local_numbers(2)
    answer = admin_client.post("/numbers/buy/quote", {"numbers": numbers}, **htmx_headers("modal"))
    html = answer.content.decode()
    assert answer.status_code == 200
    for number in numbers:
        assert f'name="numbers" value="{number}"' in html
    assert "$3.50" in html and "$2.00" in html and "$5.50" in html  # monthly, setup, due now
    assert "$20.00" in html and "Auto-recharge: <strong data-auto-recharge>off" in html
    assert "data-wallet-short" not in html
    assert not PhoneNumber.objects.exists()  # a quote buys nothing


def test_quote_warns_when_the_wallet_cannot_cover_it(admin_client, partner, supply):
    fund(partner, "2.00")
    html = admin_client.post(
        "/numbers/buy/quote", {"numbers": local_numbers(2)}, **htmx_headers("modal")
    ).content.decode()
    assert "cannot cover this purchase" in html and "$3.50 short" in html
    account = billing_account_for(partner)
    account.auto_recharge_enabled = True
    account.save()
    html = admin_client.post(
        "/numbers/buy/quote", {"numbers": local_numbers(2)}, **htmx_headers("modal")
    ).content.decode()
    assert "Auto-recharge will charge your card first" in html
    assert "Auto-recharge: <strong data-auto-recharge>on" in html


def test_quote_needs_a_ticked_number(admin_client, supply):
    answer = admin_client.post("/numbers/buy/quote", {}, **htmx_headers("modal"))
    assert answer.status_code == 422 and "Tick at least one number" in answer.content.decode()


def test_confirm_buys_the_numbers_and_shows_them_pending(admin_client, partner, supply):
    fund(partner, "20.00")
    numbers = local_numbers(2)
    answer = admin_client.post(
        "/numbers/buy/purchase", {"numbers": numbers}, **htmx_headers("modal")
    )
    html = answer.content.decode()
    assert answer.status_code == 200
    assert html.count("PENDING") >= 2 and 'href="/numbers"' in html
    bought = PhoneNumber.objects.filter(partner=partner)
    assert sorted(bought.values_list("e164", flat=True)) == numbers
    assert set(bought.values_list("status", flat=True)) == {"PENDING"}
    assert ledger.wallet_balance(partner).to_json() == "14.50"
    assert not SupplyNumber.objects.filter(e164__in=numbers).exists()


def test_a_short_wallet_is_explained_and_buys_nothing(admin_client, partner, supply):
    fund(partner, "2.00")
    numbers = local_numbers(2)
    answer = admin_client.post(
        "/numbers/buy/purchase", {"numbers": numbers}, **htmx_headers("modal")
    )
    assert answer.status_code == 402
    assert "Your wallet cannot pay for this purchase" in answer.content.decode()
    assert not PhoneNumber.objects.exists()
    assert ledger.wallet_balance(partner).to_json() == "2.00"
    assert SupplyNumber.objects.filter(e164__in=numbers).count() == 2


def test_a_number_sold_meanwhile_is_explained_and_nothing_is_bought(admin_client, partner, supply):
    fund(partner, "20.00")
    first, second = local_numbers(2)
    SupplyNumber.objects.filter(e164=second).delete()  # someone else bought it
    answer = admin_client.post(
        "/numbers/buy/purchase", {"numbers": [first, second]}, **htmx_headers("modal")
    )
    html = answer.content.decode()
    assert answer.status_code == 409
    assert "Sold meanwhile" in html and second in html and "Nothing was bought" in html
    assert not PhoneNumber.objects.exists()
    assert ledger.wallet_balance(partner).to_json() == "20.00"
    quoted = admin_client.post(
        "/numbers/buy/quote", {"numbers": [first, second]}, **htmx_headers("modal")
    )
    assert quoted.status_code == 409 and "Sold meanwhile" in quoted.content.decode()


def test_another_partners_number_cannot_be_bought_twice(
    admin_client, partner, other_partner, supply
):
    from tests.factories import actor_for_user
    from trunkline.phone_numbers import services

    partner_b, admin_b, _ = other_partner
    fund(partner_b, "20.00")
    fund(partner, "20.00")
    number = local_numbers(1)[0]
    services.numbers_purchase(actor=actor_for_user(admin_b), numbers=[number])
    answer = admin_client.post(
        "/numbers/buy/purchase", {"numbers": [number]}, **htmx_headers("modal")
    )
    assert answer.status_code == 409
    assert PhoneNumber.objects.get(e164=number).partner_id == partner_b.id


def test_read_only_users_search_but_cannot_buy(reader_client, partner, supply):
    fund(partner, "20.00")
    html = reader_client.get("/numbers/buy", {"state": "AR"}).content.decode()
    number = local_numbers(1)[0]
    assert f"({number[2:5]})" in html
    assert "Purchase Selected" not in html and 'name="numbers"' not in html
    assert "read-only" in html
    for url in ("/numbers/buy/quote", "/numbers/buy/purchase"):
        answer = reader_client.post(url, {"numbers": [number]}, **htmx_headers("modal"))
        assert answer.status_code == 403
    assert not PhoneNumber.objects.exists()
    assert ledger.wallet_balance(partner).to_json() == "20.00"


def test_signed_out_visitors_are_sent_to_sign_in(client, supply):
    answer = client.get("/numbers/buy")
    assert answer.status_code == 302 and answer["Location"].startswith("/login")
    assert client.post("/numbers/buy/purchase", {"numbers": ["+15015550123"]}).status_code == 302


# --- in a real browser -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_search_tick_confirm_and_find_them_in_the_inventory(
    page, live_server, admin, partner
):
    from playwright.sync_api import expect

    from tests.portal.conftest import sign_in

    supply_seed(states=["AR"], per_exchange=2, toll_free=0)
    fund(partner, "20.00")
    sign_in(page, admin, live_server)
    page.goto("/numbers/buy")
    page.get_by_label("State").select_option("AR")
    page.get_by_label("City").fill("Litt")
    expect(page.locator("#city-options option[value='Little Rock']")).to_have_count(1)
    page.get_by_label("City").fill("Little Rock")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name=re.compile(r"numbers? available"))).to_be_visible()
    first, second = local_numbers(2, city="Little Rock")
    for number in (first, second):
        page.locator(f"input[name=numbers][value='{number}']").check()
    page.get_by_role("button", name="Purchase Selected").click()

    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Confirm purchase")).to_be_visible()
    expect(dialog.locator("[data-monthly-total]")).to_have_text("$3.50")
    expect(dialog.locator("[data-setup-total]")).to_have_text("$2.00")
    expect(dialog.locator("[data-total]")).to_have_text("$5.50")
    expect(dialog.locator("[data-wallet-balance]")).to_have_text("$20.00")
    expect(dialog.locator("[data-wallet-short]")).to_have_count(0)
    dialog.get_by_role("button", name="Confirm").click()

    expect(dialog.get_by_role("heading", name="Numbers purchased")).to_be_visible()
    expect(dialog.locator(f"li[data-number='{first}']")).to_contain_text("PENDING")
    dialog.get_by_role("link", name="Go to DID Inventory").click()
    expect(page.get_by_role("heading", name="DID Inventory")).to_be_visible()
    for number in (first, second):
        expect(page.get_by_text(number)).to_be_visible()
    assert ledger.wallet_balance(partner).to_json() == "14.50"


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_a_short_wallet_is_warned_and_refused(page, live_server, admin, partner):
    from playwright.sync_api import expect

    from tests.portal.conftest import sign_in

    supply_seed(states=["AR"], per_exchange=1, toll_free=0)
    fund(partner, "2.00")
    sign_in(page, admin, live_server)
    page.goto("/numbers/buy?state=AR")
    page.locator("input[name=numbers]").nth(0).check()
    page.locator("input[name=numbers]").nth(1).check()
    page.get_by_role("button", name="Purchase Selected").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("[data-wallet-short]")).to_contain_text("cannot cover this purchase")
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Nothing was bought")
    assert not PhoneNumber.objects.exists()
