"""Taking in call detail records: validate, de-duplicate, rate, store, count, charge.

One call of `cdrs_ingest` handles a batch (the API's ≤1,000 records, or a slice of a CSV
file) in one transaction: the new records, the tenants' usage counters and the usage
postings to the partner's wallet commit together or not at all. A record already stored
(same partner and `call_id`) is a duplicate and changes nothing; a record that fails a
check is kept in `RejectedCallRecord` with its reason.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.utils import timezone

from trunkline.billing import ledger, payment_services
from trunkline.billing.models import CallRecord, Posting, RejectedCallRecord, TenantUsage
from trunkline.billing.rates import RateBook
from trunkline.billing.rating import INTERNATIONAL, LOCAL, TOLL_FREE, Rater, RatingError
from trunkline.core.actors import Actor
from trunkline.core.errors import ValidationFailed
from trunkline.core.ids import new_id
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
COUNTER = {
    LOCAL: "local_seconds",
    TOLL_FREE: "toll_free_seconds",
    INTERNATIONAL: "international_seconds",
}


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


def _check(record, tenants: dict[str, Tenant]) -> dict:
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
    return {
        "call_id": call_id,
        "tenant": tenant,
        "direction": direction,
        "from": from_number,
        "to": to_number,
        "started_at": started,
        "answered_at": answered,
        "ended_at": ended,
        "billsec": billsec,
    }


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
    candidates: dict[str, tuple[int, dict, tuple]] = {}
    for index, record in enumerate(records):
        try:
            facts = _check(record, tenants)
            if facts["call_id"] in candidates:
                result.duplicates += 1
                continue
            did = facts["to"] if facts["direction"] == "inbound" else facts["from"]
            rated = rater.rate(
                partner.id,
                facts["direction"],
                facts["to"] if facts["direction"] == "outbound" else facts["from"],
                did,
                int(facts["started_at"].timestamp()),
                facts["billsec"],
            )
        except (Rejected, RatingError) as problem:
            reason = problem.reason if isinstance(problem, Rejected) else str(problem)
            name = problem.field
            call_id = record.get("call_id") if isinstance(record, dict) else None
            call_id = call_id[:128] if isinstance(call_id, str) else ""
            rejected.append(
                RejectedCallRecord(
                    id=new_id("cdx"),
                    partner=partner,
                    call_id=call_id,
                    reason=reason[:300],
                    field=name,
                    record=record if isinstance(record, dict) else {"value": record},
                    source=source,
                    received_at=now,
                )
            )
            result.rejected.append(
                {"index": index, "call_id": call_id, "reason": reason, "field": name or None}
            )
            continue
        candidates[facts["call_id"]] = (index, facts, rated)

    for attempt in range(3):
        try:
            with transaction.atomic():
                accepted, duplicates = _store(partner, candidates, provider_id, source, now)
                RejectedCallRecord.objects.bulk_create(rejected)
            break
        except IntegrityError:
            # A concurrent import stored some of these call ids first; look again.
            if attempt == 2:
                raise
    result.accepted += accepted
    result.duplicates += duplicates
    return result


def _store(partner, candidates, provider_id, source, now) -> tuple[int, int]:
    if not candidates:
        return 0, 0
    existing = set(
        CallRecord.objects.filter(partner=partner, call_id__in=list(candidates)).values_list(
            "call_id", flat=True
        )
    )
    rows = []
    usage: dict[tuple[str, date], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    charges: dict[str, int] = defaultdict(int)
    for call_id, (_, facts, rated) in candidates.items():
        if call_id in existing:
            continue
        tenant = facts["tenant"]
        cycle = usage_cycle_start(tenant.timezone, facts["started_at"])
        rows.append(
            (
                new_id("cdr"),
                partner.id,
                tenant.id,
                call_id,
                facts["direction"],
                facts["from"],
                facts["to"],
                facts["started_at"],
                facts["answered_at"],
                facts["ended_at"],
                facts["billsec"],
                rated.call_class,
                rated.billable_seconds,
                rated.wholesale_micros,
                rated.provider_cost_micros,
                provider_id if rated.provider_rate_id else None,
                rated.rate_id,
                rated.provider_rate_id,
                cycle,
                source,
                now,
            )
        )
        counters = usage[(tenant.id, cycle)]
        counters["calls"] += 1
        if rated.call_class in COUNTER:
            counters[COUNTER[rated.call_class]] += rated.billable_seconds
            counters["wholesale_micros"] += rated.wholesale_micros
            charges[rated.call_class] += rated.wholesale_micros
    if not rows:
        return 0, len(candidates)
    _insert_calls(rows)
    _count(partner, usage, now)
    # The batch's first new record names the postings, so a retried import (which finds
    # the records stored) can never charge them twice.
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
    return len(rows), len(candidates) - len(rows)


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
_TIME_COLUMNS = (7, 8, 9, 20)
_DATE_COLUMNS = (18,)


def _insert_calls(rows: list[tuple]) -> None:
    """One prepared INSERT run for every row: the import's hot path skips the ORM's
    per-field preparation, adapting only the date and time columns."""
    connection = transaction.get_connection()
    adapt_time = connection.ops.adapt_datetimefield_value
    adapt_date = connection.ops.adapt_datefield_value
    prepared = []
    for row in rows:
        values = list(row)
        for index in _TIME_COLUMNS:
            values[index] = adapt_time(values[index])
        for index in _DATE_COLUMNS:
            values[index] = adapt_date(values[index])
        prepared.append(values)
    table = connection.ops.quote_name(CallRecord._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for column in _CALL_COLUMNS)
    marks = ", ".join(["%s"] * len(_CALL_COLUMNS))
    with connection.cursor() as cursor:
        # Names come from the model's metadata; every value is a parameter.
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        cursor.executemany(sql, prepared)


_COUNTERS = (
    "calls",
    "local_seconds",
    "toll_free_seconds",
    "international_seconds",
    "wholesale_micros",
)


def _count(partner, usage: dict[tuple[str, date], dict[str, int]], now) -> None:
    """Add the batch to each tenant's cycle counters in one upsert: the row is created
    on first use and otherwise incremented in the database, so concurrent imports add
    up exactly (INSERT … ON CONFLICT works on SQLite and PostgreSQL alike)."""
    connection = transaction.get_connection()
    quote = connection.ops.quote_name
    table = quote(TenantUsage._meta.db_table)
    columns = ("tenant_id", "partner_id", "cycle_start", *_COUNTERS, "updated_at")
    increments = ", ".join(
        f"{quote(name)} = {table}.{quote(name)} + excluded.{quote(name)}" for name in _COUNTERS
    )
    sql = (  # names from the model's metadata; every value is a parameter
        f"INSERT INTO {table} ({', '.join(quote(column) for column in columns)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({quote('tenant_id')}, {quote('cycle_start')}) DO UPDATE SET "
        f"{increments}, {quote('updated_at')} = excluded.{quote('updated_at')}"
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    params = [
        (
            tenant_id,
            partner.id,
            connection.ops.adapt_datefield_value(cycle),
            *(counters.get(name, 0) for name in _COUNTERS),
            stamp,
        )
        for (tenant_id, cycle), counters in sorted(usage.items())
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


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
    except ValueError:
        return value  # refused with its field name by the checks


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
        if not row:
            continue
        if len(row) < len(MASTER_CSV_COLUMNS) - 1:
            yield {
                CSV_PROBLEM: f"the row has {len(row)} columns; Master.csv rows have "
                f"{len(MASTER_CSV_COLUMNS)}"
            }
            continue
        values = dict(zip(MASTER_CSV_COLUMNS, row, strict=False))
        context = values["dcontext"]
        direction = context.rsplit("-", 1)[-1] if "-" in context else ""
        record = {
            "call_id": values["uniqueid"],
            "tenant_id": tenants_by_account.get(values["accountcode"], ""),
            "direction": direction,
            "from": _e164(values["src"]),
            "to": _e164(values["dst"]),
            "started_at": _csv_time(values["start"], zone),
            "answered_at": _csv_time(values["answer"], zone) or None,
            "ended_at": _csv_time(values["end"], zone),
            "billsec": int(values["billsec"]) if values["billsec"].strip().isdigit() else -1,
        }
        yield record


def cdrs_import_csv(
    lines: Iterable[str], *, zone=UTC, batch_size: int = 5000, now: datetime | None = None
) -> IngestResult:
    """Import an Asterisk Master.csv stream for the whole platform, batch by batch.

    `accountcode` names the tenant by its SIP prefix (unique across the platform), which
    also gives the partner; each partner's rows go through `cdrs_ingest` like API
    records. Rows naming no known tenant are kept as rejections without a partner.
    Memory stays flat: one batch is read, rated and committed at a time.
    """
    now = now or timezone.now()
    book = RateBook()
    rater = book.rater()
    accounts = dict(Tenant.objects.values_list("sip_prefix", "id"))
    partner_of = dict(Tenant.objects.values_list("id", "partner_id"))
    partners = {partner.id: partner for partner in _partners(set(partner_of.values()))}
    result = IngestResult()
    batch: list[tuple[int, dict]] = []  # (row number in the file, record)

    def flush() -> None:
        by_partner: dict[str, list[dict]] = defaultdict(list)
        orphans: list[RejectedCallRecord] = []
        for number, record in batch:
            partner_id = partner_of.get(record.get("tenant_id", ""))
            if partner_id is None:
                reason = record.get(CSV_PROBLEM) or "no tenant has this accountcode (SIP prefix)"
                orphans.append(
                    RejectedCallRecord(
                        id=new_id("cdx"),
                        partner=None,
                        call_id=record.get("call_id", "")[:128],
                        reason=reason,
                        field="" if CSV_PROBLEM in record else "accountcode",
                        record=record,
                        source="csv",
                        received_at=now,
                    )
                )
                result.rejected.append(
                    {
                        "index": number,
                        "call_id": record.get("call_id", ""),
                        "reason": reason,
                        "field": None if CSV_PROBLEM in record else "accountcode",
                    }
                )
                continue
            by_partner[partner_id].append((number, record))
        if orphans:
            RejectedCallRecord.objects.bulk_create(orphans)
        for partner_id, numbered in by_partner.items():
            part = cdrs_ingest(
                actor=Actor.system(partner=partners[partner_id]),
                records=[record for _, record in numbered],
                source="csv",
                rater=rater,
                book=book,
                now=now,
                limit=batch_size,
            )
            for rejection in part.rejected:  # report rows of the file, not batch positions
                rejection["index"] = numbered[rejection["index"]][0]
            result.merge(part)
        batch.clear()

    records = master_csv_records(lines, tenants_by_account=accounts, zone=zone)
    for row_number, record in enumerate(records, start=1):
        batch.append((row_number, record))
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return result


def _partners(ids: set[str]):
    from trunkline.accounts.models import Partner

    return Partner.objects.filter(id__in=ids)
