"""The month-end invoice run at scale: `tenant_cycles_run` over 10,000 tenants and a
million rated call records.

Builds a throwaway database (a SQLite file, or a fresh database on the PostgreSQL server
given with `--database-url`) holding one month of a platform's traffic:

- 20 partners (`partner_create`, so each has its default "Pay-As-You-Go" and "Flat Rate
  Starter" profiles), a third of them with a webhook endpoint subscribed to
  `invoice.created`; three tax jurisdictions each, one of them disabled;
- 10,000 tenants across them in four US time zones, 70 % Pay-As-You-Go and 30 % Flat Rate
  Starter, on their profile since May (anniversary the 1st), a third of them with a tax
  jurisdiction; each has one local number held all month and a second one: local all
  month (60 %), toll-free all month (20 %), local from mid-November (10 %) or local
  released mid-November (10 %) — their service periods written in bulk;
- 1,000,000 rated call records in November 2026 (60 % outbound local, 15 % inbound local,
  8 % inbound toll-free, 12 % outbound international, 5 % internal), spread over the
  tenants by a skewed (log-normal) weight, so some Flat Rate tenants run past their 500
  included minutes; written in batches through the CDR importer's own bulk insert
  (`COPY` on PostgreSQL).

Every tenant is billed through 1 November with its next cycle due at its local midnight
of 1 December. A fresh process then runs `tenant_cycles_run(now=2026-12-01T12:00Z)` —
the hourly job's run that bills November for every tenant — and reports its wall and CPU
time, its peak memory (VmHWM, and the growth over its resident size before the run), the
invoices written and queries made. The bench then checks the result: one invoice per
tenant, each tenant moved on to its next cycle, and the sum of all totals equal to the
sum recomputed here from the generated data (lines rounded half-up to the cent, tax on
the subtotal). A second run at the same moment must write nothing.

    .venv/bin/python bench/invoice_run.py [--tenants 10000] [--records 1000000]
        [--partners 20] [--database-url postgres://…/postgres] [--tracemalloc]
        [--profile run.prof] [--keep] [--json out.json]

Run it with fewer tenants (same records per tenant: `--tenants 2500 --records 250000`)
to see memory stay flat. Only local files and 127.0.0.1 are touched. docs/performance.md
has the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import throwaway  # bench/throwaway.py: the throwaway database, Django, memory figures

SEED = 20261201
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # past midnight of 1 Dec in every US zone
MONTH_START = date(2026, 11, 1)
MONTH_END = date(2026, 12, 1)
SINCE = date(2026, 5, 1)  # tenants created and on their profile since; anniversary the 1st
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
BATCH = 20_000


# --- the data ----------------------------------------------------------------------------


def _local(zone: str, day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(zone))


def _billable(seconds: int, first: int, step: int) -> int:
    if seconds <= 0:
        return 0
    if seconds <= first:
        return first
    return first + math.ceil((seconds - first) / step) * step


def setup(args, rng: random.Random) -> dict:
    """Write the month's data; returns what the check needs (per tenant: profile id,
    tax rate, days held by kind, billable seconds by class)."""
    from django.db import connection, transaction

    from trunkline.accounts.services import partner_create
    from trunkline.billing import cdrs, profiles
    from trunkline.billing.models import BillingProfile, ServicePeriod, TaxJurisdiction
    from trunkline.core.actors import Actor
    from trunkline.core.ids import new_ids
    from trunkline.limits.services import apply_defaults
    from trunkline.tenants.models import Tenant
    from trunkline.webhooks import signing
    from trunkline.webhooks.models import WebhookEndpoint

    timings: dict[str, float] = {}
    started = time.perf_counter()
    partners, jurisdictions, profile_of = [], {}, {}
    for number in range(args.partners):
        partner, _ = partner_create(
            actor=Actor.system(),
            company_name=f"Bench Partner {number}",
            email=f"bench{number}@example.com",
            password="Bench-password-2026!",
        )
        partners.append(partner)
        profile_of[partner.id] = {
            profile.pricing_model: profile
            for profile in BillingProfile.objects.filter(partner=partner)
        }
        jurisdictions[partner.id] = [
            TaxJurisdiction.objects.create(
                partner=partner, name=name, code=code, rate=Decimal(rate), enabled=enabled
            )
            for name, code, rate, enabled in (
                ("Pulaski County, AR", "US-AR-Pulaski", "0.09625", True),
                ("Ontario HST", "CA-ON", "0.13", True),
                ("Travis County, TX", "US-TX-Travis", "0.0825", False),
            )
        ]
        if number % 3 == 0:
            endpoint = WebhookEndpoint(
                partner=partner,
                url=f"https://hooks{number}.example.com/trunkline",
                events=["invoice.created", "invoice.paid"],
            )
            endpoint.secret_encrypted = signing.secret_seal(
                signing.secret_generate(), endpoint_id=endpoint.id
            )
            endpoint.save(force_insert=True)
    timings["partners_s"] = time.perf_counter() - started

    started = time.perf_counter()
    expected: dict[str, dict] = {}
    tenants, periods = [], []
    did_ids = iter(new_ids("did", args.tenants * 2))
    for number in range(args.tenants):
        partner = partners[number % len(partners)]
        flat = rng.random() < 0.30
        profile = profile_of[partner.id][
            BillingProfile.PricingModel.FLAT_RATE
            if flat
            else BillingProfile.PricingModel.PAY_AS_YOU_GO
        ]
        zone = ZONES[number % len(ZONES)]
        since = _local(zone, SINCE)
        tenant = Tenant(
            partner=partner,
            name=f"Bench Tenant {number}",
            sip_prefix=f"bt{number}",
            billing_email=f"billing{number}@tenant.example.com",
            timezone=zone,
            status=Tenant.Status.ACTIVE,
            created_at=since,
            updated_at=since,
        )
        apply_defaults(tenant, partner)
        tenant.billing_profile = profile
        tenant.billing_profile_since = since
        tenant.billed_through = MONTH_START
        tenant.next_cycle_at = profiles.period_end_at(tenant)  # local midnight of 1 Dec
        jurisdiction = None
        if rng.random() < 0.33:
            jurisdiction = rng.choice(jurisdictions[partner.id])
            tenant.tax_jurisdiction = jurisdiction
        tenants.append(tenant)
        held = {"did_local": 30, "did_toll_free": 0}
        second = rng.random()
        late = rng.randint(5, 25)
        spans = [("did_local", since, None)]
        if second < 0.60:
            spans.append(("did_local", since, None))
            held["did_local"] += 30
        elif second < 0.80:
            spans.append(("did_toll_free", since, None))
            held["did_toll_free"] += 30
        elif second < 0.90:  # assigned at noon on the `late`th: that day counts
            spans.append(("did_local", _local(zone, date(2026, 11, late), 12), None))
            held["did_local"] += 31 - late
        else:  # released at noon on the `late`th: that day counts too
            spans.append(("did_local", since, _local(zone, date(2026, 11, late), 12)))
            held["did_local"] += late
        for kind, start, end in spans:
            did = next(did_ids)
            periods.append(
                ServicePeriod(
                    partner_id=partner.id,
                    tenant_id=tenant.id,
                    kind=kind,
                    object_id=did,
                    label=f"+1501{number:07d}",
                    started_at=start,
                    ended_at=end,
                )
            )
        expected[tenant.id] = {
            "profile": profile,
            "tax": jurisdiction.rate if jurisdiction is not None and jurisdiction.enabled else None,
            "held": held,
            "seconds": defaultdict(int),
        }
    Tenant.objects.bulk_create(tenants, batch_size=1000)
    ServicePeriod.objects.bulk_create(periods, batch_size=2000)
    timings["tenants_s"] = time.perf_counter() - started

    started = time.perf_counter()
    weights = [rng.lognormvariate(0, 1) for _ in tenants]
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    window_start = int(datetime(2026, 11, 1, 12, tzinfo=UTC).timestamp())
    window = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp()) - window_start - 7200
    imported = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)
    adapt_time, adapt_date = cdrs._adapters(connection)
    cycle = adapt_date(MONTH_START)
    imported_at = adapt_time(imported)
    written = 0
    while written < args.records:
        count = min(BATCH, args.records - written)
        rows = []
        for record_id, offset in zip(new_ids("cdr", count), range(count), strict=True):
            call = written + offset
            tenant = tenants[_pick(cumulative, rng.random() * total)]
            at = datetime.fromtimestamp(window_start + rng.randrange(window), UTC)
            talk = 0 if rng.random() < 0.18 else min(int(rng.expovariate(1 / 150)) + 1, 7200)
            kind = rng.random()
            if kind < 0.60:
                direction, call_class, far = "outbound", "local", f"+1212{call % 10**7:07d}"
            elif kind < 0.75:
                direction, call_class, far = "inbound", "local", f"+1312{call % 10**7:07d}"
            elif kind < 0.83:
                direction, call_class, far = "inbound", "toll_free", f"+1415{call % 10**7:07d}"
            elif kind < 0.95:
                direction, call_class, far = "outbound", "international", f"+4420{call:08d}"
            else:
                direction, call_class, far = "internal", "internal", "102"
            if call_class == "international":
                billable, rate = _billable(talk, 60, 60), 120_000
            else:
                billable, rate = _billable(talk, 6, 6), 14_000
            if call_class == "internal":
                billable, rate = 0, 0
            ours = "+18005550100" if call_class == "toll_free" else "+15015550100"
            source, target = (far, ours) if direction == "inbound" else (ours, far)
            if direction == "internal":
                source, target = "101", "102"
            answered = at + timedelta(seconds=4) if talk else None
            ended = (answered or at) + timedelta(seconds=talk or 20)
            wholesale = billable * rate // 60
            rows.append(
                (
                    record_id,
                    tenant.partner_id,
                    tenant.id,
                    f"bench-{call}",
                    direction,
                    source,
                    target,
                    adapt_time(at),
                    adapt_time(answered),
                    adapt_time(ended),
                    talk,
                    call_class,
                    billable,
                    wholesale,
                    wholesale * 6 // 10,
                    None,
                    "",
                    "",
                    cycle,
                    "csv",
                    imported_at,
                )
            )
            if call_class != "internal":
                expected[tenant.id]["seconds"][call_class] += billable
        with transaction.atomic():
            cdrs._insert_calls(connection, rows)
        written += count
    timings["call_records_s"] = time.perf_counter() - started
    if connection.vendor == "postgresql":
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        timings["analyze_s"] = time.perf_counter() - started
    return {"expected": expected, "timings": {k: round(v, 1) for k, v in timings.items()}}


def _pick(cumulative: list[float], point: float) -> int:
    low, high = 0, len(cumulative) - 1
    while low < high:
        middle = (low + high) // 2
        if cumulative[middle] < point:
            low = middle + 1
        else:
            high = middle
    return low


# --- what each invoice should total --------------------------------------------------------


def _cents(micros: Decimal) -> int:
    return int((micros / 1_000_000).quantize(Decimal("0.01"), ROUND_HALF_UP) * 1_000_000)


def _q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"), ROUND_HALF_UP)


def expected_total(spec: dict) -> int:
    """The invoice's total by the rules of docs/invoices.md, for a whole 30-day cycle on
    a profile without split minute rates."""
    profile = spec["profile"]
    flat = profile.is_flat_rate
    amounts = []
    if profile.base_fee_micros:
        amounts.append(_cents(Decimal(profile.base_fee_micros)))
    included = Decimal(profile.included_dids if flat else 0)
    for kind, price in (
        ("did_local", profile.did_monthly_micros),
        ("did_toll_free", profile.toll_free_did_monthly_micros),
    ):
        if not spec["held"][kind]:
            continue
        months = _q(Decimal(spec["held"][kind]) / 30)
        covered = min(months, included)
        included -= covered
        if months - covered > 0 and price:
            amounts.append(_cents((months - covered) * price))
    used = Decimal(sum(spec["seconds"].values())) / 60
    free = Decimal(profile.included_minutes or 0) if flat else Decimal(0)
    billable = _q(used - min(used, free))
    if billable > 0 and profile.per_minute_micros:
        amounts.append(_cents(billable * profile.per_minute_micros))
    subtotal = sum(amounts)
    tax = _cents(Decimal(subtotal) * spec["tax"]) if spec["tax"] is not None and subtotal else 0
    return subtotal + tax


def check(expected: dict[str, dict]) -> dict:
    from django.db.models import Count, Sum

    from trunkline.billing.models import Invoice, InvoiceLine
    from trunkline.tenants.models import Tenant

    invoices = Invoice.objects.filter(kind=Invoice.Kind.CYCLE)
    totals = dict(invoices.values_list("tenant_id", "total_micros"))
    periods = set(invoices.values_list("period_start", "period_end").distinct())
    wrong = [
        tenant_id
        for tenant_id, spec in expected.items()
        if totals.get(tenant_id) != expected_total(spec)
    ]
    moved = Tenant.objects.filter(billed_through=MONTH_END).count()
    summary = invoices.aggregate(
        subtotal=Sum("subtotal_micros"), tax=Sum("tax_micros"), total=Sum("total_micros")
    )
    by_status = dict(invoices.values_list("status").annotate(n=Count("id")))
    result = {
        "invoices": len(totals),
        "lines": InvoiceLine.objects.count(),
        "periods": sorted(f"{start} – {end}" for start, end in periods),
        "by_status": by_status,
        "tenants_moved_on": moved,
        "subtotal_usd": round(summary["subtotal"] / 1e6, 2),
        "tax_usd": round(summary["tax"] / 1e6, 2),
        "total_usd": round(summary["total"] / 1e6, 2),
        "expected_total_usd": round(sum(expected_total(s) for s in expected.values()) / 1e6, 2),
        "tenants_with_wrong_total": len(wrong),
    }
    result["ok"] = (
        result["invoices"] == len(expected)
        and moved == len(expected)
        and not wrong
        and result["periods"] == [f"{MONTH_START} – {MONTH_END}"]
    )
    if wrong:
        result["wrong_examples"] = [
            (t, totals.get(t), expected_total(expected[t])) for t in wrong[:5]
        ]
    return result


# --- the measured run, in a process of its own -----------------------------------------------


def child(args) -> None:
    """Run the month-end job once, in this fresh process, and print what it cost."""
    import django

    django.setup()
    from django.db import connection, reset_queries

    from trunkline.billing.tenant_invoices import tenant_cycles_run
    from trunkline.core.models import OutgoingEmail

    connection.ensure_connection()
    OutgoingEmail.objects.exists()  # connection warm, Django's lazy parts imported
    tracing = args.tracemalloc
    if tracing:
        import tracemalloc

        tracemalloc.start()
    queries = _QueryCounter()
    rss_before = throwaway.status_kb("VmRSS")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with connection.execute_wrapper(queries):
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            written = profiler.runcall(tenant_cycles_run, now=NOW)
            profiler.dump_stats(args.profile)
        else:
            written = tenant_cycles_run(now=NOW)
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "invoices_written": written,
        "seconds": round(elapsed, 2),
        "cpu_seconds": round(
            cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime,
            2,
        ),
        "queries": queries.count,
        "rss_before_mb": round(rss_before / 1024, 1),
        "peak_rss_mb": round(throwaway.status_kb("VmHWM") / 1024, 1),
    }
    result["peak_growth_mb"] = round(result["peak_rss_mb"] - result["rss_before_mb"], 1)
    if tracing:
        result["tracemalloc_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
    reset_queries()
    print(json.dumps(result))


class _QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measured_run(env: dict, args, *, label: str) -> dict:
    command = [sys.executable, __file__, "--child"]
    if args.tracemalloc:
        command.append("--tracemalloc")
    if args.profile and label == "first":
        command += ["--profile", args.profile]
    load_before = os.getloadavg()[0]
    finished = subprocess.run(
        command, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        raise SystemExit(f"the {label} run failed:\n{finished.stderr}")
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--partners", type=int, default=20)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--tracemalloc", action="store_true", help="also trace Python's heap")
    parser.add_argument("--profile", default="", help="write cProfile stats of the run here")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--setup-only", action="store_true", help="build and keep the database, run nothing"
    )
    parser.add_argument("--json", default="")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    directory = Path(tempfile.mkdtemp(prefix="trunkline-invoices-"))
    env, drop = throwaway.database(args.database_url, directory, prefix="trunkline_invoices")
    env["DJANGO_SETTINGS_MODULE"] = "trunkline.settings"
    try:
        throwaway.django_setup(env)
        from django.core.management import call_command
        from django.db import connection, connections

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        migrate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        data = setup(args, random.Random(SEED))
        setup_seconds = time.perf_counter() - started
        database = connection.vendor
        connections.close_all()
        if args.setup_only:
            args.keep = True
            print(json.dumps({**env, "setup_seconds": round(setup_seconds, 1)}))
            return
        first = measured_run(env, args, label="first")
        second = measured_run(env, args, label="second")
        report = {
            "date": datetime.now(UTC).date().isoformat(),
            "database": "postgresql" if database == "postgresql" else "sqlite",
            "tenants": args.tenants,
            "records": args.records,
            "partners": args.partners,
            "now": NOW.isoformat(),
            "migrate_seconds": round(migrate_seconds, 1),
            "setup_seconds": round(setup_seconds, 1),
            "setup": data["timings"],
            "run": first,
            "second_run": second,
            "check": check(data["expected"]),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}",
        }
        connections.close_all()
        text = json.dumps(report, indent=2, default=str)
        print(text)
        if args.json:
            Path(args.json).write_text(text)
        if args.keep:
            print(f"kept: {env.get('DATABASE_URL') or env['TRUNKLINE_DB']}", file=sys.stderr)
        if not report["check"]["ok"]:
            raise SystemExit("the invoices do not match what was billed")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            if drop is not None:
                drop()
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
