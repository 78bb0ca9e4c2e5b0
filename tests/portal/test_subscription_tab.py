"""Settings → Billing → Subscription: the plan card, this cycle's usage and rates,
activation, plan changes and the subscription invoices with their PDFs."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import actor_for_user, make_tenant
from tests.portal.conftest import htmx_headers, sign_in
from trunkline.accounts.models import Partner
from trunkline.billing import ledger, payment_services, subscriptions
from trunkline.billing.cdrs import usage_cycle_start
from trunkline.billing.models import BillingAccount, PlatformInvoice, TenantUsage
from trunkline.core.actors import Actor
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db

PAGE = "/settings/billing/subscription"
ACTIVATE = f"{PAGE}/activate"
CHANGE = f"{PAGE}/change-plan"
GOOD_CARD = "4242424242424242"
DECLINED_ON_CHARGE = "4000000000009995"


def add_card(partner, admin, number=GOOD_CARD):
    return payment_services.payment_method_add(
        partner=partner, actor=actor_for_user(admin), token=number
    )


def activate(partner, admin, plan="starter"):
    add_card(partner, admin)
    return subscriptions.subscription_activate(actor=actor_for_user(admin), plan=plan)


def test_billing_opens_on_the_subscription_tab(admin_client):
    response = admin_client.get("/settings/billing")
    assert response["Location"] == PAGE
    page = admin_client.get(PAGE).content.decode()
    assert 'aria-current="page">Subscription<' in page
    assert page.index(">Subscription<") < page.index(">Payment Methods<") < page.index(">History<")


def test_a_trial_shows_its_plan_fee_countdown_rates_and_wallet(admin_client, partner):
    now = timezone.now()
    days_left = partner.trial_days_left(now)
    price = subscriptions.plan_price_at(partner=partner, plan="starter", at=now)
    ledger.wallet_credit(
        partner=partner,
        amount=Money.parse("12.34"),
        type="top_up",
        actor=Actor.system(partner=partner),
        idempotency_key="w1",
    )
    page = admin_client.get(PAGE).content.decode()
    assert "Starter plan" in page and 'class="badge TRIAL"' in page
    assert f"${Money(price.monthly_fee_micros).to_json()}" in page
    trial = page[page.index("data-trial") :][:200]
    assert f"{days_left} days left" in trial
    assert f"{partner.trial_ends_at:%-d %B %Y}" in trial
    assert "data-wallet>$12.34<" in page
    rates = page[page.index("data-rates") :][:900]
    assert f"${Money(price.minute_local_micros).to_json()}" in rates
    assert f"${Money(price.did_toll_free_monthly_micros).to_json()}" in rates
    assert ">Activate Account<" in page and ">Change Plan<" not in page
    assert 'href="/settings/billing/top-up?next=/settings/billing/subscription"' in page
    assert "No invoices yet" in page


def test_usage_sums_this_cycle_across_the_partners_tenants_only(
    admin_client, partner, admin, other_partner
):
    now = timezone.now()
    first = make_tenant(admin, name="First")
    second = make_tenant(admin, name="Second")
    for tenant, calls, seconds, micros in ((first, 3, 120, 40_000), (second, 2, 60, 22_000)):
        TenantUsage.objects.create(
            tenant=tenant,
            partner=partner,
            cycle_start=usage_cycle_start(tenant.timezone, now),
            calls=calls,
            local_seconds=seconds,
            toll_free_seconds=seconds // 2,
            international_seconds=6,
            wholesale_micros=micros,
        )
    # Last month's counters and another partner's are not this cycle's usage.
    last_month = usage_cycle_start(first.timezone, now).replace(day=1, month=1, year=2020)
    TenantUsage.objects.create(
        tenant=first, partner=partner, cycle_start=last_month, calls=99, wholesale_micros=9**9
    )
    partner_b, _, tenant_b = other_partner
    TenantUsage.objects.create(
        tenant=tenant_b,
        partner=partner_b,
        cycle_start=usage_cycle_start(tenant_b.timezone, now),
        calls=50,
        wholesale_micros=10**9,
    )
    page = admin_client.get(PAGE).content.decode()
    assert "data-usage-calls>5<" in page
    assert "data-usage-local>3.0<" in page
    assert "data-usage-toll-free>1.5<" in page
    assert "data-usage-international>0.2<" in page
    assert "data-usage-cost>$0.062<" in page


def test_activation_quotes_first_then_charges_the_card_and_activates(admin_client, partner, admin):
    add_card(partner, admin)
    form = admin_client.get(ACTIVATE, **htmx_headers()).content.decode()
    assert 'name="plan" value="professional"' in form and "Enterprise" in form
    quote = subscriptions.activation_quote(partner=partner, plan="professional", now=timezone.now())
    preview = admin_client.post(ACTIVATE, {"plan": "professional"}, **htmx_headers())
    assert preview.status_code == 200
    body = preview.content.decode()
    assert f"data-total>${quote['total'].to_json()}<" in body
    assert 'name="confirm" value="on"' in body and ">Confirm<" in body
    partner.refresh_from_db()
    assert partner.status == Partner.Status.TRIAL  # the preview charges nothing

    done = admin_client.post(ACTIVATE, {"plan": "professional", "confirm": "on"}, **htmx_headers())
    assert done["HX-Redirect"] == PAGE
    partner.refresh_from_db()
    assert partner.status == Partner.Status.ACTIVE
    assert BillingAccount.objects.get(partner=partner).plan == "professional"
    invoice = PlatformInvoice.objects.get(partner=partner)
    page = admin_client.get(PAGE).content.decode()
    assert "is active on Professional" in page and invoice.display_number in page
    assert 'class="badge ACTIVE"' in page
    last_day = quote["period_end"] - timedelta(days=1)
    assert f"{last_day:%-d %b %Y} (UTC)" in page[page.index("data-period") :][:120]
    assert ">Change Plan<" in page and ">Activate Account<" not in page
    assert f'href="{PAGE}/invoices/{invoice.id}.pdf"' in page


def test_activation_without_a_card_points_to_payment_methods(admin_client, partner):
    response = admin_client.post(ACTIVATE, {"plan": "starter", "confirm": "on"}, **htmx_headers())
    assert response.status_code == 422
    body = response.content.decode()
    assert "Add a payment method before activating" in body
    assert 'href="/settings/billing/payment-methods"' in body
    partner.refresh_from_db()
    assert partner.status == Partner.Status.TRIAL


def test_a_declined_card_leaves_the_trial_and_shows_the_banks_reason(admin_client, partner, admin):
    add_card(partner, admin, DECLINED_ON_CHARGE)
    response = admin_client.post(ACTIVATE, {"plan": "starter", "confirm": "on"}, **htmx_headers())
    assert response.status_code == 422
    body = response.content.decode()
    assert "The card was declined: " in body and 'role="alert"' in body
    partner.refresh_from_db()
    assert partner.status == Partner.Status.TRIAL
    assert not PlatformInvoice.objects.filter(partner=partner).exists()


def test_an_unknown_plan_is_refused(admin_client):
    response = admin_client.post(ACTIVATE, {"plan": "enterprise"}, **htmx_headers())
    assert response.status_code == 422


def test_change_plan_previews_an_upgrade_then_charges_it(admin_client, partner, admin):
    activate(partner, admin, "starter")
    cards = admin_client.get(CHANGE, **htmx_headers()).content.decode()
    for plan in ("starter", "professional", "business"):
        assert f'data-plan="{plan}"' in cards
    assert "Current plan" in cards and "Contact Sales" in cards
    expected = subscriptions.subscription_change_plan(
        actor=actor_for_user(admin), plan="business", confirm=False
    )
    preview = admin_client.post(CHANGE, {"plan": "business"}, **htmx_headers())
    body = preview.content.decode()
    assert 'data-preview="upgrade"' in body
    assert f"${expected.new_monthly_fee.to_json()}" in body
    assert f"data-due>${expected.amount_due_now.to_json()}<" in body
    assert BillingAccount.objects.get(partner=partner).plan == "starter"

    done = admin_client.post(CHANGE, {"plan": "business", "confirm": "on"}, **htmx_headers())
    assert done["HX-Redirect"] == PAGE
    assert BillingAccount.objects.get(partner=partner).plan == "business"
    page = admin_client.get(PAGE).content.decode()
    assert "You are now on Business" in page and "Business plan" in page
    assert PlatformInvoice.objects.filter(partner=partner, kind="upgrade").count() == 1


def test_a_downgrade_waits_for_the_end_of_the_cycle(admin_client, partner, admin):
    activate(partner, admin, "professional")
    preview = admin_client.post(CHANGE, {"plan": "starter"}, **htmx_headers()).content.decode()
    assert 'data-preview="downgrade"' in preview and "At the end of the cycle" in preview
    admin_client.post(CHANGE, {"plan": "starter", "confirm": "on"}, **htmx_headers())
    page = admin_client.get(PAGE).content.decode()
    assert "Professional plan" in page and "Moves to Starter on" in page


def test_a_read_only_user_sees_the_tab_without_actions_and_cannot_post(
    admin_client, reader_client, partner, admin
):
    add_card(partner, admin)
    page = reader_client.get(PAGE).content.decode()
    assert "Starter plan" in page
    assert ">Activate Account<" not in page and "Top Up Wallet" not in page
    for url in (ACTIVATE, CHANGE):
        assert reader_client.get(url).status_code == 403
        assert reader_client.post(url, {"plan": "business", "confirm": "on"}).status_code == 403
    partner.refresh_from_db()
    assert partner.status == Partner.Status.TRIAL


def test_invoice_pdfs_are_served_to_their_partner_only(
    admin_client, reader_client, partner, admin, other_partner
):
    invoice = activate(partner, admin)
    response = admin_client.get(f"{PAGE}/invoices/{invoice.id}.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert invoice.display_number in response["Content-Disposition"]
    assert reader_client.get(f"{PAGE}/invoices/{invoice.id}.pdf").status_code == 200

    partner_b, admin_b, _ = other_partner
    foreign = activate(partner_b, admin_b)
    assert admin_client.get(f"{PAGE}/invoices/{foreign.id}.pdf").status_code == 404
    assert admin_client.get(f"{PAGE}/invoices/nonsense.pdf").status_code == 404
    assert foreign.display_number not in admin_client.get(PAGE).content.decode()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for path in (PAGE, ACTIVATE, CHANGE, f"{PAGE}/invoices/x.pdf"):
        assert client.get(path)["Location"].startswith("/login")


@pytest.mark.django_db(transaction=True)
def test_in_a_browser_an_admin_activates_a_plan(page, live_server, partner, admin):
    from playwright.sync_api import expect

    add_card(partner, admin)
    sign_in(page, admin, live_server)
    page.goto("/settings/billing")
    expect(page.locator("#plan-title")).to_contain_text("Starter plan")
    page.get_by_role("link", name="Activate Account").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Business").check()
    dialog.get_by_role("button", name="Review").click()
    expect(dialog.locator("[data-quote]")).to_contain_text("Charged now")
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator(".flash")).to_contain_text("Your account is active on Business")
    expect(page.locator("#plan-title")).to_contain_text("Business plan")
    expect(page.locator("tr[data-invoice]")).to_have_count(1)
    partner.refresh_from_db()
    assert partner.status == Partner.Status.ACTIVE
