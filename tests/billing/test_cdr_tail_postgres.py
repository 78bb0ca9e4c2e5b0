"""Following Master.csv on PostgreSQL, where each batch and its offset commit for real:
through the writer thread (its own connection, the batch's offset in its transaction),
and with two followers of one file at once."""

import threading

import pytest
from django.db import connection

from tests.billing.master_csv import row
from tests.billing.test_cdr_tail import StopAfter
from tests.billing.test_import_pipeline import postgres
from tests.factories import make_tenant
from trunkline.billing.cdr_tail import CdrTail
from trunkline.billing.models import CallRecord, CdrSource, TenantUsage
from trunkline.core.actors import Actor
from trunkline.core.models import Event
from trunkline.webhooks.models import WebhookDelivery
from trunkline.webhooks.services import endpoint_create


@pytest.fixture
def tenant(admin, carrier):
    return make_tenant(admin, name="Ozark Plumbing", sip_prefix="ozark")


def lines(count: int, start: int = 0) -> str:
    return "".join(
        row(f"pg.{number}", answered=number % 3 != 0, direction=("outbound", "inbound")[number % 2])
        for number in range(start, start + count)
    )


@postgres
@pytest.mark.parametrize("pipeline", [True, False])
def test_batches_and_offsets_commit_together_through_the_writer(
    tmp_path, settings, partner, tenant, pipeline
):
    settings.TRUNKLINE_WEBHOOK_ALLOW_PRIVATE = True
    endpoint_create(
        actor=Actor.system(partner=partner),
        url="http://127.0.0.1:9/calls",
        events=["call.completed", "call.failed", "inbound_call.completed"],
    )
    master = tmp_path / "Master.csv"
    master.write_text(lines(10))
    # The process dies after two batches of three were handed over.
    first = CdrTail(master, batch_size=3, pipeline=pipeline).step(stop=StopAfter(2))
    assert first.accepted == 6
    assert CdrSource.objects.get().offset == len(lines(6))
    with open(master, "a") as out:
        out.write(lines(5, start=10) + row("pg.15")[:30])

    second = CdrTail(master, batch_size=3, pipeline=pipeline).step()
    assert (second.lines, second.accepted, second.duplicates, second.waiting_bytes) == (
        9,
        9,
        0,
        30,
    )
    assert CallRecord.objects.count() == 15
    assert TenantUsage.objects.get(tenant=tenant).calls == 15
    source = CdrSource.objects.get()
    assert (source.offset, source.lines, source.accepted) == (len(lines(15)), 15, 15)
    # One event per record of a subscribed kind (inbound_call.abandoned is not).
    events = Event.objects.filter(
        type__in=["call.completed", "call.failed", "inbound_call.completed"]
    )
    abandoned = sum(1 for number in range(15) if number % 2 and number % 3 == 0)
    assert events.count() == 15 - abandoned
    assert WebhookDelivery.objects.count() == events.count()


@postgres
def test_two_followers_of_one_file_store_each_record_once(tmp_path, tenant):
    master = tmp_path / "Master.csv"
    master.write_text(lines(40))
    results, errors = [], []
    ready = threading.Barrier(2)

    def follow():
        try:
            tail = CdrTail(master, batch_size=4, pipeline=False)
            ready.wait(timeout=10)
            results.append(tail.step())
            results.append(tail.step())  # whatever the other left, or nothing
            tail.close()
        except Exception as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=follow) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert CallRecord.objects.count() == 40
    assert sorted(CallRecord.objects.values_list("call_id", flat=True)) == sorted(
        f"pg.{number}" for number in range(40)
    )
    assert TenantUsage.objects.get(tenant=tenant).calls == 40
    assert CdrSource.objects.get().offset == master.stat().st_size
    assert sum(result.accepted for result in results) == 40
