"""Taking in call detail records: validate, de-duplicate, rate, store, count, charge.

One call of `cdrs_ingest` handles a batch (the API's ≤1,000 records, or a slice of a CSV
file) in one transaction: the new records, the tenants' usage counters and the usage
postings to the partner's wallet commit together or not at all. A record already stored
(same partner and `call_id`) is a duplicate and changes nothing; a record that fails a
check is kept in `RejectedCallRecord` with its reason.
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from trunkline.billing import ledger, payment_services
from trunkline.billing.call_events import call_events_emit
from trunkline.billing.import_writer import BatchWriter
from trunkline.billing.models import CallRecord, Posting, RejectedCallRecord, TenantUsage
from trunkline.billing.rates import RateBook
from trunkline.billing.rating import INTERNATIONAL, LOCAL, TOLL_FREE, Rated, Rater, RatingError
from trunkline.core.actors import Actor
from trunkline.core.errors import ValidationFailed
from trunkline.core.ids import new_id, new_ids
from trunkline.core.money import Money
from trunkline.tenants.models import Tenant

MAX_BATCH = 1000
FIELDS = frozenset(
    {
        "call_id",
        "tenant_id",
        "direction",
        "from",
        "to",
        "started_at",
        "answered_at",
        "ended_at",
        "billsec",
    }
)
REQUIRED = ("call_id", "tenant_id", "direction", "from", "to", "started_at", "ended_at", "billsec")
LONGEST_CALL = 7 * 24 * 3600
CSV_PROBLEM = "_csv_problem"
DIRECTIONS = frozenset(CallRecord.Direction.values)  # a CSV row that could not be read as a record
USAGE_POSTING = {
    LOCAL: Posting.Type.USAGE_LOCAL,
    TOLL_FREE: Posting.Type.USAGE_TOLL_FREE,
    INTERNATIONAL: Posting.Type.USAGE_INTERNATIONAL,
}
_COUNTERS = (
    "calls",
    "local_seconds",
    "toll_free_seconds",
    "international_seconds",
    "wholesale_micros",
)
# where each class's billable seconds are counted, as a position in _COUNTERS
COUNTER = {LOCAL: 1, TOLL_FREE: 2, INTERNATIONAL: 3}


class Facts(NamedTuple):
    """A record that passed the checks, as stored."""

    call_id: str
    tenant: Tenant
    direction: str
    from_number: str
    to_number: str
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    billsec: int


class Rejected(ValueError):
    def __init__(self, reason: str, field: str = ""):
        super().__init__(reason)
        self.reason, self.field = reason, field


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)

    def merge(self, other: IngestResult) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected.extend(other.rejected)


def usage_cycle_start(tenant_zone: str, at: datetime) -> date:
    """The first day of the tenant's usage cycle holding `at`: the calendar month in the
    tenant's time zone. (Billing profiles with anniversary cycles refine this.)"""
    local = at.astimezone(ZoneInfo(tenant_zone))
    return local.date().replace(day=1)


def _time(value, name: str, *, required: bool = True) -> datetime | None:
    if value is None or value == "":
        if required:
            raise Rejected(f"{name} is required", name)
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise Rejected(f"{name} is an ISO-8601 time", name)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise Rejected(f"{name} is an ISO-8601 time", name) from None
    if moment.tzinfo is None:
        raise Rejected(f"{name} needs a UTC offset (…Z)", name)
    return moment


def _text(record: dict, name: str, longest: int) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Rejected(f"{name} is required", name)
    if len(value) > longest or "\x00" in value:
        raise Rejected(f"{name} is at most {longest} characters", name)
    return value.strip()


def _check(record, tenants: dict[str, Tenant]) -> Facts:
    """The record's facts, or Rejected naming the first problem."""
    if not isinstance(record, dict):
        raise Rejected("a record is a JSON object")
    if CSV_PROBLEM in record:
        raise Rejected(record[CSV_PROBLEM])
    unknown = set(record) - FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise Rejected(f"unknown field {name}", name)
    for name in REQUIRED:
        if record.get(name) is None:
            raise Rejected(f"{name} is required", name)
    call_id = _text(record, "call_id", 128)
    tenant = (
        tenants.get(record.get("tenant_id")) if isinstance(record.get("tenant_id"), str) else None
    )
    if tenant is None:
        raise Rejected("no such tenant", "tenant_id")
    direction = record.get("direction")
    if direction not in DIRECTIONS:
        raise Rejected("direction is inbound, outbound or internal", "direction")
    from_number, to_number = _text(record, "from", 32), _text(record, "to", 32)
    started = _time(record.get("started_at"), "started_at")
    answered = _time(record.get("answered_at"), "answered_at", required=False)
    ended = _time(record.get("ended_at"), "ended_at")
    billsec = record.get("billsec")
    if isinstance(billsec, bool) or not isinstance(billsec, int) or billsec < 0:
        raise Rejected("billsec is a whole number of seconds, 0 or more", "billsec")
    if ended < started:
        raise Rejected("ended_at is before started_at", "ended_at")
    if answered is not None and not started <= answered <= ended:
        raise Rejected("answered_at is outside the call", "answered_at")
    if (ended - started).total_seconds() > LONGEST_CALL:
        raise Rejected("a call lasts at most 7 days", "ended_at")
    talk = (ended - (answered or started)).total_seconds()
    if billsec > talk + 1:  # a second of slack for rounding in the call engine
        raise Rejected("billsec is longer than the call", "billsec")
    if billsec > 0 and answered is None and direction != "internal":
        answered = ended - timedelta(seconds=billsec)
    return Facts(
        call_id, tenant, direction, from_number, to_number, started, answered, ended, billsec
    )


def _rate(rater: Rater, partner_id: str, facts: Facts) -> Rated:
    """Outbound calls are rated by the far end (`to`), inbound ones by our DID (`to`)."""
    direction = facts.direction
    return rater.rate(
        partner_id,
        direction,
        facts.to_number if direction == "outbound" else facts.from_number,
        facts.to_number if direction == "inbound" else facts.from_number,
        int(facts.started_at.timestamp()),
        facts.billsec,
    )


def _rejection(partner, record, problem: Rejected | RatingError, source: str, now):
    """The stored rejection of `record` and its entry in the response (without index)."""
    reason = problem.reason if isinstance(problem, Rejected) else str(problem)
    call_id = record.get("call_id") if isinstance(record, dict) else None
    call_id = call_id[:128] if isinstance(call_id, str) else ""
    row = RejectedCallRecord(
        id=new_id("cdx"),
        partner=partner,
        call_id=call_id,
        reason=reason[:300],
        field=problem.field,
        record=record if isinstance(record, dict) else {"value": record},
        source=source,
        received_at=now,
    )
    return row, {"call_id": call_id, "reason": reason, "field": problem.field or None}


def cdrs_ingest(
    *,
    actor: Actor,
    records: list,
    source: str = "api",
    rater: Rater | None = None,
    book: RateBook | None = None,
    now: datetime | None = None,
    limit: int = MAX_BATCH,
) -> IngestResult:
    """Take in one batch of call records for the actor's partner."""
    partner = actor.partner
    if partner is None:
        raise ValidationFailed("call records belong to a partner", field="partner")
    if not isinstance(records, list) or not records:
        raise ValidationFailed("records is a non-empty list", field="records")
    if len(records) > limit:
        raise ValidationFailed(f"at most {limit} records a request", field="records")
    now = now or timezone.now()
    if rater is None:
        book = book or RateBook(partner_ids=[partner.id])
        rater = book.rater()
    elif book is None:
        raise ValueError("a rater comes with the book it was built from")
    provider_id = book.provider.id if book is not None and book.provider else None

    tenant_ids = {
        record.get("tenant_id")
        for record in records
        if isinstance(record, dict) and isinstance(record.get("tenant_id"), str)
    }
    visible = Tenant.objects.filter(partner=partner, id__in=tenant_ids)
    if actor.tenant_ids is not None:
        visible = visible.filter(id__in=actor.tenant_ids)
    tenants = {tenant.id: tenant for tenant in visible}

    result = IngestResult()
    rejected: list[RejectedCallRecord] = []
    candidates: dict[str, tuple[int, Facts, Rated]] = {}
    for index, record in enumerate(records):
        try:
            facts = _check(record, tenants)
            if facts.call_id in candidates:
                result.duplicates += 1
                continue
            rated = _rate(rater, partner.id, facts)
        except (Rejected, RatingError) as problem:
            row, reported = _rejection(partner, record, problem, source, now)
            rejected.append(row)
            result.rejected.append({"index": index, **reported})
            continue
        candidates[facts.call_id] = (index, facts, rated)

    adapters = _adapters(transaction.get_connection())
    prepared = _prepare(partner, candidates, provider_id, source, now, adapters)
    accepted, duplicates = _commit([prepared], rejected, now)
    result.accepted += accepted
    result.duplicates += duplicates
    return result


class _Prepared(NamedTuple):
    """One partner's new records of a batch, made ready to store in the importing thread:
    ids given, values adapted for the database, counters and charges summed. Only the
    check for call ids already stored is left to the transaction."""

    partner: object
    candidates: int  # records of the batch for this partner, stored before or not
    rows: list[tuple]  # in call_id order, as _CALL_COLUMNS
    facts: list[Facts]  # each row's checked record, for its events
    cycles: dict  # each row's adapted cycle_start → the date
    usage: dict[tuple[str, date], list[int]]
    charges: dict[str, int]


def _prepare(partner, candidates, provider_id, source, now, adapters) -> _Prepared:
    """Everything about storing `candidates` that needs no database."""
    adapt_time, adapt_date = adapters
    # In call_id order, so concurrent imports of overlapping files meet the unique index
    # in the same order (a waiting insert, not a deadlock, on PostgreSQL).
    new = sorted(candidates.values(), key=lambda value: value[1].call_id)
    imported_at = adapt_time(now)
    zones: dict[str, ZoneInfo] = {}
    months: dict[tuple[int, int], object] = {}
    cycles: dict = {}
    rows = []
    stored_facts = []
    usage: dict[tuple[str, date], list[int]] = {}
    charges: dict[str, int] = defaultdict(int)
    for record_id, (_, facts, rated) in zip(new_ids("cdr", len(new)), new, strict=True):
        call_id, tenant, direction, from_number, to_number, started, answered, ended, billsec = (
            facts
        )
        call_class, billable, wholesale, provider_cost, rate_id, provider_rate_id = rated
        # The tenant's usage cycle: the calendar month in its time zone (usage_cycle_start).
        zone = zones.get(tenant.timezone) or zones.setdefault(
            tenant.timezone, ZoneInfo(tenant.timezone)
        )
        local = started.astimezone(zone)
        month = (local.year, local.month)
        cycle = months.get(month)
        if cycle is None:
            first_day = date(local.year, local.month, 1)
            cycle = months[month] = adapt_date(first_day)
            cycles[cycle] = first_day
        rows.append(
            (
                record_id,
                partner.id,
                tenant.id,
                call_id,
                direction,
                from_number,
                to_number,
                adapt_time(started),
                adapt_time(answered),
                adapt_time(ended),
                billsec,
                call_class,
                billable,
                wholesale,
                provider_cost,
                provider_id if provider_rate_id else None,
                rate_id,
                provider_rate_id,
                cycle,
                source,
                imported_at,
            )
        )
        stored_facts.append(facts)
        # As _tally counts them, in the same pass (a second one costs ~1 µs a record).
        key = (tenant.id, cycles[cycle])
        counters = usage.get(key)
        if counters is None:
            counters = usage[key] = [0] * len(_COUNTERS)
        counters[0] += 1
        slot = COUNTER.get(call_class)
        if slot is not None:
            counters[slot] += billable
            counters[4] += wholesale
            charges[call_class] += wholesale
    return _Prepared(partner, len(candidates), rows, stored_facts, cycles, usage, charges)


def _tally(rows, cycles) -> tuple[dict[tuple[str, date], list[int]], dict[str, int]]:
    """The tenants' counter increments and the partner's charges by class for `rows`."""
    usage: dict[tuple[str, date], list[int]] = {}
    charges: dict[str, int] = defaultdict(int)
    for row in rows:
        key = (row[2], cycles[row[18]])
        counters = usage.get(key)
        if counters is None:
            counters = usage[key] = [0] * len(_COUNTERS)
        counters[0] += 1
        call_class = row[11]
        slot = COUNTER.get(call_class)
        if slot is not None:
            counters[slot] += row[12]
            counters[4] += row[13]
            charges[call_class] += row[13]
    return usage, charges


def _commit(batches: list[_Prepared], rejected, now, also=None) -> tuple[int, int]:
    """Store every partner's new records and the rejections in one transaction; return
    (records stored, records found already stored). Partners go in id order, so two
    imports lock their wallets in the same order. `also(accepted, duplicates)`, if given,
    runs last in the same transaction (a followed file's offset is stored so)."""
    for attempt in range(3):
        try:
            with transaction.atomic():
                accepted = duplicates = 0
                for prepared in sorted(batches, key=lambda batch: batch.partner.id):
                    stored, seen = _store(prepared, now)
                    accepted, duplicates = accepted + stored, duplicates + seen
                RejectedCallRecord.objects.bulk_create(rejected)
                if also is not None:
                    also(accepted, duplicates)
            return accepted, duplicates
        except IntegrityError:
            # A concurrent import stored some of these call ids first; look again.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _store(prepared: _Prepared, now) -> tuple[int, int]:
    partner, rows, facts = prepared.partner, prepared.rows, prepared.facts
    if not rows:
        return 0, prepared.candidates
    usage, charges = prepared.usage, prepared.charges
    connection = transaction.get_connection()
    try:
        # Nearly every batch is calls never seen before: insert at once, and look for
        # stored call ids only when the unique index (partner, call_id) refuses some.
        # Looking first costs every batch ~7 µs a record on PostgreSQL.
        with transaction.atomic():  # a savepoint, rolled back on refusal
            _insert_calls(connection, rows)
    except IntegrityError:
        existing = _stored_call_ids(partner.id, [row[3] for row in rows])
        if not existing:
            raise
        # A file imported again, or one overlapping another import.
        kept = [index for index, row in enumerate(rows) if row[3] not in existing]
        rows, facts = [rows[index] for index in kept], [facts[index] for index in kept]
        if not rows:
            return 0, prepared.candidates
        usage, charges = _tally(rows, prepared.cycles)
        _insert_calls(connection, rows)
    _count(partner, usage, now)
    from trunkline.limits.services import usage_review

    # Spend and minute caps, against the counters just written, in this transaction.
    usage_review(partner=partner, tenant_ids={tenant_id for tenant_id, _ in usage}, now=now)
    # The first record stored names the postings, so a retried import (which finds the
    # records stored) can never charge them twice.
    anchor = min(row[0] for row in rows)
    for call_class, micros in sorted(charges.items()):
        if micros:
            ledger.wallet_debit(
                partner=partner,
                amount=Money(micros),
                type=USAGE_POSTING[call_class],
                actor=Actor.system(partner=partner),
                idempotency_key=f"usage:{anchor}:{call_class}",
                memo=f"{call_class.replace('_', '-')} minutes",
                reference=anchor,
                allow_negative=True,  # minutes already talked are owed
                now=now,
            )
    payment_services.wallet_after_debit(partner)
    call_events_emit(partner, zip(rows, facts, strict=True), prepared.cycles)
    return len(rows), prepared.candidates - len(rows)


def _stored_call_ids(partner_id: str, call_ids: list[str]) -> set[str]:
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    found: set[str] = set()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # one query: the ids as one array parameter
            cursor.execute(
                f"SELECT {quote('call_id')} FROM {quote(CallRecord._meta.db_table)} "  # noqa: S608
                f"WHERE {quote('partner_id')} = %s AND {quote('call_id')} = ANY(%s)",
                [partner_id, call_ids],
            )
            return {call_id for (call_id,) in cursor.fetchall()}
        for start in range(0, len(call_ids), 900):  # under SQLite's parameter limit
            chunk = call_ids[start : start + 900]
            cursor.execute(
                # names from the model's metadata; every value is a parameter
                f"SELECT {quote('call_id')} FROM {quote(CallRecord._meta.db_table)} "  # noqa: S608
                f"WHERE {quote('partner_id')} = %s AND {quote('call_id')} IN "
                f"({', '.join(['%s'] * len(chunk))})",
                [partner_id, *chunk],
            )
            found.update(call_id for (call_id,) in cursor.fetchall())
    return found


def _adapters(connection):
    """(time, date) → the values the database driver takes, as the model fields'
    `get_db_prep_value` would make them. PostgreSQL takes the objects; SQLite takes
    Django's text form of the UTC time, made here from cached pieces (a whole-second time
    is its day's text plus its second's)."""
    ops = connection.ops
    if connection.vendor != "sqlite" or not settings.USE_TZ or connection.timezone_name != "UTC":
        return ops.adapt_datetimefield_value, ops.adapt_datefield_value
    days: dict[int, str] = {}

    def sqlite_time(value):
        if value is None:
            return None
        if value.microsecond:
            return str(value.astimezone(UTC).replace(tzinfo=None))
        day, second = divmod(int(value.timestamp()), 86400)
        text = days.get(day)
        if text is None:
            text = days[day] = f"{date.fromordinal(_UNIX_EPOCH_ORDINAL + day)} "
        hour, minute_second = divmod(second, 3600)
        return text + _HOURS[hour] + _MINUTES_SECONDS[minute_second]

    return sqlite_time, ops.adapt_datefield_value


_UNIX_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_HOURS = tuple(f"{hour:02d}:" for hour in range(24))
_MINUTES_SECONDS = tuple(
    f"{minute:02d}:{second:02d}" for minute in range(60) for second in range(60)
)


_CALL_COLUMNS = (
    "id",
    "partner_id",
    "tenant_id",
    "call_id",
    "direction",
    "from_number",
    "to_number",
    "started_at",
    "answered_at",
    "ended_at",
    "billsec",
    "call_class",
    "billable_seconds",
    "wholesale_micros",
    "provider_cost_micros",
    "provider_id",
    "rate_id",
    "provider_rate_id",
    "cycle_start",
    "source",
    "imported_at",
)


# PostgreSQL's wire types for _CALL_COLUMNS, for a binary COPY: the server reads numbers
# and times as they are instead of parsing text.
_COPY_TYPES = tuple(
    {
        "started_at": "timestamptz",
        "answered_at": "timestamptz",
        "ended_at": "timestamptz",
        "imported_at": "timestamptz",
        "cycle_start": "date",
        "billsec": "int4",
        "billable_seconds": "int4",
        "wholesale_micros": "int8",
        "provider_cost_micros": "int8",
    }.get(column, "text")
    for column in _CALL_COLUMNS
)


def _insert_calls(connection, rows: list[tuple]) -> None:
    """Write the batch's call records, their values already adapted for the database:
    COPY on PostgreSQL, one prepared INSERT run for every row elsewhere. Either skips the
    ORM's per-field preparation, which costs more than the rest of the import."""
    table = connection.ops.quote_name(CallRecord._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in _CALL_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Errors (a call id stored by a concurrent import) surface as Django's
            # IntegrityError, as they would from the INSERT.
            sql = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                copy.set_types(_COPY_TYPES)
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
            return
        marks = ", ".join(["%s"] * len(_CALL_COLUMNS))
        # Names come from the model's metadata; every value is a parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        cursor.executemany(sql, rows)


def _count(partner, usage: dict[tuple[str, date], list[int]], now) -> None:
    """Add the batch to each tenant's cycle counters with upserts: the row is created on
    first use and otherwise incremented in the database, so concurrent imports add up
    exactly (INSERT … ON CONFLICT works on SQLite and PostgreSQL alike). Many rows go in
    one statement: each round trip to the server costs the writer thread of a pipelined
    import a wait for the GIL."""
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    table = quote(TenantUsage._meta.db_table)
    columns = ("tenant_id", "partner_id", "cycle_start", *_COUNTERS, "updated_at")
    increments = ", ".join(
        f"{quote(name)} = {table}.{quote(name)} + excluded.{quote(name)}" for name in _COUNTERS
    )
    marks = f"({', '.join(['%s'] * len(columns))})"
    stamp = connection.ops.adapt_datetimefield_value(now)
    params = [
        (
            tenant_id,
            partner.id,
            connection.ops.adapt_datefield_value(cycle),
            *counters,
            stamp,
        )
        for (tenant_id, cycle), counters in sorted(usage.items())
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(params), _COUNT_ROWS):
            chunk = params[start : start + _COUNT_ROWS]
            cursor.execute(
                # names from the model's metadata; every value is a parameter
                f"INSERT INTO {table} ({', '.join(quote(column) for column in columns)}) "  # noqa: S608
                f"VALUES {', '.join([marks] * len(chunk))} "
                f"ON CONFLICT ({quote('tenant_id')}, {quote('cycle_start')}) DO UPDATE SET "
                f"{increments}, {quote('updated_at')} = excluded.{quote('updated_at')}",
                [value for values in chunk for value in values],
            )


_COUNT_ROWS = 500  # 5,000 parameters a statement, under SQLite's limit


# --- Asterisk's CDR CSV (cdr_csv's Master.csv) -------------------------------------------

MASTER_CSV_COLUMNS = (
    "accountcode",
    "src",
    "dst",
    "dcontext",
    "clid",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "uniqueid",
    "userfield",
)


def _e164(number: str) -> str:
    digits = number.strip()
    if digits.startswith("+"):
        return digits
    if len(digits) == 10 and digits.isdigit():
        return "+1" + digits
    if len(digits) == 11 and digits.startswith("1") and digits.isdigit():
        return "+" + digits
    if digits.startswith("011") and digits.isdigit():
        return "+" + digits[3:]
    return digits  # an extension, or something the checks will refuse


def _csv_time(value: str, zone) -> str:
    value = value.strip()
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone).astimezone(UTC).isoformat()
    except (ValueError, OverflowError):
        return value  # refused with its field name by the checks


def _csv_record(row: list[str], tenants_by_account: dict[str, str], zone) -> dict:
    """One Master.csv row as an API-shaped record (what a rejection stores)."""
    if len(row) < len(MASTER_CSV_COLUMNS) - 1:
        return {
            CSV_PROBLEM: f"the row has {len(row)} columns; Master.csv rows have "
            f"{len(MASTER_CSV_COLUMNS)}"
        }
    values = dict(zip(MASTER_CSV_COLUMNS, row, strict=False))
    context = values["dcontext"]
    direction = context.rsplit("-", 1)[-1] if "-" in context else ""
    return {
        "call_id": values["uniqueid"],
        "tenant_id": tenants_by_account.get(values["accountcode"], ""),
        "direction": direction,
        "from": _e164(values["src"]),
        "to": _e164(values["dst"]),
        "started_at": _csv_time(values["start"], zone),
        "answered_at": _csv_time(values["answer"], zone) or None,
        "ended_at": _csv_time(values["end"], zone),
        "billsec": int(values["billsec"]) if values["billsec"].strip().isdecimal() else -1,
    }


def master_csv_records(
    lines: Iterable[str], *, tenants_by_account: dict[str, str], zone=UTC
) -> Iterator[dict]:
    """Turn Master.csv rows into API-shaped records.

    The rendered dialplan sets `accountcode` to the tenant's SIP prefix and names each
    context `<sip_prefix>-inbound`, `-outbound` or `-internal`; that gives the tenant and
    the direction. Times are the call engine's local time (`zone`, UTC by default).
    Rows with a wrong number of columns come out as records the checks refuse.
    """
    for row in csv.reader(lines):
        if row:
            yield _csv_record(row, tenants_by_account, zone)


_UNIQUEID = MASTER_CSV_COLUMNS.index("uniqueid")


def _csv_facts(
    row: list[str], tenant_by_account: dict[str, Tenant], zone, zone_is_utc: bool = False
) -> Facts | None:
    """The facts of a Master.csv row that passes every check, read straight from its
    columns; None when any check might fail, and the row then goes the general way
    (`_csv_record` and `_check`), which names the problem.

    This is `_check(_csv_record(row))` for a good row without the record's dictionary
    or the times' round trip through text: each condition below is one of `_check`'s,
    on the values `_csv_record` would give it.
    """
    if len(row) <= _UNIQUEID:
        return None
    tenant = tenant_by_account.get(row[0])
    if tenant is None:
        return None
    _, dash, direction = row[3].rpartition("-")
    if not dash or direction not in DIRECTIONS:
        return None
    call_id = row[_UNIQUEID]
    if len(call_id) > 128 or "\x00" in call_id:
        return None
    call_id = call_id.strip()
    from_number, to_number = _e164(row[1]), _e164(row[2])  # stripped by _e164
    if not (call_id and 0 < len(from_number) <= 32 and 0 < len(to_number) <= 32):
        return None
    if "\x00" in from_number or "\x00" in to_number:
        return None
    billsec = row[13]
    if not billsec.isdecimal():
        return None
    billsec = int(billsec)
    start, end, answer = row[9].strip(), row[11].strip(), row[10].strip()
    try:
        if zone_is_utc and len(start) == len(end) == 19 and len(answer) in (0, 19):
            # "YYYY-MM-DD HH:MM:SS" in UTC: read with its offset, as replace() would set it
            started = datetime.fromisoformat(start + "+00:00")
            ended = datetime.fromisoformat(end + "+00:00")
            answered = datetime.fromisoformat(answer + "+00:00") if answer else None
        else:
            started = datetime.fromisoformat(start).replace(tzinfo=zone).astimezone(UTC)
            ended = datetime.fromisoformat(end).replace(tzinfo=zone).astimezone(UTC)
            answered = (
                datetime.fromisoformat(answer).replace(tzinfo=zone).astimezone(UTC)
                if answer
                else None
            )
    except (ValueError, OverflowError):
        return None
    if ended < started or (answered is not None and not started <= answered <= ended):
        return None
    if (ended - started).total_seconds() > LONGEST_CALL:
        return None
    if billsec > (ended - (answered or started)).total_seconds() + 1:
        return None
    if billsec > 0 and answered is None and direction != "internal":
        answered = ended - timedelta(seconds=billsec)
    return Facts(
        call_id, tenant, direction, from_number, to_number, started, answered, ended, billsec
    )


def cdrs_import_csv(
    lines: Iterable[str],
    *,
    zone=UTC,
    batch_size: int = 20_000,
    now: datetime | None = None,
    pipeline: bool | None = None,
) -> IngestResult:
    """Import an Asterisk Master.csv stream for the whole platform, batch by batch.

    `accountcode` names the tenant by its SIP prefix (unique across the platform), which
    also gives the partner; each row is checked and rated like an API record, and each
    batch of rows is stored, counted and charged in one transaction (every partner's
    records of the batch, with their usage postings), batches in file order. Rows naming
    no known tenant are kept as rejections without a partner. Memory stays flat: a batch
    or two is held at a time.

    With `pipeline` (the default on PostgreSQL outside a caller's transaction) a writer
    thread with its own connection stores batch n while this thread reads and rates
    batch n + 1. Inside a caller's transaction, batches are stored in it, one after the
    other. If storing a batch fails, the exception is raised here; the batches before it
    stay committed.
    """
    now = now or timezone.now()
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        pipeline = False
    elif pipeline is None:
        pipeline = connection.vendor in PIPELINED_VENDORS
    importer = csv_importer(RateBook(), zone=zone, now=now)
    rows = (row for row in csv.reader(lines) if row)
    if not pipeline:
        for numbered in _batches(rows, batch_size):
            importer.store(importer.prepare(numbered))
        return importer.result
    with pipelined_writer(importer.commit) as writer:
        for numbered in _batches(rows, batch_size):
            writer.put(importer.prepare(numbered))
        outcomes = writer.finish()
    for accepted, duplicates in outcomes:
        importer.result.accepted += accepted
        importer.result.duplicates += duplicates
    return importer.result


# The databases where overlapping the importer with the server pays (docs/performance.md).
PIPELINED_VENDORS = frozenset({"postgresql"})


@contextmanager
def pipelined_writer(store) -> Iterator[BatchWriter]:
    """A writer thread running `store(batch)` for the batches put to it."""
    # The writer makes ~150 round trips a batch (the usage postings); after each it waits
    # for the GIL, which the busy importing thread gives up only every switch interval
    # (5 ms by default). 0.1 ms made a 100,000-record import ~10 % faster.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, 0.0001))
    try:
        with BatchWriter(store, name="cdr-import-writer") as writer:
            yield writer
    finally:
        sys.setswitchinterval(switch_interval)


def csv_importer(book: RateBook, *, zone, now: datetime) -> _CsvImport:
    """An importer of Master.csv rows over `book`, with the platform's tenants as they
    are now; `prepare` a batch of numbered rows, then `store` or `commit` it."""
    return _CsvImport(
        rater=book.rater(),
        provider_id=book.provider.id if book.provider else None,
        accounts=dict(Tenant.objects.values_list("sip_prefix", "id")),
        partner_of=dict(Tenant.objects.values_list("id", "partner_id")),
        zone=zone,
        now=now,
        adapters=_adapters(transaction.get_connection()),
    )


def _batches(rows: Iterable[list[str]], size: int) -> Iterator[list[tuple[int, list[str]]]]:
    """(row number in the file, row) in lists of `size`."""
    batch: list[tuple[int, list[str]]] = []
    for row_number, row in enumerate(rows, start=1):
        batch.append((row_number, row))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Batch(NamedTuple):
    """A batch of the file, checked, rated and ready to store."""

    partners: list[_Prepared]
    rejected: list[RejectedCallRecord]


class _CsvImport:
    def __init__(self, *, rater, provider_id, accounts, partner_of, zone, now, adapters):
        self.rater, self.provider_id, self.zone, self.now = rater, provider_id, zone, now
        self.adapters = adapters
        # A zone with no offset ever: times can be read as UTC directly.
        self.zone_is_utc = zone is UTC or getattr(zone, "key", "") in ("UTC", "Etc/UTC")
        self.accounts, self.partner_of = accounts, partner_of
        self.partners = {partner.id: partner for partner in _partners(set(partner_of.values()))}
        self.result = IngestResult()

    def store(self, batch: _Batch) -> None:
        accepted, duplicates = self.commit(batch)
        self.result.accepted += accepted
        self.result.duplicates += duplicates

    def commit(self, batch: _Batch, also=None) -> tuple[int, int]:
        """Store a prepared batch in its own transaction (in the writer thread, when
        pipelined); (records stored, records found already stored). `also` as for
        `_commit`."""
        return _commit(batch.partners, batch.rejected, self.now, also)

    def prepare(self, numbered: list[tuple[int, list[str]]]) -> _Batch:
        accounts, partner_of, zone, now = self.accounts, self.partner_of, self.zone, self.now
        # The tenants as they are now: one deleted or moved since the import began is
        # "no such tenant", as it would be for an API record.
        wanted = {row[0]: accounts[row[0]] for _, row in numbered if row[0] in accounts}
        tenants = {
            tenant.id: tenant
            for tenant in Tenant.objects.filter(id__in=set(wanted.values()))
            if tenant.partner_id == partner_of.get(tenant.id)
        }
        tenant_by_account = {
            account: tenants[tenant_id]
            for account, tenant_id in wanted.items()
            if tenant_id in tenants
        }
        rater = self.rater
        by_partner: dict[str, dict[str, tuple[int, Facts, Rated]]] = defaultdict(dict)
        rejected: list[RejectedCallRecord] = []
        for number, row in numbered:
            facts = _csv_facts(row, tenant_by_account, zone, self.zone_is_utc)
            if facts is None:
                record = _csv_record(row, accounts, zone)
                partner_id = partner_of.get(record.get("tenant_id", ""))
                if partner_id is None:
                    self._orphan(rejected, number, record)
                    continue
                try:
                    facts = _check(record, tenants)
                except Rejected as problem:
                    self._reject(rejected, number, partner_id, record, problem)
                    continue
            partner_id = facts.tenant.partner_id
            candidates = by_partner[partner_id]
            if facts.call_id in candidates:
                self.result.duplicates += 1
                continue
            try:
                rated = _rate(rater, partner_id, facts)
            except RatingError as problem:
                record = _csv_record(row, accounts, zone)
                self._reject(rejected, number, partner_id, record, problem)
                continue
            candidates[facts.call_id] = (number, facts, rated)
        prepared = [
            _prepare(self.partners[partner_id], found, self.provider_id, "csv", now, self.adapters)
            for partner_id, found in by_partner.items()
        ]
        return _Batch(prepared, rejected)

    def _reject(self, rejected, number, partner_id, record, problem) -> None:
        row, reported = _rejection(self.partners[partner_id], record, problem, "csv", self.now)
        rejected.append(row)
        self.result.rejected.append({"index": number, **reported})

    def _orphan(self, rejected, number, record) -> None:
        reason = record.get(CSV_PROBLEM) or "no tenant has this accountcode (SIP prefix)"
        rejected.append(
            RejectedCallRecord(
                id=new_id("cdx"),
                partner=None,
                call_id=record.get("call_id", "")[:128],
                reason=reason,
                field="" if CSV_PROBLEM in record else "accountcode",
                record=record,
                source="csv",
                received_at=self.now,
            )
        )
        self.result.rejected.append(
            {
                "index": number,
                "call_id": record.get("call_id", ""),
                "reason": reason,
                "field": None if CSV_PROBLEM in record else "accountcode",
            }
        )


def _partners(ids: set[str]):
    from trunkline.accounts.models import Partner

    return Partner.objects.filter(id__in=ids)
