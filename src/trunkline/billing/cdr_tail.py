"""Following Asterisk's Master.csv as it grows: `trunkline import-cdrs --follow`.

`CdrTail.step()` reads one round: every complete line appended since the last one, in
batches, each batch's records stored (checked, rated, counted, charged, their events
emitted, as `cdrs_import_csv` does) in one transaction with the file's new offset
(`CdrSource`). A crash at any point therefore leaves the stored records and the offset
in step: the next round, in this process or a new one, starts at the first line whose
records did not commit. Records are idempotent by call id as well, so even reading a
line twice would store nothing twice.

Only complete lines are read: a last line without its newline is still being written
and waits for the next round. A file replaced under the same name (its device, inode or
first line changed: rotation) or cut shorter than the offset (truncation) is read again
from its start. A file that was being read when it was moved away is first read to its
end through the handle kept on it, so lines Asterisk wrote just before the rotation are
not lost.

`cdr_follow` repeats rounds until asked to stop, waiting on a `threading.Event` between
them, so tests drive single rounds with no threads or sleeps.
"""

from __future__ import annotations

import csv
import hashlib
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from trunkline.billing import cdrs
from trunkline.billing.models import CdrSource
from trunkline.billing.rates import RateBook

DEFAULT_BATCH = 20_000
# A Master.csv line is a few hundred bytes. A longer "line" is damage (a file of another
# kind, a lost newline): it is consumed and refused as one row rather than held in memory.
LONGEST_LINE = 1 << 20
# How long a rate book serves a follower before rates, plans and prices are read again.
RATES_MAX_AGE = 60.0
REJECTIONS_SHOWN = 100


class SourceMoved(RuntimeError):
    """The stored offset changed under this process (another follower of the same file):
    the batch is rolled back and the next round starts from what is stored."""


@dataclass
class TailRound:
    """What one round did."""

    path: str
    offset: int = 0  # bytes of the file consumed after the round
    lines: int = 0  # complete lines consumed in the round
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[dict] = field(default_factory=list)  # the first ones, with line numbers
    restarted: str = ""  # why the file was read from its start: rotated, replaced, truncated
    drained: int = 0  # lines read from the end of a rotated file before switching
    waiting_bytes: int = 0  # a last line not complete yet
    missing: bool = False  # no file at the path (Asterisk creates it with the first call)
    moved: bool = False  # another follower moved the offset; this round's batch undone
    note: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.lines or self.drained or self.restarted or self.moved or self.note)

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "offset": self.offset,
            "lines": self.lines,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejections": self.rejections,
            "restarted": self.restarted or None,
            "drained": self.drained,
            "waiting_bytes": self.waiting_bytes,
            "missing": self.missing,
            "moved": self.moved,
            "note": self.note or None,
        }


@dataclass(frozen=True)
class _Position:
    """Which file the stored offset belongs to, and the offset."""

    device: str
    inode: str
    first_line_sha256: str
    offset: int

    @classmethod
    def of(cls, source: CdrSource) -> _Position:
        return cls(source.device, source.inode, source.first_line_sha256, source.offset)


def _identity(stat: os.stat_result) -> tuple[str, str]:
    return str(stat.st_dev), str(stat.st_ino)


def _first_line_sha256(handle) -> str:
    """The hash of the file's first line (up to LONGEST_LINE), read without moving the
    handle; "" while the file has no complete line."""
    head = os.pread(handle.fileno(), 4096, 0)
    end = head.find(b"\n")
    if end < 0 and len(head) == 4096:
        head = os.pread(handle.fileno(), LONGEST_LINE, 0)
        end = head.find(b"\n")
    if end < 0:
        return ""
    return hashlib.sha256(head[: end + 1]).hexdigest()


class CdrTail:
    """One followed file. `step()` reads a round; `close()` lets go of the file."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        zone=UTC,
        batch_size: int = DEFAULT_BATCH,
        pipeline: bool | None = None,
        rates_max_age: float = RATES_MAX_AGE,
    ):
        self.path = os.path.abspath(os.fspath(path))
        self.zone, self.batch_size, self.pipeline = zone, batch_size, pipeline
        self.rates_max_age = rates_max_age
        self._handle = None  # the file being read, kept open between rounds
        self._book: RateBook | None = None
        self._book_read_at = 0.0

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def step(self, *, stop: threading.Event | None = None) -> TailRound:
        """Read what was appended since the last round (see the module's description)."""
        result = TailRound(path=self.path)
        source, _ = CdrSource.objects.get_or_create(path=self.path)
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            current = None
        read_to_its_end = False  # the file the offset belongs to, through the handle
        if self._handle is not None:
            held = os.fstat(self._handle.fileno())
            if current is None or _identity(current) != _identity(held):
                # Moved away (rotated) or deleted: what it got before that is read first.
                if _identity(held) == (source.device, source.inode):
                    position = _Position.of(source)
                    self._read(self._handle, position, position, result, stop)
                    result.drained, result.lines = result.lines, 0
                    read_to_its_end = not result.moved
                    source = CdrSource.objects.get(pk=source.pk)
                    if stop is not None and stop.is_set():
                        return result  # asked to stop before its end: keep the handle
                self.close()
        if current is None:
            result.missing, result.offset = True, source.offset
            return result
        if self._handle is None:
            self._handle = open(self.path, "rb")  # noqa: SIM115 - held across rounds
        stat = os.fstat(self._handle.fileno())  # the file opened, even if renamed since
        stored = _Position.of(source)
        here = _Position(*_identity(stat), _first_line_sha256(self._handle), 0)
        if stored.offset:
            if (here.device, here.inode) != (stored.device, stored.inode):
                result.restarted = "rotated" if read_to_its_end else "replaced"
            elif stat.st_size < stored.offset or here.first_line_sha256 != stored.first_line_sha256:
                result.restarted = "truncated"  # cut, and perhaps written past the offset again
            if result.restarted in ("replaced", "truncated"):
                result.note = (
                    f"{self.path} was {result.restarted} before all of it was read: lines "
                    f"written to it after byte {stored.offset} before that were not read "
                    "here. If they are in a rotated copy, import that once with `trunkline "
                    "import-cdrs FILE` (records already stored are skipped)."
                )
        if result.restarted:
            # Start this file from 0 in a transaction of its own: if the first batch is a
            # while coming (an empty new file), later rounds see nothing to restart.
            here = _Position(here.device, here.inode, "", 0)
            if not _position_move(self.path, stored, here, lines=0, counters=(0, 0, 0)):
                result.moved = True
                result.offset = CdrSource.objects.get(pk=source.pk).offset
                return result
            stored = here
        else:
            here = replace(here, offset=stored.offset)
        self._read(self._handle, stored, here, result, stop)
        return result

    def _read(self, handle, stored: _Position, start: _Position, result, stop) -> None:
        """Consume complete lines from `start.offset` to the end, batch by batch, each
        batch in one transaction with the offset it reaches. `stored` is the position
        the database holds now."""
        before = CdrSource.objects.get(path=self.path)
        handle.seek(start.offset)
        now = timezone.now()
        connection = transaction.get_connection()
        pipeline = self.pipeline
        if connection.in_atomic_block:
            pipeline = False
        elif pipeline is None:
            pipeline = connection.vendor in cdrs.PIPELINED_VENDORS
        importer, writer = None, None
        expected, offset = stored, start.offset
        lines_done = before.lines
        try:
            with ExitStack() as stack:
                while not (stop is not None and stop.is_set()):
                    lines, size, result.waiting_bytes = _complete_lines(handle, self.batch_size)
                    if not lines:
                        break
                    if importer is None:
                        book = self._rate_book()
                        importer = cdrs.csv_importer(book, zone=self.zone, now=now)
                    elif pipeline and writer is None:
                        # A backlog (a second batch in one round): the writer thread
                        # stores from here on. A round of one batch, the usual case once
                        # caught up, costs no thread and no second connection.
                        writer = stack.enter_context(cdrs.pipelined_writer(_commit_job))
                    if offset == 0:
                        # Only now is the first line surely complete.
                        start = replace(start, first_line_sha256=_first_line_sha256(handle))
                    duplicates_before = importer.result.duplicates
                    batch = importer.prepare(_rows(lines, first_number=lines_done + 1))
                    offset += size
                    lines_done += len(lines)
                    successor = replace(start, offset=offset)
                    job = _Job(
                        importer=importer,
                        batch=batch,
                        path=self.path,
                        expected=expected,
                        successor=successor,
                        lines=lines_done,
                        duplicates_in_batch=importer.result.duplicates - duplicates_before,
                        now=now,
                    )
                    if writer is not None:
                        writer.put(job)
                    else:
                        _commit_job(job)
                    expected = successor
                if writer is not None:
                    writer.finish()
        except SourceMoved:
            result.moved = True
        after = CdrSource.objects.get(path=self.path)
        result.offset = after.offset
        if importer is None or result.moved or after.updated_at == before.updated_at:
            return
        # The stored counters moved with the batches, in their transactions.
        result.lines += after.lines - before.lines
        result.accepted += after.accepted - before.accepted
        result.duplicates += after.duplicates - before.duplicates
        result.rejected += after.rejected - before.rejected
        result.rejections.extend(importer.result.rejected[:REJECTIONS_SHOWN])

    def _rate_book(self) -> RateBook:
        """Rates, plans and prices, read again once they are `rates_max_age` old."""
        if self._book is None or time.monotonic() - self._book_read_at >= self.rates_max_age:
            self._book = RateBook()
            self._book_read_at = time.monotonic()
        return self._book


@dataclass
class _Job:
    """A prepared batch and the move of the offset that goes with it."""

    importer: object
    batch: object
    path: str
    expected: _Position  # what the row must still hold
    successor: _Position  # what it holds after the batch
    lines: int
    duplicates_in_batch: int  # repeated within the batch, found while preparing it
    now: datetime


def _commit_job(job: _Job) -> tuple[int, int]:
    """Store a batch and move the offset past it, in one transaction."""

    def move_offset(accepted: int, duplicates: int) -> None:
        counts = (accepted, duplicates + job.duplicates_in_batch, len(job.batch.rejected))
        if not _position_move(
            job.path, job.expected, job.successor, lines=job.lines, added=counts, now=job.now
        ):
            raise SourceMoved(job.path)

    return job.importer.commit(job.batch, also=move_offset)


def _position_move(
    path, expected: _Position, successor: _Position, *, lines, counters=None, added=None, now=None
) -> bool:
    """Move the stored position from `expected` to `successor`, if it still holds
    `expected`; the file's counters set to `counters` or increased by `added`."""
    names = ("accepted", "duplicates", "rejected")
    if counters is not None:
        values = dict(zip(names, counters, strict=True))
    else:
        values = {name: F(name) + count for name, count in zip(names, added, strict=True)}
    moved = CdrSource.objects.filter(
        path=path,
        device=expected.device,
        inode=expected.inode,
        first_line_sha256=expected.first_line_sha256,
        offset=expected.offset,
    ).update(
        device=successor.device,
        inode=successor.inode,
        first_line_sha256=successor.first_line_sha256,
        offset=successor.offset,
        lines=lines,
        updated_at=now or timezone.now(),
        **values,
    )
    return moved == 1


def _complete_lines(handle, batch_size: int) -> tuple[list[bytes], int, int]:
    """Up to `batch_size` complete lines from the handle's position: (lines, their bytes,
    bytes of an incomplete last line left for later). The handle ends after the last
    complete line."""
    lines: list[bytes] = []
    size = 0
    while len(lines) < batch_size:
        line = handle.readline(LONGEST_LINE)
        if not line:
            return lines, size, 0
        if not line.endswith(b"\n"):
            if len(line) < LONGEST_LINE:  # still being written
                handle.seek(-len(line), os.SEEK_CUR)
                return lines, size, len(line)
            rest = _skip_to_newline(handle)
            if rest is None:  # the over-long line is not finished either
                handle.seek(-len(line), os.SEEK_CUR)
                return lines, size, len(line)
            size += len(line) + rest
            lines.append(b"(a line longer than 1 MiB)\n")
            continue
        lines.append(line)
        size += len(line)
    return lines, size, 0


def _skip_to_newline(handle) -> int | None:
    """Bytes up to and including the next newline, consumed; None (nothing consumed) if
    the file has none yet."""
    start = handle.tell()
    skipped = 0
    while True:
        chunk = handle.read(1 << 16)
        if not chunk:
            handle.seek(start)
            return None
        end = chunk.find(b"\n")
        if end >= 0:
            skipped += end + 1
            handle.seek(start + skipped)
            return skipped
        skipped += len(chunk)


def _rows(lines: list[bytes], *, first_number: int) -> list[tuple[int, list[str]]]:
    """(line number, CSV row) for the non-empty lines. A byte that is not UTF-8 becomes
    U+FFFD rather than stopping the follower on a line it could never get past; a line
    the CSV reader refuses becomes a one-column row, refused with its reason."""
    text = [line.decode("utf-8", "replace") for line in lines]
    try:
        rows = list(csv.reader(text))
        if len(rows) == len(text):
            return [(first_number + index, row) for index, row in enumerate(rows) if row]
    except csv.Error:
        pass
    numbered = []
    for index, line in enumerate(text):
        try:
            parsed = list(csv.reader([line]))
        except csv.Error:
            parsed = [[line]]
        row = parsed[0] if len(parsed) == 1 else [line]
        if row:
            numbered.append((first_number + index, row))
    return numbered


def cdr_follow(
    tail: CdrTail,
    *,
    stop: threading.Event,
    poll_seconds: float = 1.0,
    once: bool = False,
    report=None,
) -> None:
    """Read rounds until `stop` is set (or one round, `once`), waiting `poll_seconds`
    between them; `report(round)` is told of each round that changed something."""
    reported_missing = False
    while True:
        result = tail.step(stop=stop)
        news = result.changed or (result.missing and not reported_missing)
        reported_missing = result.missing
        if report is not None and (news or once):
            report(result)
        if once or stop.wait(poll_seconds):
            return
