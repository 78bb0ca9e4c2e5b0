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


@cache
def _limiter() -> strategies.RateLimiter:
    backend = storage.storage_from_string(settings.REDIS_URL or "memory://")
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
