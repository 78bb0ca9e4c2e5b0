"""examples/webhook_receiver.py accepts what Trunkline signs and refuses anything else.

Requests are signed here with the `standardwebhooks` package, the reference
implementation, so the receiver's own verification is checked against it.
"""

import base64
import hashlib
import hmac
import importlib.util
import json
import os
import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook_receiver.py"
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


def _load():
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receiver_module = _load()


@contextmanager
def _serving(secret: str):
    """The example's own HTTP server on a free loopback port; yields (url, receiver, received)."""
    received: list[dict] = []
    receiver = receiver_module.Receiver(secret, received.append)
    http_server = receiver_module.make_server(receiver, "127.0.0.1", 0)
    thread = threading.Thread(target=http_server.serve_forever, daemon=True)
    thread.start()
    host, port = http_server.server_address
    try:
        yield f"http://{host}:{port}/", receiver, received
    finally:
        http_server.shutdown()
        http_server.server_close()
        thread.join()


@pytest.fixture
def server():
    with _serving(SECRET) as (url, _, received):
        yield url, received


def _post(url: str, **kwargs) -> httpx.Response:
    with httpx.Client(trust_env=False) as client:  # loopback: never through a proxy
        return client.post(url, **kwargs)


def _event(event_id: str = "evt_0001") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "tenant.created",
            "created_at": "2026-05-04T14:23:45Z",
            "partner_id": "ptr_0001",
            "data": {"tenant": {"id": "tnt_0001", "name": "ACME Plumbing"}},
        }
    ).encode()


def _signed(body: bytes, *, secret: str = SECRET, at: datetime | None = None) -> dict:
    at = at or datetime.now(UTC)
    event_id = json.loads(body)["id"]
    return {
        "Content-Type": "application/json",
        "X-Trunkline-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body.decode()),
    }


def test_a_signed_event_is_accepted_and_handled(server):
    url, received = server
    response = _post(url, content=_event(), headers=_signed(_event()))
    assert response.status_code == 200
    assert [event["id"] for event in received] == ["evt_0001"]
    assert received[0]["data"]["tenant"]["name"] == "ACME Plumbing"


def test_a_duplicate_is_acknowledged_but_handled_once(server):
    url, received = server
    for _ in range(2):
        response = _post(url, content=_event(), headers=_signed(_event()))
        assert response.status_code == 200
    assert len(received) == 1


def test_a_changed_body_is_refused(server):
    url, received = server
    headers = _signed(_event())
    tampered = _event().replace(b"ACME Plumbing", b"Evil Corp")
    assert _post(url, content=tampered, headers=headers).status_code == 401
    assert received == []


def test_a_request_signed_with_another_secret_is_refused(server):
    url, received = server
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    response = _post(url, content=_event(), headers=_signed(_event(), secret=other))
    assert response.status_code == 401
    assert received == []


def test_each_signature_is_checked(server):
    url, received = server
    body = _event()
    wrong_hex = {**_signed(body), "X-Trunkline-Signature": "0" * 64}
    assert _post(url, content=body, headers=wrong_hex).status_code == 401
    wrong_standard = {
        **_signed(body),
        "webhook-signature": _signed(_event("evt_2"))["webhook-signature"],
    }
    assert _post(url, content=body, headers=wrong_standard).status_code == 401
    missing = {k: v for k, v in _signed(body).items() if k != "webhook-signature"}
    assert _post(url, content=body, headers=missing).status_code == 401
    assert received == []


def test_an_old_request_is_refused_as_a_replay(server):
    url, received = server
    stale = datetime.now(UTC) - timedelta(minutes=10)
    response = _post(url, content=_event(), headers=_signed(_event(), at=stale))
    assert response.status_code == 401
    assert received == []


def test_the_receiver_agrees_with_the_reference_verifier():
    body = _event()
    headers = _signed(body)
    Webhook(SECRET).verify(body, headers)  # the reference accepts what we made...
    receiver_module.verify_standard_signature(SECRET, body, headers)  # ...and so does ours


def test_the_example_accepts_what_the_sender_really_sends(admin, settings):
    """End to end: an endpoint pointing at the example, an event, one sending batch."""
    from tests.factories import actor_for_user, make_tenant
    from trunkline.webhooks.delivery import deliver_due
    from trunkline.webhooks.models import WebhookDelivery
    from trunkline.webhooks.services import endpoint_create

    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = True
    with _serving("whsec_unknown-yet") as (url, receiver, received):
        endpoint, secret = endpoint_create(
            actor=actor_for_user(admin), url=url, events=["tenant.created"]
        )
        receiver.secret = secret  # what the partner pastes from the portal
        make_tenant(admin, name="End To End Co")
        assert deliver_due(worker_id="docs-test") == 1
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "DELIVERED"
    assert [event["data"]["tenant"]["name"] for event in received] == ["End To End Co"]


def test_after_rotation_a_receiver_with_the_old_secret_refuses(admin, settings):
    from tests.factories import actor_for_user, make_tenant
    from trunkline.webhooks.delivery import deliver_due
    from trunkline.webhooks.models import WebhookDelivery
    from trunkline.webhooks.services import endpoint_create, endpoint_rotate_secret

    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = True
    actor = actor_for_user(admin)
    with _serving("whsec_unknown-yet") as (url, receiver, received):
        endpoint, old_secret = endpoint_create(actor=actor, url=url, events=["tenant.created"])
        receiver.secret = old_secret
        endpoint_rotate_secret(actor=actor, endpoint=endpoint)
        make_tenant(admin)
        assert deliver_due(worker_id="docs-test") == 1
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == "FAILED"
    assert delivery.last_response_code == 401
    assert received == []
