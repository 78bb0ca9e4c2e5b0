"""The `trunkline` command: set-up, staff tools, and running the platform."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime


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
        )
    except TrunklineError as error:
        return _fail(error.message)
    _print_json({"id": api_key.id, "key": plaintext})
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
    from trunkline.core.jobs import run_all

    try:
        now = _parse_now(args.now)
    except ValueError:
        return _fail("--now takes an ISO-8601 time such as 2026-12-01T00:00:00Z", 2)
    _print_json({"now": now.isoformat(), "jobs": run_all(now)})
    return 0


def _job_loop(stop: threading.Event, interval: float = 60.0, parent_pid: int | None = None) -> None:
    import logging

    from django.db import close_old_connections

    from trunkline.core.jobs import run_all

    log = logging.getLogger("trunkline.worker")
    while not stop.is_set():
        try:
            run_all(_parse_now(None))
        except Exception:  # a failed round must not stop the loop
            log.exception("periodic jobs failed")
        finally:
            close_old_connections()
        deadline = time.monotonic() + interval
        while not stop.is_set() and time.monotonic() < deadline:
            if parent_pid is not None and os.getppid() != parent_pid:
                return  # `serve` is gone; do not outlive it
            stop.wait(1.0)


def cmd_worker(args) -> int:
    stop = threading.Event()
    try:
        _job_loop(stop, parent_pid=args.exit_with_parent)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_serve(args) -> int:
    import subprocess

    from granian import Granian
    from granian.constants import Interfaces

    # Periodic jobs run in a process of their own: the web server forks its workers, and a
    # thread that holds a database connection while the process forks leaves the forked
    # workers hung on the connection's lock (the server accepted and never answered).
    jobs = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "trunkline.cli",
            "worker",
            "--exit-with-parent",
            str(os.getpid()),
        ]
    )
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


def _web_workers(value: str) -> int:
    workers = _at_least_one(value)
    if workers > 1 and not os.environ.get("REDIS_URL"):
        # Rate-limit counters live in each process's memory unless REDIS_URL names a shared
        # store; N processes would each grant a key its full limit, N times the promised rate.
        raise argparse.ArgumentTypeError("more than 1 needs REDIS_URL to share rate limits")
    return workers


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
    key.set_defaults(handler=cmd_create_api_key)

    due = commands.add_parser("run-due-jobs", help="run every due periodic job once and exit")
    due.add_argument("--now", default=None, help="ISO-8601 time to run as (default: now)")
    due.set_defaults(handler=cmd_run_due_jobs)

    worker = commands.add_parser("worker", help="run background work only")
    worker.add_argument("--concurrency", type=int, default=1)
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
    # Two, not more: each extra thread costs CPU in GIL hand-offs, and threads of one
    # process queue on SQLite's write lock by sleeping and retrying (docs/performance.md).
    serve.add_argument(
        "--threads", type=_at_least_one, default=2, help="request threads per process"
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
