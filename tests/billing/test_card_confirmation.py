"""3-D Secure on a wallet top-up: the bank wants the cardholder to confirm, the partner
confirms, and the wallet is credited once — with the simulated processor (its simulated
bank page), through the API and the portal, and with Stripe's SDK against the loopback
Stripe server (tests/billing/fake_stripe.py)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.billing.fake_stripe import FakeStripe, serve
from tests.factories import make_partner
from trunkline.billing import card_confirmations, ledger, payment_services
from trunkline.billing.models import CardConfirmation, Posting
from trunkline.core.actors import Actor
from trunkline.core.models import Event
from trunkline.core.money import Money

pytestmark = pytest.mark.django_db

NEEDS_3DS = "4000002500003155"
TWENTY = Money.parse("20.00")
Status = CardConfirmation.Status


@pytest.fixture
def actor(partner):
    return Actor.system(partner=partner)


@pytest.fixture
def card_3ds(partner, actor):
    return payment_services.payment_method_add(partner=partner, actor=actor, token=NEEDS_3DS)


def top_up_needing_confirmation(partner, actor, key="k1", base_url="https://portal.example"):
    with pytest.raises(payment_services.CardAuthenticationRequired) as raised:
        payment_services.wallet_top_up(
            partner=partner, actor=actor, amount=TWENTY, idempotency_key=key, base_url=base_url
        )
    return raised.value


def top_up_credits(partner) -> int:
    return Posting.objects.filter(partner=partner, type=Posting.Type.TOP_UP).count()


def test_a_top_up_the_bank_wants_confirmed_credits_nothing_and_says_where(partner, actor, card_3ds):
    error = top_up_needing_confirmation(partner, actor)
    body = error.envelope()["error"]
    assert (error.status, body["type"]) == (409, "authentication_required")
    confirmation = body["confirmation"]
    assert confirmation["status"] == "PENDING" and confirmation["amount"] == "20.00"
    assert confirmation["confirmation_url"] == (
        f"https://portal.example/settings/billing/confirm/{confirmation['id']}"
    )
    assert ledger.wallet_balance(partner) == Money(0)
    # A retry with the same key is the same charge, so the same confirmation.
    again = top_up_needing_confirmation(partner, actor)
    assert again.confirmation["id"] == confirmation["id"]
    assert CardConfirmation.objects.count() == 1


def test_an_approved_payment_credits_the_wallet_once(partner, actor, card_3ds):
    error = top_up_needing_confirmation(partner, actor)
    confirmation = CardConfirmation.objects.get(pk=error.confirmation["id"])
    still = card_confirmations.confirmation_refresh(confirmation=confirmation, actor=actor)
    assert still.status == Status.PENDING and ledger.wallet_balance(partner) == Money(0)

    done = card_confirmations.confirmation_simulated_answer(
        confirmation=confirmation, approved=True, actor=actor
    )
    assert done.status == Status.SUCCEEDED and done.posting is not None
    assert ledger.wallet_balance(partner) == TWENTY
    # Coming back twice, or a late "decline", changes nothing.
    card_confirmations.confirmation_refresh(confirmation=done, actor=actor)
    card_confirmations.confirmation_simulated_answer(
        confirmation=CardConfirmation.objects.get(pk=done.pk), approved=False, actor=actor
    )
    assert ledger.wallet_balance(partner) == TWENTY and top_up_credits(partner) == 1


def test_a_declined_confirmation_credits_nothing_and_is_announced(partner, actor, card_3ds):
    error = top_up_needing_confirmation(partner, actor)
    confirmation = CardConfirmation.objects.get(pk=error.confirmation["id"])
    failed = card_confirmations.confirmation_simulated_answer(
        confirmation=confirmation, approved=False, actor=actor
    )
    assert failed.status == Status.FAILED
    assert "did not confirm" in failed.failure_reason
    assert ledger.wallet_balance(partner) == Money(0) and top_up_credits(partner) == 0
    event = Event.objects.filter(partner=partner, type="payment.failed").latest("created_at")
    assert event.payload["charge_id"] == confirmation.charge_id
    assert event.payload["payment_method_id"] == card_3ds.id


def test_an_unanswered_confirmation_lapses_after_a_day(partner, actor, card_3ds):
    error = top_up_needing_confirmation(partner, actor)
    confirmation = CardConfirmation.objects.get(pk=error.confirmation["id"])
    later = confirmation.created_at + timedelta(hours=23)
    assert (
        card_confirmations.confirmation_refresh(
            confirmation=confirmation, actor=actor, now=later
        ).status
        == Status.PENDING
    )
    lapsed = card_confirmations.confirmation_refresh(
        confirmation=confirmation, actor=actor, now=confirmation.created_at + timedelta(hours=25)
    )
    assert lapsed.status == Status.EXPIRED and ledger.wallet_balance(partner) == Money(0)


# --- the API -----------------------------------------------------------------------------


def test_the_api_answers_409_with_the_confirmation_then_reports_and_refreshes_it(
    api, partner, actor, card_3ds
):
    response = api.post("/v1/wallet/top-up", {"amount": "20.00"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["type"] == "authentication_required" and error["field"] is None
    confirmation_id = error["confirmation"]["id"]
    assert error["confirmation"]["confirmation_url"].endswith(
        f"/settings/billing/confirm/{confirmation_id}"
    )

    shown = api.get(f"/v1/wallet/confirmations/{confirmation_id}").json()
    assert shown["status"] == "PENDING" and shown["transaction_id"] is None
    assert api.post(f"/v1/wallet/confirmations/{confirmation_id}/refresh").json()["status"] == (
        "PENDING"
    )

    card_confirmations.confirmation_simulated_answer(
        confirmation=CardConfirmation.objects.get(pk=confirmation_id), approved=True, actor=actor
    )
    settled = api.get(f"/v1/wallet/confirmations/{confirmation_id}").json()
    assert settled["status"] == "SUCCEEDED" and settled["transaction_id"].startswith("pst_")
    assert api.get("/v1/wallet").json()["balance"] == "20.00"


def test_another_partners_confirmation_is_not_found(api, make_api):
    other, other_admin = make_partner(company_name="Other Co")
    other_actor = Actor.system(partner=other)
    payment_services.payment_method_add(partner=other, actor=other_actor, token=NEEDS_3DS)
    error = top_up_needing_confirmation(other, other_actor)
    foreign = error.confirmation["id"]
    assert api.get(f"/v1/wallet/confirmations/{foreign}").status_code == 404
    response = api.post(f"/v1/wallet/confirmations/{foreign}/refresh")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


# --- the portal --------------------------------------------------------------------------


def test_in_the_portal_the_top_up_leads_to_the_bank_page_and_approving_credits(
    partner, admin, card_3ds
):
    client = Client()
    client.force_login(admin)
    response = client.post("/settings/billing/top-up", {"amount": "20.00"})
    confirmation = CardConfirmation.objects.get(partner=partner)
    assert response.status_code == 302
    assert response["Location"] == f"/settings/billing/confirm/{confirmation.id}"

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert b"Simulated bank" in page.content and b"Approve payment" in page.content

    answered = client.post(
        f"/settings/billing/confirm/{confirmation.id}/simulate", {"answer": "approve"}
    )
    assert answered.status_code == 302
    page = client.get(answered["Location"])
    assert b"Payment confirmed: $20.00 added to your wallet" in page.content
    assert ledger.wallet_balance(partner) == TWENTY


def test_another_partners_confirmation_page_is_not_found(partner, admin, card_3ds, actor):
    error = top_up_needing_confirmation(partner, actor)
    _, stranger = make_partner(company_name="Stranger Co")
    client = Client()
    client.force_login(stranger)
    path = f"/settings/billing/confirm/{error.confirmation['id']}"
    assert client.get(path).status_code == 404
    assert client.post(f"{path}/simulate", {"answer": "approve"}).status_code == 404
    assert ledger.wallet_balance(partner) == Money(0)


# --- Stripe ------------------------------------------------------------------------------


@pytest.fixture
def fake(settings):
    fake = FakeStripe()
    server, base = serve(fake)
    settings.TRUNKLINE_PAYMENT_PROCESSOR = "stripe"
    settings.STRIPE_SECRET_KEY = fake.api_key
    settings.STRIPE_API_BASE = base
    yield fake
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("approved", [True, False])
def test_with_stripe_the_cardholder_goes_to_the_bank_and_back(fake, partner, actor, approved):
    payment_services.payment_method_add(
        partner=partner, actor=actor, token="pm_card_authenticationRequired"
    )
    error = top_up_needing_confirmation(partner, actor)
    confirmation = CardConfirmation.objects.get(pk=error.confirmation["id"])
    assert confirmation.charge_id.startswith("pi_")
    assert confirmation.action_url.startswith("https://hooks.stripe.com/3d_secure_2/")
    sent = fake.posted("/v1/payment_intents")[0].form
    assert sent["return_url"] == (
        f"https://portal.example/settings/billing/confirm/{confirmation.id}/return"
    )

    fake.authenticate(confirmation.charge_id, approved=approved)
    settled = card_confirmations.confirmation_refresh(
        confirmation=confirmation, actor=actor, now=timezone.now()
    )
    if approved:
        assert settled.status == Status.SUCCEEDED
        assert ledger.wallet_balance(partner) == TWENTY
    else:
        assert settled.status == Status.FAILED
        assert "failed authentication" in settled.failure_reason
        assert ledger.wallet_balance(partner) == Money(0)
