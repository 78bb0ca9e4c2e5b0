"""Permanent release: staff disconnect a number into a 30-day quarantine, from which the
partner can reclaim it; afterwards the periodic job returns it to the carrier (seed 000:
"Disconnected numbers: … held in quarantine so you can reclaim them before
reassignment"; partner guide 004: permanent release "is irreversible", a support action,
not a partner button)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests.billing.subscription_helpers import add_card, partner_actor
from tests.core.capture import assert_error, capture_events
from tests.factories import actor_for_user, make_api_key, make_partner, make_tenant
from trunkline.accounts.models import User
from trunkline.billing import ledger
from trunkline.billing.subscription_cycle import subscriptions_bill
from trunkline.billing.subscriptions import subscription_activate
from trunkline.core.actors import Actor
from trunkline.core.errors import Conflict, NotFound
from trunkline.core.models import AuditEntry
from trunkline.core.money import Money
from trunkline.phone_numbers import caller_id, quarantine, services
from trunkline.phone_numbers.carrier import SearchCriteria, carrier
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import PhoneNumber, SupplyNumber

pytestmark = pytest.mark.django_db

ADDRESS = {"street": "1200 Main St", "city": "Little Rock", "state": "AR", "postal_code": "72201"}


def at(month, day, hour=12):
    return datetime(2026, month, day, hour, tzinfo=UTC)


@pytest.fixture
def staff(db):
    user = User.objects.create_superuser("ops@trunkline.example", "Correct-Horse9battery")
    return Actor(kind="user", user=user)


def buy(admin, fund, count=1, now=None):
    fund(admin.partner)
    offers = carrier().search(SearchCriteria(kind="local", state="AR", limit=count))
    now = now or datetime.now(UTC)
    rows = services.numbers_purchase(
        actor=actor_for_user(admin), numbers=[offer.e164 for offer in offers], now=now
    )
    requests_sync(now=now + timedelta(seconds=31))
    return [PhoneNumber.objects.get(pk=row.pk) for row in rows]


def test_staff_disconnect_quarantines_keeping_cnam_and_e911(admin, staff, inventory, fund):
    tenant = make_tenant(admin)
    number = buy(admin, fund)[0]
    actor = actor_for_user(admin)
    services.number_assign(actor=actor, number=number, tenant=tenant)
    caller_id.number_cnam_set(actor=actor, number=number, cnam="OZARK SALES")
    caller_id.number_e911_set(actor=actor, number=number, address=ADDRESS)
    now = datetime.now(UTC)
    with capture_events(["phone_number.released", "phone_number.updated"]) as events:
        quarantine.number_disconnect(actor=staff, number=number, now=now)
    assert events[1].payload["previous_attributes"] == {"status": "ACTIVE", "tenant_id": tenant.id}
    assert events[1].payload["phone_number"]["status"] == "QUARANTINED"
    number.refresh_from_db()
    assert (number.status, number.tenant_id) == ("QUARANTINED", None)
    assert number.quarantined_until == now + timedelta(days=30)
    assert (number.cnam, number.e911_street) == ("OZARK SALES", "1200 Main St")
    entry = AuditEntry.objects.get(action="phone_number.quarantined")
    assert (entry.partner_id, entry.actor_label) == (admin.partner_id, "ops@trunkline.example")
    # Quarantined numbers cannot be put back to work or edited in the meantime.
    with pytest.raises(Conflict):
        services.number_assign(actor=actor, number=number, tenant=tenant)
    with pytest.raises(Conflict):
        caller_id.number_e911_set(actor=actor, number=number, address=None)


def test_a_partner_cannot_disconnect(api, make_api, admin, inventory, fund):
    number = buy(admin, fund)[0]
    with pytest.raises(NotFound):
        quarantine.number_disconnect(actor=actor_for_user(admin), number=number)
    with pytest.raises(NotFound):
        key_actor = Actor(kind="api_key", partner=admin.partner)
        quarantine.number_disconnect(actor=key_actor, number=number)
    for path in (f"/v1/phone-numbers/{number.id}/disconnect", f"/v1/phone-numbers/{number.id}"):
        answer = api.post(path) if path.endswith("disconnect") else api.delete(path)
        assert answer.status_code in (404, 405)
    assert PhoneNumber.objects.get(pk=number.pk).status == "ACTIVE"
    # Nor through the admin, which is for platform staff only.
    client = Client()
    client.force_login(admin)
    answer = client.post(
        "/admin/phone_numbers/phonenumber/",
        {"action": "disconnect", "_selected_action": [number.id]},
    )
    assert answer.status_code == 302 and "/admin/login" in answer["Location"]
    assert PhoneNumber.objects.get(pk=number.pk).status == "ACTIVE"


def test_staff_disconnect_and_reclaim_in_the_admin(staff, admin, inventory, fund):
    number = buy(admin, fund)[0]
    client = Client()
    client.force_login(staff.user)
    answer = client.post(
        "/admin/phone_numbers/phonenumber/",
        {"action": "disconnect", "_selected_action": [number.id]},
    )
    assert answer.status_code == 302
    assert PhoneNumber.objects.get(pk=number.pk).status == "QUARANTINED"
    client.post(
        "/admin/phone_numbers/phonenumber/", {"action": "reclaim", "_selected_action": [number.id]}
    )
    assert PhoneNumber.objects.get(pk=number.pk).status == "RELEASED"


def test_billing_stops_while_quarantined_and_resumes_on_assign(admin, staff, inventory, fund):
    partner = admin.partner
    add_card(partner)
    subscription_activate(actor=partner_actor(admin), plan="starter", now=at(11, 5))
    kept, given_up = buy(admin, fund, count=2, now=at(11, 10))
    quarantine.number_disconnect(actor=staff, number=given_up, now=at(11, 20))

    balance = ledger.wallet_balance(partner)
    subscriptions_bill(now=at(12, 1, 0))
    # December: the kept number pays its $1.75; the quarantined one nothing.
    assert balance - ledger.wallet_balance(partner) == Money.parse("1.75")
    assert PhoneNumber.objects.get(pk=kept.pk).paid_through.isoformat() == "2026-12-31"
    assert PhoneNumber.objects.get(pk=given_up.pk).paid_through.isoformat() == "2026-11-30"

    # Reclaimed within the window: back in the inventory, charged again once assigned.
    reclaimed = quarantine.number_reclaim(
        actor=actor_for_user(admin), number=given_up, now=at(12, 10)
    )
    assert (reclaimed.status, reclaimed.quarantined_until) == ("RELEASED", None)
    balance = ledger.wallet_balance(partner)
    services.number_assign(
        actor=actor_for_user(admin), number=given_up, tenant=make_tenant(admin), now=at(12, 11)
    )
    assert balance - ledger.wallet_balance(partner) == Money.parse("1.75")
    assert PhoneNumber.objects.get(pk=given_up.pk).status == "ACTIVE"


def test_no_reclaim_after_the_window_and_the_job_returns_it_once(
    api, admin, staff, inventory, fund
):
    number = buy(admin, fund)[0]
    start = datetime.now(UTC)
    quarantine.number_disconnect(actor=staff, number=number, now=start)
    assert not SupplyNumber.objects.filter(e164=number.e164).exists()
    # The day before the end nothing is due.
    assert quarantine.numbers_quarantine_expire(now=start + timedelta(days=29)) == 0
    after = start + timedelta(days=30, minutes=1)
    with pytest.raises(Conflict) as refused:
        quarantine.number_reclaim(actor=actor_for_user(admin), number=number, now=after)
    assert refused.value.type == "quarantine_expired"

    with capture_events(["phone_number.updated"]):
        assert quarantine.numbers_quarantine_expire(now=after) == 1
    with capture_events([]):
        assert quarantine.numbers_quarantine_expire(now=after + timedelta(hours=1)) == 0
    number.refresh_from_db()
    assert (number.status, number.disconnected_at) == ("DISCONNECTED", after)
    assert SupplyNumber.objects.filter(e164=number.e164).exists()  # back on sale
    # Gone from the partner's inventory.
    assert api.get(f"/v1/phone-numbers/{number.id}").status_code == 404


def test_reclaim_through_the_api(api, make_api, admin, staff, inventory, fund):
    number = buy(admin, fund)[0]
    quarantine.number_disconnect(actor=staff, number=number)
    listed = api.get("/v1/phone-numbers", params={"status": "QUARANTINED"}).json()["data"]
    assert [row["id"] for row in listed] == [number.id] and listed[0]["quarantined_until"]

    partner_b, _ = make_partner()
    stranger = make_api(make_api_key(partner_b))
    assert_error(stranger.post(f"/v1/phone-numbers/{number.id}/reclaim"), 404, "not_found")
    with capture_events(["phone_number.updated"]) as events:
        answer = api.post(f"/v1/phone-numbers/{number.id}/reclaim")
    assert answer.status_code == 200
    assert (answer.json()["status"], answer.json()["quarantined_until"]) == ("RELEASED", None)
    assert events[0].payload["previous_attributes"] == {"status": "QUARANTINED"}
    assert_error(
        api.post(f"/v1/phone-numbers/{number.id}/reclaim"), 409, "invalid_state_transition"
    )
