"""Number search over a million-number inventory: p50/p99 per kind of search.

Seeds the simulated carrier's inventory with about 1,000,000 numbers (every US exchange
`phonenumbers` can place, plus toll-free) into a throwaway database — SQLite by default,
PostgreSQL with `--database-url` — and times each kind of search the Buy DIDs page and
`GET /v1/phone-numbers/available` make, through the same function they call
(`carrier().search`), `--queries` times each with varied arguments.

    .venv/bin/python bench/number_search.py [--per-exchange 33] [--queries 200]
        [--database-url postgres://…/postgres] [--json out.json]

Target (the phone-numbers work): p99 < 100 ms for every kind. docs/performance.md has
the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path


def _setup(database_url: str) -> tuple[str, object]:
    directory = Path(tempfile.mkdtemp(prefix="trunkline-numbers-"))
    os.environ["TRUNKLINE_VAR_DIR"] = str(directory / "var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trunkline.settings")
    drop = None
    if database_url:
        import psycopg

        name = f"trunkline_numbers_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        os.environ["DATABASE_URL"] = database_url.rpartition("/")[0] + "/" + name

        def drop() -> None:
            from django.db import connections

            connections.close_all()
            with psycopg.connect(database_url, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        os.environ.pop("DATABASE_URL", None)
        os.environ["TRUNKLINE_DB"] = str(directory / "numbers.sqlite3")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return ("postgresql" if database_url else "sqlite"), drop


def _searches(rng: random.Random):
    """(name, list of SearchCriteria) for each kind of search."""
    from trunkline.phone_numbers import geography
    from trunkline.phone_numbers.carrier import SearchCriteria

    states = geography.states()
    exchanges = geography.exchanges()
    kinds = {
        "state": lambda: SearchCriteria(kind="local", state=rng.choice(states)),
        "state + area code": lambda: _area(rng, states),
        "state + area code + NXX": lambda: _exchange(rng, exchanges),
        "state + city": lambda: _city(rng, exchanges),
        "state + rate center": lambda: _rate_center(rng, exchanges),
        "toll-free, 10": lambda: SearchCriteria(kind="toll_free", limit=10),
        "vanity 877-555-XXXX": lambda: SearchCriteria(
            kind="toll_free", pattern=f"8{rng.choice('03456778')}{rng.randint(0, 9)}555XXXX"
        ),
        "vanity 8XX-OUR-FOOD": lambda: SearchCriteria(
            kind="toll_free", pattern="8XX" + "".join(rng.choice("23456789") for _ in range(7))
        ),
        "vanity 888-XXX-1000": lambda: SearchCriteria(
            kind="toll_free", pattern=f"888XXX{rng.randint(0, 9999):04d}"
        ),
        "vanity 8XX-5XX-XXXX": lambda: SearchCriteria(
            kind="toll_free", pattern=f"8XX{rng.randint(2, 9)}XXXXXX"
        ),
    }
    return kinds


def _area(rng, states):
    from trunkline.phone_numbers import geography
    from trunkline.phone_numbers.carrier import SearchCriteria

    state = rng.choice(states)
    return SearchCriteria(
        kind="local", state=state, area_code=rng.choice(geography.area_codes(state))
    )


def _exchange(rng, exchanges):
    from trunkline.phone_numbers.carrier import SearchCriteria

    exchange = rng.choice(exchanges)
    return SearchCriteria(
        kind="local", state=exchange.state, area_code=exchange.npa, nxx=exchange.nxx
    )


def _city(rng, exchanges):
    from trunkline.phone_numbers.carrier import SearchCriteria

    exchange = rng.choice(exchanges)
    return SearchCriteria(kind="local", state=exchange.state, city=exchange.city)


def _rate_center(rng, exchanges):
    from trunkline.phone_numbers.carrier import SearchCriteria

    exchange = rng.choice(exchanges)
    return SearchCriteria(kind="local", state=exchange.state, rate_center=exchange.rate_center)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-exchange", type=int, default=33)
    parser.add_argument("--toll-free", type=int, default=74_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    database, drop = _setup(args.database_url)
    try:
        from django.db import connection

        from trunkline.phone_numbers.carrier import carrier
        from trunkline.phone_numbers.models import SupplyNumber
        from trunkline.phone_numbers.supply import supply_seed

        load = os.getloadavg()[0]
        started = time.perf_counter()
        seeded = supply_seed(per_exchange=args.per_exchange, toll_free=args.toll_free)
        if database == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        seed_seconds = time.perf_counter() - started
        rng = random.Random(20261122)
        adapter = carrier()
        results = {}
        for name, make in _searches(rng).items():
            timings, found = [], 0
            for _ in range(args.queries):
                criteria = make()
                began = time.perf_counter()
                offers = adapter.search(criteria)
                timings.append((time.perf_counter() - began) * 1000)
                found += len(offers)
            timings.sort()
            results[name] = {
                "p50_ms": round(statistics.median(timings), 2),
                "p99_ms": round(timings[int(len(timings) * 0.99) - 1], 2),
                "max_ms": round(timings[-1], 2),
                "mean_results": round(found / args.queries, 1),
            }
            print(
                f"{name:28} p50 {results[name]['p50_ms']:7.2f} ms  p99 "
                f"{results[name]['p99_ms']:7.2f} ms  ({results[name]['mean_results']} found)",
                file=sys.stderr,
            )
        report = {
            "database": database,
            "inventory": SupplyNumber.objects.count(),
            "seeded": seeded,
            "seed_seconds": round(seed_seconds, 1),
            "queries_each": args.queries,
            "searches": results,
            "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
            f"Python {platform.python_version()}",
        }
        print(json.dumps(report, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2))
    finally:
        if drop is not None:
            drop()


if __name__ == "__main__":
    main()
