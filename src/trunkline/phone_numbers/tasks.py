"""Background tasks of the phone-numbers app."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task


@task()
def carrier_sync(now: str) -> int:
    """Ask the carrier about every request still in flight and apply its answers."""
    from trunkline.phone_numbers.carrier_requests import requests_sync

    return requests_sync(now=datetime.fromisoformat(now))


@task()
def quarantine_expire(now: str) -> int:
    """Give back to the carrier every number whose quarantine has ended."""
    from trunkline.phone_numbers.quarantine import numbers_quarantine_expire

    return numbers_quarantine_expire(now=datetime.fromisoformat(now))
