"""Call-record rating at carrier scale: pure rating, and end-to-end import.

Generates realistic traffic (60 % outbound local, 15 % inbound local, 8 % inbound
toll-free, 12 % outbound international over a 20,000-prefix table, 5 % internal; talk
times from a skewed distribution; 5 partners, 200 tenants) and measures:

(a) pure rating: records/s of `Rater.rate` over records held in memory;
(b) end to end: `trunkline import-cdrs` of an Asterisk Master.csv file into a throwaway
    database (SQLite, or PostgreSQL with `--database-url`), records/s and the importer's
    peak memory. Run it at two sizes to see memory stay flat (`--records`).

Each leg also reports CPU time (user + sys) per record and the load average at its start
and end: on a shared machine wall-clock rates vary with other work, CPU per record less.

    .venv/bin/python bench/rating.py [--records 1000000] [--skip-import]
        [--database-url postgres://…/postgres] [--json out.json]
        [--subscribe N] [--follow]

`--subscribe N` gives N of the 5 partners a webhook endpoint subscribed to the four call
events, so the import writes an event and a delivery for each of their records (nothing
listens at the address, and no worker runs: the deliveries stay pending). `--follow`
imports with `import-cdrs --follow --once`, the follower's path, instead of the one-shot
import. The result counts the event and delivery rows written.

Only local files and 127.0.0.1 are touched. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20261122
PREFIX_COUNT = 20_000
COUNTRIES = [
    "44",
    "49",
    "33",
    "52",
    "91",
    "86",
    "61",
    "81",
    "234",
    "971",
    "34",
    "39",
    "55",
    "63",
    "82",
    "1876",
    "1809",
    "1416",
    "1604",
    "353",
]


def _trunkline() -> list[str]:
    script = Path(sys.executable).with_name("trunkline")
    return [str(script)] if script.exists() else [sys.executable, "-m", "trunkline.cli"]


def international_prefixes(rng: random.Random) -> list[str]:
    prefixes: set[str] = set(COUNTRIES)
    while len(prefixes) < PREFIX_COUNT:
        country = rng.choice(COUNTRIES)
        prefixes.add(country + str(rng.randint(0, 10 ** rng.randint(1, 5) - 1)))
    return sorted(prefixes)


def us_area_codes() -> list[str]:
    from trunkline.billing.rating import TOLL_FREE_NPAS, nanp_regions

    return sorted(
        npa
        for npa, region in nanp_regions().items()
        if region == "US" and npa not in TOLL_FREE_NPAS
    )


def talk_time(rng: random.Random) -> int:
    if rng.random() < 0.18:
        return 0  # unanswered
    return min(int(rng.expovariate(1 / 150)) + 1, 7200)


def traffic(count: int, prefixes: list[str], npas: list[str], rng: random.Random):
    """(direction, far end, our DID, start POSIX seconds, billsec) tuples."""
    start = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    for number in range(count):
        kind = rng.random()
        at = start + number * 2  # a month of traffic for a million calls
        seconds = talk_time(rng)
        local = f"+1{rng.choice(npas)}{rng.randint(2000000, 9999999)}"
        if kind < 0.60:
            yield "outbound", local, "+15015550100", at, seconds
        elif kind < 0.75:
            yield "inbound", local, "+15015550100", at, seconds
        elif kind < 0.83:
            yield "inbound", local, "+18775550100", at, seconds
        elif kind < 0.95:
            prefix = rng.choice(prefixes)
            far_end = "+" + (prefix + str(rng.randint(10**7, 10**8 - 1)))[:14]
            if prefix.startswith("1"):
                far_end = "+" + prefix[:4] + str(rng.randint(2000000, 9999999))
            yield "outbound", far_end, "+15015550100", at, seconds
        else:
            yield "internal", "101", "102", at, seconds


def build_rater(prefixes: list[str], npas: list[str], rng: random.Random):
    from trunkline.billing.rating import PlanRates, PrefixTable, Rate, Rater

    sell = PrefixTable(
        Rate(prefix, rng.randint(5_000, 900_000), 0, 60, 60, id=f"s{index}")
        for index, prefix in enumerate(prefixes)
    )
    cost_rows = [Rate("1" + npa, 4_000, 0, 6, 6, id=f"c{npa}") for npa in npas]
    cost_rows += [
        Rate(prefix, rng.randint(3_000, 600_000), 0, 60, 60, id=f"p{index}")
        for index, prefix in enumerate(prefixes[: PREFIX_COUNT // 2])
    ]
    cost_rows.append(Rate("1", 5_000, 0, 6, 6, id="c1"))
    inbound = {
        "local": Rate("", 2_000, 0, 6, 6, id="il"),
        "toll_free": Rate("", 7_000, 0, 6, 6, id="it"),
    }
    plans = {f"ptr_{n}": PlanRates(14_000 + n * 1000, 17_000 + n * 1000) for n in range(5)}
    return Rater(
        plan_rates=lambda partner_id, at: plans[partner_id],
        international=sell,
        provider_outbound=PrefixTable(cost_rows),
        provider_inbound=lambda did_class, at: inbound.get(did_class),
    )


def pure_rating(count: int) -> dict:
    rng = random.Random(SEED)
    prefixes, npas = international_prefixes(rng), us_area_codes()
    rater = build_rater(prefixes, npas, rng)
    partners = [f"ptr_{n}" for n in range(5)]
    records = [
        (partners[number % 5], *call)
        for number, call in enumerate(traffic(count, prefixes, npas, rng))
    ]
    rate = rater.rate
    load_before = os.getloadavg()[0]
    cpu_started, started = time.process_time(), time.perf_counter()
    wholesale = 0
    for partner_id, direction, far_end, did, at, seconds in records:
        wholesale += rate(partner_id, direction, far_end, did, at, seconds)[2]
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    return {
        "records": count,
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(cpu, 2),
        "records_per_s": round(count / elapsed),
        "records_per_cpu_s": round(count / cpu),
        "cpu_us_per_record": round(cpu / count * 1e6, 2),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "total_wholesale_usd": round(wholesale / 1e6, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


# --- end to end -------------------------------------------------------------------------

_SETUP = textwrap.dedent(
    """
    import json, sys
    from datetime import UTC, datetime
    import django
    django.setup()
    from trunkline.accounts.services import partner_create
    from trunkline.billing.models import InboundRate, OutboundRate, Provider
    from trunkline.core.actors import Actor
    from trunkline.tenants.models import Tenant
    from trunkline.tenants.services import tenant_create

    spec = json.loads(sys.stdin.read())
    since = datetime(2020, 1, 1, tzinfo=UTC)
    provider = Provider.objects.create(
        name="Bench Carrier", trunk_name="carrier-a", is_default=True
    )
    OutboundRate.objects.bulk_create(
        [OutboundRate(provider=provider, prefix=p, per_minute_micros=m, first_increment=f,
                      step_increment=s, effective_from=since) for p, m, f, s in spec["cost"]]
        + [OutboundRate(provider=None, prefix=p, per_minute_micros=m, effective_from=since)
           for p, m in spec["sell"]],
        batch_size=2000,
    )
    for did_class, rate in (("local", 2000), ("toll_free", 7000)):
        InboundRate.objects.create(provider=provider, did_class=did_class, per_minute_micros=rate,
                                   first_increment=6, step_increment=6, effective_from=since)
    from trunkline.webhooks.services import endpoint_create

    prefixes = []
    for p in range(5):
        partner, _ = partner_create(actor=Actor.system(), company_name=f"Bench Partner {p}",
                                    email=f"bench{p}@example.com", password="Bench-password-2026!")
        if p < spec["subscribe"]:  # nothing listens there: the deliveries stay pending
            endpoint_create(actor=Actor.system(partner=partner), url="http://127.0.0.1:9/calls",
                            events=["call.completed", "call.failed", "inbound_call.completed",
                                    "inbound_call.abandoned"])
        for t in range(40):
            tenant = tenant_create(actor=Actor.system(partner=partner), name=f"Bench {p}-{t}",
                                   billing_email="ops@example.com", sip_prefix=f"b{p}x{t}",
                                   timezone_name="America/Chicago")
            prefixes.append(tenant.sip_prefix)
    print(json.dumps(prefixes))
    """
)


def write_master_csv(path: Path, count: int, accounts: list[str], rng: random.Random) -> None:
    prefixes, npas = international_prefixes(rng), us_area_codes()
    with path.open("w", newline="") as out:
        for number, (direction, far_end, did, at, seconds) in enumerate(
            traffic(count, prefixes, npas, rng)
        ):
            account = accounts[number % len(accounts)]
            start = datetime.fromtimestamp(at, UTC)
            answer = start + timedelta(seconds=4) if seconds else None
            end = (answer or start) + timedelta(seconds=seconds or 20)
            src, dst = (far_end, did) if direction == "inbound" else (did, far_end)
            if direction == "internal":
                src, dst = "101", "102"
            answered = answer.strftime("%Y-%m-%d %H:%M:%S") if answer else ""
            disposition = "ANSWERED" if seconds else "NO ANSWER"
            out.write(
                f'"{account}","{src}","{dst}","{account}-{direction}","","PJSIP/{account}-1",'
                f'"PJSIP/carrier-a-2","Dial","","{start:%Y-%m-%d %H:%M:%S}","{answered}",'
                f'"{end:%Y-%m-%d %H:%M:%S}",{int((end - start).total_seconds())},{seconds},'
                f'"{disposition}","DOCUMENTATION","{number}.{at}",""\n'
            )


def _watch_peak(pid: int, done: threading.Event, peak_kb: list[int]) -> None:
    """Sample the importer's VmHWM (its peak RSS, which only grows) until it exits. Its
    ru_maxrss would not do: Linux carries the forking parent's size over the exec."""
    while not done.wait(0.05):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak_kb[0] = max(peak_kb[0], int(line.split()[1]))


def end_to_end(count: int, database_url: str, subscribe: int = 0, follow: bool = False) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="trunkline-rating-"))
    env = dict(
        os.environ,
        TRUNKLINE_VAR_DIR=str(directory / "var"),
        DJANGO_SETTINGS_MODULE="trunkline.settings",
        TRUNKLINE_WEBHOOK_ALLOW_PRIVATE="1",
    )
    drop = None
    if database_url:
        import psycopg

        name = f"trunkline_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        env["DATABASE_URL"] = database_url.rpartition("/")[0] + "/" + name

        def drop() -> None:
            with psycopg.connect(database_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        env.pop("DATABASE_URL", None)
        env["TRUNKLINE_DB"] = str(directory / "bench.sqlite3")
    try:
        subprocess.run([*_trunkline(), "migrate", "--quiet"], env=env, check=True)
        rng = random.Random(SEED)
        prefixes, npas = international_prefixes(rng), us_area_codes()
        spec = {
            "cost": [("1" + npa, 4_000, 6, 6) for npa in npas]
            + [(p, rng.randint(3_000, 600_000), 60, 60) for p in prefixes[: PREFIX_COUNT // 2]]
            + [("1", 5_000, 6, 6)],
            "sell": [(p, rng.randint(5_000, 900_000)) for p in prefixes],
            "subscribe": subscribe,
        }
        setup = subprocess.run(
            [sys.executable, "-c", _SETUP],
            input=json.dumps(spec),
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        accounts = json.loads(setup.stdout.strip().splitlines()[-1])
        csv_path = directory / "Master.csv"
        write_master_csv(csv_path, count, accounts, random.Random(SEED + 1))
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        # The importer's own CPU time, from wait4, and its peak memory, from its VmHWM.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            follow_once = ["--follow", "--once"] if follow else []
            importer = subprocess.Popen(
                [*_trunkline(), "import-cdrs", *follow_once, str(csv_path)],
                env=env,
                stdout=out,
                stderr=err,
            )
            peak_kb = [0]
            done = threading.Event()
            watcher = threading.Thread(target=_watch_peak, args=(importer.pid, done, peak_kb))
            watcher.start()
            _, status, usage = os.wait4(importer.pid, 0)
            done.set()
            watcher.join()
            elapsed = time.perf_counter() - started
            importer.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0), err.seek(0)
            if importer.returncode != 0:
                raise SystemExit(f"import failed:\n{err.read()}")
            result = json.loads(out.read().strip().splitlines()[-1])
            events = _count_rows(env, database_url, "core_event")
            deliveries = _count_rows(env, database_url, "webhooks_webhookdelivery")
        cpu = usage.ru_utime + usage.ru_stime
        return {
            "database": "postgresql" if database_url else "sqlite",
            "mode": "--follow --once" if follow else "one-shot",
            "partners_subscribed": subscribe,
            "records": count,
            "events": events,
            "deliveries": deliveries,
            "accepted": result["accepted"],
            "rejected": result["rejected"],
            "seconds": round(elapsed, 1),
            "records_per_s": round(count / elapsed),
            "importer_cpu_seconds": round(cpu, 1),
            "importer_cpu_us_per_record": round(cpu / count * 1e6, 1),
            "importer_peak_rss_mb": round(peak_kb[0] / 1024, 1),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "csv_mb": round(csv_path.stat().st_size / 2**20, 1),
        }
    finally:
        if drop is not None:
            drop()


def _count_rows(env: dict, database_url: str, table: str) -> int:
    if database_url:
        import psycopg

        with psycopg.connect(env["DATABASE_URL"]) as connection:
            return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    import sqlite3

    with sqlite3.connect(env["TRUNKLINE_DB"]) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-pure", action="store_true")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--subscribe",
        type=int,
        default=0,
        choices=range(6),
        help="partners (of 5) with a webhook endpoint subscribed to the call events",
    )
    parser.add_argument(
        "--follow", action="store_true", help="import with `import-cdrs --follow --once`"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trunkline.settings")
    result = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": [round(value, 2) for value in os.getloadavg()],
        },
    }
    if not args.skip_pure:
        result["pure_rating"] = pure_rating(args.records)
    if not args.skip_import:
        result["end_to_end"] = end_to_end(
            args.records, args.database_url, subscribe=args.subscribe, follow=args.follow
        )
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
