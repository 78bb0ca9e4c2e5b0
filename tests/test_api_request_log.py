"""The API request log: one row per key-authenticated call, as the ORM would store it."""

import os
import threading
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from trunkline.accounts.models import ApiKey, ApiRequestLog
from trunkline.core import api_middleware


def test_each_authenticated_call_writes_one_row(api, partner):
    before = timezone.now()
    response = api.get("/v1/tenants", params={"limit": 5}, headers={"X-Request-Id": "req-log-1234"})
    assert response.status_code == 200

    row = ApiRequestLog.objects.get()
    key = ApiKey.objects.get(partner=partner)
    assert row.partner_id == partner.id
    assert (row.api_key_id, row.api_key_name) == (key.id, key.name)
    assert (row.method, row.path, row.status_code) == ("GET", "/v1/tenants?limit=5", 200)
    assert row.request_id == "req-log-1234"
    assert row.ip_address == "127.0.0.1"
    assert row.duration_ms >= 0
    assert before - timedelta(seconds=1) <= row.created_at <= timezone.now()
    assert row.created_at.tzinfo is not None


def test_refused_calls_are_logged_with_their_status(api, partner):
    response = api.get("/v1/tenants/tnt_doesnotexist")
    assert response.status_code == 404
    assert list(ApiRequestLog.objects.values_list("status_code", flat=True)) == [404]


def test_calls_without_a_valid_key_are_not_logged(client, partner):
    response = client.get("/v1/tenants", HTTP_AUTHORIZATION="Bearer sk_live_not-a-real-key")
    assert response.status_code == 401
    assert not ApiRequestLog.objects.exists()


# --- batched writes, as servers run them ----------------------------------------------


@pytest.fixture
def batched(settings, monkeypatch):
    """A buffer as a server process has it after its first row, minus the flusher thread
    (the in-memory test database belongs to this thread); tests flush it by hand."""
    settings.API_REQUEST_LOG_FLUSH_SECONDS = 1
    buffer = api_middleware.RequestLogBuffer()
    buffer._pid = os.getpid()
    monkeypatch.setattr(api_middleware, "request_log", buffer)
    return buffer


def test_batched_rows_appear_when_the_buffer_is_flushed(api, partner, batched):
    for n in range(3):
        response = api.get("/v1/tenants", headers={"X-Request-Id": f"req-batch-{n:04d}"})
        assert response.status_code == 200
    assert not ApiRequestLog.objects.exists()
    assert batched.pending() == 3

    assert batched.flush() == 3
    assert batched.pending() == 0
    rows = ApiRequestLog.objects.order_by("request_id")
    assert [row.request_id for row in rows] == [f"req-batch-{n:04d}" for n in range(3)]
    assert {(row.partner_id, row.method, row.path, row.status_code) for row in rows} == {
        (partner.id, "GET", "/v1/tenants", 200)
    }


def test_a_full_buffer_is_written_by_the_request_that_fills_it(api, batched):
    batched.MAX_PENDING = 2
    api.get("/v1/tenants")
    assert ApiRequestLog.objects.count() == 0
    api.get("/v1/tenants")
    assert ApiRequestLog.objects.count() == 2
    assert batched.pending() == 0


def test_rows_the_database_refused_are_kept_for_the_next_flush(api, batched, monkeypatch):
    api.get("/v1/tenants")
    write = api_middleware._write_rows

    def refuse(rows):
        raise OperationalError("database is locked")

    monkeypatch.setattr(api_middleware, "_write_rows", refuse)
    assert batched.flush() == 0
    assert batched.pending() == 1
    monkeypatch.setattr(api_middleware, "_write_rows", write)
    assert batched.flush() == 1
    assert ApiRequestLog.objects.count() == 1


def test_the_first_row_of_a_process_starts_its_flusher_and_exit_flush(settings, monkeypatch):
    settings.API_REQUEST_LOG_FLUSH_SECONDS = 1
    started, at_exit, finalizers = [], [], []

    class FakeThread:
        def __init__(self, target, name, daemon):
            self.target, self.daemon = target, daemon

        def start(self):
            started.append(self)

    monkeypatch.setattr(api_middleware.threading, "Thread", FakeThread)
    monkeypatch.setattr(api_middleware.atexit, "register", at_exit.append)
    monkeypatch.setattr(
        api_middleware.multiprocessing.util,
        "Finalize",
        lambda obj, callback, exitpriority: finalizers.append((callback, exitpriority)),
    )
    buffer = api_middleware.RequestLogBuffer()
    buffer.add({"path": "/v1/a"})
    buffer.add({"path": "/v1/b"})
    assert len(started) == 1 and started[0].daemon
    assert at_exit == [buffer.flush]
    assert finalizers == [(buffer.flush, 10)]
    assert buffer.pending() == 2


def test_a_flush_waits_for_the_write_in_progress(batched, monkeypatch):
    """The exit flush must not return while the flusher thread's write is uncommitted."""
    written, started, release = [], threading.Event(), threading.Event()

    def slow_write(rows):
        started.set()
        assert release.wait(5)
        written.append(len(rows))

    monkeypatch.setattr(api_middleware, "_write_rows", slow_write)
    batched.add({"path": "/v1/first"})
    flusher = threading.Thread(target=batched.flush)
    flusher.start()
    assert started.wait(5)
    assert not batched._writing.acquire(blocking=False)  # a second flush waits for it
    batched.add({"path": "/v1/second"})
    release.set()
    flusher.join(5)
    assert batched.flush() == 1
    assert written == [1, 1]
