"""Several schedulers ticking at the same moment, each on its own database connection.

Like tests/tenants/test_concurrency.py this needs a server-side database that threads
share, so it runs on PostgreSQL (CI runs the suite on both).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import connections
from django_tasks_db.models import DBTaskResult

from tests.tasks import run_queued_tasks
from trunkline.core import scheduler
from trunkline.core.jobs import JOBS
from trunkline.core.worker import run_next_task

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL: the SQLite test database is in memory and not shared by threads",
    ),
    pytest.mark.django_db(transaction=True),
]

SCHEDULERS = 4


def _all_at_once(action) -> list:
    """Run `action(slot)` in SCHEDULERS threads released together; return their results."""
    barrier = threading.Barrier(SCHEDULERS)
    results: list = [None] * SCHEDULERS
    failures: list = []

    def run(slot: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[slot] = action(slot)
        except Exception as error:  # reported below; a thread must not die silently
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(SCHEDULERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return results


def test_each_due_time_is_enqueued_once_across_schedulers():
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    moments = [start + timedelta(minutes=30 * step) for step in range(6)]  # three hours
    for moment in moments:
        _all_at_once(lambda slot, moment=moment: scheduler.tick(now=moment))

    runs = Counter(
        (result.task_path, result.args_kwargs["kwargs"]["now"])
        for result in DBTaskResult.objects.all()
    )
    assert set(runs.values()) == {1}  # no due time enqueued twice
    hourly = next(job for job in JOBS if job.name == "core.purge_idempotency_records")
    hourly_runs = sorted(now for path, now in runs if path == hourly.task.module_path)
    # The first look runs it once, then at 10:05, 11:05 and 12:05.
    assert hourly_runs == sorted(
        moment.isoformat()
        for moment in (start, *(start.replace(hour=hour, minute=5) for hour in (10, 11, 12)))
    )
    # And every job ran once for each due time the ticks reached, plus its first run.
    for job in JOBS:
        reached = {scheduler.latest_due_at_or_before(job.cron, moment) for moment in moments}
        expected = 1 + len({due for due in reached if due > start})
        assert sum(1 for path, _ in runs if path == job.task.module_path) == expected, job.name


def test_workers_claim_each_task_once():
    scheduler.tick(now=datetime(2026, 11, 22, 10, 0, tzinfo=UTC))

    def drain(slot: int) -> list[str]:
        ran = []
        while (result := run_next_task(worker_id=f"w{slot}")) is not None:
            ran.append(str(result.id))
        return ran

    ran = [task_id for per_worker in _all_at_once(drain) for task_id in per_worker]
    assert sorted(ran) == sorted(
        str(pk) for pk in DBTaskResult.objects.values_list("pk", flat=True)
    )
    assert run_queued_tasks() == []
