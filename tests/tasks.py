"""Running queued background tasks in a test, with the code `trunkline worker` runs them with."""

from __future__ import annotations

from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from trunkline.core.worker import run_next_task


def run_queued_tasks() -> list[DBTaskResult]:
    """Claim and run every ready task, as a worker would; fail the test if one failed."""
    ran: list[DBTaskResult] = []
    while (result := run_next_task(worker_id="test-worker")) is not None:
        ran.append(result)
    failed = [result for result in ran if result.status == TaskResultStatus.FAILED]
    assert not failed, [result.traceback for result in failed]
    return ran
