"""When periodic jobs run: one schedule row per job, claimed with a conditional UPDATE.

Each job in `core.jobs.JOBS` has a `PeriodicJobState` row holding its next due time. A
scheduler claims a due job by moving that time forward with
`UPDATE … SET next_due_at = <next> WHERE name = … AND next_due_at = <the value it read>`
and, in the same transaction, enqueues the job's task. When several worker processes (on
one machine or many) tick at once, the database lets exactly one of those UPDATEs match:
the others wait for its row lock and then find the value changed (PostgreSQL), or queue
behind its write transaction and read the new value (SQLite). So each due time is enqueued
once, and a failed enqueue rolls the claim back for the next tick to retry.

Times missed while no worker ran collapse into one run: the next due time is always the
first one after *now*, never the one after the missed time. A job without a row (a fresh
database, or a job added since) is due at once, so it runs once when a worker or
`run-due-jobs` first looks.

`run_due_jobs` (the `trunkline run-due-jobs` command) claims the same way but runs each due
job in-process, as of the time it was given. A time in the future runs whatever is due by
then, but the schedule only ever moves past the real clock: the next due time is the first
one after min(given time, real time). Asking for next March therefore runs the jobs as of
next March without making the live worker skip them until next March; asking again runs
them again (every job is safe to repeat).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from croniter import croniter
from django.db import transaction
from django.utils import timezone

from trunkline.core.jobs import JOBS, PeriodicJob
from trunkline.core.models import PeriodicJobState

log = logging.getLogger(__name__)


def next_due_after(cron: str, moment: datetime) -> datetime:
    """The first time the cron expression names strictly after `moment`."""
    return croniter(cron, moment).get_next(datetime)


def latest_due_at_or_before(cron: str, moment: datetime) -> datetime:
    # croniter counts back from strictly before its start; one second on keeps `moment`
    # itself when it is a due time (cron is minute-grained).
    return croniter(cron, moment + timedelta(seconds=1)).get_prev(datetime)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _states(as_of: datetime) -> dict[str, PeriodicJobState]:
    names = [job.name for job in JOBS]
    states = {state.name: state for state in PeriodicJobState.objects.filter(name__in=names)}
    missing = [
        PeriodicJobState(name=job.name, next_due_at=as_of) for job in JOBS if job.name not in states
    ]
    if missing:
        # Another process may create the same rows at the same moment; whichever insert
        # lands first stands, and both then read it back.
        PeriodicJobState.objects.bulk_create(missing, ignore_conflicts=True)
        states = {state.name: state for state in PeriodicJobState.objects.filter(name__in=names)}
    return states


def _claim(
    job: PeriodicJob, state: PeriodicJobState, *, run_as: datetime, advance_from: datetime
) -> bool:
    """Take the run that `state` says is due; False if another scheduler took it first."""
    claimed = PeriodicJobState.objects.filter(name=job.name, next_due_at=state.next_due_at).update(
        next_due_at=next_due_after(job.cron, advance_from),
        last_due_at=run_as,
        last_claimed_at=timezone.now(),
        last_task_id="",
    )
    return claimed == 1


def tick(*, now: datetime | None = None) -> dict[str, str]:
    """Enqueue every job due by `now` (default: the clock) that no other scheduler has.

    Called by each worker process about once a second. Returns the ids of the tasks it
    enqueued, by job name.
    """
    now = now or timezone.now()
    states = _states(now)
    enqueued: dict[str, str] = {}
    for job in JOBS:
        state = states[job.name]
        if state.next_due_at > now:
            continue
        # The run is for the latest due time reached, even when several were missed.
        due_at = max(state.next_due_at, latest_due_at_or_before(job.cron, now))
        with transaction.atomic():
            if not _claim(job, state, run_as=due_at, advance_from=now):
                continue
            result = job.task.enqueue(now=_iso(due_at))
            PeriodicJobState.objects.filter(name=job.name).update(last_task_id=str(result.id))
        enqueued[job.name] = str(result.id)
    return enqueued


def run_due_jobs(*, now: datetime | None = None) -> dict[str, int]:
    """Run every job due by `now` once, in this process, as of `now`.

    Returns each declared job's count of what it did; a job that was not due counts 0.
    """
    real_now = timezone.now()
    now = now or real_now
    # The schedule never moves past the real clock (see the module's docstring).
    advance_from = min(now, real_now)
    states = _states(advance_from)
    counts = dict.fromkeys((job.name for job in JOBS), 0)
    for job in JOBS:
        state = states[job.name]
        if state.next_due_at > now:
            continue
        if not _claim(job, state, run_as=now, advance_from=advance_from):
            continue  # another process ran it meanwhile
        counts[job.name] = job.task.call(now=_iso(now))
    return counts
