"""The address check at send time: what was fine when saved may not be fine now."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.webhooks.helpers import emit, fake_resolver, system_actor
from trunkline.webhooks.delivery import deliver_due
from trunkline.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from trunkline.webhooks.services import endpoint_create

WORKER = "test-worker"


def test_a_name_rebound_to_loopback_is_not_connected_to(partner, receiver, monkeypatch):
    # Saved while the name pointed at a public address …
    fake_resolver(monkeypatch, {"rebind.example.com": "93.184.216.34"})
    endpoint_create(
        actor=system_actor(partner),
        url=f"https://rebind.example.com:{receiver.port}/hook",
        events=["tenant.created"],
    )
    # … and sent after it was changed to point at this machine, where a receiver listens.
    fake_resolver(monkeypatch, {"rebind.example.com": "127.0.0.1"})
    emit(partner)
    assert deliver_due(worker_id=WORKER) == 1
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "FAILED"
    assert delivery.last_error.startswith("Refused")
    assert "127.0.0.1" in delivery.last_error
    attempt = WebhookAttempt.objects.get()
    assert attempt.response_code is None
    assert attempt.error == delivery.last_error


def test_a_name_with_one_private_answer_among_public_ones_is_refused(partner, monkeypatch):
    import socket

    fake_resolver(monkeypatch, {"mixed.example.com": "93.184.216.34"})
    endpoint_create(
        actor=system_actor(partner), url="https://mixed.example.com/", events=["tenant.created"]
    )

    def mixed(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    emit(partner)
    deliver_due(worker_id=WORKER)
    assert WebhookDelivery.objects.get().last_error.startswith("Refused")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "[::1]", "10.20.30.40", "169.254.169.254", "192.168.0.1"]
)
def test_private_literals_saved_while_allowed_are_refused_once_not(partner, settings, host):
    """An endpoint saved while private targets were allowed is not sent to after the
    setting is turned off: the check is made on the address at every send."""
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = True
    endpoint, _ = endpoint_create(
        actor=system_actor(partner), url=f"http://{host}:9/hook", events=["tenant.created"]
    )
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = False
    emit(partner)
    started = timezone.now()
    assert deliver_due(worker_id=WORKER) == 1
    assert timezone.now() - started < timedelta(seconds=5)  # refused, not a connect timeout
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error.startswith("Refused"), delivery.last_error
    assert WebhookEndpoint.objects.get(id=endpoint.id).consecutive_failures == 1


def test_a_name_resolving_to_loopback_is_refused_at_send(partner, receiver, monkeypatch, settings):
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = True
    endpoint_create(
        actor=system_actor(partner),
        url=f"http://localhost:{receiver.port}/hook",
        events=["tenant.created"],
    )
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = False
    emit(partner)
    deliver_due(worker_id=WORKER)
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().last_error.startswith("Refused")
