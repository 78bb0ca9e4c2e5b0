"""The pipelined CSV import (a writer thread storing batch n while batch n + 1 is rated)
stores exactly what the sequential one stores, stops on a writer failure with the
batches before it committed, and never stores a record twice.

The writer thread has its own connection, so these tests commit for real: PostgreSQL only
(the SQLite test database is in memory and not shared by threads). BatchWriter's own
ordering and failure handling are tested on every database."""

import threading

import pytest
from django.conf import settings
from django.db import IntegrityError

from tests.factories import make_partner, make_tenant
from trunkline.billing import cdrs
from trunkline.billing.import_writer import BatchWriter
from trunkline.billing.models import CallRecord, Posting, RejectedCallRecord, TenantUsage


def postgres(test):
    """The writer thread commits on its own connection: a real, shared database."""
    for mark in (
        pytest.mark.django_db(transaction=True),
        pytest.mark.skipif(
            "postgresql" not in settings.DATABASES["default"]["ENGINE"],
            reason="needs PostgreSQL: the SQLite test database is in memory and not shared "
            "by threads",
        ),
        pytest.mark.postgres_only,
    ):
        test = mark(test)
    return test


def row(account, direction, src, dst, start, answer, end, billsec, uniqueid):
    return (
        f'"{account}","{src}","{dst}","{account}-{direction}","","PJSIP/{account}-1",'
        f'"PJSIP/carrier-a-2","Dial","","{start}","{answer}","{end}",{billsec + 5},{billsec},'
        f'"ANSWERED","DOCUMENTATION","{uniqueid}",""\n'
    )


def master_csv(world: str, accounts: list[str]) -> list[str]:
    """Fourteen rows over two partners' three tenants, read in batches of three: a record
    repeated in a later batch and within a batch, rejected rows, two usage cycles."""
    first, second, third = accounts
    lines = []
    for number in range(10):
        account = (first, second, third)[number % 3]
        day = 10 + number
        # A call late on 31 October in Chicago starts November's cycle in UTC only.
        start = "2026-11-01 04:30:00" if number == 4 else f"2026-11-{day} 15:00:00"
        answer = start[:-2] + "05"
        end = start[:-5] + "31:06"
        direction, dst = ("outbound", "+442071838750") if number % 4 == 0 else ("outbound", "")
        dst = dst or f"50155501{number:02d}"
        lines.append(
            row(account, direction, "5015550100", dst, start, answer, end, 61, f"{world}.{number}")
        )
    lines.insert(2, row(first, "outbound", "5015550100", "5015550123", "x", "", "y", 1, "bad.1"))
    lines.insert(5, lines[3])  # the same record twice in one batch
    lines.insert(9, row("nobody", "outbound", "1", "2", "2026-11-10 15:00:00", "", "", 0, "o.1"))
    lines.append(lines[0])  # batch 1's first record again in the last batch
    return lines


def world(label: str, carrier):
    partner_one, admin_one = make_partner()
    partner_two, admin_two = make_partner()
    tenants = [
        make_tenant(admin_one, sip_prefix=f"{label}xa"),
        make_tenant(admin_one, sip_prefix=f"{label}xb"),
        make_tenant(admin_two, sip_prefix=f"{label}xc"),
    ]
    return [partner_one, partner_two], tenants


def snapshot(partners, tenants):
    """Everything an import stores for these partners, with ids and the world's prefix
    named by position so two worlds compare."""
    partner_names = {partner.id: f"partner{n}" for n, partner in enumerate(partners)}
    tenant_names = {tenant.id: f"tenant{n}" for n, tenant in enumerate(tenants)}
    records = CallRecord.objects.filter(partner__in=partners)
    by_id = {record.id: record.call_id.split(".", 1)[-1] for record in records}
    calls = sorted(
        (
            partner_names[record.partner_id],
            tenant_names[record.tenant_id],
            record.call_id.split(".", 1)[-1],
            record.started_at,
            record.answered_at,
            record.call_class,
            record.billable_seconds,
            record.wholesale_micros,
            record.provider_cost_micros,
            record.cycle_start,
        )
        for record in records
    )
    usage = sorted(
        (
            tenant_names[row.tenant_id],
            row.cycle_start,
            row.calls,
            row.local_seconds,
            row.international_seconds,
            row.wholesale_micros,
        )
        for row in TenantUsage.objects.filter(partner__in=partners)
    )
    postings = sorted(
        (
            partner_names[posting.partner_id],
            posting.type,
            # The anchor: the first record the batch stored, named by its call id.
            by_id[posting.reference],
            posting.idempotency_key.replace(posting.reference, by_id[posting.reference]),
            [entry.amount_micros for entry in posting.entries.order_by("amount_micros")],
        )
        for posting in Posting.objects.filter(partner__in=partners, type__startswith="usage")
    )
    rejected = sorted(
        (partner_names[row.partner_id], row.call_id, row.reason, row.field)
        for row in RejectedCallRecord.objects.filter(partner__in=partners)
    )
    return calls, usage, postings, rejected


def outcome(result):
    return (
        result.accepted,
        result.duplicates,
        [(r["index"], r["reason"], r["field"]) for r in result.rejected],
    )


@postgres
@pytest.mark.parametrize("batch_size", [3, 4])
def test_pipelined_import_stores_what_the_sequential_one_stores(carrier, batch_size):
    sequential_world = world("s", carrier)
    pipelined_world = world("p", carrier)
    sequential = cdrs.cdrs_import_csv(
        master_csv("s", ["sxa", "sxb", "sxc"]), batch_size=batch_size, pipeline=False
    )
    pipelined = cdrs.cdrs_import_csv(
        master_csv("p", ["pxa", "pxb", "pxc"]), batch_size=batch_size, pipeline=True
    )
    assert outcome(pipelined) == outcome(sequential)
    assert outcome(sequential)[:2] == (10, 2)
    assert len(sequential.rejected) == 2
    stored = snapshot(*pipelined_world)
    assert stored == snapshot(*sequential_world)
    calls, usage, postings, rejected = stored
    assert len(calls) == 10 and len(rejected) == 1  # the orphan has no partner
    assert {cycle for _, cycle, *_ in usage} == {
        calls[0][-1].replace(month=10),
        calls[0][-1].replace(month=11),
    }
    assert len(postings) > batch_size  # several batches, each charged

    # The same file again stores, counts and charges nothing.
    again = cdrs.cdrs_import_csv(
        master_csv("p", ["pxa", "pxb", "pxc"]), batch_size=batch_size, pipeline=True
    )
    assert (again.accepted, again.duplicates) == (0, 12)
    calls_after, usage_after, postings_after, _ = snapshot(*pipelined_world)
    assert (calls_after, usage_after, postings_after) == (calls, usage, postings)


@postgres
def test_a_failing_batch_stops_the_import_and_keeps_the_batches_before_it(carrier, monkeypatch):
    partners, tenants = world("f", carrier)
    insert_calls = cdrs._insert_calls
    batches = []

    def fail_on_the_second_batch(connection, rows):
        batches.append(threading.current_thread().name)
        if any(row[3] == "f.2" for row in rows):  # batch 2's second partner, every attempt
            raise IntegrityError("injected")
        insert_calls(connection, rows)

    monkeypatch.setattr(cdrs, "_insert_calls", fail_on_the_second_batch)
    lines = master_csv("f", ["fxa", "fxb", "fxc"])
    with pytest.raises(IntegrityError, match="injected"):
        cdrs.cdrs_import_csv(lines, batch_size=3, pipeline=True)
    assert set(batches) == {"cdr-import-writer"}
    # Batch 1 once, then batch 2's two partners in each of _commit's three attempts;
    # batches 3–5 are never tried.
    assert len(batches) == 1 + 3 * 2
    first_batch = {"f.0", "f.1"}  # rows 1–3: two records and a rejected row
    assert set(CallRecord.objects.values_list("call_id", flat=True)) == first_batch
    assert set(RejectedCallRecord.objects.values_list("call_id", flat=True)) == {"bad.1"}
    calls, usage, postings, _ = snapshot(partners, tenants)
    assert sum(row[2] for row in usage) == 2
    assert {posting[2] for posting in postings} == {"0"}  # anchored on batch 1's f.0

    # Once the fault is gone, the import picks up where it stopped and stores the rest once.
    monkeypatch.setattr(cdrs, "_insert_calls", insert_calls)
    result = cdrs.cdrs_import_csv(lines, batch_size=3, pipeline=True)
    assert (result.accepted, result.duplicates) == (8, 4)
    assert CallRecord.objects.count() == 10
    assert sum(row[2] for row in snapshot(partners, tenants)[1]) == 10


# --- BatchWriter on its own (any database: the jobs touch none) --------------------------


def test_the_writer_stores_batches_in_order():
    stored = []
    with BatchWriter(lambda job: stored.append(job) or job * 2) as writer:
        for job in range(50):
            writer.put(job)
        assert writer.finish() == [job * 2 for job in range(50)]
    assert stored == list(range(50))


def test_a_writer_failure_reaches_the_caller_and_later_batches_are_dropped():
    stored = []

    def store(job):
        if job == 2:
            raise ValueError("batch 2 failed")
        stored.append(job)

    with pytest.raises(ValueError, match="batch 2 failed"), BatchWriter(store) as writer:  # noqa: PT012
        for job in range(1, 100):
            writer.put(job)
        writer.finish()
    assert stored == [1]


def test_a_caller_failure_lets_the_writer_finish_what_it_was_given():
    stored = []
    release = threading.Event()

    def store(job):
        release.wait(timeout=10)
        stored.append(job)

    with pytest.raises(RuntimeError, match="reading failed"), BatchWriter(store) as writer:  # noqa: PT012
        writer.put(1)
        writer.put(2)
        release.set()
        raise RuntimeError("reading failed")
    assert stored == [1, 2]
