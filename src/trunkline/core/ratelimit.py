"""Request-rate limits with the `limits` library: in memory, or Redis when REDIS_URL is set.

With memory storage the counters live in one process, which is exact for `trunkline serve`
(one process); deployments that run several web processes set REDIS_URL so they share them.
"""

from __future__ import annotations

import math
import time
from functools import cache

from django.conf import settings
from limits import RateLimitItemPerMinute, storage, strategies
from limits.storage import MemoryStorage

SWEEP_EVERY_SECONDS = 1.0


class SweepingMemoryStorage(MemoryStorage):
    """`limits`' memory storage, dropping expired counters inline at most once a second.

    The library starts a timer thread 10 ms after a hit, to drop expired counters, whenever
    the previous timer has finished: under load, about a hundred thread starts a second and
    the GIL hand-offs that come with them. A counter past its expiry is ignored when read,
    so the sweep only frees memory and may as well run inline, now and then.
    """

    _next_sweep = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's timer
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY_SECONDS
            self._MemoryStorage__expire_events()


@cache
def _limiter() -> strategies.RateLimiter:
    if settings.REDIS_URL:
        backend = storage.storage_from_string(settings.REDIS_URL)
    else:
        backend = SweepingMemoryStorage()
    return strategies.SlidingWindowCounterRateLimiter(backend)


@cache
def _per_minute(amount: int) -> RateLimitItemPerMinute:
    return RateLimitItemPerMinute(amount)


def hit(namespace: str, identifier: str, per_minute: int) -> int | None:
    """Count one request; None if allowed, else the seconds until one would be."""
    limiter = _limiter()
    item = _per_minute(per_minute)
    if limiter.hit(item, namespace, identifier):
        return None
    stats = limiter.get_window_stats(item, namespace, identifier)
    return max(1, math.ceil(stats.reset_time - time.time()))


def reset() -> None:
    """Forget every counter (used between tests)."""
    _limiter().storage.reset()


@cache
def _per_minutes(amount: int, minutes: int):
    from limits import parse

    return parse(f"{amount} per {minutes} minutes")


def attempt(namespace: str, identifier: str, *, amount: int, minutes: int) -> int | None:
    """Count one attempt at something allowed `amount` times in `minutes` (PIN tries);
    None if allowed, else the seconds until another would be."""
    limiter = _limiter()
    item = _per_minutes(amount, minutes)
    if limiter.hit(item, namespace, identifier):
        return None
    stats = limiter.get_window_stats(item, namespace, identifier)
    return max(1, math.ceil(stats.reset_time - time.time()))


def attempts_forget(namespace: str, identifier: str, *, amount: int, minutes: int) -> None:
    """Start the count of `attempt` over (the right PIN was given)."""
    _limiter().clear(_per_minutes(amount, minutes), namespace, identifier)
