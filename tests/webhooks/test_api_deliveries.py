"""The deliveries debugger through the API: list, detail with attempts, redeliver."""

import threading

import pytest

from tests.core.capture import assert_error, capture_audit
from tests.factories import make_api_key
from tests.webhooks.helpers import Receiver, always, emit
from trunkline.webhooks import delivery as sender
from trunkline.webhooks.delivery import deliver_due

pytestmark = pytest.mark.usefixtures("allow_private")
WORKER = "test-worker"


def create(api, url, events=("tenant.created",)):
    response = api.post("/v1/webhook-endpoints", {"url": url, "events": list(events)})
    assert response.status_code == 201, response.content
    return response.json()


def test_the_debugger_lists_deliveries_with_their_state(api, partner):
    with Receiver(always(500, body=b"nope")) as failing:
        endpoint = create(api, failing.url())
        event = emit(partner, "tenant.created", {"tenant": {"id": "tnt_1"}})
        deliver_due(worker_id=WORKER)
        body = api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()
    [item] = body["data"]
    assert body["next_cursor"] is None
    assert item["id"].startswith("whd_")
    assert item["event_id"] == event.id
    assert item["event_type"] == "tenant.created"
    assert item["status"] == "FAILED"
    assert item["attempts"] == 1 and item["max_attempts"] == 8
    assert item["attempts_label"] == "1/8"
    assert item["last_response_code"] == 500
    assert item["last_response"] == "500"
    assert item["last_attempt_at"] is not None
    assert item["next_attempt_at"] is not None
    assert item["request_body"]["id"] == event.id
    assert item["request_body"]["data"] == {"tenant": {"id": "tnt_1"}}
    status = api.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()
    assert status["consecutive_failures"] == 1

    detail = api.get(f"/v1/webhook-deliveries/{item['id']}").json()
    [attempt] = detail["attempt_log"]
    assert attempt["number"] == 1
    assert attempt["response_code"] == 500
    assert attempt["response_body"] == "nope"
    assert attempt["request_headers"]["webhook-id"] == event.id
    assert "whsec_" not in str(attempt["request_headers"])
    assert attempt["url"] == failing.url()


def test_filter_and_page_through_deliveries(api, partner, receiver):
    endpoint = create(api, receiver.url())
    for _ in range(3):
        emit(partner)
    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    first = api.get(path, {"limit": 2}).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = api.get(path, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["data"]) == 1 and second["next_cursor"] is None
    assert api.get(path, {"status": "DELIVERED"}).json()["data"] == []
    assert len(api.get(path, {"status": "PENDING"}).json()["data"]) == 3
    assert_error(api.get(path, {"status": "LOST"}), 422, "validation_error", "status")


def test_a_timeout_reads_timeout(api, partner, monkeypatch):
    release = threading.Event()

    def slow(request, count):
        release.wait(5)
        return 200, {}, b""

    monkeypatch.setattr(sender, "TIMEOUT_SECONDS", 0.3)
    with Receiver(slow) as sluggish:
        endpoint = create(api, sluggish.url())
        emit(partner)
        deliver_due(worker_id=WORKER)
        release.set()
    [item] = api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert item["status"] == "FAILED"
    assert item["last_response_code"] is None
    assert item["last_response"] == "Timeout"


def test_redeliver_through_the_api(api, partner, receiver):
    endpoint = create(api, receiver.url())
    event = emit(partner)
    deliver_due(worker_id=WORKER)
    [item] = api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert item["status"] == "DELIVERED"
    with capture_audit(["webhook_delivery.redelivered"]):
        response = api.post(f"/v1/webhook-deliveries/{item['id']}/redeliver")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == item["id"]
    assert response.json()["status"] == "PENDING"
    assert response.json()["event_id"] == event.id
    deliver_due(worker_id=WORKER)
    assert [request.headers["webhook-id"] for request in receiver.requests] == [event.id] * 2
    detail = api.get(f"/v1/webhook-deliveries/{item['id']}").json()
    assert detail["status"] == "DELIVERED"
    assert [attempt["is_redelivery"] for attempt in detail["attempt_log"]] == [True, False]


def test_redeliver_to_a_disabled_or_deleted_endpoint_is_409(api, partner, receiver):
    endpoint = create(api, receiver.url())
    emit(partner)
    deliver_due(worker_id=WORKER)
    [item] = api.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", {"status": "DISABLED"})
    redeliver = f"/v1/webhook-deliveries/{item['id']}/redeliver"
    assert_error(api.post(redeliver), 409, "invalid_state_transition")
    api.delete(f"/v1/webhook-endpoints/{endpoint['id']}")
    assert_error(api.post(redeliver), 409, "invalid_state_transition")
    # The history of a deleted endpoint can still be read by id.
    assert api.get(f"/v1/webhook-deliveries/{item['id']}").json()["status"] == "DELIVERED"


def test_another_partners_delivery_is_404(api, other_partner, make_api, receiver):
    foreign_partner = other_partner[0]
    foreign = make_api(make_api_key(foreign_partner))
    create(foreign, receiver.url())
    emit(foreign_partner)
    from trunkline.webhooks.models import WebhookDelivery

    delivery_id = WebhookDelivery.objects.get().id
    assert_error(api.get(f"/v1/webhook-deliveries/{delivery_id}"), 404, "not_found")
    assert_error(api.post(f"/v1/webhook-deliveries/{delivery_id}/redeliver"), 404, "not_found")
    assert WebhookDelivery.objects.get().redelivered_at is None
