"""Mass configuration at scale: one CSV file of 5,000 users imported into one tenant.

Builds a throwaway database (a SQLite file, or a fresh database on the PostgreSQL server
given with `--database-url`), migrated from scratch, holding one partner on the Business
plan and one tenant on a Licence billing profile that holds 5,000 Phone System seats,
5,000 each of the IP Phone, Mobile and Call Recording add-ons, and 5,000 local numbers.
It writes the `001_*.txt` mass-configuration file for 5,000 users (Ext key, Number, User,
two or three add-on codes each) and then measures, in this process:

1. `mass_config_check` — the whole file validated, nothing written (the dry run);
2. `mass_config_apply` — validated again under the tenant's lock and applied in one
   transaction: 5,000 extensions, their service periods, about 17,500 licence
   assignments, the site's allocations, 5,001 audit rows and 5,000 `extension.created`
   events.

It reports the wall and CPU time of each, the queries made, the peak memory (VmHWM) and
its growth over the resident size before the import, and checks the result (every user,
number, licence and event there; the licence overview's counts right).

    .venv/bin/python bench/provisioning.py [--users 5000] [--database-url postgres://…/postgres]
        [--keep] [--json out.json]

Only local files and 127.0.0.1 are touched. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import throwaway  # bench/throwaway.py: the throwaway database, Django, memory figures

SEED = 20261203
ADDONS = ("device_ip_phone", "device_mobile_app", "call_recording")


def setup(users: int):
    from django.core.management import call_command

    from trunkline.accounts.services import partner_create
    from trunkline.billing.models import BillingAccount
    from trunkline.billing.profiles import billing_profile_create
    from trunkline.core.actors import Actor
    from trunkline.licensing.services import subscription_add
    from trunkline.phone_numbers.models import PhoneNumber
    from trunkline.tenants.models import Tenant
    from trunkline.tenants.services import tenant_create

    call_command("migrate", verbosity=0)
    partner, admin = partner_create(
        actor=Actor.system(),
        company_name="Bench Provisioning",
        email="bench@provisioning.example.com",
        password="Bench-password-2026!",
    )
    BillingAccount.objects.update_or_create(partner=partner, defaults={"plan": "business"})
    actor = Actor(kind="user", partner=partner, user=admin)
    profile = billing_profile_create(actor=actor, name="Seats", pricing_model="LICENSE")
    tenant = tenant_create(
        actor=actor,
        name="Bench Enterprise",
        sip_prefix="benchent",
        billing_email="billing@bench-enterprise.example.com",
        timezone_name="America/Chicago",
        billing_profile_id=profile.id,
    )
    Tenant.objects.filter(pk=tenant.pk).update(max_extensions=None)  # a large customer
    tenant = Tenant.objects.get(pk=tenant.pk)
    for sku in ("phone_system", *ADDONS):
        subscription_add(actor=actor, tenant=tenant, sku_code=sku, quantity=users)
    PhoneNumber.objects.bulk_create(
        [
            PhoneNumber(
                partner=partner,
                tenant=tenant,
                e164=f"+1501{5_000_000 + n:07d}",
                kind="local",
                status=PhoneNumber.Status.ACTIVE,
            )
            for n in range(users)
        ],
        batch_size=1000,
    )
    return actor, tenant


def the_file(users: int, rng: random.Random) -> bytes:
    lines = ["Ext key,Number,User,Addon license 1,Addon license 2,Addon license 3"]
    for n in range(users):
        codes = ["device_ip_phone", "device_mobile_app"]
        if rng.random() < 0.5:
            codes.append("call_recording")
        codes += [""] * (3 - len(codes))
        lines.append(f"{100_000 + n},+1501{5_000_000 + n:07d},Bench User {n}," + ",".join(codes))
    return ("\r\n".join(lines) + "\r\n").encode()


def _measure(work):
    from django.db import connection

    count = [0]

    def counted(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    wall, cpu = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(counted):
        result = work()
    return result, {
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "queries": count[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="trunkline-provisioning-"))
    env, drop = throwaway.database(args.database_url, directory, prefix="trunkline_provisioning")
    try:
        throwaway.django_setup(env)
        rng = random.Random(SEED)
        started = time.perf_counter()
        actor, tenant = setup(args.users)
        data = the_file(args.users, rng)
        setup_s = time.perf_counter() - started

        from trunkline.core.models import Event
        from trunkline.licensing.mass_config import mass_config_apply, mass_config_check
        from trunkline.licensing.models import LicenseAssignment
        from trunkline.licensing.services import overview
        from trunkline.pbx.models import Extension

        with contextlib.suppress(OSError):  # reset the peak: VmHWM measures the import alone
            Path("/proc/self/clear_refs").write_text("5")
        rss_before = throwaway.status_kb("VmRSS")
        checked, check_figures = _measure(
            lambda: mass_config_check(actor=actor, tenant=tenant, data=data)
        )
        applied, apply_figures = _measure(
            lambda: mass_config_apply(actor=actor, tenant=tenant, data=data)
        )
        peak = throwaway.status_kb("VmHWM")
        with_recording = data.decode().count(",call_recording")
        expected_assignments = args.users * 3 + with_recording
        rows = {row["sku"]: row for row in overview(tenant)}
        checks = {
            "users": Extension.objects.filter(tenant=tenant).count() == args.users,
            "numbers": Extension.objects.filter(tenant=tenant, main_number__isnull=False).count()
            == args.users,
            "assignments": LicenseAssignment.objects.filter(tenant=tenant).count()
            == expected_assignments,
            "events": Event.objects.filter(type="extension.created").count() == args.users,
            "overview": rows["phone_system"]["assigned"] == args.users
            and rows["call_recording"]["assigned"] == with_recording,
            "summary": checked["created"] == applied["created"] == args.users,
        }
        figures = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, "
            f"{round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30, 1)} GiB",
            "python": sys.version.split()[0],
            "database": "postgresql" if args.database_url else "sqlite",
            "users": args.users,
            "file_bytes": len(data),
            "setup_s": round(setup_s, 1),
            "check": check_figures,
            "apply": apply_figures,
            "assignments": expected_assignments,
            "peak_rss_mb": round(peak / 1024, 1),
            "rss_growth_mb": round((peak - rss_before) / 1024, 1),
            "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "checks": checks,
        }
        print(json.dumps(figures, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
        if not all(checks.values()):
            sys.exit("a check failed: " + ", ".join(k for k, ok in checks.items() if not ok))
    finally:
        if not args.keep:
            if drop is not None:
                from django.db import connections

                connections.close_all()
                drop()
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
