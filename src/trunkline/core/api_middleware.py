"""Around every `/v1` call: idempotent POST replay, the API request log, one error shape."""

from __future__ import annotations

import atexit
import functools
import hashlib
import io
import logging
import multiprocessing.util
import os
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone

from trunkline.core.crypto import open_bytes, seal_bytes
from trunkline.core.errors import envelope
from trunkline.core.middleware import client_ip
from trunkline.core.models import IdempotencyRecord

logger = logging.getLogger("trunkline.api")

API_PREFIX = "/v1/"
IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_KEY_LENGTH = 255
_NOT_STORED = {401, 429}  # the request never ran, so a retry must run it

_STATUS_TYPES = {
    400: "malformed_request",
    401: "authentication_failed",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    500: "internal_error",
}


def _context(record: IdempotencyRecord) -> str:
    return f"idempotency:{record.pk}:{record.partner_id}"


def _error(status: int, type: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse(envelope(type, message, field), status=status)


def _as_envelope(response: HttpResponse) -> HttpResponse:
    """Django's own 404/405/413/500 pages become the contract's JSON envelope."""
    if response.status_code < 400 or response.get("Content-Type", "").startswith(
        "application/json"
    ):
        return response
    status = response.status_code
    messages = {
        404: "no such resource",
        405: "method not allowed on this resource",
        413: "the request body is too large",
    }
    replacement = _error(
        status, _STATUS_TYPES.get(status, "error"), messages.get(status, "request failed")
    )
    for header in ("Allow", "Retry-After", "WWW-Authenticate"):
        if header in response:
            replacement[header] = response[header]
    return replacement


def _has_nul(request) -> bool:
    # Nothing we store can hold NUL (PostgreSQL refuses it in text), so no lookup needs one.
    if "\x00" in request.path:
        return True
    return any("\x00" in key or "\x00" in value for key, value in request.GET.items())


class ApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        started = time.perf_counter()
        if _has_nul(request):
            return _error(400, "malformed_request", "the path or query contains a NUL character")
        try:
            _read_upload(request)
            body = request.body  # read now: a too-large body is refused before any work
        except Exception:  # RequestDataTooBig and friends
            return _error(413, "payload_too_large", "the request body is too large")
        key = request.headers.get("Idempotency-Key")
        if request.method == "POST" and key is not None:
            response = self._idempotent(request, key, body)
        else:
            response = self.get_response(request)
        response = _as_envelope(response)
        self._log(request, response, started)
        return response

    def _idempotent(self, request, key: str, body: bytes) -> HttpResponse:
        from trunkline.accounts.api_auth import resolve_key

        if not key or len(key) > MAX_KEY_LENGTH:
            return _error(
                400,
                "malformed_request",
                "Idempotency-Key is 1 to 255 characters",
                "Idempotency-Key",
            )
        bearer = request.headers.get("Authorization", "")
        record = resolve_key(bearer[7:].strip()) if bearer.lower().startswith("bearer ") else None
        if record is None:
            return self.get_response(request)  # authentication answers 401 as usual
        # The calling key is part of the request: another key of the partner (perhaps one
        # with fewer scopes or tenants) must not be handed a response it could not get itself.
        fingerprint = hashlib.sha256(
            record.api_key.id.encode()
            + b"\n"
            + request.method.encode()
            + b" "
            + request.get_full_path().encode()
            + b"\n"
            + body
        ).hexdigest()
        now = timezone.now()
        claimed = self._claim(record.partner, key, fingerprint, now)
        if not isinstance(claimed, IdempotencyRecord):
            return claimed
        try:
            response = self.get_response(request)
        except Exception:
            IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
            raise
        if response.status_code >= 500 or response.status_code in _NOT_STORED:
            IdempotencyRecord.objects.filter(pk=claimed.pk).delete()
        else:
            IdempotencyRecord.objects.filter(pk=claimed.pk).update(
                status_code=response.status_code,
                # Sealed: a stored answer can hold a secret shown once (a webhook
                # signing secret, a new API key), and must not sit in the table in clear.
                response_body=seal_bytes(bytes(response.content), context=_context(claimed)),
                response_content_type=response.get("Content-Type", "application/json"),
            )
        return response

    def _claim(self, partner, key: str, fingerprint: str, now):
        """Insert the in-flight row, or answer from the one already there."""
        for _ in range(2):
            try:
                with transaction.atomic():
                    return IdempotencyRecord.objects.create(
                        partner=partner, key=key, request_fingerprint=fingerprint, created_at=now
                    )
            except IntegrityError:
                existing = IdempotencyRecord.objects.filter(partner=partner, key=key).first()
                if existing is None:
                    continue
                if existing.created_at <= now - IDEMPOTENCY_WINDOW:
                    IdempotencyRecord.objects.filter(pk=existing.pk).delete()
                    continue
                if existing.request_fingerprint != fingerprint:
                    return _error(
                        409,
                        "idempotency_key_reused",
                        "this Idempotency-Key was used with a different request",
                        "Idempotency-Key",
                    )
                if existing.status_code is None:
                    return _error(
                        409,
                        "idempotency_request_in_progress",
                        "a request with this Idempotency-Key is still running",
                        "Idempotency-Key",
                    )
                replay = HttpResponse(
                    open_bytes(bytes(existing.response_body or b""), context=_context(existing)),
                    status=existing.status_code,
                    content_type=existing.response_content_type or "application/json",
                )
                replay["Idempotent-Replayed"] = "true"
                replay["Cache-Control"] = "no-store"
                return replay
        return _error(
            409,
            "idempotency_request_in_progress",
            "a request with this Idempotency-Key is still running",
            "Idempotency-Key",
        )

    def _log(self, request, response, started: float) -> None:
        actor = getattr(request, "actor", None)
        if actor is None or actor.api_key is None:
            return
        request_log.add(
            {
                "partner_id": actor.partner.pk,
                "api_key_id": actor.api_key.id,
                "api_key_name": actor.api_key.name[:100],
                "method": request.method[:8],
                "path": request.get_full_path()[:500],
                "status_code": response.status_code,
                "request_id": getattr(request, "request_id", ""),
                "ip_address": client_ip(request),
                "duration_ms": int((time.perf_counter() - started) * 1000),
                "created_at": timezone.now(),
            }
        )


# Multipart uploads (a port's LOA or carrier bill, up to 10 MB) may be larger than the
# JSON bodies DATA_UPLOAD_MAX_MEMORY_SIZE is sized for.
UPLOAD_MAX_BYTES = 11 * 1024 * 1024


def _read_upload(request) -> None:
    if not request.content_type.startswith("multipart/form-data"):
        return
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return
    if 0 < length <= UPLOAD_MAX_BYTES and not hasattr(request, "_body"):
        data = request.read(length)
        request._body = data
        request._stream = io.BytesIO(data)
        request._read_started = False


class RequestLogBuffer:
    """The API request log's rows, written in batches: at least once a second and at exit.

    One INSERT per call cost more CPU than many whole API calls and took SQLite's write
    lock on every request. Rows now wait in memory and a daemon thread writes them with
    one `executemany` in one transaction every `API_REQUEST_LOG_FLUSH_SECONDS` (default
    1); a full buffer (`MAX_PENDING` rows) is written at once by the request that fills it,
    and whatever is left is written when the process exits normally. A process killed
    outright loses at most that last second's rows. `API_REQUEST_LOG_FLUSH_SECONDS = 0`
    writes each row during its request, as the test suite does.
    """

    MAX_PENDING = 1000
    KEEP_ON_FAILURE = 50_000  # rows held for the next try while the database refuses them

    def __init__(self):
        self._lock = threading.Lock()  # guards the list; held only to append or swap it
        self._writing = threading.Lock()  # held for a whole flush
        self._rows: list[dict] = []
        self._pid: int | None = None
        self._wake = threading.Event()

    @staticmethod
    def interval() -> float:
        return float(getattr(settings, "API_REQUEST_LOG_FLUSH_SECONDS", 1.0))

    def add(self, row: dict) -> None:
        interval = self.interval()
        with self._lock:
            if interval > 0 and self._pid != os.getpid():
                self._begin()
            self._rows.append(row)
            full = len(self._rows) >= self.MAX_PENDING
        if interval <= 0 or full:
            self.flush()

    def pending(self) -> int:
        return len(self._rows)

    def flush(self) -> int:
        """Write every pending row now; the number written.

        One flush at a time: the flush at exit must wait for the flusher thread's write in
        progress, or the process would end with those rows in a transaction never committed.
        """
        with self._writing:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                _write_rows(rows)
            except Exception:
                logger.exception("could not write %d API request-log rows; will retry", len(rows))
                with self._lock:
                    self._rows = (rows + self._rows)[-self.KEEP_ON_FAILURE :]
                return 0
            return len(rows)

    def _begin(self) -> None:
        # The first row in this process (granian forks its web workers; rows a parent left
        # are its own to write): a flusher thread of our own, and a last flush at exit, by
        # atexit or, in a multiprocessing child, by its exit finalizers.
        self._pid = os.getpid()
        self._rows = []
        threading.Thread(target=self._run, name="api-request-log", daemon=True).start()
        atexit.register(self.flush)
        multiprocessing.util.Finalize(None, self.flush, exitpriority=10)

    def _run(self) -> None:
        from django.db import close_old_connections

        while not self._wake.wait(self.interval()):
            self.flush()
            close_old_connections()


def _write_rows(rows: list[dict]) -> None:
    sql, fields = _log_insert(connection.vendor)
    params = [
        [
            field.get_db_prep_save(
                row[field.attname] if field.attname in row else field.get_default(), connection
            )
            for field in fields
        ]
        for row in rows
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)


request_log = RequestLogBuffer()


@functools.cache
def _log_insert(vendor: str) -> tuple[str, list]:
    """The request-log INSERT, built once from the model's fields.

    `Model.save()` costs about twice the insert itself. Each value still goes through its
    field's conversion, and a field added to the model later is written with its default,
    so rows match what the ORM would store.
    """
    from trunkline.accounts.models import ApiRequestLog

    meta = ApiRequestLog._meta
    fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    # Identifiers come from the model and are quoted; every value is a parameter.
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608
    return sql, fields


def purge_idempotency_records(now=None) -> int:
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lte=now - IDEMPOTENCY_WINDOW).delete()
    return deleted
