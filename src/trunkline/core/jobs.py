"""Periodic jobs. Each is a name, a cron expression and a function taking `now`.

`trunkline run-due-jobs` runs them once; `trunkline worker` and `serve` run them every
minute. Every job is idempotent, so running one twice does no harm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    cron: str
    run: Callable[[datetime], int]


def _purge_tenants(now: datetime) -> int:
    from trunkline.tenants.services import tenants_purge_expired

    return tenants_purge_expired(now=now)


def _purge_idempotency(now: datetime) -> int:
    from trunkline.core.api_middleware import purge_idempotency_records

    return purge_idempotency_records(now)


def _purge_login_failures(now: datetime) -> int:
    from trunkline.accounts.models import LoginFailure

    deleted, _ = LoginFailure.objects.filter(created_at__lte=now - timedelta(days=1)).delete()
    return deleted


JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("tenants.purge_cancelled", "15 3 * * *", _purge_tenants),
    PeriodicJob("core.purge_idempotency_records", "5 * * * *", _purge_idempotency),
    PeriodicJob("accounts.purge_login_failures", "10 * * * *", _purge_login_failures),
)


def run_all(now: datetime) -> dict[str, int]:
    return {job.name: job.run(now) for job in JOBS}
