"""Background tasks of the core app."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from trunkline.core import api_middleware


@task()
def purge_idempotency_records(now: str) -> int:
    return api_middleware.purge_idempotency_records(datetime.fromisoformat(now))


# Finished task rows are kept a week for inspection (a failed task keeps its traceback),
# then removed, so the queue table stays small.
TASK_RESULTS_KEPT_DAYS = 7


@task()
def prune_task_results(now: str) -> int:
    from datetime import timedelta

    from django_tasks_db.models import DBTaskResult

    cutoff = datetime.fromisoformat(now) - timedelta(days=TASK_RESULTS_KEPT_DAYS)
    deleted, _ = DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()
    return deleted


@task()
def emails_deliver(now: str) -> int:
    """Retry emails the mail server refused, and any a dying process left behind."""
    from trunkline.core.email import emails_deliver_due

    return emails_deliver_due(now=datetime.fromisoformat(now))
