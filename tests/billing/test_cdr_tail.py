"""`trunkline import-cdrs --follow`: Asterisk's Master.csv read as it grows (issue 8,
part 3). Each round is driven by hand (`CdrTail.step`), with no threads or sleeps; "the
process dies" is a tail object dropped without being closed, and a new one made."""

import json
import os

import pytest

from tests.billing.master_csv import row
from tests.factories import make_tenant
from trunkline.billing.cdr_tail import CdrTail
from trunkline.billing.models import CallRecord, CdrSource, RejectedCallRecord, TenantUsage
from trunkline.cli import main

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant(admin, carrier):
    return make_tenant(admin, name="Ozark Plumbing", sip_prefix="ozark")


@pytest.fixture
def master(tmp_path):
    return tmp_path / "Master.csv"


def append(path, text: str) -> None:
    with open(path, "a", encoding="utf-8", newline="") as out:
        out.write(text)


def stored_call_ids() -> list[str]:
    return sorted(CallRecord.objects.values_list("call_id", flat=True))


class StopAfter:
    """A stop event that is set once the follower has looked at it `rounds` times: the
    follower checks it before each batch."""

    def __init__(self, batches: int):
        self.left = batches

    def is_set(self) -> bool:
        self.left -= 1
        return self.left < 0


def test_a_file_appended_in_several_rounds_ends_with_exactly_the_records_written(master, tenant):
    tail = CdrTail(master)
    master.write_text(row("a.1") + row("a.2"))
    first = tail.step()
    assert (first.lines, first.accepted, first.duplicates, first.rejected) == (2, 2, 0, 0)

    append(master, row("a.3"))
    assert tail.step().accepted == 1
    nothing = tail.step()
    assert (nothing.lines, nothing.accepted) == (0, 0) and not nothing.changed

    append(master, row("a.4") + row("a.5") + row("a.6"))
    assert tail.step().accepted == 3
    assert stored_call_ids() == ["a.1", "a.2", "a.3", "a.4", "a.5", "a.6"]
    source = CdrSource.objects.get()
    assert source.path == str(master)
    assert (source.offset, source.lines) == (master.stat().st_size, 6)
    assert (source.accepted, source.duplicates, source.rejected) == (6, 0, 0)
    assert TenantUsage.objects.get(tenant=tenant).calls == 6


def test_a_half_written_line_waits_and_is_read_once_complete(master, tenant):
    whole, half = row("b.1"), row("b.2")
    master.write_text(whole + half[:40])
    tail = CdrTail(master)
    first = tail.step()
    assert (first.accepted, first.waiting_bytes, first.offset) == (1, 40, len(whole))
    assert tail.step().accepted == 0  # still not finished

    append(master, half[40:])
    second = tail.step()
    assert (second.accepted, second.duplicates, second.rejected) == (1, 0, 0)
    assert second.waiting_bytes == 0
    assert stored_call_ids() == ["b.1", "b.2"]
    assert RejectedCallRecord.objects.count() == 0


def test_after_a_crash_the_next_process_resumes_at_the_exact_byte(master, tenant, partner):
    from trunkline.billing import ledger

    lines = [row(f"c.{number}") for number in range(1, 6)]
    master.write_text("".join(lines))
    # Batches of two rows; the process dies once the first batch is stored.
    dying = CdrTail(master, batch_size=2)
    first = dying.step(stop=StopAfter(1))
    assert first.accepted == 2
    assert CdrSource.objects.get().offset == len(lines[0]) + len(lines[1])
    assert stored_call_ids() == ["c.1", "c.2"]
    del dying  # never closed, never told: its memory is gone

    restarted = CdrTail(master, batch_size=2)
    second = restarted.step()
    assert (second.lines, second.accepted, second.duplicates) == (3, 3, 0)
    assert stored_call_ids() == [f"c.{number}" for number in range(1, 6)]
    source = CdrSource.objects.get()
    assert (source.offset, source.lines, source.accepted) == (master.stat().st_size, 5, 5)
    # Counted and charged once each: 5 calls of 66 billable seconds at $0.020 a minute.
    assert TenantUsage.objects.get(tenant=tenant).calls == 5
    assert ledger.wallet_balance(partner).micros == -5 * 22_000


def test_a_batch_whose_offset_cannot_be_stored_stores_no_records(master, tenant):
    """The records of a batch and the offset after it commit together: when the offset
    cannot be moved (another follower of the same file moved it meanwhile), the batch's
    records are rolled back with it."""
    master.write_text(row("d.1") + row("d.2"))
    tail = CdrTail(master, batch_size=1)
    assert tail.step(stop=StopAfter(1)).accepted == 1

    class AnotherFollower(StopAfter):
        def is_set(self):
            # Just before the next batch, another process stores a different offset.
            CdrSource.objects.update(offset=1)
            return super().is_set()

    result = tail.step(stop=AnotherFollower(1))
    assert result.moved and result.accepted == 0
    assert stored_call_ids() == ["d.1"]  # d.2 was stored and rolled back with the offset
    assert CdrSource.objects.get().offset == 1


def test_a_rotated_file_is_read_to_its_end_and_the_new_one_from_its_start(master, tenant):
    tail = CdrTail(master)
    master.write_text(row("e.1"))
    assert tail.step().accepted == 1
    append(master, row("e.2"))  # written just before logrotate moves the file away
    master.rename(master.with_name("Master.csv.1"))
    master.write_text(row("e.3") + row("e.4"))

    result = tail.step()
    assert (result.drained, result.restarted, result.lines) == (1, "rotated", 2)
    assert (result.accepted, result.note) == (3, "")
    assert stored_call_ids() == ["e.1", "e.2", "e.3", "e.4"]
    source = CdrSource.objects.get()
    assert (source.offset, source.lines) == (master.stat().st_size, 2)
    assert source.inode == str(master.stat().st_ino)


def test_a_file_replaced_while_not_followed_starts_from_byte_0_and_says_so(master, tenant):
    master.write_text(row("f.1") + row("f.2"))
    CdrTail(master).step()
    master.rename(master.with_name("Master.csv.1"))
    master.write_text(row("f.3"))

    result = CdrTail(master).step()
    assert (result.restarted, result.accepted) == ("replaced", 1)
    assert "import-cdrs" in result.note
    assert stored_call_ids() == ["f.1", "f.2", "f.3"]


def test_an_empty_file_after_a_rotation_is_reported_once(master, tenant):
    tail = CdrTail(master)
    master.write_text(row("f.4"))
    tail.step()
    master.rename(master.with_name("Master.csv.1"))
    master.write_text("")  # logrotate's create: the new file is empty until the next call
    assert tail.step().restarted == "rotated"
    quiet = tail.step()
    assert not quiet.changed and CdrSource.objects.get().offset == 0
    master.write_text(row("f.5"))
    assert (tail.step().accepted, CdrSource.objects.get().offset) == (1, master.stat().st_size)


def test_a_truncated_file_starts_again_from_byte_0(master, tenant):
    tail = CdrTail(master)
    master.write_text(row("g.1") + row("g.2") + row("g.3"))
    assert tail.step().accepted == 3
    with open(master, "w") as out:  # the same file (inode), cut to nothing and written again
        out.write(row("g.4"))
    assert os.stat(master).st_size < CdrSource.objects.get().offset

    result = tail.step()
    assert (result.restarted, result.accepted) == ("truncated", 1)
    assert CdrSource.objects.get().offset == master.stat().st_size


def test_a_file_cut_and_written_past_the_offset_again_is_known_by_its_first_line(master, tenant):
    tail = CdrTail(master)
    master.write_text(row("h.1"))
    assert tail.step().accepted == 1
    with open(master, "w") as out:  # copytruncate, then more calls than before
        out.write(row("h.2") + row("h.3"))

    result = tail.step()
    assert (result.restarted, result.accepted, result.duplicates) == ("truncated", 2, 0)
    assert stored_call_ids() == ["h.1", "h.2", "h.3"]


def test_reading_the_same_lines_again_stores_nothing_twice(master, tenant):
    master.write_text(row("i.1") + row("i.2"))
    CdrTail(master).step()
    CdrSource.objects.all().delete()  # the position is lost: the file is read again
    result = CdrTail(master).step()
    assert (result.accepted, result.duplicates) == (0, 2)
    assert CallRecord.objects.count() == 2
    assert TenantUsage.objects.get(tenant=tenant).calls == 2


def test_rejected_rows_in_a_followed_file_are_kept_with_their_line(master, tenant):
    tail = CdrTail(master)
    master.write_bytes(
        (row("j.1") + row("j.2", account="nobody") + '"ozark","too","few"\n' + "\n").encode()
        + b'not UTF-8 \xff, a "quote\r and a carriage return\n'
        + row("j.3").encode()
    )
    result = tail.step()
    assert (result.lines, result.accepted, result.rejected) == (6, 2, 3)
    lines = {rejection["index"]: rejection["reason"] for rejection in result.rejections}
    assert set(lines) == {2, 3, 5}
    assert "accountcode" in lines[2] and "columns" in lines[3]
    kept = RejectedCallRecord.objects.filter(source="csv")
    assert kept.count() == 3
    assert CdrSource.objects.get().rejected == 3
    assert CdrSource.objects.get().offset == master.stat().st_size


def test_an_endless_line_is_consumed_and_refused(master, tenant):
    master.write_text("x" * (1 << 20) + "y" * 100 + "\n" + row("k.1"))
    result = CdrTail(master).step()
    assert (result.accepted, result.rejected) == (1, 1)
    assert CdrSource.objects.get().offset == master.stat().st_size


def test_a_missing_file_is_waited_for(master, tenant):
    tail = CdrTail(master)
    assert tail.step().missing
    master.write_text(row("l.1"))
    result = tail.step()
    assert (result.missing, result.accepted) == (False, 1)


def test_the_call_engine_clock_applies_when_following(master, tenant):
    from zoneinfo import ZoneInfo

    master.write_text(row("m.1"))
    CdrTail(master, zone=ZoneInfo("America/Chicago")).step()
    assert CallRecord.objects.get().started_at.isoformat() == "2026-11-10T21:00:00+00:00"


# --- the command ---------------------------------------------------------------------


def test_follow_once_through_the_command_line(master, tenant, capsys):
    master.write_text(row("n.1") + row("n.2", account="nobody"))
    assert main(["import-cdrs", "--follow", "--once", str(master)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(out) == 1
    assert out[0]["path"] == str(master)
    assert (out[0]["lines"], out[0]["accepted"], out[0]["rejected"]) == (2, 1, 1)
    assert out[0]["offset"] == master.stat().st_size

    append(master, row("n.3"))
    assert main(["import-cdrs", "--follow", "--once", "--batch-size", "1", str(master)]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["lines"], again["accepted"], again["duplicates"]) == (1, 1, 0)
    assert stored_call_ids() == ["n.1", "n.3"]


def test_follow_once_on_a_file_not_there_yet(tmp_path, capsys, db):
    assert main(["import-cdrs", "--follow", "--once", str(tmp_path / "Master.csv")]) == 0
    assert json.loads(capsys.readouterr().out)["missing"] is True


def test_one_shot_without_follow_keeps_no_position(master, tenant, capsys):
    master.write_text(row("o.1"))
    assert main(["import-cdrs", str(master)]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] == 1
    assert not CdrSource.objects.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import-cdrs", "--follow", "-"], "standard input"),
        (["import-cdrs", "--once", "Master.csv"], "--once goes with --follow"),
        (["import-cdrs", "--follow", "/nonexistent/dir/Master.csv"], "no directory"),
    ],
)
def test_follow_arguments_refused(capsys, db, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("poll", ["0", "-1", "soon", "nan", "7200"])
def test_the_poll_interval_is_checked(capsys, poll):
    with pytest.raises(SystemExit) as exited:
        main(["import-cdrs", "--follow", "--poll", poll, "Master.csv"])
    assert exited.value.code == 2
    assert "--poll" in capsys.readouterr().err


def test_follow_arguments_parse():
    from trunkline.cli import build_parser

    args = build_parser().parse_args(
        ["import-cdrs", "--follow", "--poll", "0.25", "--batch-size", "500", "/var/Master.csv"]
    )
    assert (args.follow, args.poll, args.batch_size, args.once) == (True, 0.25, 500, False)
    defaults = build_parser().parse_args(["import-cdrs", "Master.csv"])
    assert (defaults.follow, defaults.poll, defaults.batch_size) == (False, 1.0, 20_000)
