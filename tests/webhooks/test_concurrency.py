"""Workers racing for the same due deliveries: every attempt is sent exactly once.

Needs PostgreSQL (`SELECT … FOR UPDATE SKIP LOCKED` across connections); the SQLite test
database is in memory and not shared by threads.
"""

import threading
from collections import Counter

import pytest
from django.conf import settings
from django.db import connections

from tests.factories import make_partner
from tests.webhooks.helpers import Receiver, emit, system_actor
from trunkline.webhooks.delivery import deliver_due
from trunkline.webhooks.models import WebhookAttempt, WebhookDelivery
from trunkline.webhooks.services import endpoint_create

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("allow_private"),
]

WORKERS = 4
EVENTS = 150


def _run_workers(batch: int) -> list[int]:
    barrier = threading.Barrier(WORKERS)
    sent = [0] * WORKERS
    failures: list[BaseException] = []

    def work(slot: int) -> None:
        try:
            barrier.wait(timeout=10)
            while made := deliver_due(worker_id=f"worker-{slot}", limit=batch):
                sent[slot] += made
        except BaseException as error:  # reported below; a thread must not die silently
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(slot,)) for slot in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    return sent


@pytest.mark.parametrize("batch", [1, 10])
def test_concurrent_workers_never_send_one_attempt_twice(batch):
    partner, _ = make_partner()
    with Receiver() as receiver:
        for number in range(2):
            endpoint_create(
                actor=system_actor(partner),
                url=receiver.url(f"/hook/{number}"),
                events=["tenant.updated"],
            )
        for _ in range(EVENTS):
            emit(partner, "tenant.updated")
        sent = _run_workers(batch)

        expected = EVENTS * 2
        assert sum(sent) == expected
        assert sum(1 for made in sent if made) > 1  # the work really was shared
        seen = Counter(
            (request.path, request.headers["webhook-id"]) for request in receiver.requests
        )
        assert len(seen) == expected
        assert max(seen.values()) == 1
    assert WebhookAttempt.objects.count() == expected
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("DELIVERED", 1)}
    assert not WebhookDelivery.objects.exclude(claimed_by="").exists()
