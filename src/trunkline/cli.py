"""The `trunkline` command: set-up, staff tools, and running the platform."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime


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
        parsed = parsed.replace(tzinfo=timezone.UTC)
    return parsed


def cmd_run_due_jobs(args) -> int:
    from trunkline.core.jobs import run_all

    try:
        now = _parse_now(args.now)
    except ValueError:
        return _fail("--now takes an ISO-8601 time such as 2026-12-01T00:00:00Z", 2)
    _print_json({"now": now.isoformat(), "jobs": run_all(now)})
    return 0


def _job_loop(stop: threading.Event, interval: float = 60.0) -> None:
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
        stop.wait(interval)


def cmd_worker(args) -> int:
    stop = threading.Event()

    def finish_round(signum, frame) -> None:
        # The first signal lets the running round finish; a second one interrupts it.
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, finish_round)
    signal.signal(signal.SIGTERM, finish_round)
    with contextlib.suppress(KeyboardInterrupt):
        _job_loop(stop)
    return 0


def _start_job_process() -> subprocess.Popen:
    # A separate program, not a thread: granian forks its web workers from this process,
    # and a thread caught mid-import at that moment leaves the module's import lock held
    # in the child, which then hangs on its first request.
    return subprocess.Popen([sys.executable, "-m", "trunkline.cli", "worker"])


def _stop_job_process(jobs: subprocess.Popen) -> None:
    if jobs.poll() is not None:
        return
    jobs.send_signal(signal.SIGTERM)  # the worker finishes its round and exits
    try:
        jobs.wait(timeout=30)
    except subprocess.TimeoutExpired:
        jobs.kill()
        jobs.wait()


def cmd_serve(args) -> int:
    from django.conf import settings
    from granian import Granian
    from granian.constants import Interfaces

    if args.workers < 1 or args.threads < 1:
        return _fail("--workers and --threads are at least 1", 2)
    if args.workers > 1 and not settings.REDIS_URL:
        # Rate-limit counters live in each process's memory unless REDIS_URL names a shared
        # store; N processes would each allow the full limit, N times the promised rate.
        return _fail("--workers above 1 needs REDIS_URL, so the processes share rate limits", 2)
    jobs = _start_job_process()
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
        _stop_job_process(jobs)
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
    worker.set_defaults(handler=cmd_worker)

    serve = commands.add_parser("serve", help="serve portal, API and background work")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument(
        "--workers", type=int, default=1, help="web processes; more than 1 needs REDIS_URL"
    )
    # Two, not more: each extra thread costs CPU in GIL hand-offs, and threads of one
    # process queue on SQLite's write lock by sleeping and retrying (see docs/performance.md).
    serve.add_argument("--threads", type=int, default=2, help="request threads per process")
    serve.set_defaults(handler=cmd_serve)

    demo = commands.add_parser("demo", help="load the Docs Demo partner with sample data")
    demo.add_argument("--once", action="store_true", help="do nothing if it is already loaded")
    demo.set_defaults(handler=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup()
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
