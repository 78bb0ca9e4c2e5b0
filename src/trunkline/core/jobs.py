"""Periodic jobs, all declared here: a name, a cron expression (UTC) and a task.

Each task takes one argument, `now`, an ISO-8601 time: the due time the worker's scheduler
claimed, or the time `trunkline run-due-jobs` was asked to run as. Jobs work out what to do
from `now` alone, never from the wall clock, so they can be run for any moment and twice
without harm. `core.scheduler` decides when each is due.
"""

from __future__ import annotations

from dataclasses import dataclass

from django_tasks.base import Task

from trunkline.accounts import tasks as accounts_tasks
from trunkline.billing import tasks as billing_tasks
from trunkline.core import tasks as core_tasks
from trunkline.phone_numbers import tasks as numbers_tasks
from trunkline.tenants import tasks as tenants_tasks


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    cron: str
    task: Task


JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("tenants.purge_cancelled", "15 3 * * *", tenants_tasks.tenants_purge_expired),
    PeriodicJob(
        "core.purge_idempotency_records", "5 * * * *", core_tasks.purge_idempotency_records
    ),
    PeriodicJob(
        "accounts.purge_login_failures", "10 * * * *", accounts_tasks.sign_in_failures_purge
    ),
    PeriodicJob(
        "accounts.purge_deleted_partners", "20 * * * *", accounts_tasks.partners_purge_deleted
    ),
    PeriodicJob("core.emails_deliver", "* * * * *", core_tasks.emails_deliver),
    PeriodicJob("core.prune_task_results", "40 4 * * *", core_tasks.prune_task_results),
    # Cycles end at midnight UTC on the 1st; the run half an hour later bills them.
    PeriodicJob("billing.subscriptions_bill", "30 0 * * *", billing_tasks.subscriptions_bill),
    PeriodicJob("billing.trials_expire", "25 * * * *", billing_tasks.trials_expire),
    # Hourly, as tenants' cycles end at midnight in their own time zones: each ended
    # cycle invoiced, then the profile changes waiting for it applied and trials that ran
    # out converted; sent invoices a week past due flagged overdue.
    PeriodicJob("billing.tenant_cycles_run", "35 * * * *", billing_tasks.tenant_cycles_run),
    # Card retries of tenant invoices, and charges whose after-issue task was lost.
    PeriodicJob("billing.invoice_charges_run", "50 * * * *", billing_tasks.invoice_charges_run),
    # A safety net: wallets are reviewed after each debit, this catches any review lost.
    PeriodicJob("billing.wallet_review", "*/5 * * * *", billing_tasks.wallet_review_sweep),
    # Orders, caller ID names and 911 addresses the carrier completes later.
    PeriodicJob("phone_numbers.carrier_sync", "* * * * *", numbers_tasks.carrier_sync),
    # Numbers given up for good, once their 30-day quarantine is over.
    PeriodicJob("phone_numbers.quarantine_expire", "50 * * * *", numbers_tasks.quarantine_expire),
)
