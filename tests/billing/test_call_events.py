"""The events of stored call records (issue 8, part 3; the partner guide `004_*.txt`,
"Webhooks": `call.completed`, `call.failed`, `inbound_call.completed`,
`inbound_call.abandoned`, and its pattern "Subscribe to `call.completed` and
`inbound_call.completed`" for call analytics). One event per record newly stored, in the
storing transaction; none for a duplicate, a rejection or an internal call; written for
partners whose endpoints subscribe to them."""

import jsonschema
import pytest

from tests.billing.master_csv import row
from tests.core.capture import capture_events
from tests.factories import make_partner, make_tenant
from trunkline.billing.call_events import dollars
from trunkline.billing.cdr_tail import CdrTail
from trunkline.core.actors import Actor
from trunkline.core.events import EVENT_TYPES
from trunkline.core.models import Event
from trunkline.core.money import Money
from trunkline.webhooks.models import WebhookDelivery
from trunkline.webhooks.services import endpoint_create, endpoint_set_status

pytestmark = pytest.mark.django_db

CALL_EVENTS = ["call.completed", "call.failed", "inbound_call.completed", "inbound_call.abandoned"]


@pytest.fixture(autouse=True)
def _local_receivers(settings):
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def tenant(admin, carrier):
    return make_tenant(admin, name="Ozark Plumbing", sip_prefix="ozark")


def subscribe(partner, events=CALL_EVENTS):
    endpoint, _ = endpoint_create(
        actor=Actor.system(partner=partner), url="http://127.0.0.1:9/calls", events=list(events)
    )
    return endpoint


def record(tenant, call_id, direction="outbound", answered=True, **changes):
    base = {
        "call_id": call_id,
        "tenant_id": tenant.id,
        "direction": direction,
        "from": "+15015550100",
        "to": "+15015550123",
        "started_at": "2026-11-10T15:00:00Z",
        "answered_at": "2026-11-10T15:00:05Z" if answered else None,
        "ended_at": "2026-11-10T15:01:06Z",
        "billsec": 61 if answered else 0,
    }
    if direction == "inbound":
        base["from"], base["to"] = base["to"], base["from"]
    if direction == "internal":
        base["from"], base["to"] = "101", "102"
    return {**base, **changes}


def four_kinds_and_an_internal_call(tenant) -> list[dict]:
    return [
        record(tenant, "out-answered"),
        record(tenant, "out-unanswered", answered=False),
        record(tenant, "in-answered", direction="inbound"),
        record(tenant, "in-abandoned", direction="inbound", answered=False),
        record(tenant, "internal", direction="internal"),
    ]


def by_call_id(events) -> dict[str, Event]:
    return {event.payload["call"]["call_id"]: event for event in events}


def test_each_kind_of_record_from_the_api_gives_its_event(api, partner, tenant):
    endpoint = subscribe(partner)
    with capture_events() as events:
        response = api.post("/v1/cdrs", {"records": four_kinds_and_an_internal_call(tenant)})
    assert response.json()["accepted"] == 5
    found = by_call_id(events)
    assert {call_id: event.type for call_id, event in found.items()} == {
        "out-answered": "call.completed",
        "out-unanswered": "call.failed",
        "in-answered": "inbound_call.completed",
        "in-abandoned": "inbound_call.abandoned",
    }
    assert found["out-unanswered"].payload["call"]["answered_at"] is None
    assert found["out-answered"].payload["call"]["started_at"] == "2026-11-10T15:00:00Z"
    # data.call is the record as GET /v1/calls shows it.
    calls = {call["call_id"]: call for call in api.get("/v1/calls").json()["data"]}
    for call_id, event in found.items():
        assert event.partner_id == partner.id
        shown = dict(calls[call_id])
        for name in ("started_at", "answered_at", "ended_at"):
            assert _same_time(event.payload["call"][name], shown.pop(name)), name
            event.payload["call"].pop(name)
        assert event.payload["call"] == shown
    # One delivery each, to the subscribed endpoint.
    deliveries = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert sorted(deliveries.values_list("event_id", flat=True)) == sorted(e.id for e in events)
    assert set(deliveries.values_list("status", flat=True)) == {"PENDING"}


def _same_time(sent, shown) -> bool:
    from datetime import datetime

    if sent is None or shown is None:
        return sent is shown
    assert sent.endswith("Z")
    return datetime.fromisoformat(sent) == datetime.fromisoformat(shown)


def test_a_record_sent_again_or_refused_gives_no_event(api, partner, tenant):
    subscribe(partner)
    api.post("/v1/cdrs", {"records": [record(tenant, "once")]})
    with capture_events([]):
        again = api.post(
            "/v1/cdrs",
            {"records": [record(tenant, "once"), record(tenant, "bad", billsec=-1)]},
        )
    assert again.json()["duplicates"] == 1 and len(again.json()["rejected"]) == 1
    assert Event.objects.filter(type="call.completed").count() == 1


def test_a_call_talked_but_with_no_answer_time_was_answered(api, partner, tenant):
    """The checks give a record with talk time an answer time; its event says completed."""
    subscribe(partner)
    with capture_events(["call.completed"]) as events:
        api.post("/v1/cdrs", {"records": [record(tenant, "talk", answered_at=None)]})
    assert events[0].payload["call"]["answered_at"] == "2026-11-10T15:00:05Z"


def test_events_match_the_published_schema(client, api, partner, tenant):
    document = client.get("/v1/openapi.json").json()
    subscribe(partner)
    with capture_events() as events:
        api.post("/v1/cdrs", {"records": four_kinds_and_an_internal_call(tenant)})
    assert sorted(event.type for event in events) == sorted(CALL_EVENTS)
    for event in events:
        operation = document["webhooks"][event.type]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator(
            {**schema, "components": document["components"]}
        )
        validator.validate(event.envelope())
        EVENT_TYPES[event.type].data_schema.model_validate(event.payload)
    missing = {**events[0].envelope(), "data": {"call": {"id": "cdr_1"}}}
    assert not validator.is_valid(missing)


def test_a_followed_master_csv_gives_the_same_events(tmp_path, partner, tenant):
    subscribe(partner)
    master = tmp_path / "Master.csv"
    master.write_text(
        row("csv.1")
        + row("csv.2", answered=False)
        + row("csv.3", direction="inbound")
        + row("csv.4", direction="inbound", answered=False)
        + row("csv.5", direction="internal", src="101", dst="102")
        + row("csv.6", account="nobody")
    )
    tail = CdrTail(master)
    with capture_events() as events:
        assert tail.step().accepted == 5
    assert {call_id: event.type for call_id, event in by_call_id(events).items()} == {
        "csv.1": "call.completed",
        "csv.2": "call.failed",
        "csv.3": "inbound_call.completed",
        "csv.4": "inbound_call.abandoned",
    }
    assert WebhookDelivery.objects.count() == 4
    # The same lines read again (the position lost) are duplicates: no event.
    from trunkline.billing.models import CdrSource

    CdrSource.objects.all().delete()
    with capture_events([]):
        assert CdrTail(master).step().duplicates == 5


def test_the_one_shot_import_gives_events_too(tmp_path, capsys, partner, tenant):
    from trunkline.cli import main

    subscribe(partner, ["call.completed"])
    master = tmp_path / "Master.csv"
    master.write_text(row("once.1") + row("once.2", answered=False))
    with capture_events(["call.completed"]):
        assert main(["import-cdrs", str(master)]) == 0


def test_events_are_written_for_what_some_endpoint_subscribes_to(api, partner, tenant):
    """An event no endpoint subscribes to would have no delivery, and events are read
    only through their deliveries: it is not written (docs/webhooks.md)."""
    records = four_kinds_and_an_internal_call(tenant)
    with capture_events([]):
        api.post("/v1/cdrs", {"records": records[:1]})
    subscribe(partner, ["inbound_call.abandoned", "tenant.created"])
    with capture_events(["inbound_call.abandoned"]):
        api.post("/v1/cdrs", {"records": records[1:4]})
    disabled = subscribe(partner, ["call.completed"])
    endpoint_set_status(actor=Actor.system(partner=partner), endpoint=disabled, status="DISABLED")
    with capture_events([]):
        api.post("/v1/cdrs", {"records": [record(tenant, "while-disabled")]})


def test_another_partners_endpoint_hears_nothing_of_these_calls(api, partner, tenant):
    other, _ = make_partner("Bravo Telecom")
    foreign = subscribe(other)
    with capture_events([]):
        api.post("/v1/cdrs", {"records": four_kinds_and_an_internal_call(tenant)})
    assert not WebhookDelivery.objects.filter(endpoint=foreign).exists()


def test_the_cost_is_written_as_money_writes_it():
    for micros in [*range(0, 20_000, 7), 22_000, 1_000_000, 123_456_789, 10**12 + 5]:
        assert dollars(micros) == Money(micros).to_json(), micros
