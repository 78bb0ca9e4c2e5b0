"""Sending: signatures, the retry plan on a fake clock, giving up, and disabling endpoints.

Every test sends real HTTP to a receiver on loopback (so TRUNKLINE_WEBHOOK_ALLOW_PRIVATE
is on) and drives the sender by calling `deliver_due` with an injected clock.
"""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks import Webhook

from tests.factories import make_tenant
from tests.webhooks.helpers import Receiver, always, emit, system_actor
from trunkline.core.events import EVENT_TYPES
from trunkline.core.models import Event
from trunkline.webhooks.delivery import RETRY_DELAYS, deliver_due
from trunkline.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from trunkline.webhooks.services import (
    delivery_redeliver,
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_set_status,
)

pytestmark = pytest.mark.usefixtures("allow_private")

WORKER = "test-worker"


def subscribe(partner, url, events=("tenant.created",)):
    return endpoint_create(actor=system_actor(partner), url=url, events=list(events))


def test_a_signed_delivery_verifies_both_ways(partner, admin, receiver):
    endpoint, secret = subscribe(partner, receiver.url())
    tenant = make_tenant(admin, name="ACME Plumbing", sip_prefix="acme")
    assert deliver_due(worker_id=WORKER) == 1

    [request] = receiver.requests
    body = request.body
    event = Event.objects.get(type="tenant.created")
    assert request.headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "id": event.id,
        "type": "tenant.created",
        "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "partner_id": partner.id,
        "data": event.payload,
    }
    assert json.loads(body)["data"]["tenant"]["id"] == tenant.id
    # Standard Webhooks, with the reference library.
    assert Webhook(secret).verify(body, request.headers)["id"] == event.id
    assert request.headers["webhook-id"] == event.id
    # The guide's hex HMAC-SHA256 of the raw body, keyed with the secret as shown.
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-trunkline-signature"], expected)

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "DELIVERED" and delivery.attempts == 1
    attempt = WebhookAttempt.objects.get()
    assert attempt.response_code == 200 and attempt.response_body == "ok"
    assert attempt.request_body.encode() == body
    assert secret not in json.dumps(attempt.request_headers)
    assert secret not in attempt.request_body


def test_only_subscribed_active_endpoints_of_the_partner_get_the_event(
    partner, other_partner, receiver
):
    wanted, _ = subscribe(partner, receiver.url("/wanted"), ["tenant.created"])
    subscribe(partner, receiver.url("/other-event"), ["tenant.deleted"])
    disabled, _ = subscribe(partner, receiver.url("/disabled"))
    endpoint_set_status(actor=system_actor(partner), endpoint=disabled, status="DISABLED")
    subscribe(other_partner[0], receiver.url("/foreign"))
    emit(partner, "tenant.created")
    assert deliver_due(worker_id=WORKER) == 1
    assert [request.path for request in receiver.requests] == ["/wanted"]


def test_every_catalogue_event_fans_out(partner, receiver):
    subscribe(partner, receiver.url(), list(EVENT_TYPES))
    for name in EVENT_TYPES:
        emit(partner, name, {"example": name})
    assert deliver_due(worker_id=WORKER, limit=100) == len(EVENT_TYPES)
    received = sorted(request.json["type"] for request in receiver.requests)
    assert received == sorted(EVENT_TYPES)


def test_a_rolled_back_change_writes_no_delivery(partner, admin, receiver):
    subscribe(partner, receiver.url())
    with pytest.raises(RuntimeError), transaction.atomic():
        make_tenant(admin)
        raise RuntimeError("the change fails after the event was written")
    assert Event.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0
    assert deliver_due(worker_id=WORKER) == 0
    assert receiver.requests == []


def test_the_retry_plan_on_a_fake_clock(partner):
    with Receiver(always(500, body=b"boom")) as failing:
        subscribe(partner, failing.url())
        emit(partner)
        clock = timezone.now()
        for number in range(1, 9):
            assert deliver_due(worker_id=WORKER, now=clock) == 1, f"attempt {number}"
            delivery = WebhookDelivery.objects.get()
            assert delivery.attempts == number
            assert delivery.last_response_code == 500
            if number == 8:
                break
            assert delivery.status == "FAILED"
            wait = delivery.next_attempt_at - clock
            planned = RETRY_DELAYS[number]
            assert planned <= wait <= planned + min(planned * 0.1, timedelta(minutes=5))
            # Not a moment early …
            assert (
                deliver_due(worker_id=WORKER, now=delivery.next_attempt_at - timedelta(seconds=1))
                == 0
            )
            clock = delivery.next_attempt_at
        assert delivery.status == "DEAD"
        assert delivery.next_attempt_at is None
        assert deliver_due(worker_id=WORKER, now=clock + timedelta(days=30)) == 0
        assert len(failing.requests) == 8
        # Every attempt carries its own timestamp, and the same id and body.
        timestamps = [request.headers["webhook-timestamp"] for request in failing.requests]
        assert len(set(timestamps)) == 8
        assert {request.headers["webhook-id"] for request in failing.requests} == {
            Event.objects.get().id
        }
        assert len({request.body for request in failing.requests}) == 1
        numbers = sorted(WebhookAttempt.objects.values_list("number", flat=True))
        assert numbers == list(range(1, 9))


def test_retry_after_is_honoured(partner):
    with Receiver(always(503, {"Retry-After": "900"})) as busy:
        subscribe(partner, busy.url())
        emit(partner)
        now = timezone.now()
        deliver_due(worker_id=WORKER, now=now)
        delivery = WebhookDelivery.objects.get()
        # The plan says 30 s; the receiver asked for 15 minutes.
        assert delivery.next_attempt_at - now >= timedelta(seconds=900)
        assert delivery.next_attempt_at - now < timedelta(seconds=960)


def test_an_endpoint_failing_100_times_in_a_row_is_disabled_and_the_partner_told(
    partner, admin, django_capture_on_commit_callbacks
):
    with Receiver(always(500)) as failing:
        endpoint, _ = subscribe(partner, failing.url())
        for _ in range(99):
            emit(partner)
        now = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            assert deliver_due(worker_id=WORKER, limit=200, now=now) == 99
        endpoint.refresh_from_db()
        assert endpoint.consecutive_failures == 99
        assert endpoint.status == "ACTIVE"
        assert mail.outbox == []

        emit(partner)
        now = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            assert deliver_due(worker_id=WORKER, limit=200, now=now) == 1
        endpoint.refresh_from_db()
        assert endpoint.consecutive_failures == 100
        assert endpoint.status == "DISABLED"
        assert endpoint.disabled_reason == "failures"
        [message] = mail.outbox
        assert message.to == [admin.email]
        assert failing.url() in message.subject
        assert "100 consecutive failures" in message.body

        # Nothing more is sent; the waiting deliveries are kept for when it is enabled.
        emit(partner)
        later = now + timedelta(days=1)
        assert deliver_due(worker_id=WORKER, limit=200, now=later) == 0
        assert len(failing.requests) == 100
        assert WebhookDelivery.objects.filter(status="FAILED").count() == 100

        failing.respond = always(200)
        endpoint_set_status(actor=system_actor(partner), endpoint=endpoint, status="ACTIVE")
        endpoint.refresh_from_db()
        assert endpoint.consecutive_failures == 0
        assert deliver_due(worker_id=WORKER, limit=200, now=timezone.now()) == 100
        assert WebhookDelivery.objects.filter(status="DELIVERED").count() == 100


def test_a_success_resets_the_consecutive_failures(partner):
    with Receiver(lambda request, count: (500 if count < 3 else 200, {}, b"")) as flaky:
        endpoint, _ = subscribe(partner, flaky.url())
        for _ in range(3):
            emit(partner)
        deliver_due(worker_id=WORKER)
        endpoint.refresh_from_db()
        assert endpoint.consecutive_failures == 3
        emit(partner)
        deliver_due(worker_id=WORKER)
        endpoint.refresh_from_db()
        assert endpoint.consecutive_failures == 0


def test_410_gone_disables_the_endpoint_at_once(partner, admin, django_capture_on_commit_callbacks):
    with Receiver(always(410)) as gone:
        endpoint, _ = subscribe(partner, gone.url())
        emit(partner)
        emit(partner)
        with django_capture_on_commit_callbacks(execute=True):
            deliver_due(worker_id=WORKER, limit=1)
        endpoint.refresh_from_db()
        assert endpoint.status == "DISABLED"
        assert endpoint.disabled_reason == "gone"
        assert len(mail.outbox) == 1
        assert deliver_due(worker_id=WORKER, now=timezone.now() + timedelta(days=2)) == 0
        assert len(gone.requests) == 1


def test_redirects_are_not_followed(partner):
    def respond(request, count):
        if request.path == "/hook":
            return 302, {"Location": "/elsewhere"}, b""
        return 200, {}, b"followed"

    with Receiver(respond) as redirecting:
        subscribe(partner, redirecting.url("/hook"))
        emit(partner)
        deliver_due(worker_id=WORKER)
        assert [request.path for request in redirecting.requests] == ["/hook"]
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "FAILED"
        assert delivery.last_response_code == 302
        attempt = WebhookAttempt.objects.get()
        assert attempt.response_headers["location"] == "/elsewhere"


def test_the_response_is_recorded_up_to_4_kb(partner):
    with Receiver(always(500, body=b"x" * 20_000)) as chatty:
        subscribe(partner, chatty.url())
        emit(partner)
        deliver_due(worker_id=WORKER)
        attempt = WebhookAttempt.objects.get()
        assert attempt.response_code == 500
        assert attempt.response_body == "x" * 4096


def test_an_unanswered_attempt_is_a_failure_with_the_reason(partner):
    with Receiver() as closed:
        url = closed.url()
    subscribe(partner, url)  # nothing listens there any more
    emit(partner)
    deliver_due(worker_id=WORKER)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "FAILED"
    assert delivery.last_response_code is None
    assert delivery.last_error.startswith("Connection failed")


def test_redeliver_sends_the_same_event_again(partner, receiver):
    endpoint, secret = subscribe(partner, receiver.url())
    event = emit(partner)
    deliver_due(worker_id=WORKER)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "DELIVERED"

    redelivered = delivery_redeliver(actor=system_actor(partner), delivery=delivery)
    assert redelivered.id == delivery.id
    assert redelivered.status == "PENDING" and redelivered.attempts == 0
    assert deliver_due(worker_id=WORKER) == 1
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event.id
    assert first.body == second.body
    Webhook(secret).verify(second.body, second.headers)
    delivery.refresh_from_db()
    assert delivery.status == "DELIVERED" and delivery.attempts == 1
    attempts = list(WebhookAttempt.objects.order_by("started_at", "id"))
    assert [attempt.is_redelivery for attempt in attempts] == [False, True]


def test_after_rotation_only_the_new_secret_verifies(partner, receiver):
    endpoint, old_secret = subscribe(partner, receiver.url())
    new_secret = endpoint_rotate_secret(actor=system_actor(partner), endpoint=endpoint)
    emit(partner)
    deliver_due(worker_id=WORKER)
    [request] = receiver.requests
    Webhook(new_secret).verify(request.body, request.headers)
    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(old_secret).verify(request.body, request.headers)
    old_hex = hmac.new(old_secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-trunkline-signature"] != old_hex


def test_deleting_an_endpoint_stops_its_deliveries_and_keeps_history(partner):
    from trunkline.webhooks.services import endpoint_delete

    with Receiver(always(500)) as failing:
        endpoint, _ = subscribe(partner, failing.url())
        emit(partner)
        deliver_due(worker_id=WORKER)
        endpoint_delete(actor=system_actor(partner), endpoint=endpoint)
        emit(partner)
        assert deliver_due(worker_id=WORKER, now=timezone.now() + timedelta(days=1)) == 0
        delivery = WebhookDelivery.objects.get()
        assert delivery.status == "DEAD"
        assert WebhookAttempt.objects.filter(delivery=delivery).count() == 1
        assert WebhookEndpoint.objects.filter(id=endpoint.id).exists()


def test_a_receiver_that_fails_then_recovers_gets_each_event_once_per_attempt(partner):
    """Down for the first 5 requests, then up: each event arrives once per attempt made,
    and is accepted exactly once."""

    def respond(request, count):
        return (503, {}, b"down") if count < 5 else (200, {}, b"ok")

    with Receiver(respond) as recovering:
        subscribe(partner, recovering.url(), list(EVENT_TYPES))
        events = [emit(partner, name) for name in list(EVENT_TYPES)[:8]]
        clock = timezone.now()
        for _ in range(5):
            deliver_due(worker_id=WORKER, limit=3, now=clock)
        clock += timedelta(minutes=1)
        while deliver_due(worker_id=WORKER, limit=3, now=clock):
            pass
        by_event: dict[str, list[int]] = {}
        for request in recovering.requests:
            by_event.setdefault(request.headers["webhook-id"], []).append(request)
        assert set(by_event) == {event.id for event in events}
        for event in events:
            delivery = WebhookDelivery.objects.get(event=event)
            assert delivery.status == "DELIVERED"
            assert len(by_event[event.id]) == delivery.attempts
        assert len(recovering.requests) == 8 + 5
        assert WebhookAttempt.objects.count() == 13


def test_a_worker_id_as_long_as_host_and_pid_make_it_fits(partner, receiver):
    # The worker names itself `<hostname>:<pid>`, cut to 64 characters.
    subscribe(partner, receiver.url())
    emit(partner)
    assert deliver_due(worker_id=("pod-" + "x" * 70)[:58] + ":12345") == 1
    with pytest.raises(ValueError):
        deliver_due(worker_id="w" * 65)
