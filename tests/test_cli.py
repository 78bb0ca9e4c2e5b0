"""The real `trunkline` command in a subprocess, against its own SQLite file.

Subprocesses are slow, so a few tests cover a whole story each.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from trunkline.core.jobs import JOBS

TRUNKLINE = str(Path(sys.executable).with_name("trunkline"))
PASSWORD = "Correct-Horse9battery"


class Cli:
    def __init__(self, directory: Path):
        self.env = {
            name: value
            for name, value in os.environ.items()
            if name not in {"DATABASE_URL", "REDIS_URL", "TRUNKLINE_DB", "TRUNKLINE_VAR_DIR"}
        }
        self.env.update(
            TRUNKLINE_DB=str(directory / "trunkline.sqlite3"),
            TRUNKLINE_VAR_DIR=str(directory / "var"),
        )
        self.directory = directory

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [TRUNKLINE, *args],
            env=self.env,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    def json(self, *args: str) -> dict:
        result = self.run(*args)
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1, result.stdout  # exactly one JSON object
        return json.loads(lines[0])


@pytest.fixture(scope="module")
def cli(tmp_path_factory) -> Cli:
    cli = Cli(tmp_path_factory.mktemp("cli"))
    cli.run("migrate", "--quiet")
    return cli


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(cli):
    """`trunkline serve` on a free loopback port, stopped after the module."""
    port = _free_port()
    log = (cli.directory / "serve.log").open("w")
    process = subprocess.Popen(
        [TRUNKLINE, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=cli.env,
        cwd=cli.directory,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stopping it stops its workers
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:  # wait until it accepts connections (start-up, not behaviour under test)
            try:
                httpx.get(base + "/v1/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((cli.directory / "serve.log").read_text()) from None
                time.sleep(0.1)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _tenant(name: str) -> dict:
    return {"name": name, "billing_email": "billing@example.com", "timezone": "America/Chicago"}


def test_a_partner_and_keys_from_the_command_line_work_against_the_api(cli, server):
    created = cli.json(
        "create-partner", "--name", "Acme Telecom", "--email", "ops@acme.example",
        "--password", PASSWORD,
    )  # fmt: skip
    assert set(created) == {"partner_id", "user_id"}
    assert created["partner_id"].startswith("ptr_") and created["user_id"].startswith("usr_")
    partner_id = created["partner_id"]

    key = cli.json("create-api-key", "--partner", partner_id, "--name", "Provisioning")
    assert set(key) == {"id", "key"}
    assert key["id"].startswith("key_") and key["key"].startswith("sk_live_")
    api = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {key['key']}"})

    first = api.post("/v1/tenants", json=_tenant("Riverside Dental"))
    second = api.post("/v1/tenants", json=_tenant("Ozark Outfitters"))
    assert (first.status_code, second.status_code) == (201, 201), first.text
    assert first.headers["X-Request-Id"]
    first_id, second_id = first.json()["id"], second.json()["id"]
    once = {"json": _tenant("Delta Freight"), "headers": {"Idempotency-Key": "deal-1"}}
    replay = api.post("/v1/tenants", **once)
    assert replay.status_code == 201
    again = api.post("/v1/tenants", **once)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == replay.json()

    limited = cli.json(
        "create-api-key", "--partner", partner_id, "--name", "Dental only",
        "--scopes", "tenants:read", "--tenants", first_id, "--rate-limit", "3",
    )  # fmt: skip
    reader = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {limited['key']}"})
    listed = reader.get("/v1/tenants")
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()["data"]] == [first_id]
    assert reader.get(f"/v1/tenants/{second_id}").status_code == 404
    assert reader.post("/v1/tenants", json=_tenant("Not Allowed")).status_code == 403
    limited_out = reader.get("/v1/tenants")
    assert limited_out.status_code == 429
    assert int(limited_out.headers["Retry-After"]) >= 1
    assert limited_out.json()["error"]["type"] == "rate_limited"

    unauthenticated = httpx.get(server + "/v1/tenants")
    assert unauthenticated.status_code == 401
    assert unauthenticated.json()["error"]["type"] == "authentication_failed"
    assert unauthenticated.headers["X-Request-Id"]

    # Deleted today: nothing to purge now, purged once the 90 days have passed.
    assert api.delete(f"/v1/tenants/{second_id}").json()["status"] == "CANCELLED"
    today = cli.json("run-due-jobs")
    assert today["jobs"]["tenants.purge_cancelled"] == 0
    later = (datetime.now(UTC) + timedelta(days=91)).strftime("%Y-%m-%dT%H:%M:%SZ")
    purged = cli.json("run-due-jobs", "--now", later)
    assert purged["jobs"]["tenants.purge_cancelled"] == 1
    assert purged["now"].startswith(later[:19])
    assert api.get(f"/v1/tenants/{second_id}").status_code == 404
    assert api.get(f"/v1/tenants/{first_id}").status_code == 200


def test_run_due_jobs_takes_times_with_or_without_a_zone(cli):
    next_year = datetime.now(UTC).year + 1
    for value in (f"{next_year}-12-01T00:00:00", f"{next_year}-12-01T01:00:00+01:00"):
        result = cli.json("run-due-jobs", "--now", value)
        assert datetime.fromisoformat(result["now"]) == datetime(next_year, 12, 1, tzinfo=UTC)
        assert set(result["jobs"]) >= {"tenants.purge_cancelled"}
        assert all(isinstance(count, int) for count in result["jobs"].values())


def _schedule(cli: Cli) -> dict[str, tuple[datetime, datetime]]:
    """Each job's (next due time, time its last run was for), from the database."""
    with sqlite3.connect(cli.env["TRUNKLINE_DB"]) as database:
        rows = database.execute(
            "SELECT name, next_due_at, last_due_at FROM core_periodicjobstate"
        ).fetchall()
    return {
        name: tuple(datetime.fromisoformat(value).replace(tzinfo=UTC) for value in times)
        for name, *times in rows
    }


def test_a_future_now_leaves_the_live_schedule_on_the_real_clock(tmp_path):
    fresh = Cli(tmp_path)
    fresh.run("migrate", "--quiet")
    before = datetime.now(UTC)
    # A fresh database runs every job once, and so does each look into the future...
    for day in ("2099-03-01", "2099-03-02"):
        ran = fresh.json("run-due-jobs", "--now", f"{day}T00:00:00Z")
        schedule = _schedule(fresh)
        assert set(schedule) == set(ran["jobs"])
        assert {last for _, last in schedule.values()} == {datetime.fromisoformat(day + "T00Z")}
    # ...without moving any job's next run past the next time the real clock reaches it.
    assert all(due <= before + timedelta(days=1, minutes=1) for due, _ in schedule.values())


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "zombie" in status.read_text())


def _wait_for(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _finished_tasks(cli: Cli) -> list[tuple[str, str]]:
    with sqlite3.connect(cli.env["TRUNKLINE_DB"]) as database:
        return database.execute(
            "SELECT status, worker_ids FROM django_tasks_database_dbtaskresult"
            " WHERE status = 'SUCCESSFUL'"
        ).fetchall()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child pids from /proc")
def test_worker_processes_run_the_jobs_and_stop_cleanly(tmp_path):
    fresh = Cli(tmp_path)
    fresh.run("migrate", "--quiet")
    worker = subprocess.Popen(
        [TRUNKLINE, "worker", "--concurrency", "2"],
        env=fresh.env, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for(lambda: len(_children(worker.pid)) == 2, "two worker processes")
        children = _children(worker.pid)
        # On a fresh database every periodic job runs once, in one of the two processes.
        _wait_for(lambda: len(_finished_tasks(fresh)) == len(JOBS), "the periodic jobs to run")
        ran_in = {json.loads(ids)[0].rsplit(":", 1)[1] for _, ids in _finished_tasks(fresh)}
        assert ran_in <= {str(child) for child in children}

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        assert not any(_alive(child) for child in children)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert "Traceback" not in worker.stderr.read()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child pids from /proc")
def test_worker_processes_exit_when_their_parent_is_killed(tmp_path):
    fresh = Cli(tmp_path)
    fresh.run("migrate", "--quiet")
    worker = subprocess.Popen(
        [TRUNKLINE, "worker", "--concurrency", "2"],
        env=fresh.env, cwd=tmp_path, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_for(lambda: len(_children(worker.pid)) == 2, "two worker processes")
    children = _children(worker.pid)
    worker.kill()  # no chance to stop them
    worker.wait()
    _wait_for(lambda: not any(_alive(child) for child in children), "the orphans to exit")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create-partner", "--name", "Weak", "--email", "w@w.example", "--password", "short"],
         "password"),
        (["create-partner", "--name", "Bad", "--email", "not-an-email", "--password", PASSWORD],
         "email"),
        (["create-api-key", "--partner", "ptr_nope", "--name", "x"], "ptr_nope"),
        (["run-due-jobs", "--now", "next tuesday"], "ISO-8601"),
    ],
)  # fmt: skip
def test_bad_input_exits_non_zero_with_a_message(cli, args, message):
    result = cli.run(*args, ok=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_key_options_are_refused(cli):
    partner = cli.json(
        "create-partner", "--name", "Keys Co", "--email", "keys@keys.example",
        "--password", PASSWORD,
    )["partner_id"]  # fmt: skip
    for extra, message in (
        (["--scopes", "tenants:admin"], "unknown scope"),
        (["--tenants", "tnt_not_mine"], "no such tenant"),
        (["--rate-limit", "0"], "rate limit"),
    ):
        result = cli.run("create-api-key", "--partner", partner, "--name", "x", *extra, ok=False)
        assert result.returncode != 0
        assert message in result.stderr
        assert "Traceback" not in result.stderr
    duplicate = cli.run(
        "create-partner", "--name", "Again", "--email", "keys@keys.example",
        "--password", PASSWORD, ok=False,
    )  # fmt: skip
    assert duplicate.returncode != 0 and "already exists" in duplicate.stderr


def test_an_unmigrated_database_is_reported_not_crashed_on(tmp_path):
    fresh = Cli(tmp_path)
    result = fresh.run(
        "create-partner", "--name", "Early", "--email", "e@e.example", "--password", PASSWORD,
        ok=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "migrate" in result.stderr
    assert "Traceback" not in result.stderr


class _Lines:
    """The JSON lines a running command prints, read with a deadline."""

    def __init__(self, process: subprocess.Popen):
        self.process, self.pending = process, b""

    def next(self, seconds: float = 60) -> dict:
        import select

        deadline = time.monotonic() + seconds
        while b"\n" not in self.pending:
            left = deadline - time.monotonic()
            assert left > 0, "timed out waiting for the command's next line"
            readable, _, _ = select.select([self.process.stdout], [], [], left)
            if readable:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                assert chunk, f"the command exited ({self.process.wait()})"
                self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)


def _unknown_account_row(uniqueid: str) -> str:
    # No tenant has this accountcode: the row is kept as a rejection, and read all the same.
    return (
        '"nobody","5015550100","5015550123","nobody-outbound","","PJSIP/nobody-1","","Dial","",'
        f'"2026-11-10 15:00:00","","2026-11-10 15:00:30",30,0,"NO ANSWER","DOCUMENTATION",'
        f'"{uniqueid}",""\n'
    )


def test_following_master_csv_stops_cleanly_on_sigterm_and_resumes(cli, tmp_path):
    master = tmp_path / "Master.csv"
    master.write_text(_unknown_account_row("t.1") + _unknown_account_row("t.2"))
    follower = subprocess.Popen(
        [TRUNKLINE, "import-cdrs", "--follow", "--poll", "0.05", str(master)],
        env=cli.env, cwd=cli.directory, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        lines = _Lines(follower)
        first = lines.next()
        assert (first["lines"], first["rejected"]) == (2, 2)
        with master.open("a") as out:
            out.write(_unknown_account_row("t.3") + _unknown_account_row("t.4")[:20])
        second = lines.next()
        assert (second["lines"], second["waiting_bytes"]) == (1, 20)
        assert second["offset"] == master.stat().st_size - 20
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(timeout=30) == 0
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert b"Traceback" not in follower.stderr.read()
    follower.stdout.close()
    follower.stderr.close()

    with master.open("a") as out:
        out.write(_unknown_account_row("t.4")[20:])
    resumed = cli.json("import-cdrs", "--follow", "--once", str(master))
    assert (resumed["lines"], resumed["rejected"]) == (1, 1)
    assert resumed["offset"] == master.stat().st_size
