"""Background tasks of the accounts app."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from trunkline.accounts import signin


@task()
def sign_in_failures_purge(now: str) -> int:
    return signin.sign_in_failures_purge(now=datetime.fromisoformat(now))
