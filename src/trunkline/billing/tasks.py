"""Background tasks of the billing app: thin wrappers named after the services they run."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task

from trunkline.billing import subscription_cycle, subscriptions


@task()
def subscriptions_bill(now: str) -> int:
    return subscription_cycle.subscriptions_bill(now=datetime.fromisoformat(now))


@task()
def trials_expire(now: str) -> int:
    return subscriptions.trials_expire(now=datetime.fromisoformat(now))
