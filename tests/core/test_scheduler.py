"""Periodic jobs: when each is due, enqueued once per due time, run by the worker's code."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from tests.factories import actor_for_user, make_tenant
from tests.tasks import run_queued_tasks
from trunkline.core import scheduler
from trunkline.core.jobs import JOBS
from trunkline.core.models import PeriodicJobState
from trunkline.core.worker import Worker
from trunkline.tenants.models import Tenant
from trunkline.tenants.services import tenant_delete

PURGE = "tenants.purge_cancelled"  # daily at 03:15 UTC
HOURLY = "core.purge_idempotency_records"  # at :05 past each hour
EVERY_FIVE_MINUTES = "billing.wallet_review"
# The carrier sync and email delivery run every minute.
EVERY_MINUTE = {job.name for job in JOBS if job.cron == "* * * * *"}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def enqueued_for(job_name: str) -> list[str]:
    """The `now` of each queued or finished run of one job, oldest first."""
    job = next(job for job in JOBS if job.name == job_name)
    results = DBTaskResult.objects.filter(task_path=job.task.module_path).order_by("enqueued_at")
    return [result.args_kwargs["kwargs"]["now"] for result in results]


def state(job_name: str) -> PeriodicJobState:
    return PeriodicJobState.objects.get(name=job_name)


class TestCron:
    def test_the_next_due_time_is_strictly_after(self):
        assert scheduler.next_due_after("15 3 * * *", at("2026-11-22T03:14:59")) == at(
            "2026-11-22T03:15:00"
        )
        assert scheduler.next_due_after("15 3 * * *", at("2026-11-22T03:15:00")) == at(
            "2026-11-23T03:15:00"
        )

    def test_the_latest_due_time_includes_the_moment_itself(self):
        assert scheduler.latest_due_at_or_before("5 * * * *", at("2026-11-22T10:05:00")) == at(
            "2026-11-22T10:05:00"
        )
        assert scheduler.latest_due_at_or_before("5 * * * *", at("2026-11-22T10:04:59")) == at(
            "2026-11-22T09:05:00"
        )

    def test_every_declared_job_has_a_valid_cron_and_a_unique_name(self):
        assert len({job.name for job in JOBS}) == len(JOBS)
        for job in JOBS:
            assert scheduler.next_due_after(job.cron, at("2026-01-01T00:00:00"))


@pytest.mark.django_db
class TestTick:
    def test_a_fresh_database_runs_every_job_once_then_keeps_to_the_cron(self):
        now = at("2026-11-22T10:00:00")
        assert set(scheduler.tick(now=now)) == {job.name for job in JOBS}
        assert scheduler.tick(now=now) == {}
        # Only the every-minute job is due again four minutes on.
        assert set(scheduler.tick(now=now + timedelta(minutes=4))) == EVERY_MINUTE
        assert state(HOURLY).next_due_at == at("2026-11-22T10:05:00")
        assert state(PURGE).next_due_at == at("2026-11-23T03:15:00")

        assert set(scheduler.tick(now=at("2026-11-22T10:05:00"))) == {
            EVERY_FIVE_MINUTES,
            HOURLY,
            *EVERY_MINUTE,
        }
        assert enqueued_for(HOURLY) == [now.isoformat(), at("2026-11-22T10:05:00").isoformat()]
        assert len(enqueued_for(PURGE)) == 1

    def test_each_due_time_is_enqueued_once_however_often_schedulers_tick(self):
        scheduler.tick(now=at("2026-11-22T10:00:00"))
        for minute in range(0, 60 * 3, 1):  # three hours, ticking every minute, twice
            moment = at("2026-11-22T10:00:30") + timedelta(minutes=minute)
            scheduler.tick(now=moment)
            scheduler.tick(now=moment)
        assert enqueued_for(HOURLY)[1:] == [
            at(f"2026-11-22T{hour}:05:00").isoformat() for hour in (10, 11, 12)
        ]

    def test_times_missed_while_no_worker_ran_collapse_into_one_run(self):
        scheduler.tick(now=at("2026-11-01T10:00:00"))
        back_after_three_weeks = at("2026-11-22T10:30:00")
        scheduler.tick(now=back_after_three_weeks)
        # One more run each, as of the latest time it was due.
        assert enqueued_for(HOURLY)[1:] == [at("2026-11-22T10:05:00").isoformat()]
        assert enqueued_for(PURGE)[1:] == [at("2026-11-22T03:15:00").isoformat()]
        assert state(HOURLY).next_due_at == at("2026-11-22T11:05:00")
        assert state(PURGE).next_due_at == at("2026-11-23T03:15:00")

    def test_a_job_added_later_runs_at_once(self):
        scheduler.tick(now=at("2026-11-22T10:00:00"))
        PeriodicJobState.objects.filter(name=PURGE).delete()
        assert set(scheduler.tick(now=at("2026-11-22T10:01:00"))) == {PURGE, *EVERY_MINUTE}

    def test_the_schedule_row_names_the_task_it_enqueued(self):
        enqueued = scheduler.tick(now=at("2026-11-22T10:00:00"))
        row = state(PURGE)
        assert row.last_task_id == enqueued[PURGE]
        assert row.last_due_at == at("2026-11-22T10:00:00")


@pytest.mark.django_db
class TestRunningTheQueue:
    @pytest.fixture
    def cancelled_long_ago(self, admin):
        tenant = tenant_delete(actor=actor_for_user(admin), tenant=make_tenant(admin))
        Tenant.objects.filter(pk=tenant.pk).update(purge_after=at("2026-11-01T00:00:00"))
        return tenant

    def test_the_worker_runs_an_enqueued_job_as_of_its_due_time(self, cancelled_long_ago):
        scheduler.tick(now=at("2026-10-31T23:00:00"))  # not yet past the 90 days
        scheduler.tick(now=at("2026-11-01T03:15:00"))
        ran = run_queued_tasks()
        purges = [result for result in ran if result.task_path.endswith("tenants_purge_expired")]
        assert [result.return_value for result in purges] == [0, 1]
        assert all(result.status == TaskResultStatus.SUCCESSFUL for result in ran)
        assert all(result.worker_ids == ["test-worker"] for result in ran)
        assert not Tenant.objects.filter(pk=cancelled_long_ago.pk).exists()
        assert run_queued_tasks() == []  # each task ran once

    def test_a_worker_round_ticks_runs_tasks_and_reports_work(self, cancelled_long_ago):
        clock = [at("2026-11-02T00:00:00")]
        worker = Worker(worker_id="w1", clock=lambda: clock[0])
        rounds = [worker.run_once() for _ in range(len(JOBS) + 1)]
        # (found work, failed): one task per round, then nothing left to do.
        assert rounds == [(True, False)] * len(JOBS) + [(False, False)]
        assert not Tenant.objects.filter(pk=cancelled_long_ago.pk).exists()

    def test_a_stopped_worker_returns_without_starting_work(self):
        stop = threading.Event()
        stop.set()
        Worker(worker_id="w1", stop=stop).run()
        assert not DBTaskResult.objects.exists()

    def test_a_worker_whose_parent_died_returns_without_starting_work(self):
        Worker(worker_id="w1", parent_pid=-1).run()  # -1 is never anyone's parent
        assert not DBTaskResult.objects.exists()


@pytest.mark.django_db
class TestRunDueJobs:
    @pytest.fixture
    def cancelled_today(self, admin):
        return tenant_delete(actor=actor_for_user(admin), tenant=make_tenant(admin))

    def test_a_future_time_runs_the_jobs_as_of_then(self, cancelled_today):
        later = timezone.now() + timedelta(days=91)
        counts = scheduler.run_due_jobs(now=later)
        assert set(counts) == {job.name for job in JOBS}
        assert counts[PURGE] == 1
        assert not Tenant.objects.filter(pk=cancelled_today.pk).exists()

    def test_a_future_time_never_moves_the_schedule_past_the_real_clock(self):
        real_now = timezone.now()
        scheduler.run_due_jobs(now=real_now + timedelta(days=120))
        PeriodicJobState.objects.update(last_due_at=None)
        # The live worker's next runs stay where the real clock puts them...
        assert state(PURGE).next_due_at == scheduler.next_due_after("15 3 * * *", real_now)
        assert state(HOURLY).next_due_at <= real_now + timedelta(hours=1)
        # ...so asking again for that future time runs the jobs again.
        scheduler.run_due_jobs(now=real_now + timedelta(days=120))
        assert state(PURGE).last_due_at == real_now + timedelta(days=120)

    def test_the_same_future_time_purges_tenants_cancelled_since(self, admin):
        later = timezone.now() + timedelta(days=91)
        scheduler.run_due_jobs(now=later)
        tenant = tenant_delete(actor=actor_for_user(admin), tenant=make_tenant(admin))
        assert scheduler.run_due_jobs(now=later)[PURGE] == 1
        assert not Tenant.objects.filter(pk=tenant.pk).exists()

    def test_at_the_real_time_a_job_already_run_is_not_due(self):
        first = scheduler.run_due_jobs()
        assert set(first) == {job.name for job in JOBS}
        next_due = state(PURGE).next_due_at
        assert scheduler.run_due_jobs() == dict.fromkeys(first, 0)
        assert state(PURGE).next_due_at == next_due

    def test_a_past_time_runs_only_what_the_schedule_has_not_run(self):
        real_now = timezone.now()
        scheduler.run_due_jobs(now=real_now)
        next_due = {job.name: state(job.name).next_due_at for job in JOBS}
        scheduler.run_due_jobs(now=real_now - timedelta(days=30))
        assert {job.name: state(job.name).next_due_at for job in JOBS} == next_due


@pytest.mark.django_db
def test_finished_task_rows_are_pruned_after_a_week():
    from trunkline.core.tasks import prune_task_results

    scheduler.tick(now=timezone.now())  # a fresh database: every job is due
    run_queued_tasks()
    finished = DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).count()
    assert finished > 0
    assert prune_task_results.call((timezone.now() + timedelta(days=6)).isoformat()) == 0
    assert prune_task_results.call((timezone.now() + timedelta(days=8)).isoformat()) == finished
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).exists()
