"""Assert exactly which outbox events and audit entries a block of code wrote.

In the spirit of Zulip's `capture_send_event_calls`: a test names the events it expects
from one call, so an extra or missing event fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from trunkline.core.models import AuditEntry, Event


@contextmanager
def capture_events(expected: list[str] | None = None) -> Iterator[list[Event]]:
    """Collect the events written inside the block, oldest first.

    With `expected`, also assert that their types are exactly that list, in order.
    """
    seen = set(Event.objects.values_list("id", flat=True))
    captured: list[Event] = []
    yield captured
    captured.extend(Event.objects.exclude(id__in=seen).order_by("created_at", "id"))
    if expected is not None:
        assert [event.type for event in captured] == expected


@contextmanager
def capture_audit(expected: list[str] | None = None) -> Iterator[list[AuditEntry]]:
    """Collect the audit entries written inside the block, oldest first."""
    seen = set(AuditEntry.objects.values_list("id", flat=True))
    captured: list[AuditEntry] = []
    yield captured
    captured.extend(AuditEntry.objects.exclude(id__in=seen).order_by("created_at", "id"))
    if expected is not None:
        assert [entry.action for entry in captured] == expected


def assert_error(response, status: int, type: str | None = None, field: str | None = "any"):
    """The contract's error envelope, as JSON, with a request id."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    assert response["X-Request-Id"]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "message", "field"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if type is not None:
        assert body["error"]["type"] == type
    if field != "any":
        assert body["error"]["field"] == field
    return body["error"]
