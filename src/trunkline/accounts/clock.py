"""The accounts flows' notion of "now", which tests can set instead of sleeping.

Services take an optional `now`; when they are not given one (a request through a view),
they ask `clock.now()`. Tests freeze or advance it with `clock.frozen_at(...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone

_frozen: datetime | None = None


def now() -> datetime:
    return _frozen if _frozen is not None else timezone.now()


def set_frozen(moment: datetime | None) -> None:
    """Pin the clock at `moment` (an aware datetime); None lets it run again."""
    global _frozen
    if moment is not None and timezone.is_naive(moment):
        raise ValueError("the clock takes aware datetimes")
    _frozen = moment


@contextmanager
def frozen_at(moment: datetime) -> Iterator[None]:
    previous = _frozen
    set_frozen(moment)
    try:
        yield
    finally:
        set_frozen(previous)
