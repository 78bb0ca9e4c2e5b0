"""Background tasks of the tenants app."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from trunkline.tenants import services


@task()
def tenants_purge_expired(now: str) -> int:
    return services.tenants_purge_expired(now=datetime.fromisoformat(now))
