"""What the benchmarks that build their own data share: a throwaway database (a SQLite
file, or a fresh database on a PostgreSQL server) and Django set up against it, and the
process's memory figures."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def status_kb(field: str) -> int:
    """A figure of /proc/self/status in kB (VmRSS, VmHWM), 0 where there is none."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def database(database_url: str, directory: Path, *, prefix: str) -> tuple[dict, object]:
    """Environment for a throwaway database, and a function that drops it (or None for a
    SQLite file in `directory`, which goes with the directory)."""
    env = {"TRUNKLINE_VAR_DIR": str(directory / "var")}
    if not database_url:
        env["TRUNKLINE_DB"] = str(directory / "bench.sqlite3")
        return env, None
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    env["DATABASE_URL"] = database_url.rpartition("/")[0] + "/" + name

    def drop() -> None:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return env, drop


def django_setup(env: dict) -> None:
    """Django configured for the database `env` names."""
    os.environ.update(env)
    if "DATABASE_URL" not in env:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trunkline.settings")
    import django

    django.setup()
