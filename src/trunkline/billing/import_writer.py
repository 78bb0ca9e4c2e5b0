"""A writer thread for bulk imports: it stores batch n, in order and with its own
database connection, while the caller prepares batch n + 1.

The importer's Python work and the database server's work then overlap instead of
taking turns (psycopg releases the GIL while it waits for the server). The queue holds
at most one batch, so memory stays flat however long the input is.

Failures go both ways without a hang: an exception in `store` stops the writer (later
batches are dropped, never stored) and is raised in the caller at its next `put` or at
`finish`; an exception in the caller lets the writer finish the batches already handed
over, as a sequential import would have committed them, and stop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.db import connection

Job = TypeVar("Job")
Outcome = TypeVar("Outcome")

_STOP = object()
# How often a caller blocked on a full queue checks that the writer is still there.
_LIVENESS_SECONDS = 1.0


class BatchWriter(Generic[Job, Outcome]):
    """`with BatchWriter(store) as writer: writer.put(job) …; outcomes = writer.finish()`"""

    def __init__(self, store: Callable[[Job], Outcome], *, name: str = "batch-writer"):
        self._store = store
        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._outcomes: list[Outcome] = []
        self._error: BaseException | None = None
        self._finished = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> BatchWriter[Job, Outcome]:
        self._thread.start()
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if self._finished:
            return
        # The caller failed: stop after the batches already handed over.
        self._stop()
        if error is not None and self._error is not None:
            error.add_note(f"the import's writer had failed too: {self._error!r}")

    def put(self, job: Job) -> None:
        """Hand over the next batch; blocks while the writer still holds one waiting."""
        while True:
            self._raise_failure()
            try:
                self._jobs.put(job, timeout=_LIVENESS_SECONDS)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise RuntimeError("the import's writer stopped unexpectedly") from None

    def finish(self) -> list[Outcome]:
        """Wait until every batch is stored; their outcomes in order, or the writer's
        exception."""
        self._finished = True
        self._stop()
        self._raise_failure()
        return self._outcomes

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(_STOP)  # the writer always drains the queue, so this returns
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while (job := self._jobs.get()) is not _STOP:
                if self._error is not None:
                    continue  # after a failure, drop what arrives until told to stop
                try:
                    self._outcomes.append(self._store(job))
                except BaseException as error:  # noqa: BLE001 - raised in the caller
                    self._error = error
        finally:
            connection.close()  # this thread's own connection
