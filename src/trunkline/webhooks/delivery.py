"""Sending webhook deliveries: claim what is due, POST it signed, record the attempt."""

from __future__ import annotations

from datetime import datetime


def deliver_due(*, worker_id: str, limit: int = 50, now: datetime | None = None) -> int:
    """Claim up to `limit` due deliveries for `worker_id`, attempt each, and return how
    many attempts were made. Called in a loop by every worker process."""
    return 0
