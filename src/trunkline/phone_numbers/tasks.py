"""Background tasks of the phone-numbers app."""

from __future__ import annotations

from datetime import datetime

from django_tasks import task


@task()
def carrier_sync(now: str) -> int:
    """Ask the carrier about every request still in flight and apply its answers."""
    from trunkline.phone_numbers.carrier_requests import requests_sync

    return requests_sync(now=datetime.fromisoformat(now))
