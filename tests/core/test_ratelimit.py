"""Rate-limit counters in memory: exact counting, no timer thread per hit, expired keys swept."""

import limits.storage.memory
import pytest

from trunkline.core import ratelimit


class _NoTimers:
    def __init__(self, *args, **kwargs):
        raise AssertionError("a hit started a timer thread")


def test_hits_count_without_starting_threads(monkeypatch):
    storage = ratelimit.SweepingMemoryStorage()
    monkeypatch.setattr(limits.storage.memory.threading, "Timer", _NoTimers)
    limiter = limits.strategies.SlidingWindowCounterRateLimiter(storage)
    item = limits.RateLimitItemPerMinute(3)
    assert [limiter.hit(item, "key", "k1") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(item, "key", "k2")


def test_hit_answers_retry_after_once_the_limit_is_spent():
    assert [ratelimit.hit("key", "key_a", 2) for _ in range(2)] == [None, None]
    retry_after = ratelimit.hit("key", "key_a", 2)
    assert retry_after is not None and 1 <= retry_after <= 60
    assert ratelimit.hit("partner", "key_a", 2) is None  # another namespace, its own count


@pytest.mark.parametrize("due", [True, False])
def test_expired_counters_are_swept_at_most_once_a_second(monkeypatch, due):
    storage = ratelimit.SweepingMemoryStorage()
    storage.incr("stale", expiry=60)
    storage.expirations["stale"] = 0  # expired long ago
    storage._next_sweep = 0.0 if due else float("inf")
    storage.incr("fresh", expiry=60)
    assert ("stale" in storage.storage) is not due
    assert storage.storage["fresh"] == 1
