"""Sending webhook deliveries: claim what is due, POST it signed, record the attempt.

One call of `deliver_due` is one batch:
1. claim: a short transaction selects due deliveries (`SKIP LOCKED` on PostgreSQL, so
   workers never wait on each other's rows; SQLite runs one writer at a time) and
   stamps them with the worker's id and a lease;
2. send: outside any transaction, the batch is POSTed concurrently by a small thread
   pool over one keep-alive HTTP client;
3. finish: one transaction writes every attempt (one insert) and moves each delivery
   on, but only where the claim is still this worker's (`WHERE claimed_by = me`).
A worker that dies between 1 and 3 leaves its claims to expire; the deliveries are then
due again, so nothing committed is lost. Receivers should use the event id to drop the
rare duplicate this allows, as the guide says.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from trunkline.webhooks import signing
from trunkline.webhooks.addresses import AddressRefused
from trunkline.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from trunkline.webhooks.transport import TIMEOUT_SECONDS, shared_client

# The guide's plan: the delay before attempt 1, 2, … 8.
RETRY_DELAYS = (
    timedelta(0),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=4),
    timedelta(hours=12),
    timedelta(hours=24),
)
assert len(RETRY_DELAYS) == WebhookDelivery.MAX_ATTEMPTS
JITTER_FRACTION = 0.1  # up to 10% later than planned, so retries after an outage spread out
JITTER_CAP = timedelta(minutes=5)
RETRY_AFTER_CAP = timedelta(hours=24)

SEND_THREADS = 16
CLAIMED_BY_LENGTH = WebhookDelivery._meta.get_field("claimed_by").max_length
RESPONSE_BODY_LIMIT = WebhookAttempt.RESPONSE_BODY_LIMIT
MAX_RESPONSE_HEADERS = 50


def claim_lease(limit: int) -> timedelta:
    """How long a batch's claims hold: longer than the batch can take to send."""
    rounds = math.ceil(max(limit, 1) / SEND_THREADS)
    return timedelta(seconds=60 + rounds * 3 * TIMEOUT_SECONDS)


def retry_delay(attempts_made: int, *, retry_after: timedelta | None = None) -> timedelta:
    """The wait after `attempts_made` failed attempts: the guide's next step, a little
    jitter, and never sooner than the receiver's Retry-After asked (up to 24 hours)."""
    planned = RETRY_DELAYS[attempts_made]
    jitter = min(planned * JITTER_FRACTION, JITTER_CAP) * random.random()  # noqa: S311
    delay = planned + jitter
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


@dataclass
class Job:
    delivery_id: str
    endpoint_id: str
    url: str
    secret: str = field(repr=False)
    event_id: str
    body: bytes
    number: int
    is_redelivery: bool


@dataclass
class Outcome:
    job: Job
    started_at: datetime
    duration_ms: int
    request_headers: dict
    response_code: int | None = None
    response_headers: dict = field(default_factory=dict)
    response_body: str = ""
    error: str = ""
    retry_after: timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return not self.error and self.response_code is not None and 200 <= self.response_code < 300


def payload_bytes(event) -> bytes:
    """The body of every attempt of every delivery of `event`: always the same bytes."""
    return json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False).encode()


def deliver_due(*, worker_id: str, limit: int = 50, now: datetime | None = None) -> int:
    """Claim up to `limit` due deliveries for `worker_id`, attempt each, and return how
    many attempts were made. Called in a loop by every worker process.

    `now` fixes the clock for the whole batch (tests); by default each attempt is timed
    by the real clock.
    """
    if not worker_id or len(worker_id) > CLAIMED_BY_LENGTH:
        raise ValueError(f"worker_id is 1 to {CLAIMED_BY_LENGTH} characters")
    claimed_at = now or timezone.now()
    lease_until = claimed_at + claim_lease(limit)
    jobs = _claim(worker_id=worker_id, limit=limit, now=claimed_at, until=lease_until)
    if not jobs:
        return 0
    outcomes = _send_all(jobs, now=now)
    _finish(worker_id=worker_id, lease_until=lease_until, outcomes=outcomes)
    return len(outcomes)


# --- 1. claim -----------------------------------------------------------------------


def _claim(*, worker_id: str, limit: int, now: datetime, until: datetime) -> list[Job]:
    with transaction.atomic():
        due = (
            WebhookDelivery.objects.filter(
                next_attempt_at__lte=now,
                status__in=WebhookDelivery.OUTSTANDING,
                endpoint__status=WebhookEndpoint.Status.ACTIVE,
                endpoint__deleted_at__isnull=True,
            )
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lte=now))
            .select_related("event", "endpoint")
            .order_by("next_attempt_at", "id")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        rows = list(due[:limit])
        if not rows:
            return []
        WebhookDelivery.objects.filter(id__in=[row.id for row in rows]).update(
            claimed_by=worker_id, claimed_until=until
        )
    secrets: dict[str, str] = {}
    bodies: dict[str, bytes] = {}
    jobs = []
    for row in rows:
        endpoint = row.endpoint
        if endpoint.id not in secrets:
            secrets[endpoint.id] = signing.secret_open(
                endpoint.secret_encrypted, endpoint_id=endpoint.id
            )
        if row.event_id not in bodies:
            bodies[row.event_id] = payload_bytes(row.event)
        jobs.append(
            Job(
                delivery_id=row.id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secret=secrets[endpoint.id],
                event_id=row.event_id,
                body=bodies[row.event_id],
                number=row.attempts + 1,
                is_redelivery=row.redelivered_at is not None,
            )
        )
    return jobs


# --- 2. send ------------------------------------------------------------------------

_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="webhook-send")
    return _pool


def _send_all(jobs: list[Job], *, now: datetime | None) -> list[Outcome]:
    client = shared_client()
    if len(jobs) == 1:
        return [send_one(client, jobs[0], now=now)]
    return list(_executor().map(lambda job: send_one(client, job, now=now), jobs))


def _parse_retry_after(value: str | None, at: datetime) -> timedelta | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(when - at, timedelta(0))


def send_one(client: httpx.Client, job: Job, *, now: datetime | None = None) -> Outcome:
    """POST one attempt and describe what happened; never raises."""
    at = now or timezone.now()
    headers = signing.request_headers(
        secret=job.secret, event_id=job.event_id, body=job.body, at=at
    )
    outcome = Outcome(job=job, started_at=at, duration_ms=0, request_headers=headers)
    started = time.monotonic()
    try:
        with client.stream(
            "POST", job.url, content=job.body, headers=headers, timeout=TIMEOUT_SECONDS
        ) as response:
            outcome.response_code = response.status_code
            outcome.response_headers = {
                name: value[:500]
                for name, value in list(response.headers.items())[:MAX_RESPONSE_HEADERS]
            }
            received = bytearray()
            for chunk in response.iter_bytes():
                received += chunk
                if len(received) >= RESPONSE_BODY_LIMIT:
                    break  # the rest is not read; the connection is dropped, not reused
            outcome.response_body = bytes(received[:RESPONSE_BODY_LIMIT]).decode(
                "utf-8", errors="replace"
            )
            outcome.retry_after = _parse_retry_after(response.headers.get("Retry-After"), at)
        if time.monotonic() - started > TIMEOUT_SECONDS:
            outcome.error = "Timeout"
        elif 300 <= response.status_code < 400:
            outcome.error = "Redirect not followed"
    except AddressRefused as error:
        outcome.error = f"Refused: {error}"
    except httpx.TimeoutException:
        outcome.error = "Timeout"
    except httpx.HTTPError as error:
        outcome.error = f"Connection failed: {error.__class__.__name__}: {error}"
    except Exception as error:  # noqa: BLE001 - one bad attempt must not sink the batch
        outcome.error = f"Error: {error.__class__.__name__}: {error}"
    outcome.error = outcome.error[:255]
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


# --- 3. finish ----------------------------------------------------------------------


def _finish(*, worker_id: str, lease_until: datetime, outcomes: list[Outcome]) -> None:
    attempts = []
    deliveries = []
    for outcome in outcomes:
        job = outcome.job
        attempts.append(
            WebhookAttempt(
                delivery_id=job.delivery_id,
                number=job.number,
                is_redelivery=job.is_redelivery,
                started_at=outcome.started_at,
                duration_ms=outcome.duration_ms,
                url=job.url,
                request_headers=outcome.request_headers,
                request_body=job.body.decode(),
                response_code=outcome.response_code,
                response_headers=outcome.response_headers,
                response_body=outcome.response_body,
                error=outcome.error,
            )
        )
        delivery = WebhookDelivery(
            id=job.delivery_id,
            attempts=job.number,
            last_attempt_at=outcome.started_at,
            last_response_code=outcome.response_code,
            last_error=outcome.error,
            claimed_by="",
            claimed_until=None,
        )
        if outcome.succeeded:
            delivery.status = WebhookDelivery.Status.DELIVERED
            delivery.delivered_at = outcome.started_at
            delivery.next_attempt_at = None
        elif job.number >= WebhookDelivery.MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.DEAD
            delivery.delivered_at = None
            delivery.next_attempt_at = None
        else:
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.delivered_at = None
            delivery.next_attempt_at = outcome.started_at + retry_delay(
                job.number, retry_after=outcome.retry_after
            )
        deliveries.append(delivery)

    with transaction.atomic():
        WebhookAttempt.objects.bulk_create(attempts)
        # Only deliveries still claimed by this batch move on: one whose claim expired and
        # was taken by another worker, or that was redelivered or ended meanwhile, keeps
        # the newer state (its attempt above is still recorded: it did happen).
        _update_claimed(deliveries, worker_id=worker_id, lease_until=lease_until)
        to_disable = _count_failures(outcomes)
    for endpoint_id, reason in to_disable.items():
        from trunkline.webhooks.services import endpoint_disable_automatically

        endpoint_disable_automatically(endpoint_id=endpoint_id, reason=reason)


_FINISH_FIELDS = (
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_response_code",
    "last_error",
    "delivered_at",
    "claimed_by",
    "claimed_until",
)


@functools.cache
def _finish_sql(vendor: str) -> str:
    meta = WebhookDelivery._meta
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in _FINISH_FIELDS)
    # Identifiers come from the model and are quoted; every value is a parameter.
    return (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
        f"WHERE {quote('id')} = %s AND {quote('claimed_by')} = %s AND {quote('claimed_until')} = %s"
    )


def _update_claimed(
    deliveries: list[WebhookDelivery], *, worker_id: str, lease_until: datetime
) -> None:
    """One parameterised UPDATE per delivery, sent with executemany (pipelined by psycopg):
    `bulk_update`'s CASE expressions cost far more to build than the updates themselves."""
    meta = WebhookDelivery._meta
    fields = [meta.get_field(name) for name in _FINISH_FIELDS]
    claimed_until = meta.get_field("claimed_until").get_db_prep_save(lease_until, connection)
    rows = [
        [field.get_db_prep_save(getattr(delivery, field.attname), connection) for field in fields]
        + [delivery.id, worker_id, claimed_until]
        for delivery in deliveries
    ]
    with connection.cursor() as cursor:
        cursor.executemany(_finish_sql(connection.vendor), rows)


def _count_failures(outcomes: list[Outcome]) -> dict[str, str]:
    """Update each endpoint's consecutive-failure count; return the endpoints to disable.

    A healthy endpoint's row is not written at all (the reset matches no row when the
    count is already 0), so workers do not queue on its lock; rows are taken in id order
    so two workers' batches cannot deadlock.
    """
    by_endpoint: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_endpoint[outcome.job.endpoint_id].append(outcome)
    to_disable: dict[str, str] = {}
    for endpoint_id in sorted(by_endpoint):
        results = sorted(
            by_endpoint[endpoint_id], key=lambda outcome: (outcome.started_at, outcome.duration_ms)
        )
        last_success = max(
            (index for index, outcome in enumerate(results) if outcome.succeeded), default=None
        )
        endpoints = WebhookEndpoint.objects.filter(pk=endpoint_id)
        if any(outcome.response_code == 410 for outcome in results):
            to_disable[endpoint_id] = WebhookEndpoint.DisabledReason.GONE
        if last_success is None:
            endpoints.update(consecutive_failures=F("consecutive_failures") + len(results))
        else:
            trailing = len(results) - last_success - 1
            endpoints.exclude(consecutive_failures=trailing).update(consecutive_failures=trailing)
            if trailing == 0:
                continue
        if (
            endpoint_id not in to_disable
            and endpoints.filter(
                consecutive_failures__gte=WebhookEndpoint.AUTO_DISABLE_AFTER,
                status=WebhookEndpoint.Status.ACTIVE,
            ).exists()
        ):
            to_disable[endpoint_id] = WebhookEndpoint.DisabledReason.FAILURES
    return to_disable
