"""After call records are charged, a background task recharges the wallet or flags the
partner for call blocking; the periodic job does the same as a safety net."""

import pytest

from tests.billing.test_cdrs import record
from tests.factories import make_tenant
from tests.tasks import run_queued_tasks
from trunkline.billing import ledger, payment_services
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.jobs import JOBS
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Ozark Plumbing")


def test_usage_below_zero_blocks_calls_once_the_task_runs(
    api, partner, tenant, carrier, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post("/v1/cdrs", {"records": [record(tenant)]}).status_code == 200
    assert ledger.wallet_balance(partner) == Money.parse("-0.022")
    assert not payment_services.partner_calls_blocked(partner)  # not until the task runs
    assert [r.task_path for r in run_queued_tasks()] == ["trunkline.billing.tasks.wallet_review"]
    assert payment_services.partner_calls_blocked(partner)
    assert api.get("/v1/wallet/auto-recharge").json()["calls_blocked"] is True

    # More usage from calls that were in progress keeps posting.
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/v1/cdrs", {"records": [record(tenant, call_id="c2")]})
    run_queued_tasks()
    assert ledger.wallet_balance(partner) == Money.parse("-0.044")

    api.post("/v1/payment-methods", {"token": "4242424242424242"})
    api.post("/v1/wallet/top-up", {"amount": "10.00"})
    assert not payment_services.partner_calls_blocked(partner)


def test_usage_with_auto_recharge_tops_up_instead(
    api, partner, tenant, carrier, django_capture_on_commit_callbacks
):
    api.post("/v1/payment-methods", {"token": "4242424242424242"})
    api.put("/v1/wallet/auto-recharge", {"enabled": True, "threshold": "0", "amount": "50"})
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/v1/cdrs", {"records": [record(tenant)]})
    run_queued_tasks()
    assert ledger.wallet_balance(partner) == Money.parse("49.978")
    assert not payment_services.partner_calls_blocked(partner)


def test_purchases_still_refuse_to_overdraw(partner):
    from trunkline.core.errors import PaymentRequired

    with pytest.raises(PaymentRequired) as raised:
        ledger.wallet_debit(
            partner=partner,
            amount=Money.parse("1.75"),
            type=Posting.Type.DID_MONTHLY_LOCAL,
            actor=Actor.system(partner=partner),
            idempotency_key="did",
        )
    assert raised.value.status == 402


def test_the_periodic_job_reviews_wallets_every_five_minutes(partner):
    job = next(job for job in JOBS if job.name == "billing.wallet_review")
    assert job.cron == "*/5 * * * *"
    ledger.wallet_debit(
        partner=partner,
        amount=Money.parse("2.00"),
        type=Posting.Type.USAGE_LOCAL,
        actor=Actor.system(partner=partner),
        idempotency_key="u",
        allow_negative=True,
    )
    job.task.call(now="2026-11-03T12:05:00+00:00")
    assert payment_services.partner_calls_blocked(partner)
