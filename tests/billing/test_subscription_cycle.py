"""The monthly run: the fee to the card with a numbered invoice and PDF, units from the
wallet, pending downgrades applied, failed charges chased through the grace period."""

from datetime import timedelta

import pytest
from django.core import mail

from tests.billing.subscription_helpers import DECLINING_CARD, add_card, at, partner_actor, pdf_text
from trunkline.billing import ledger
from trunkline.billing.invoices_platform import invoice_pdf
from trunkline.billing.models import BillingAccount, Entry, PlanPeriod, PlatformInvoice
from trunkline.billing.subscription_cycle import (
    GRACE_DAYS,
    billable_counts_register,
    billable_counts_unregister,
    subscription_invoice_pay,
    subscriptions_bill,
)
from trunkline.billing.subscriptions import subscription_activate, subscription_change_plan
from trunkline.core.models import AuditEntry
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db

RUN = at(2026, 12, 1, 0, 30)


@pytest.fixture
def units():
    from trunkline.billing import subscription_cycle

    counts = {"extensions": 10, "dids_local": 2, "dids_toll_free": 1}
    saved = dict(subscription_cycle._COUNTERS)  # the apps' own counters (numbers)
    for name in counts:
        billable_counts_register(name, lambda *, partner, at, name=name: counts[name])
    yield counts
    for name in counts:
        billable_counts_unregister(name)
    subscription_cycle._COUNTERS.update(saved)


def activate(admin, plan="starter", now=None):
    add_card(admin.partner)
    subscription_activate(actor=partner_actor(admin), plan=plan, now=now or at(2026, 11, 10))
    return admin.partner


def card_charges(partner) -> int:
    return AuditEntry.objects.filter(partner=partner, action="card.charge_succeeded").count()


def test_the_month_is_billed_once_however_often_the_run_goes(admin, units):
    partner = activate(admin)
    charges_before = card_charges(partner)
    assert subscriptions_bill(now=at(2026, 11, 30, 23)) == 0  # the period has not ended
    subscriptions_bill(now=RUN)
    subscriptions_bill(now=RUN)
    subscriptions_bill(now=RUN + timedelta(hours=1))
    monthly = PlatformInvoice.objects.get(partner=partner, kind="monthly")
    assert monthly.status == "paid" and monthly.total == Money.parse("249.00")
    assert (monthly.period_start, monthly.period_end) == (
        at(2026, 12, 1, 0, 0),
        at(2027, 1, 1, 0, 0),
    )
    assert card_charges(partner) == charges_before + 1
    debits = dict(
        Entry.objects.filter(account=ledger.wallet_account(partner))
        .exclude(posting__type="top_up")
        .values_list("posting__type", "amount_micros")
    )
    assert debits == {
        "extension_monthly": -30_000_000,  # 10 × $3.00
        "did_monthly_local": -3_500_000,  # 2 × $1.75
        "did_monthly_toll_free": -2_500_000,  # 1 × $2.50
    }
    assert ledger.wallet_balance(partner) == Money.parse("14.00")  # 50 − 36
    account = BillingAccount.objects.get(partner=partner)
    assert account.current_period_end == at(2027, 1, 1, 0, 0)


def test_months_missed_while_nothing_ran_are_each_billed(admin):
    partner = activate(admin)
    subscriptions_bill(now=at(2027, 2, 1, 0, 30))
    periods = list(
        PlatformInvoice.objects.filter(partner=partner, kind="monthly")
        .order_by("number")
        .values_list("period_start", flat=True)
    )
    assert periods == [at(2026, 12, 1, 0, 0), at(2027, 1, 1, 0, 0), at(2027, 2, 1, 0, 0)]


def test_invoice_numbers_follow_each_other_platform_wide(admin):
    from tests.factories import make_partner

    activate(admin)
    _, other = make_partner()
    activate(other)
    subscriptions_bill(now=RUN)
    numbers = sorted(PlatformInvoice.objects.values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[0] + 4))


def test_a_pending_downgrade_applies_at_the_cycle_end(admin):
    partner = activate(admin, plan="business", now=at(2026, 11, 1, 0, 0))
    subscription_change_plan(
        actor=partner_actor(admin), plan="professional", confirm=True, now=at(2026, 11, 20)
    )
    subscriptions_bill(now=RUN)
    account = BillingAccount.objects.get(partner=partner)
    assert (account.plan, account.pending_plan) == ("professional", "")
    periods = list(
        PlanPeriod.objects.filter(partner=partner).values_list("plan", "starts_at", "ends_at")
    )
    assert periods == [
        ("business", at(2026, 11, 1, 0, 0), at(2026, 12, 1, 0, 0)),
        ("professional", at(2026, 12, 1, 0, 0), None),
    ]
    invoice = PlatformInvoice.objects.get(partner=partner, kind="monthly")
    assert invoice.plan == "professional" and invoice.total == Money.parse("549.00")


def test_a_declined_fee_flags_the_partner_and_suspends_only_after_the_grace_period(
    admin, django_capture_on_commit_callbacks
):
    partner = activate(admin)
    add_card(partner, DECLINING_CARD)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions_bill(now=RUN)
    invoice = PlatformInvoice.objects.get(partner=partner, kind="monthly")
    assert invoice.status == "failed" and "declined" in invoice.failure_message
    account = BillingAccount.objects.get(partner=partner)
    assert account.past_due_since == RUN
    partner.refresh_from_db()
    assert partner.status == "ACTIVE"  # not suspended at once
    assert [message.subject for message in mail.outbox] == [
        f"Payment failed for invoice {invoice.display_number}"
    ]
    # Retried once a day, one email only.
    subscriptions_bill(now=RUN + timedelta(hours=3))
    subscriptions_bill(now=RUN + timedelta(days=1))
    invoice.refresh_from_db()
    assert invoice.attempts == 2 and len(mail.outbox) == 1
    with django_capture_on_commit_callbacks(execute=True):
        subscriptions_bill(now=RUN + timedelta(days=GRACE_DAYS))
    partner.refresh_from_db()
    assert partner.status == "SUSPENDED"
    assert "suspended" in mail.outbox[-1].subject.lower()


def test_paying_a_failed_invoice_clears_the_flag(admin):
    partner = activate(admin)
    add_card(partner, DECLINING_CARD)
    subscriptions_bill(now=RUN)
    invoice = PlatformInvoice.objects.get(partner=partner, kind="monthly")
    add_card(partner)
    assert (
        subscription_invoice_pay(
            actor=partner_actor(admin), invoice=invoice, now=RUN + timedelta(hours=2)
        )
        == "paid"
    )
    assert BillingAccount.objects.get(partner=partner).past_due_since is None
    subscriptions_bill(now=RUN + timedelta(days=GRACE_DAYS + 1))
    partner.refresh_from_db()
    assert partner.status == "ACTIVE"


def test_suspended_and_trial_partners_are_not_billed(admin):
    from tests.factories import make_partner

    partner = activate(admin)
    _, trial_admin = make_partner()
    partner.status = "SUSPENDED"
    partner.save()
    assert subscriptions_bill(now=RUN) == 0
    assert not PlatformInvoice.objects.filter(kind="monthly").exists()
    assert not PlatformInvoice.objects.filter(partner=trial_admin.partner).exists()


def test_the_pdf_is_a_pdf_with_the_number_and_total(admin):
    partner = activate(admin, now=at(2026, 11, 15))
    invoice = PlatformInvoice.objects.get(partner=partner)
    document = invoice_pdf(invoice)
    assert document.startswith(b"%PDF-")
    assert document.rstrip().endswith(b"%%EOF")
    text = pdf_text(document)
    assert invoice.display_number in text
    assert "$182.80" in text  # 249 × 16/30 = 132.80, plus the $50.00 credit
    assert partner.company_name in text
