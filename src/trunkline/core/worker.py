"""One background worker process: scheduler ticks, queued tasks and webhook deliveries.

`trunkline worker --concurrency N` starts N of these processes (`cli.py` supervises them).
Each loops over three steps, none of which may stop the others by failing:

1. about once a second, a scheduler tick (`core.scheduler.tick`) enqueues due periodic jobs;
2. it claims one ready task and runs it, with django-tasks-db's own claim and run code
   (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, an exclusive transaction on SQLite);
3. it sends due webhook deliveries (`webhooks.delivery.deliver_due`).

When a round found work it starts the next at once; otherwise it waits `idle_seconds`
(0.2 s) on an event, which a stop request sets. That short wait bounds how late a
webhook's first attempt can be without keeping a CPU busy.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import cache

from django.db import OperationalError, close_old_connections
from django.utils import timezone
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

log = logging.getLogger("trunkline.worker")

IDLE_SECONDS = 0.2
TICK_SECONDS = 1.0
DELIVERY_BATCH = 50
ERROR_BACKOFF_SECONDS = 2.0


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:64]


@cache
def _task_runner():
    # django-tasks-db's worker runs a claimed task: calls it, records success or failure
    # with the traceback, and sends the task_started/task_finished signals.
    from django_tasks_db.management.commands.db_worker import Worker

    return Worker(
        queue_names=["*"],
        interval=0,
        batch=False,
        backend_name=DEFAULT_TASK_BACKEND_ALIAS,
        startup_delay=False,
        max_tasks=None,
        worker_id="trunkline",
        excluded_queue_names=[],
    )


def run_next_task(*, worker_id: str) -> DBTaskResult | None:
    """Claim the next ready task and run it to the end; None when there was none."""
    ready = DBTaskResult.objects.ready().filter(backend_name=DEFAULT_TASK_BACKEND_ALIAS)
    # A plain read first: claiming takes SQLite's write lock, which an idle worker polling
    # five times a second must not keep taking from the web processes.
    if not ready.exists():
        return None
    try:
        with exclusive_transaction(ready.db):
            claimed = ready.get_locked()
            if claimed is None:
                return None  # another worker took it
            claimed.claim(worker_id)
    except OperationalError as error:
        if is_locked_database_exception(error):
            return None
        raise
    _task_runner().run_task(claimed)
    return claimed


class Worker:
    def __init__(
        self,
        *,
        worker_id: str | None = None,
        stop: threading.Event | None = None,
        parent_pid: int | None = None,
        clock: Callable[[], datetime] = timezone.now,
        idle_seconds: float = IDLE_SECONDS,
    ):
        self.worker_id = worker_id or default_worker_id()
        self.stop = stop or threading.Event()
        self.parent_pid = parent_pid
        self.clock = clock
        self.idle_seconds = idle_seconds
        self._next_tick = 0.0

    def _step(self, name: str, action: Callable[[], bool]) -> tuple[bool, bool]:
        """Run one step; returns (found work, failed)."""
        try:
            return bool(action()), False
        except Exception:
            log.exception("worker %s: %s failed", self.worker_id, name)
            return False, True

    def _tick(self) -> bool:
        from trunkline.core import scheduler

        if time.monotonic() < self._next_tick:
            return False
        self._next_tick = time.monotonic() + TICK_SECONDS
        return bool(scheduler.tick(now=self.clock()))

    def _deliver(self) -> bool:
        from trunkline.webhooks.delivery import deliver_due

        return deliver_due(worker_id=self.worker_id, limit=DELIVERY_BATCH) > 0

    def run_once(self) -> tuple[bool, bool]:
        """One round of the three steps; returns (found work, something failed)."""
        busy = failed = False
        for name, action in (
            ("scheduler tick", self._tick),
            ("task", lambda: run_next_task(worker_id=self.worker_id) is not None),
            ("webhook delivery", self._deliver),
        ):
            if self.stop.is_set():
                break
            found, broke = self._step(name, action)
            busy, failed = busy or found, failed or broke
        return busy, failed

    def parent_gone(self) -> bool:
        return self.parent_pid is not None and os.getppid() != self.parent_pid

    def run(self) -> None:
        log.info("worker %s started", self.worker_id)
        while not self.stop.is_set():
            if self.parent_gone():
                log.warning("worker %s: parent process gone, exiting", self.worker_id)
                break
            busy, failed = self.run_once()
            # Like the end of a request: drop connections that broke or outlived CONN_MAX_AGE.
            close_old_connections()
            if not busy:
                # After a failure (the database down, say) wait longer than an idle round.
                self.stop.wait(ERROR_BACKOFF_SECONDS if failed else self.idle_seconds)
        log.info("worker %s stopped", self.worker_id)
