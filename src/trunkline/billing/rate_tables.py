"""Loading a carrier's outbound rate deck (or the platform's sell prices) from CSV.

The file is read whole and every row checked before anything is written: one bad row
refuses the upload, and the error names its row, so staff fix the file and send it again
instead of finding half a deck in force. Rows are effective-dated; an open-ended rate the
file supersedes (same carrier and prefix, started earlier) is closed where the new one
starts, which is how a new deck replaces the old without editing rows by hand.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from django.db import transaction

from trunkline.billing.models import OutboundRate, Provider
from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import NotFound, ValidationFailed
from trunkline.core.money import Money, MoneyError

COLUMNS = (
    "prefix",
    "description",
    "per_minute",
    "connection_fee",
    "first_increment",
    "step_increment",
    "effective_from",
    "effective_to",
)
REQUIRED = frozenset(COLUMNS) - {"description", "connection_fee", "effective_to"}
MAX_ROWS = 200_000
MAX_PREFIX = 15
MAX_INCREMENT = 3600  # an hour; the model's small integer holds far more, no carrier does
MAX_ERRORS = 50


class RateUploadRejected(ValidationFailed):
    """The file was refused; `errors` lists each problem as `row N: …` (row 1 = header)."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:MAX_ERRORS]
        more = len(errors) - len(shown)
        summary = "; ".join(shown) + (f"; and {more} more" if more else "")
        super().__init__(f"the rate file was not loaded: {summary}", field="file")


@dataclass
class RateUploadResult:
    created: int
    closed: int  # open-ended rates ended where a new row starts
    provider: Provider | None
    prefixes: int = 0
    rows: list[OutboundRate] = field(default_factory=list, repr=False)


class _RowError(Exception):
    pass


def _moment(value: str, name: str) -> datetime:
    """A date (midnight UTC) or an ISO-8601 time with its UTC offset."""
    try:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _RowError(f"{name} {value!r} is not a date (YYYY-MM-DD) or an ISO time") from None
    if moment.tzinfo is None:
        raise _RowError(f"{name} {value!r} needs a UTC offset (…Z or +00:00)")
    return moment


def _money(value: str, name: str, *, default: str | None = None) -> int:
    if value == "" and default is not None:
        value = default
    if value == "":
        raise _RowError(f"{name} is required")
    try:
        amount = Money.parse(value)
    except MoneyError as error:
        raise _RowError(f"{name}: {error}") from None
    if amount.micros < 0:
        raise _RowError(f"{name} is not negative")
    return amount.micros


def _increment(value: str, name: str) -> int:
    if not value.isdigit():
        raise _RowError(f"{name} {value!r} is a whole number of seconds")
    seconds = int(value)
    if not 1 <= seconds <= MAX_INCREMENT:
        raise _RowError(f"{name} is between 1 and {MAX_INCREMENT} seconds")
    return seconds


def _parse_row(row: dict[str, str]) -> OutboundRate:
    prefix = row["prefix"].removeprefix("+")
    if not prefix.isascii() or not prefix.isdigit():
        raise _RowError(f"prefix {row['prefix']!r} is digits only, country code first")
    if len(prefix) > MAX_PREFIX:
        raise _RowError(f"prefix has at most {MAX_PREFIX} digits")
    description = row.get("description", "")
    if len(description) > 100:
        raise _RowError("description has at most 100 characters")
    starts = _moment(row["effective_from"], "effective_from") if row["effective_from"] else None
    if starts is None:
        raise _RowError("effective_from is required")
    ends = _moment(row["effective_to"], "effective_to") if row.get("effective_to") else None
    if ends is not None and ends <= starts:
        raise _RowError("effective_to is after effective_from")
    return OutboundRate(
        prefix=prefix,
        description=description,
        per_minute_micros=_money(row["per_minute"], "per_minute"),
        connection_micros=_money(row.get("connection_fee", ""), "connection_fee", default="0"),
        first_increment=_increment(row["first_increment"], "first_increment"),
        step_increment=_increment(row["step_increment"], "step_increment"),
        effective_from=starts,
        effective_to=ends,
    )


def _read(content: bytes) -> list[tuple[int, dict[str, str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RateUploadRejected(["the file is not UTF-8 text"]) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    if not header:
        raise RateUploadRejected(["row 1: the file is empty; it needs a header row"])
    missing = [name for name in COLUMNS if name in REQUIRED and name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    problems = []
    if missing:
        problems.append(f"row 1: missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"row 1: unknown column(s) {', '.join(unknown)}")
    if len(set(header)) != len(header):
        problems.append("row 1: a column is named twice")
    if problems:
        raise RateUploadRejected(problems)
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            number = reader.line_num
            if len(rows) >= MAX_ROWS:
                raise RateUploadRejected([f"the file has more than {MAX_ROWS:,} rates"])
            if None in row:
                rows.append((number, None))  # more cells than columns
                continue
            cells = {name: (value or "").strip() for name, value in row.items()}
            if not any(cells.values()):
                continue  # blank line
            rows.append((number, cells))
    except csv.Error as error:
        raise RateUploadRejected([f"row {reader.line_num}: {error}"]) from None
    if not rows:
        raise RateUploadRejected(["the file has a header but no rates"])
    return rows


def _row_number(error: str) -> int:
    return int(error.split(":")[0].removeprefix("row "))


def _overlaps(a_from, a_to, b_from, b_to) -> bool:
    return (b_to is None or a_from < b_to) and (a_to is None or b_from < a_to)


def outbound_rates_upload(
    *, actor: Actor, content: bytes, provider_id: str | None, filename: str = ""
) -> RateUploadResult:
    """Add every rate in the CSV `content` to `provider_id`'s table (None: the platform's
    international sell prices), or none of them. Raises RateUploadRejected with every
    problem found, each naming its row."""
    if not actor.is_staff:
        raise NotFound("no such page")
    provider = None
    if provider_id:
        provider = Provider.objects.filter(id=provider_id).first()
        if provider is None:
            raise ValidationFailed("no such carrier", field="provider")

    errors: list[str] = []
    parsed: list[tuple[int, OutboundRate]] = []
    for number, cells in _read(content):
        if cells is None:
            errors.append(f"row {number}: more cells than columns")
            continue
        try:
            rate = _parse_row(cells)
        except _RowError as error:
            errors.append(f"row {number}: {error}")
            continue
        rate.provider = provider
        parsed.append((number, rate))

    # Two rows of the file for one prefix may not be in force at the same moment.
    by_prefix: dict[str, list[tuple[int, OutboundRate]]] = {}
    for number, rate in parsed:
        for other_number, other in by_prefix.get(rate.prefix, ()):
            if _overlaps(
                rate.effective_from, rate.effective_to, other.effective_from, other.effective_to
            ):
                errors.append(
                    f"row {number}: prefix {rate.prefix} overlaps row {other_number}'s dates"
                )
                break
        by_prefix.setdefault(rate.prefix, []).append((number, rate))
    if errors:
        raise RateUploadRejected(sorted(errors, key=_row_number))

    with transaction.atomic():
        existing: dict[str, list[OutboundRate]] = {}
        table = OutboundRate.objects.select_for_update().filter(
            provider=provider, prefix__in=list(by_prefix)
        )
        for row in table.order_by("prefix", "effective_from"):
            existing.setdefault(row.prefix, []).append(row)
        to_close: dict[str, tuple[OutboundRate, datetime]] = {}
        for prefix, new_rows in by_prefix.items():
            for old in existing.get(prefix, ()):
                old_ends = old.effective_to
                later = [rate.effective_from for _, rate in new_rows]
                later = [starts for starts in later if starts > old.effective_from]
                if old_ends is None and later:
                    old_ends = min(later)
                    to_close[old.id] = (old, old_ends)
                for number, rate in new_rows:
                    if _overlaps(
                        rate.effective_from, rate.effective_to, old.effective_from, old_ends
                    ):
                        errors.append(
                            f"row {number}: prefix {prefix} overlaps rate {old.id} in force "
                            f"from {old.effective_from:%Y-%m-%d}"
                            + (f" to {old_ends:%Y-%m-%d}" if old_ends else "")
                        )
        if errors:
            raise RateUploadRejected(sorted(errors, key=_row_number))
        for old, ends in to_close.values():
            OutboundRate.objects.filter(id=old.id).update(effective_to=ends)
        rows = OutboundRate.objects.bulk_create([rate for _, rate in parsed], batch_size=2000)
        audit_record(
            actor=actor,
            partner=None,
            action="rates.outbound_uploaded",
            object_type="provider" if provider else "platform_rates",
            object_id=provider.id if provider else "international",
            after={
                "file": filename[:200],
                "created": len(rows),
                "closed": len(to_close),
                "prefixes": len(by_prefix),
            },
        )
    return RateUploadResult(
        created=len(rows),
        closed=len(to_close),
        provider=provider,
        prefixes=len(by_prefix),
        rows=rows,
    )
