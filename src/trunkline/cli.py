"""The `trunkline` command: set-up, staff tools, and running the platform."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trunkline.settings")
    import django

    django.setup()


def _print_json(value: dict) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def _fail(message: str, code: int = 1) -> int:
    sys.stderr.write(f"trunkline: {message}\n")
    return code


def cmd_migrate(args) -> int:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0 if args.quiet else 1)
    return 0


def cmd_create_partner(args) -> int:
    from trunkline.accounts.services import partner_create
    from trunkline.core.actors import Actor
    from trunkline.core.errors import TrunklineError

    try:
        partner, user = partner_create(
            actor=Actor.system(),
            company_name=args.name,
            email=args.email,
            password=args.password,
            name=args.contact_name or "",
        )
    except TrunklineError as error:
        return _fail(error.message)
    _print_json({"partner_id": partner.id, "user_id": user.id})
    return 0


def cmd_create_api_key(args) -> int:
    from trunkline.accounts.models import Partner
    from trunkline.accounts.services import api_key_create
    from trunkline.core.actors import Actor
    from trunkline.core.errors import TrunklineError

    partner = Partner.objects.filter(id=args.partner).first()
    if partner is None:
        return _fail(f"no partner {args.partner}")
    tenants = [part for part in (args.tenants or "").split(",") if part]
    try:
        api_key, plaintext = api_key_create(
            actor=Actor.system(partner=partner),
            name=args.name,
            scopes=args.scopes,
            tenant_ids=tenants or None,
            rate_limit=args.rate_limit,
            platform=args.platform,
        )
    except TrunklineError as error:
        return _fail(error.message)
    _print_json({"id": api_key.id, "key": plaintext})
    return 0


def cmd_wallet_credit(args) -> int:
    import uuid

    from trunkline.accounts.models import Partner
    from trunkline.billing.ledger import wallet_balance, wallet_credit
    from trunkline.billing.models import Posting
    from trunkline.core.actors import Actor
    from trunkline.core.errors import TrunklineError
    from trunkline.core.money import Money, MoneyError

    partner = Partner.objects.filter(id=args.partner).first()
    if partner is None:
        return _fail(f"no partner {args.partner}")
    try:
        amount = Money.parse(args.amount)
    except MoneyError as error:
        return _fail(f"--amount: {error}", 2)
    try:
        posting, _ = wallet_credit(
            partner=partner,
            amount=amount,
            type=Posting.Type.MANUAL_ADJUSTMENT,
            actor=Actor.system(partner=partner),
            # Each run is its own credit unless the caller names a key to make retries safe.
            idempotency_key=args.idempotency_key or f"cli:{uuid.uuid4()}",
            memo=args.note,
        )
    except TrunklineError as error:
        return _fail(error.message)
    _print_json(
        {
            "posting_id": posting.id,
            "amount": amount.to_json(),
            "balance": wallet_balance(partner).to_json(),
        }
    )
    return 0


def cmd_import_cdrs(args) -> int:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from trunkline.billing.cdrs import cdrs_import_csv

    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return _fail(f"--timezone: {args.timezone!r} is not an IANA time zone", 2)
    if args.follow:
        return _follow_cdrs(args, zone)
    if args.once:
        return _fail("--once goes with --follow", 2)
    try:
        source = sys.stdin if args.file == "-" else open(args.file, newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as error:
        return _fail(f"cannot read {args.file}: {error.strerror}", 2)
    with source:
        result = cdrs_import_csv(source, zone=zone, batch_size=args.batch_size)
    _print_json(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "rejected": len(result.rejected),
            "rejections": result.rejected[:100],
        }
    )
    return 0


def _follow_cdrs(args, zone) -> int:
    """`import-cdrs --follow`: one JSON line per round that read or noticed something."""
    from trunkline.billing.cdr_tail import CdrTail, cdr_follow

    if args.file == "-":
        return _fail("--follow reads a file, not standard input", 2)
    directory = os.path.dirname(os.path.abspath(args.file))
    if not os.path.isdir(directory):
        return _fail(f"cannot follow {args.file}: no directory {directory}", 2)
    stop = threading.Event()
    tail = CdrTail(args.file, zone=zone, batch_size=args.batch_size)
    with _stopping_on_signals(stop):
        try:
            cdr_follow(
                tail,
                stop=stop,
                poll_seconds=args.poll,
                once=args.once,
                report=lambda result: _print_json(result.as_dict()),
            )
        finally:
            tail.close()
    return 0


@contextmanager
def _stopping_on_signals(stop: threading.Event):
    """SIGTERM and SIGINT set `stop` while the block runs; the handlers before are put
    back after it."""

    def request_stop(signum, frame) -> None:
        stop.set()

    previous = {
        number: signal.signal(number, request_stop) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _kinds(value: str | None) -> list[str] | None:
    return [value] if value else None


def cmd_carrier_status(args) -> int:
    from trunkline.phone_numbers.carrier_control import carrier_requests_pending

    pending = carrier_requests_pending(
        number=args.number or "", ref=args.ref or "", kinds=_kinds(args.kind)
    )
    _print_json({"pending": pending, "count": len(pending)})
    return 0


def cmd_carrier_advance(args) -> int:
    from trunkline.core.actors import Actor
    from trunkline.phone_numbers.carrier_control import carrier_advance

    try:
        now = _parse_now(args.now)
    except ValueError:
        return _fail("--now takes an ISO-8601 time such as 2026-12-01T00:00:00Z", 2)
    advanced = carrier_advance(
        actor=Actor.system(),
        number=args.number or "",
        ref=args.ref or "",
        every=args.all,
        kinds=_kinds(args.kind),
        fail=args.fail or "",
        now=now,
    )
    _print_json({"now": now.isoformat(), "advanced": advanced, "count": len(advanced)})
    return 0


def cmd_carrier_load_block(args) -> int:
    from trunkline.core.actors import Actor
    from trunkline.phone_numbers import blocks

    try:
        if args.file == "-":
            content = sys.stdin.buffer.read(blocks.MAX_BYTES + 1)
        else:
            with open(args.file, "rb") as source:
                content = source.read(blocks.MAX_BYTES + 1)
    except OSError as error:
        return _fail(f"cannot read {args.file}: {error.strerror}", 2)
    try:
        result = blocks.number_block_load(
            actor=Actor.system(),
            content=content,
            filename=os.path.basename(args.file) if args.file != "-" else "stdin.csv",
            dry_run=args.dry_run,
        )
    except blocks.BlockRejected as error:
        for line in error.errors[: blocks.MAX_ERRORS]:
            sys.stderr.write(f"trunkline: {line}\n")
        more = len(error.errors) - blocks.MAX_ERRORS
        if more > 0:
            sys.stderr.write(f"trunkline: and {more} more\n")
        return _fail("the number block was not loaded")
    _print_json(result.as_dict())
    return 0


def _parse_now(value: str | None) -> datetime:
    from django.utils import timezone

    if not value:
        return timezone.now()
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # a time without a zone is UTC
    return parsed


def cmd_run_due_jobs(args) -> int:
    from trunkline.core.scheduler import run_due_jobs

    try:
        now = _parse_now(args.now)
    except ValueError:
        return _fail("--now takes an ISO-8601 time such as 2026-12-01T00:00:00Z", 2)
    _print_json({"now": now.isoformat(), "jobs": run_due_jobs(now=now)})
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT ask for a clean stop: the work in hand is finished first."""

    def request_stop(signum, frame) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def _worker_command(parent_pid: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "trunkline.cli",
        "worker",
        "--exit-with-parent",
        str(parent_pid),
    ]


def _supervise(concurrency: int, stop: threading.Event) -> int:
    """Run `concurrency` single worker processes until asked to stop, replacing any that die.

    Each is a fresh interpreter rather than a fork, so none inherits a database connection,
    and each exits on its own if this process dies without stopping it. Each has a process
    group of its own, so a terminal's Ctrl-C reaches this process alone, which then stops
    them in order instead of finding them gone and starting new ones.
    """
    import logging
    import subprocess

    log = logging.getLogger("trunkline.worker")
    command = _worker_command(os.getpid())

    def start():
        return subprocess.Popen(command, process_group=0)  # noqa: S603 - our own interpreter

    children = [start() for _ in range(concurrency)]
    sys.stderr.write(f"Trunkline worker: {concurrency} processes\n")
    while not stop.is_set():
        for slot, child in enumerate(children):
            if child.poll() is not None:
                log.warning(
                    "worker process %s exited (%s); starting another", child.pid, child.returncode
                )
                children[slot] = start()
        stop.wait(1.0)
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=60)  # time for the task in hand to finish
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return 0


def cmd_render_kamailio(args) -> int:
    from trunkline.telephony.kamailio import (
        KamailioConfigError,
        kamailio_config,
        kamailio_config_write,
    )

    try:
        text = kamailio_config(listen=args.listen, sip_domain=args.sip_domain)
    except KamailioConfigError as error:
        return _fail(str(error))
    path = kamailio_config_write(Path(args.out), text)
    _print_json({"path": str(path)})
    return 0


def cmd_sip_directory_rebuild(args) -> int:
    from trunkline.telephony.subscribers import subscribers_rebuild

    _print_json(subscribers_rebuild())
    return 0


def cmd_render_asterisk(args) -> int:
    from trunkline.telephony.asterisk import render_asterisk

    try:
        result = render_asterisk(Path(args.out), node_name=args.node)
    except LookupError as error:
        return _fail(str(error), 2)
    except OSError as error:
        return _fail(f"cannot write under {args.out}: {error.strerror}", 2)
    _print_json(result.as_dict())
    return 0


def cmd_worker(args) -> int:
    from trunkline.core.worker import Worker

    stop = threading.Event()
    _stop_on_signals(stop)
    if args.concurrency > 1:
        return _supervise(args.concurrency, stop)
    Worker(stop=stop, parent_pid=args.exit_with_parent).run()
    return 0


def cmd_serve(args) -> int:
    import subprocess

    from granian import Granian
    from granian.constants import Interfaces

    # Background work runs in a process of its own: the web server forks its workers, and a
    # thread that holds a database connection while the process forks leaves the forked
    # workers hung on the connection's lock (the server accepted and never answered).
    jobs = subprocess.Popen(_worker_command(os.getpid()))  # noqa: S603 - our own interpreter
    sys.stderr.write(f"Trunkline is serving on http://{args.host}:{args.port}/\n")
    try:
        Granian(
            "trunkline.wsgi:application",
            address=args.host,
            port=args.port,
            interface=Interfaces.WSGI,
            workers=args.workers,
            blocking_threads=args.threads,
            log_level="warning",
        ).serve()
    finally:
        jobs.terminate()
        try:
            jobs.wait(timeout=10)
        except subprocess.TimeoutExpired:
            jobs.kill()
    return 0


def cmd_demo(args) -> int:
    from trunkline.core.demo import load_demo

    result = load_demo(only_once=args.once)
    if result is None:
        sys.stderr.write("Demo data already loaded.\n")
        return 0
    for line in result:
        sys.stderr.write(line + "\n")
    return 0


def _at_least_one(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if not 0 < seconds <= 3600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 3600")
    return seconds


def _web_workers(value: str) -> int:
    workers = _at_least_one(value)
    if workers > 1 and not os.environ.get("REDIS_URL"):
        # Rate-limit counters live in each process's memory unless REDIS_URL names a shared
        # store; N processes would each grant a key its full limit, N times the promised rate.
        raise argparse.ArgumentTypeError("more than 1 needs REDIS_URL to share rate limits")
    return workers


KINDS = ("order", "cnam", "e911", "port")


def _carrier_parser(commands) -> None:
    carrier = commands.add_parser(
        "carrier",
        help="the carrier's requests in flight; moving the simulated carrier on; number blocks",
    )
    actions = carrier.add_subparsers(dest="carrier_command", required=True)

    status = actions.add_parser(
        "status", help="list the requests the carrier has still to answer (JSON)"
    )
    which = status.add_mutually_exclusive_group()
    which.add_argument("--number", help="only this number's (E.164 or 10 digits)")
    which.add_argument("--ref", help="only the request with this carrier reference")
    status.add_argument("--kind", choices=KINDS, help="only requests of this kind")
    status.set_defaults(handler=cmd_carrier_status)

    advance = actions.add_parser(
        "advance",
        help="finish simulated carrier requests now (a port: its next state), or fail them",
    )
    which = advance.add_mutually_exclusive_group(required=True)
    which.add_argument("--number", help="the pending requests for this number")
    which.add_argument("--ref", help="the request with this carrier reference")
    which.add_argument("--all", action="store_true", help="every pending request")
    advance.add_argument(
        "--fail", metavar="REASON", default="", help="fail (a port: reject) with this reason"
    )
    advance.add_argument("--kind", choices=KINDS, help="only requests of this kind")
    advance.add_argument("--now", default=None, help="ISO-8601 time to act at (default: now)")
    advance.set_defaults(handler=cmd_carrier_advance)

    block = actions.add_parser(
        "load-block",
        help="load a CSV block of numbers into the simulated carrier's inventory",
    )
    block.add_argument(
        "file", help="CSV: number,type[,state,rate_center,city]; - for standard input"
    )
    block.add_argument("--dry-run", action="store_true", help="check the file, load nothing")
    block.set_defaults(handler=cmd_carrier_load_block)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trunkline", description="Trunkline cloud-PBX platform")
    commands = parser.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="create or update the database tables")
    migrate.add_argument("--quiet", action="store_true")
    migrate.set_defaults(handler=cmd_migrate)

    partner = commands.add_parser("create-partner", help="create a partner and its first admin")
    partner.add_argument("--name", required=True, help="company name")
    partner.add_argument("--email", required=True)
    partner.add_argument("--password", required=True)
    partner.add_argument("--contact-name", default="")
    partner.set_defaults(handler=cmd_create_partner)

    key = commands.add_parser("create-api-key", help="create an API key for a partner")
    key.add_argument("--partner", required=True)
    key.add_argument("--name", required=True)
    key.add_argument("--scopes", default="all", help="all, or a comma-separated list")
    key.add_argument("--tenants", default="", help="comma-separated tenant ids; none = all")
    key.add_argument("--rate-limit", type=int, default=None, help="requests per minute")
    key.add_argument(
        "--platform",
        action="store_true",
        help="the operator's own key: also opens /v1/platform/… (number blocks)",
    )
    key.set_defaults(handler=cmd_create_api_key)

    credit = commands.add_parser(
        "wallet-credit", help="post a manual-adjustment credit to a partner's wallet"
    )
    credit.add_argument("--partner", required=True)
    credit.add_argument("--amount", required=True, help="dollars, e.g. 100.00")
    credit.add_argument("--note", default="", help="shown in the partner's history")
    credit.add_argument("--idempotency-key", default="", help="makes a retried credit safe")
    credit.set_defaults(handler=cmd_wallet_credit)

    cdrs = commands.add_parser(
        "import-cdrs", help="rate and store an Asterisk Master.csv file of call records"
    )
    cdrs.add_argument("file", help="the CSV file, or - for standard input")
    cdrs.add_argument("--timezone", default="UTC", help="the call engine's clock (IANA name)")
    cdrs.add_argument(
        "--follow",
        action="store_true",
        help="keep reading as lines are appended, resuming where the last run stopped",
    )
    cdrs.add_argument(
        "--poll",
        type=_positive_seconds,
        default=1.0,
        metavar="SECONDS",
        help="with --follow: how often to look for new lines (default 1)",
    )
    cdrs.add_argument(
        "--once",
        action="store_true",
        help="with --follow: read what is there now, store the offset, and exit",
    )
    cdrs.add_argument(
        "--batch-size",
        type=_at_least_one,
        default=20_000,
        metavar="ROWS",
        help="rows stored per transaction (default 20000)",
    )
    cdrs.set_defaults(handler=cmd_import_cdrs)

    _carrier_parser(commands)

    kamailio = commands.add_parser(
        "render-kamailio",
        help="write kamailio.cfg: the SIP registrar over this database's device credentials",
    )
    kamailio.add_argument("--out", required=True, help="directory to write kamailio.cfg into")
    kamailio.add_argument(
        "--listen", default="udp:0.0.0.0:5060", help="Kamailio's socket (default udp:0.0.0.0:5060)"
    )
    kamailio.add_argument(
        "--sip-domain", default=None, help="tenants' parent SIP domain (default: the setting)"
    )
    kamailio.set_defaults(handler=cmd_render_kamailio)

    rebuild = commands.add_parser(
        "sip-directory-rebuild",
        help="rewrite the SIP credentials table from the devices (after the SIP domain changes)",
    )
    rebuild.set_defaults(handler=cmd_sip_directory_rebuild)

    asterisk = commands.add_parser(
        "render-asterisk",
        help="write every PBX node's Asterisk configuration (only files that changed)",
    )
    asterisk.add_argument("--out", required=True, help="directory to hold one folder per PBX node")
    asterisk.add_argument(
        "--node", default=None, help="only this node's folder (run on the node itself)"
    )
    asterisk.set_defaults(handler=cmd_render_asterisk)

    due = commands.add_parser("run-due-jobs", help="run every due periodic job once and exit")
    due.add_argument("--now", default=None, help="ISO-8601 time to run as (default: now)")
    due.set_defaults(handler=cmd_run_due_jobs)

    worker = commands.add_parser(
        "worker", help="run background work only: periodic jobs, tasks, webhook deliveries"
    )
    worker.add_argument(
        "--concurrency", type=_at_least_one, default=1, help="worker processes (default 1)"
    )
    worker.add_argument("--exit-with-parent", type=int, default=None, help=argparse.SUPPRESS)
    worker.set_defaults(handler=cmd_worker)

    serve = commands.add_parser("serve", help="serve portal, API and background work")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    # One process per core when rate-limit counters can be shared (REDIS_URL); else one.
    serve.add_argument(
        "--workers",
        type=_web_workers,
        default=(os.cpu_count() or 1) if os.environ.get("REDIS_URL") else 1,
        help="web processes (default: one per core with REDIS_URL, else 1)",
    )
    # One: a second thread in the same process nearly doubled the CPU of each request in
    # GIL hand-offs (0.92 ms → 1.7–1.9 ms per GET, docs/performance.md); more cores are
    # used through more processes instead.
    serve.add_argument(
        "--threads", type=_at_least_one, default=1, help="request threads per process"
    )
    serve.set_defaults(handler=cmd_serve)

    demo = commands.add_parser("demo", help="load the Docs Demo partner with sample data")
    demo.add_argument("--once", action="store_true", help="do nothing if it is already loaded")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup()
    from django.db import DatabaseError

    from trunkline.core.errors import TrunklineError

    try:
        return args.handler(args)
    except TrunklineError as error:
        return _fail(error.message)
    except DatabaseError as error:
        hint = "" if args.command == "migrate" else "; has `trunkline migrate` been run?"
        return _fail(f"database error: {error}{hint}")


if __name__ == "__main__":
    sys.exit(main())
