"""Background tasks of the core app."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from trunkline.core import api_middleware


@task()
def purge_idempotency_records(now: str) -> int:
    return api_middleware.purge_idempotency_records(datetime.fromisoformat(now))
