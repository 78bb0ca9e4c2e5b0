"""Webhook fan-out: events → deliveries → a loopback receiver, through `trunkline worker`.

Sets up a throwaway database (a SQLite file, or a fresh database on the PostgreSQL server
named by `--database-url`), one partner with three endpoints on a loopback receiver, starts
`trunkline worker --concurrency 4`, then emits events through `event_emit` (the call every
service makes) at a steady rate, and waits until the receiver holds every delivery.
It reports deliveries/s, the event-to-delivery latency (receipt time minus the event's
`created_at`), duplicates and failures. Only 127.0.0.1 is ever contacted.

    .venv/bin/python bench/webhook_fanout.py [--events 10000] [--endpoints 3]
        [--rate 170] [--concurrency 4] [--database-url postgres://…/postgres] [--json out.json]

`--rate` is events per second offered by the producer (170 events × 3 endpoints ≈ 510
deliveries/s, the target load); `--rate 0` emits as fast as it can, which measures how
fast the workers drain a backlog. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import datetime
from pathlib import Path

HOST = "127.0.0.1"
TARGET_DELIVERIES_PER_S = 500
TARGET_P99_S = 2.0


def _trunkline_command() -> list[str]:
    script = Path(sys.executable).with_name("trunkline")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trunkline.cli"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


# --- the receiver -------------------------------------------------------------------


def _receiver_main(port: int, ready, stop, out_path: str) -> None:
    """A small asyncio HTTP/1.1 server: answers 200 at once and notes each delivery."""
    import h11

    received: list[tuple[str, str, float, str]] = []  # (path, webhook-id, time, created_at)
    samples: list[dict] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER)
        try:
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    data = await reader.read(65536)
                    connection.receive_data(data)
                    if not data:
                        break
                    continue
                if isinstance(event, h11.Request):
                    path = event.target.decode()
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                    body = b""
                    while True:
                        part = connection.next_event()
                        if part is h11.NEED_DATA:
                            connection.receive_data(await reader.read(65536))
                            continue
                        if isinstance(part, h11.Data):
                            body += part.data
                            continue
                        break  # EndOfMessage
                    now = time.time()
                    created_at = json.loads(body)["created_at"]
                    received.append((path, headers.get("webhook-id", ""), now, created_at))
                    if len(samples) < 50:
                        samples.append({"path": path, "headers": headers, "body": body.decode()})
                    response = h11.Response(status_code=200, headers=[("content-length", "2")])
                    writer.write(connection.send(response))
                    writer.write(connection.send(h11.Data(data=b"ok")))
                    writer.write(connection.send(h11.EndOfMessage()))
                    await writer.drain()
                    connection.start_next_cycle()
                elif isinstance(event, h11.ConnectionClosed):
                    break
                else:
                    break
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - ends only this connection
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, HOST, port, backlog=1024)
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()
        Path(out_path).write_text(json.dumps({"received": received, "samples": samples}))

    asyncio.run(main())


# --- set-up -------------------------------------------------------------------------

_SETUP = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from trunkline.accounts.services import partner_create
    from trunkline.core.actors import Actor
    from trunkline.webhooks.services import endpoint_create

    port, endpoints = int(sys.argv[1]), int(sys.argv[2])
    partner, _ = partner_create(
        actor=Actor.system(), company_name="Fan-out Bench", email="fanout@example.com",
        password="Fanout-bench-2026!",
    )
    secrets = []
    for number in range(1, endpoints + 1):
        endpoint, secret = endpoint_create(
            actor=Actor.system(partner=partner),
            url=f"http://127.0.0.1:{port}/hook/{number}",
            events=["tenant.updated"],
            description=f"bench receiver {number}",
        )
        secrets.append(secret)
    print(json.dumps({"partner_id": partner.id, "secrets": secrets}))
    """
)

# Emits `count` events at `rate` per second (0 = flat out), in one transaction per tick.
_PRODUCER = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from django.db import transaction
    from trunkline.accounts.models import Partner
    from trunkline.core.audit import event_emit

    partner_id, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    partner = Partner.objects.get(id=partner_id)
    tenant = {
        "id": "tnt_bench", "name": "ACME Plumbing", "sip_prefix": "acme",
        "billing_email": "billing@acme.example", "default_cnam": "ACME PLUMBING",
        "timezone": "America/Chicago", "status": "ACTIVE", "e911_address": None,
    }
    tick = 0.02
    started = time.monotonic()
    sent = 0
    while sent < count:
        due = count if rate <= 0 else min(count, int((time.monotonic() - started) * rate) + 1)
        batch = min(due - sent, 200)
        if batch > 0:
            with transaction.atomic():
                for number in range(sent, sent + batch):
                    event_emit(partner=partner, type="tenant.updated",
                               data={"tenant": {**tenant, "name": f"ACME {number}"},
                                     "previous_attributes": {"name": "ACME"}})
            sent += batch
        elif rate > 0:
            time.sleep(tick)
    print(time.monotonic() - started)
    """
)


def _django(env: dict, code: str, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**env, "DJANGO_SETTINGS_MODULE": "trunkline.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"benchmark step failed:\n{completed.stderr}")
    return completed.stdout.strip().splitlines()[-1]


def _postgres_database(url: str) -> tuple[str, callable]:
    """A fresh database on the server `url` points at, and a function that drops it."""
    import psycopg

    name = f"trunkline_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = url.rpartition("/")

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _machine() -> dict:
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version()}


def run(args) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="trunkline-fanout-"))
    env = dict(os.environ)
    env["TRUNKLINE_VAR_DIR"] = str(directory / "var")
    env["TRUNKLINE_WEBHOOK_ALLOW_PRIVATE"] = "1"
    env.setdefault("TRUNKLINE_LOG_LEVEL", "ERROR")
    drop = None
    if args.database_url:
        env["DATABASE_URL"], drop = _postgres_database(args.database_url)
        database = "postgresql"
    else:
        env.pop("DATABASE_URL", None)
        env["TRUNKLINE_DB"] = str(directory / "bench.sqlite3")
        database = "sqlite"

    port = _free_port()
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    out_path = str(directory / "received.json")
    receiver = multiprocessing.Process(
        target=_receiver_main, args=(port, ready, stop, out_path), daemon=True
    )
    worker = None
    try:
        subprocess.run([*_trunkline_command(), "migrate", "--quiet"], env=env, check=True)
        setup = json.loads(_django(env, _SETUP, str(port), str(args.endpoints)))
        receiver.start()
        ready.wait(10)
        worker = subprocess.Popen(
            [*_trunkline_command(), "worker", "--concurrency", str(args.concurrency)],
            env=env,
            stdout=(directory / "worker.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        # The receiver writes its notes only when stopped; poll the database instead.
        count_code = textwrap.dedent(
            """
            import django
            django.setup()
            from trunkline.webhooks.models import WebhookDelivery
            print(WebhookDelivery.objects.exclude(status="PENDING").exclude(status="FAILED")
                  .count())
            """
        )
        # Warm-up: one event, delivered, before the clock starts, so worker start-up (four
        # interpreters importing Django) is not counted as delivery latency.
        _django(env, _PRODUCER, setup["partner_id"], "1", "0")
        warm_deadline = time.time() + 120
        while time.time() < warm_deadline and int(_django(env, count_code)) < args.endpoints:
            time.sleep(0.2)
        started = time.time()
        produce_s = float(
            _django(env, _PRODUCER, setup["partner_id"], str(args.events), str(args.rate))
        )
        expected = (args.events + 1) * args.endpoints
        deadline = time.time() + args.timeout
        while time.time() < deadline:
            if int(_django(env, count_code)) >= expected:
                break
            time.sleep(0.5)
        stop.set()
        receiver.join(30)
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        if receiver.is_alive():
            receiver.terminate()
        if drop is not None:
            drop()

    notes = json.loads(Path(out_path).read_text())
    received = notes["received"]
    seen: set[tuple[str, str]] = set()
    duplicates = 0
    latencies = []
    for path, event_id, at, created_at in received:
        if at < started:
            continue  # the warm-up event
        if (path, event_id) in seen:
            duplicates += 1
            continue
        seen.add((path, event_id))
        latencies.append(at - datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp())
    last = max((at for _, _, at, _ in received if at >= started), default=started)
    first_event = min(
        (
            datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
            for _, _, at, created_at in received
            if at >= started
        ),
        default=started,
    )
    _verify_samples(notes["samples"], setup["secrets"])
    return {
        "database": database,
        "events": args.events,
        "endpoints": args.endpoints,
        "concurrency": args.concurrency,
        "offered_events_per_s": args.rate or None,
        "producer_s": round(produce_s, 2),
        "delivered": len(seen),
        "expected": args.events * args.endpoints,
        "duplicates": duplicates,
        # From the first measured event's creation to the last delivery's arrival.
        "deliveries_per_s": round(len(seen) / max(last - first_event, 1e-9), 1),
        "latency_p50_s": round(_percentile(latencies, 0.50), 3),
        "latency_p99_s": round(_percentile(latencies, 0.99), 3),
        "latency_max_s": round(max(latencies, default=0.0), 3),
        "machine": _machine(),
        "date": datetime.now().date().isoformat(),
    }


def _verify_samples(samples: list[dict], secrets: list[str]) -> None:
    """Every sampled request carries a valid Standard Webhooks signature for its endpoint."""
    from standardwebhooks import Webhook

    for sample in samples:
        number = int(sample["path"].rsplit("/", 1)[1])
        Webhook(secrets[number - 1]).verify(sample["body"], sample["headers"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--endpoints", type=int, default=3)
    parser.add_argument("--rate", type=float, default=170.0, help="events/s; 0 = flat out")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database-url", default="", help="a PostgreSQL server to use")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    met = (
        result["deliveries_per_s"] >= TARGET_DELIVERIES_PER_S
        and result["latency_p99_s"] < TARGET_P99_S
        and result["delivered"] == result["expected"]
    )
    print(
        f"target (≥{TARGET_DELIVERIES_PER_S}/s, p99 < {TARGET_P99_S}s):",
        "met" if met else "not met",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
