"""Running work on several threads at once, each with its own database connection, for
the PostgreSQL concurrency tests."""

from __future__ import annotations

import threading

from django.db import connections


def together(work, count: int, timeout: float = 60) -> list:
    """Start `work(slot)` on `count` threads released together; their results by slot.
    Any exception on a thread fails the test."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    failures: list = []

    def run(slot: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[slot] = work(slot)
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not failures, failures
    return results
