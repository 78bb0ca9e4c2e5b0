"""Background tasks of the accounts app."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from trunkline.accounts import account_settings, signin


@task()
def sign_in_failures_purge(now: str) -> int:
    return signin.sign_in_failures_purge(now=datetime.fromisoformat(now))


@task()
def partners_purge_deleted(now: str) -> int:
    return account_settings.partners_purge_deleted(now=datetime.fromisoformat(now))
