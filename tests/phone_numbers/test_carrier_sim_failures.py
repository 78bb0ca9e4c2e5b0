"""Every status path of the simulated carrier: what it decides at submission (success, or
a failure from a documented test value), its schedule, and staff moving a request on
before its time (`carrier_control.carrier_advance`, behind `trunkline carrier advance`)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core import mail

from tests.core.capture import capture_audit, capture_events
from tests.factories import actor_for_user, make_tenant
from trunkline.billing import ledger
from trunkline.billing.models import Posting
from trunkline.core.actors import Actor
from trunkline.core.errors import NotFound, ValidationFailed
from trunkline.phone_numbers import blocks, caller_id, carrier_sim, porting, services
from trunkline.phone_numbers.carrier import CarrierError, SearchCriteria, carrier
from trunkline.phone_numbers.carrier_control import carrier_advance, carrier_requests_pending
from trunkline.phone_numbers.carrier_requests import requests_sync
from trunkline.phone_numbers.models import (
    CarrierRequest,
    PhoneNumber,
    PortRequest,
    SimulatedCarrierStep,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # a Monday
ADDRESS = {"street": "1200 Main St", "city": "Little Rock", "state": "AR", "postal_code": "72201"}
STAFF = Actor.system()
PDF = b"%PDF-1.4\n% signed LOA\n"


@pytest.fixture
def actor(admin):
    return actor_for_user(admin)


@pytest.fixture
def tenant(admin):
    return make_tenant(admin, name="Ozark Outfitters")


def buy(actor, fund, *, numbers=None, now=NOW):
    fund(actor.partner)
    if numbers is None:
        offers = carrier().search(SearchCriteria(kind="local", state="AR", limit=1))
        numbers = [offer.e164 for offer in offers]
    return services.numbers_purchase(actor=actor, numbers=numbers, now=now)


def reload(number):
    return PhoneNumber.objects.get(pk=number.pk)


def request_for(kind, **filters):
    return CarrierRequest.objects.filter(kind=kind, **filters).latest("created_at")


# --- what a reference carries ----------------------------------------------------------------


def test_references_written_before_outcomes_still_read_as_succeeding():
    at = int(NOW.timestamp())
    sim = carrier_sim.SimulatedCarrier()
    for kind, seconds in (("order", 30), ("cnam", 900), ("e911", 600)):
        old = f"sim-{kind}-{at}-0a1b2c3d"
        assert sim.status(kind, old, now=NOW + timedelta(seconds=seconds - 1)).state == "pending"
        assert sim.status(kind, old, now=NOW + timedelta(seconds=seconds)).state == "done"
    with pytest.raises(CarrierError):
        sim.status("cnam", f"sim-cnam-{at}-nonsense-0a1b2c3d", now=NOW)
    with pytest.raises(CarrierError):
        sim.status("cnam", "not-ours", now=NOW)


@pytest.mark.parametrize(
    ("kind", "value", "outcome"),
    [
        ("order", ["+15012020150", "+15012020199"], "switch"),
        ("order", ["+15012020150"], "ok"),
        ("cnam", "FAIL TEST", "cnamdb"),
        ("cnam", "ozark fail co", "cnamdb"),
        ("cnam", "FAILSAFE INC", "ok"),  # the word, not the letters
        ("e911", {**ADDRESS, "street": "9999 Failure Ave"}, "msag"),
        ("e911", {**ADDRESS, "street": "9998 failure blvd"}, "psap"),
        ("e911", {**ADDRESS, "street": "999 Failure Ave"}, "ok"),
        ("e911", ADDRESS, "ok"),
    ],
)
def test_the_outcome_is_decided_at_submission_from_the_test_values(kind, value, outcome):
    sim = carrier_sim.SimulatedCarrier()
    if kind == "order":
        ref = f"sim-order-{int(NOW.timestamp())}-{carrier_sim.order_outcome(value)}-00000000"
    elif kind == "cnam":
        ref = sim.cnam_update("+15012020150", value, now=NOW).ref
    else:
        ref = sim.e911_register("+15012020150", value, now=NOW).ref
    assert carrier_sim.parse_ref(ref)[2] == outcome
    settled = sim.status(kind, ref, now=NOW + timedelta(hours=1))
    assert settled.state == ("done" if outcome == "ok" else "failed")
    assert settled.detail == carrier_sim.REASONS.get(outcome, "")


def test_the_failing_test_addresses_pass_our_own_validation():
    for street in ("9999 Failure Ave", "9998 Failure Ave"):
        cleaned = caller_id.clean_dispatchable_address({**ADDRESS, "street": street})
        assert cleaned["street"] == street


# --- orders ---------------------------------------------------------------------------------


def test_an_order_is_provisioned_on_schedule(actor, fund, inventory):
    number = buy(actor, fund)[0]
    assert number.status == "PENDING"
    requests_sync(now=NOW + timedelta(seconds=29))
    assert reload(number).status == "PENDING"
    requests_sync(now=NOW + timedelta(seconds=30))
    assert reload(number).status == "ACTIVE"
    assert request_for("order").status == "DONE"


def load_test_line(number="+15012020199"):
    blocks.number_block_load(
        actor=STAFF, content=f"number,type\n{number},local\n".encode(), filename="tests.csv"
    )


def test_an_order_the_carrier_cannot_provision_is_refunded_in_full(actor, fund, partner):
    load_test_line()
    fund(partner)
    before = ledger.wallet_balance(partner)
    number = buy(actor, fund, numbers=["+15012020199"])[0]
    charged = before - ledger.wallet_balance(partner)
    assert charged.micros > 0
    debits = set(Posting.objects.filter(reference=number.id).values_list("id", flat=True))
    with capture_events(["phone_number.updated"]) as events:
        requests_sync(now=NOW + timedelta(seconds=30))
    number = reload(number)
    assert number.status == "DISCONNECTED"
    assert events[0].payload["previous_attributes"] == {"status": "PENDING"}
    order = request_for("order")
    assert (order.status, order.detail) == ("FAILED", carrier_sim.REASONS["switch"])
    # The refund is new postings beside the debits, which stay as they were.
    assert ledger.wallet_balance(partner) == before
    postings = Posting.objects.filter(reference=number.id)
    assert debits < set(postings.values_list("id", flat=True))
    refunds = postings.filter(type=Posting.Type.REFUND)
    assert refunds.count() == len(debits)
    assert all("not provisioned" in refund.memo for refund in refunds)
    # A second sync finds nothing to do and refunds nothing twice.
    assert requests_sync(now=NOW + timedelta(minutes=5)) == 0
    assert ledger.wallet_balance(partner) == before


def test_staff_can_fail_an_order_before_its_schedule(actor, fund, partner, inventory):
    fund(partner)
    before = ledger.wallet_balance(partner)
    number = buy(actor, fund)[0]
    with capture_audit() as audit:
        advanced = carrier_advance(
            actor=STAFF, number=number.e164, fail="Rejected by the upstream switch", now=NOW
        )
    assert [(row["kind"], row["outcome"], row["status"]) for row in advanced] == [
        ("order", "failed", "FAILED")
    ]
    assert reload(number).status == "DISCONNECTED"
    assert ledger.wallet_balance(partner) == before
    assert request_for("order").detail == "Rejected by the upstream switch"
    # The decision first, then the refunds it caused (the first month and the setup fee).
    assert [entry.action for entry in audit] == [
        "carrier_request.advanced",
        "wallet.refund",
        "wallet.refund",
    ]
    assert audit[0].actor_type == "system" and audit[0].partner_id == partner.id
    assert audit[0].after["outcome"] == "failed"


def test_staff_can_finish_an_order_at_once(actor, fund, inventory):
    number = buy(actor, fund)[0]
    advanced = carrier_advance(actor=STAFF, number=number.e164, now=NOW + timedelta(seconds=1))
    assert advanced[0]["outcome"] == "done"
    assert reload(number).status == "ACTIVE"
    step = SimulatedCarrierStep.objects.get(carrier_ref=request_for("order").carrier_ref)
    assert (step.kind, step.outcome) == ("order", "done")


# --- CNAM and E911 ----------------------------------------------------------------------------


@pytest.fixture
def live(actor, fund, tenant, inventory):
    number = buy(actor, fund)[0]
    requests_sync(now=NOW + timedelta(seconds=30))
    services.number_assign(actor=actor, number=reload(number), tenant=tenant, now=NOW)
    return reload(number)


def test_cnam_synced_and_failed(actor, live):
    caller_id.number_cnam_set(actor=actor, number=live, cnam="OZARK SALES", now=NOW)
    requests_sync(now=NOW + timedelta(minutes=15))
    number = reload(live)
    assert (number.cnam_status, number.cnam_synced) == ("SYNCED", "OZARK SALES")

    caller_id.number_cnam_set(actor=actor, number=number, cnam="FAIL TEST", now=NOW)
    assert reload(number).cnam_status == "PENDING"
    with capture_events(["phone_number.updated"]) as events:
        requests_sync(now=NOW + timedelta(minutes=15))
    number = reload(number)
    assert (number.cnam_status, number.cnam_error) == ("FAILED", carrier_sim.REASONS["cnamdb"])
    assert number.cnam_synced == "OZARK SALES"  # the carrier still shows the last good name
    assert events[0].payload["previous_attributes"] == {"cnam_status": "PENDING"}


def test_e911_registered_and_failed(actor, live):
    caller_id.number_e911_set(actor=actor, number=live, address=ADDRESS, now=NOW)
    requests_sync(now=NOW + timedelta(minutes=10))
    assert reload(live).e911_status == "REGISTERED"
    assert caller_id.number_911_capable(live.e164)

    bad = {**ADDRESS, "street": "9999 Failure Ave"}
    caller_id.number_e911_set(actor=actor, number=live, address=bad, now=NOW)
    requests_sync(now=NOW + timedelta(minutes=10))
    number = reload(live)
    assert (number.e911_status, number.e911_error) == ("FAILED", carrier_sim.REASONS["msag"])
    assert not caller_id.number_911_capable(number.e164)


def test_staff_force_cnam_and_e911_outcomes_now(actor, live):
    caller_id.number_cnam_set(actor=actor, number=live, cnam="OZARK SALES", now=NOW)
    caller_id.number_e911_set(actor=actor, number=live, address=ADDRESS, now=NOW)
    pending = carrier_requests_pending(number=live.e164)
    assert sorted(row["kind"] for row in pending) == ["cnam", "e911"]
    cnam_row = next(row for row in pending if row["kind"] == "cnam")
    assert cnam_row["finishes_at"] == (NOW + timedelta(minutes=15)).isoformat()
    assert cnam_row["numbers"] == [live.e164]

    carrier_advance(actor=STAFF, number=live.e164, kinds=["cnam"], now=NOW + timedelta(seconds=5))
    assert reload(live).cnam_status == "SYNCED"
    assert reload(live).e911_status == "PENDING"
    carrier_advance(
        actor=STAFF,
        ref=request_for("e911", status="PENDING").carrier_ref,
        fail="Address is a vacant lot",
        now=NOW + timedelta(seconds=5),
    )
    number = reload(live)
    assert (number.e911_status, number.e911_error) == ("FAILED", "Address is a vacant lot")
    # The forced answer stands: the schedule passing later changes nothing.
    assert requests_sync(now=NOW + timedelta(hours=2)) == 0
    assert carrier_requests_pending(number=live.e164) == []


def test_advancing_a_failing_test_value_fails_with_its_reason(actor, live):
    caller_id.number_cnam_set(actor=actor, number=live, cnam="FAIL TEST", now=NOW)
    carrier_advance(actor=STAFF, number=live.e164, now=NOW)
    assert reload(live).cnam_error == carrier_sim.REASONS["cnamdb"]


def test_advance_refuses_what_it_cannot_do(actor, live):
    with pytest.raises(NotFound):
        carrier_advance(actor=STAFF, number=live.e164, now=NOW)  # nothing pending
    with pytest.raises(NotFound):
        carrier_advance(actor=actor, every=True, now=NOW)  # a partner is not staff
    with pytest.raises(ValidationFailed):
        carrier_advance(actor=STAFF, now=NOW)  # nothing named
    with pytest.raises(ValidationFailed):
        carrier_advance(actor=STAFF, number="12", now=NOW)
    with pytest.raises(ValidationFailed):
        carrier_advance(actor=STAFF, every=True, fail="x" * 301, now=NOW)


# --- ports ----------------------------------------------------------------------------------


def submitted_port(actor, tenant, **overrides):
    port = porting.port_request_create(
        actor=actor,
        tenant=tenant,
        fields={
            "numbers": ["+12125550101", "+12125550102"],
            "current_carrier": "Spectrum",
            "account_holder": "Acme Plumbing LLC",
            "account_number": "5550001000",
            "pin": "4417",
            "service_address": {**ADDRESS, "street": "100 Main St"},
            **overrides,
        },
        now=NOW,
    )
    porting.port_document_upload(
        actor=actor, port=port, kind="loa", filename="loa.pdf", content=PDF, now=NOW
    )
    return porting.port_request_submit(actor=actor, port=port, now=NOW)


def test_a_port_advanced_through_foc_and_completion(
    actor, tenant, partner, django_capture_on_commit_callbacks
):
    port = submitted_port(actor, tenant)
    [row] = carrier_requests_pending(number="+12125550101")
    assert (row["kind"], row["port_state"], row["port_request_id"]) == (
        "port",
        "SUBMITTED",
        port.id,
    )
    # The schedule would complete it at 14:00 UTC on the FOC date, 5 business days out.
    assert row["finishes_at"] == "2026-12-14T14:00:00+00:00"
    with django_capture_on_commit_callbacks(execute=True):
        first = carrier_advance(actor=STAFF, number="2125550101", now=NOW + timedelta(hours=1))
    assert (first[0]["outcome"], first[0]["port_state"]) == ("foc", "FOC_RECEIVED")
    port.refresh_from_db()
    assert (port.status, port.foc_date) == ("FOC_RECEIVED", date(2026, 12, 14))
    assert carrier_requests_pending(number="+12125550101")[0]["port_state"] == "FOC_RECEIVED"
    with django_capture_on_commit_callbacks(execute=True):
        second = carrier_advance(actor=STAFF, ref=row["ref"], now=NOW + timedelta(hours=2))
    assert (second[0]["outcome"], second[0]["status"]) == ("done", "DONE")
    port.refresh_from_db()
    assert port.status == "COMPLETED"
    assert [entry["status"] for entry in port.history] == [
        "PENDING",
        "SUBMITTED",
        "FOC_RECEIVED",
        "COMPLETED",
    ]
    numbers = PhoneNumber.objects.filter(e164__in=port.numbers)
    assert {(n.status, n.tenant_id) for n in numbers} == {("ACTIVE", tenant.id)}
    subjects = [message.subject for message in mail.outbox if port.id in message.subject]
    assert any("FOC date 2026-12-14" in subject for subject in subjects)
    assert any("completed" in subject for subject in subjects)
    with pytest.raises(CarrierError):
        carrier().port_cancel(row["ref"], now=NOW + timedelta(hours=3))


def test_a_forced_foc_still_completes_on_the_scheduled_date(actor, tenant):
    port = submitted_port(actor, tenant)
    carrier_advance(actor=STAFF, number="+12125550102", now=NOW)
    assert PortRequest.objects.get(pk=port.pk).status == "FOC_RECEIVED"
    requests_sync(now=datetime(2026, 12, 14, 13, 59, tzinfo=UTC))
    assert PortRequest.objects.get(pk=port.pk).status == "FOC_RECEIVED"
    requests_sync(now=datetime(2026, 12, 14, 14, 0, tzinfo=UTC))
    assert PortRequest.objects.get(pk=port.pk).status == "COMPLETED"


def test_staff_reject_a_port_with_a_reason(actor, tenant):
    port = submitted_port(actor, tenant)
    carrier_advance(actor=STAFF, number="+12125550101", now=NOW)  # FOC first
    carrier_advance(actor=STAFF, number="+12125550101", fail="Customer disputes the port", now=NOW)
    port.refresh_from_db()
    assert (port.status, port.rejection_reason) == ("REJECTED", "Customer disputes the port")
    assert [entry["status"] for entry in port.history][-2:] == ["FOC_RECEIVED", "REJECTED"]
    assert not PhoneNumber.objects.filter(e164__in=port.numbers).exists()


def test_advancing_a_port_the_losing_carrier_rejects_gives_the_guides_reason(actor, tenant):
    port = submitted_port(actor, tenant, account_number="9990000003")
    carrier_advance(actor=STAFF, every=True, kinds=["port"], now=NOW)
    port.refresh_from_db()
    assert (port.status, port.rejection_reason) == (
        "REJECTED",
        "LOA not signed by authorized party",
    )
