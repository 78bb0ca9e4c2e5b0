"""Platform staff loading a block of numbers into the simulated carrier's inventory.

The CSV file is read whole and every row checked before anything is written: one bad
row refuses the whole file, and each problem names its row (row 1 is the header), so
staff fix the file and send it again instead of finding half a block on sale. Columns:

- `number` (required): E.164 (`+15012020100`) or ten NANP digits (`501-202-0100`);
- `type` (required): `local` or `toll_free`;
- `state`, `rate_center`, `city` (optional): for local numbers, taken from the
  exchange's geography (`geography.exchange_of`) when left empty; toll-free numbers have
  none.

Loaded numbers are `SupplyNumber` rows with `source` `block:<file name>`; they are found
by the Buy DIDs search like the generated inventory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from trunkline.core.actors import Actor
from trunkline.core.audit import audit_record
from trunkline.core.errors import Conflict, NotFound, ValidationFailed
from trunkline.phone_numbers import geography
from trunkline.phone_numbers.models import (
    TOLL_FREE_NPAS,
    NumberKind,
    PhoneNumber,
    SupplyNumber,
)
from trunkline.phone_numbers.supply import _row as supply_row
from trunkline.tenants.validation import US_STATES

COLUMNS = ("number", "type", "state", "rate_center", "city")
REQUIRED = ("number", "type")
MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 100_000
MAX_ERRORS = 50
_CHUNK = 1_000
_NANP = re.compile(r"[2-9]\d{2}[2-9]\d{6}")
_CITY = re.compile(r"[A-Za-z][A-Za-z .'\-]*")


class BlockRejected(ValidationFailed):
    """The file was refused; `errors` lists each problem as `row N: …`. The API's
    envelope keeps the contract's three fields: its message lists the first 50."""

    type = "block_rejected"

    def __init__(self, errors: list[str]):
        self.errors = errors
        shown = errors[:MAX_ERRORS]
        more = len(errors) - len(shown)
        summary = "; ".join(shown) + (f"; and {more} more" if more else "")
        super().__init__(f"the number block was not loaded: {summary}", field="file")


@dataclass(frozen=True)
class BlockLoadResult:
    loaded: int
    local: int
    toll_free: int
    source: str
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {
            "loaded": self.loaded,
            "local": self.local,
            "toll_free": self.toll_free,
            "source": self.source,
            "dry_run": self.dry_run,
        }


class _RowError(Exception):
    pass


def require_platform(actor: Actor) -> None:
    """Platform staff, or a platform API key; anyone else finds nothing here (404)."""
    if not actor.is_platform:
        raise NotFound("no such page")


def _digits(value: str) -> str:
    raw = value.strip()
    if raw.startswith("+"):
        if not raw.startswith("+1"):
            raise _RowError(f"number {value!r} is not a NANP number (+1)")
        raw = raw[2:]
    digits = re.sub(r"[\s().\-]", "", raw)
    if not digits.isascii() or not digits.isdigit():
        raise _RowError(f"number {value!r} is not a phone number")
    if len(digits) == 11 and digits.startswith("1") and not value.strip().startswith("+"):
        digits = digits[1:]
    if len(digits) != 10:
        raise _RowError(f"number {value!r} is not ten digits (or +1 and ten digits)")
    if not _NANP.fullmatch(digits):
        raise _RowError(
            f"number {value!r} is not a NANP number: area code and exchange start with 2-9"
        )
    return digits


def _parse_row(cells: dict[str, str]) -> SupplyNumber:
    if not cells.get("number"):
        raise _RowError("number is required")
    digits = _digits(cells["number"])
    kind = cells.get("type", "").lower()
    if kind not in (NumberKind.LOCAL, NumberKind.TOLL_FREE):
        raise _RowError(f"type {cells.get('type', '')!r} is local or toll_free")
    npa, nxx = digits[:3], digits[3:6]
    state = cells.get("state", "").upper()
    city = cells.get("city", "")
    rate_center = cells.get("rate_center", "").upper()
    if kind == NumberKind.TOLL_FREE:
        if npa not in TOLL_FREE_NPAS:
            raise _RowError(
                f"{npa} is not a toll-free code ({', '.join(TOLL_FREE_NPAS)}): "
                "is it a local number?"
            )
        if state or city or rate_center:
            raise _RowError("toll-free numbers have no state, city or rate center")
        return supply_row(digits, kind, source="")
    if npa in TOLL_FREE_NPAS:
        raise _RowError(f"{npa} is a toll-free code: a local row needs a geographic area code")
    if nxx[1:] == "11" or npa[1:] == "11":
        raise _RowError(f"{npa}-{nxx} is a service code (N11), not an assignable exchange")
    if nxx == "555":
        raise _RowError("555 exchanges are not assignable numbers")
    if state and state not in US_STATES:
        raise _RowError(f"state {cells['state']!r} is not a two-letter US state code")
    if len(city) > 64 or (city and not _CITY.fullmatch(city)):
        raise _RowError("city is at most 64 letters, spaces and . ' -")
    if len(rate_center) > 40:
        raise _RowError("rate_center is at most 40 characters")
    exchange = geography.exchange_of(npa, nxx)
    if exchange is not None:
        state = state or exchange.state
        city = city or (exchange.city if state == exchange.state else "")
    if not state:
        raise _RowError(
            f"state is required: the exchange {npa}-{nxx} is not one whose place is known"
        )
    row = supply_row(digits, kind, state=state, city=city, source="")
    if rate_center:
        row.rate_center = rate_center
    return row


def _read(content: bytes) -> list[tuple[int, dict[str, str] | None]]:
    if len(content) > MAX_BYTES:
        raise BlockRejected([f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB"])
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BlockRejected(["the file is not UTF-8 text"]) from None
    if "\x00" in text:
        raise BlockRejected(["the file is not CSV text (it holds NUL bytes)"])
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [(name or "").strip().lower() for name in reader.fieldnames or []]
    except csv.Error as error:
        raise BlockRejected([f"row 1: {error}"]) from None
    if not header:
        raise BlockRejected(["row 1: the file is empty; it needs a header row"])
    problems = []
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing:
        problems.append(f"row 1: missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"row 1: unknown column(s) {', '.join(unknown)}")
    if len(set(header)) != len(header):
        problems.append("row 1: a column is named twice")
    if problems:
        raise BlockRejected(problems)
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str] | None]] = []
    try:
        for row in reader:
            if len(rows) >= MAX_ROWS:
                raise BlockRejected([f"the file has more than {MAX_ROWS:,} numbers"])
            if None in row:
                rows.append((reader.line_num, None))
                continue
            cells = {name: (value or "").strip() for name, value in row.items()}
            if not any(cells.values()):
                continue
            rows.append((reader.line_num, cells))
    except csv.Error as error:
        raise BlockRejected([f"row {reader.line_num}: {error}"]) from None
    if not rows:
        raise BlockRejected(["the file has a header but no numbers"])
    return rows


def _taken(e164s: list[str]) -> tuple[set[str], set[str]]:
    """Which of these are already on sale, and which a partner already holds."""
    in_supply: set[str] = set()
    owned: set[str] = set()
    for start in range(0, len(e164s), _CHUNK):
        chunk = e164s[start : start + _CHUNK]
        in_supply.update(SupplyNumber.objects.filter(e164__in=chunk).values_list("e164", flat=True))
        owned.update(
            PhoneNumber.objects.filter(e164__in=chunk)
            .exclude(status=PhoneNumber.Status.DISCONNECTED)
            .values_list("e164", flat=True)
        )
    return in_supply, owned


def number_block_load(
    *, actor: Actor, content: bytes, filename: str = "", dry_run: bool = False
) -> BlockLoadResult:
    """Put every number of the CSV `content` on sale, or none of them. Raises
    BlockRejected listing each problem by row. `dry_run` checks the file and changes
    nothing."""
    require_platform(actor)
    name = (filename or "upload.csv").replace("\\", "/").rsplit("/", 1)[-1][:60]
    source = f"block:{name}"
    errors: list[str] = []
    parsed: list[tuple[int, SupplyNumber]] = []
    first_row: dict[str, int] = {}
    for line, cells in _read(content):
        if cells is None:
            errors.append(f"row {line}: more cells than columns")
            continue
        try:
            row = _parse_row(cells)
        except _RowError as error:
            errors.append(f"row {line}: {error}")
            continue
        if row.e164 in first_row:
            errors.append(
                f"row {line}: {row.e164} is listed twice (first on row {first_row[row.e164]})"
            )
            continue
        first_row[row.e164] = line
        row.source = source
        parsed.append((line, row))
    in_supply, owned = _taken([row.e164 for _, row in parsed])
    for line, row in parsed:
        if row.e164 in owned:
            errors.append(f"row {line}: {row.e164} already belongs to a partner")
        elif row.e164 in in_supply:
            errors.append(f"row {line}: {row.e164} is already in the inventory")
    if errors:
        errors.sort(key=lambda text: int(text.split(":")[0].removeprefix("row ")))
        raise BlockRejected(errors)
    rows = [row for _, row in parsed]
    local = sum(row.kind == NumberKind.LOCAL for row in rows)
    result = BlockLoadResult(len(rows), local, len(rows) - local, source, dry_run)
    if dry_run:
        return result
    try:
        with transaction.atomic():
            SupplyNumber.objects.bulk_create(rows, batch_size=2_000)
            audit_record(
                actor=actor,
                partner=None,
                action="number_block.loaded",
                object_type="number_block",
                object_id=hashlib.sha256(content).hexdigest()[:32],
                after={**result.as_dict(), "filename": name},
            )
    except IntegrityError:
        # Another load (or a purchase returning a number) took one of them meanwhile.
        raise Conflict(
            "some of these numbers were added meanwhile; check the file again",
            field="file",
            type="number_block_conflict",
        ) from None
    return result
