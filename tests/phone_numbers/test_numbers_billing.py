"""What numbers cost the partner month by month (partner guide 004, "The four platform
tiers": DIDs billed monthly, local and toll-free priced apart; "Releasing a DID": the
monthly charge stops)."""

from datetime import UTC, datetime

import pytest

from tests.billing.subscription_helpers import add_card, partner_actor
from tests.factories import actor_for_user, make_tenant
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.billing.subscription_cycle import subscriptions_bill
from trunkline.billing.subscriptions import subscription_activate
from trunkline.phone_numbers import services
from trunkline.phone_numbers.carrier import SearchCriteria, carrier
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import PhoneNumber
from trunkline.tenants.services import tenant_delete

pytestmark = pytest.mark.django_db


def at(month, day, hour=12):
    return datetime(2026, month, day, hour, tzinfo=UTC)


def monthly_postings(partner, kind):
    return list(
        Posting.objects.filter(partner=partner, type=f"did_monthly_{kind}")
        .order_by("created_at")
        .values_list("memo", flat=True)
    )


def test_numbers_are_charged_once_a_month_while_active(admin, inventory, fund):
    partner = admin.partner
    add_card(partner)
    subscription_activate(actor=partner_actor(admin), plan="starter", now=at(11, 5))
    fund(partner, "50.00")
    actor = actor_for_user(admin)
    tenant = make_tenant(admin)
    local = [o.e164 for o in carrier().search(SearchCriteria(kind="local", state="AR", limit=2))]
    toll_free = carrier().search(SearchCriteria(kind="toll_free", limit=1))[0].e164
    bought = services.numbers_purchase(actor=actor, numbers=[*local, toll_free], now=at(11, 10))
    requests_sync(now=at(11, 10, 13))
    assert {n.status for n in PhoneNumber.objects.all()} == {"ACTIVE"}
    assert {n.paid_through.isoformat() for n in PhoneNumber.objects.all()} == {"2026-11-30"}
    kept, released, free = sorted(bought, key=lambda n: n.kind)  # two local, then toll-free
    services.number_assign(actor=actor, number=kept, tenant=tenant, now=at(11, 12))
    services.number_assign(actor=actor, number=released, tenant=tenant, now=at(11, 12))
    services.number_release(actor=actor, number=released, now=at(11, 15))
    balance = ledger.wallet_balance(partner)

    subscriptions_bill(now=at(12, 1, 0))
    subscriptions_bill(now=at(12, 1, 1))  # a second run charges nothing twice
    # December: the kept local number ($1.75) and the unassigned toll-free one ($2.50),
    # which is still ACTIVE; not the released one.
    assert len(monthly_postings(partner, "local")) == 3  # two bought in November + one
    assert len(monthly_postings(partner, "toll_free")) == 2
    assert balance - ledger.wallet_balance(partner) == ledger.Money.parse("4.25")
    assert PhoneNumber.objects.get(pk=kept.pk).paid_through.isoformat() == "2026-12-31"
    assert PhoneNumber.objects.get(pk=released.pk).paid_through.isoformat() == "2026-11-30"
    assert free.kind == "toll_free"

    # The released number assigned again in December pays for December then.
    before = ledger.wallet_balance(partner)
    services.number_assign(actor=actor, number=released, tenant=tenant, now=at(12, 10))
    assert before - ledger.wallet_balance(partner) == ledger.Money.parse("1.75")


def test_a_cancelled_tenants_numbers_return_to_the_inventory(admin, inventory, fund):
    partner = admin.partner
    fund(partner)
    actor = actor_for_user(admin)
    tenant = make_tenant(admin)
    offer = carrier().search(SearchCriteria(kind="local", state="AR", limit=1))[0]
    number = services.numbers_purchase(actor=actor, numbers=[offer.e164])[0]
    services.number_assign(actor=actor, number=number, tenant=tenant)
    tenant_delete(actor=actor, tenant=tenant)
    number.refresh_from_db()
    assert (number.status, number.tenant_id) == ("RELEASED", None)


def test_an_order_the_carrier_cannot_provision_is_refunded(admin, inventory, fund):
    from trunkline.phone_numbers.carrier import StepStatus
    from trunkline.phone_numbers.models import CarrierRequest
    from trunkline.phone_numbers.services import _order_settled

    partner = admin.partner
    fund(partner, "10.00")
    offer = carrier().search(SearchCriteria(kind="toll_free", limit=1))[0]
    (number,) = services.numbers_purchase(actor=actor_for_user(admin), numbers=[offer.e164])
    assert ledger.wallet_balance(partner).to_json() == "6.50"  # $2.50 + $1.00 setup
    request = CarrierRequest.objects.get(kind="order")
    request.status, request.detail = CarrierRequest.Status.FAILED, "number not in service"
    request.save()
    _order_settled(request, StepStatus("failed", "number not in service"))
    _order_settled(request, StepStatus("failed", "number not in service"))  # applied twice
    number.refresh_from_db()
    assert number.status == "DISCONNECTED"
    assert ledger.wallet_balance(partner).to_json() == "10.00"
    assert Posting.objects.filter(partner=partner, type="refund").count() == 2
